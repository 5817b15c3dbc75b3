// Runs the results grid of the example tasks (adding T ∈ {50, 100, 200}; copy
// T ∈ {10, 20, 50}; NTM copy L ≤ 10; each for rnn, lstm and gru), every cell
// with the programs' defaults and several seeds, and writes a Markdown table
// (mean ± std over the seeds, and every seed's value) and an SVG figure. Takes
// hours at full budget on 2 cores; not part of CI. `--steps-scale 0.1` gives a
// quick, rougher grid; `--rows` and `--cells` pick a part of it.

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <ctime>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <limits>
#include <map>
#include <optional>
#include <sstream>

#include <CLI/CLI.hpp>
#include <nlohmann/json.hpp>

#include "tasks/figures.hpp"
#include "tasks/flags.hpp"
#include "tasks/plot.hpp"
#include "tasks/trainer.hpp"

namespace tt = tapegrad::tasks;
namespace fs = std::filesystem;

namespace {

/// One row of the grid: a task at one T (NTM copy: maximum length L).
struct Job {
    std::string name;  ///< as in --rows: "adding:100", "copy:20", "ntm:10"
    std::string task, variant;
    std::size_t T;
};

const std::vector<Job>& all_jobs() {
    static const std::vector<Job> jobs = {
        {"adding:50", "adding", "", 50}, {"adding:100", "adding", "", 100}, {"adding:200", "adding", "", 200},
        {"copy:10", "copy", "", 10},     {"copy:20", "copy", "", 20},       {"copy:50", "copy", "", 50},
        {"ntm:10", "copy", "ntm", 10}};
    return jobs;
}

/// One (row, cell) of the grid over all seeds: the final metric of each seed,
/// their mean and sample standard deviation (0 for one seed). The figure code
/// reads these.
struct CellStats {
    std::string row, task, variant, cell, metric, extra_name;
    std::size_t T = 0;
    long steps = 0;
    double baseline = 0;
    std::vector<std::uint64_t> seeds;
    std::vector<double> values, extras, walls;
    double mean = 0, std = 0, extra_mean = 0;
};

double mean_of(const std::vector<double>& v) {
    double sum = 0;
    for (double x : v) sum += x;
    return v.empty() ? 0 : sum / double(v.size());
}

double std_of(const std::vector<double>& v) {
    if (v.size() < 2) return 0;
    const double m = mean_of(v);
    double sq = 0;
    for (double x : v) sq += (x - m) * (x - m);
    return std::sqrt(sq / double(v.size() - 1));
}

// Adds a cell's final metric / baseline at T (mean over seeds and its standard
// deviation) to the figure's panel of that task, made on first use.
void add_point(std::vector<tt::TaskPanel>& panels, const std::string& task, const std::string& variant, std::size_t T,
               const std::string& cell, double mean, double std) {
    const std::string title = variant == "ntm" ? "NTM copy: bits / baseline"
                              : task == "adding" ? "adding: MSE / baseline"
                                                 : "copy: cross-entropy / baseline";
    auto panel = std::find_if(panels.begin(), panels.end(), [&](const tt::TaskPanel& p) { return p.title == title; });
    if (panel == panels.end())
        panel = panels.insert(panels.end(),
                              tt::TaskPanel{title, variant == "ntm" ? "L (maximum length)" : "T", {}, {{"baseline", 1.0}}});
    auto curve = std::find_if(panel->cells.begin(), panel->cells.end(), [&](const tt::CellCurve& c) { return c.cell == cell; });
    if (curve == panel->cells.end()) curve = panel->cells.insert(panel->cells.end(), tt::CellCurve{cell, {}, {}, {}});
    // --rows may list a task's T in any order: keep each curve sorted by T.
    const auto at = std::upper_bound(curve->x.begin(), curve->x.end(), double(T)) - curve->x.begin();
    curve->x.insert(curve->x.begin() + at, double(T));
    curve->mean.insert(curve->mean.begin() + at, mean);
    curve->std.insert(curve->std.begin() + at, std);
}

struct GridOptions {
    double scale = 1.0;
    std::string out = "runs/grid", doc = "docs/results";
    std::uint64_t seed = 1;
    std::size_t seeds = 3;
    int threads = 1;
    double budget_minutes = 0;  ///< 0: no limit; else no run starts after this much wall time
    /// Every finished run's result.json is copied here as <run>.json, and a
    /// run found here (or in --out) with the same budget is read, not run
    /// again: the repository keeps the grid's runs, so that it continues
    /// across machines and sessions, as the variants study does.
    std::string archive = "bench/results/grid";
    std::vector<std::string> rows, cells = {"rnn", "lstm", "gru"};
};

/// A finished run's result.json (or its archived copy) for these options, if
/// it is there and ran the same task, variant, length, cell, seed and steps.
std::optional<tt::Result> finished(const fs::path& file, const tt::Options& o) {
    std::ifstream f(file);
    if (!f) return std::nullopt;
    try {
        const nlohmann::json j = nlohmann::json::parse(f);
        const std::string variant = o.variant.empty() ? "standard" : o.variant;  // as trainer.cpp writes it
        if (j.at("task") != o.task || j.at("variant") != variant || j.at("T").get<std::size_t>() != o.T || j.at("cell") != o.cell ||
            j.at("seed").get<std::uint64_t>() != o.seed || j.at("steps").get<long>() != o.steps)
            return std::nullopt;
        tt::Result r;
        r.metric = j.at("metric");
        r.value = j.at("value");
        r.baseline = j.at("baseline");
        r.wall_seconds = j.at("wall_seconds");
        for (const char* extra : {"within_0.04", "accuracy", "bit_accuracy"})
            if (j.contains(extra)) r.extra_name = extra, r.extra = j.at(extra);
        return r;
    } catch (const nlohmann::json::exception&) {
        return std::nullopt;  // damaged or another program's: run again
    }
}

/// Runs `cell` on `job` with seed `seed`, with the program's defaults (the
/// step budget times --steps-scale), or reads the run when it finished
/// before, and adds the result to `c`.
void run_seed(const Job& job, const std::string& cell, std::uint64_t seed, const GridOptions& g, CellStats& c) {
    tt::Options o = tt::defaults_for(job.task, job.variant, job.T);
    o.cell = cell;
    o.steps = std::max(1L, std::lround(double(o.steps) * g.scale));
    o.seed = seed;
    o.threads = g.threads;
    o.eval_every = std::max(1L, o.steps / 20);
    o.quiet = true;
    const std::string name = job.task + (job.variant.empty() ? "" : "_" + job.variant) + "_T" + std::to_string(job.T);
    const std::string run = name + "_" + cell + "_seed" + std::to_string(seed);
    o.out = (fs::path(g.out) / run).string();
    std::fprintf(stderr, "%s %s seed %llu, %ld steps... ", job.name.c_str(), cell.c_str(),
                 static_cast<unsigned long long>(seed), o.steps);
    std::optional<tt::Result> done = finished(fs::path(o.out) / "result.json", o);
    if (!done && !g.archive.empty()) done = finished(fs::path(g.archive) / (run + ".json"), o);
    tt::Result r;
    if (done) {
        r = *done;
    } else {
        std::ostringstream log;
        r = tt::run(o, log);
        if (!g.archive.empty()) {
            fs::create_directories(g.archive);
            fs::copy_file(fs::path(o.out) / "result.json", fs::path(g.archive) / (run + ".json"),
                          fs::copy_options::overwrite_existing);
        }
    }
    std::fprintf(stderr, "%s %.4g (%.0f s)%s\n", r.metric.c_str(), r.value, r.wall_seconds, done ? " (reused)" : "");
    c.row = job.name, c.task = job.task, c.variant = job.variant, c.cell = cell, c.T = job.T;
    c.steps = o.steps, c.baseline = r.baseline, c.metric = r.metric, c.extra_name = r.extra_name;
    c.seeds.push_back(seed);
    c.values.push_back(r.value);
    c.extras.push_back(r.extra);
    c.walls.push_back(r.wall_seconds);
    c.mean = mean_of(c.values), c.std = std_of(c.values), c.extra_mean = mean_of(c.extras);
}

/// Keeps the first of equal entries ("--cells lstm,lstm" is one column).
void drop_repeats(std::vector<std::string>& v) {
    std::vector<std::string> once;
    for (const std::string& x : v)
        if (std::find(once.begin(), once.end(), x) == once.end()) once.push_back(x);
    v = once;
}

std::string format(const char* fmt, double a, double b = 0, double c = 0) {
    char buf[96];
    std::snprintf(buf, sizeof buf, fmt, a, b, c);
    return buf;
}

/// The Markdown page: the run's facts, mean ± std per (row, cell), then every seed.
std::string markdown(const std::vector<CellStats>& stats, const GridOptions& g, double wall, const std::string& date) {
    std::ostringstream md;
    md << "# Results grid\n\nEach cell: the programs' defaults (`adding`, `copy`, `copy --variant ntm`; hidden 128, "
       << "batch 20), " << g.seeds << " seed(s) from " << g.seed << ", final evaluation on 200 held-out sequences; "
       << "mean ± sample standard deviation over the seeds, and in parentheses the mean of the second metric "
       << "(adding: share within 0.04; copy: per-symbol accuracy; NTM: bit accuracy). Step budgets scaled by " << g.scale
       << ". Run on " << date << ", " << format("%.0f", wall / 60) << " minutes of wall time, one training run at a time. "
       << "Reproduce with `tools/results_grid.sh`.\n\n"
       << "| task | T / L | steps | baseline |";
    for (const std::string& cell : g.cells) md << " " << cell << " |";  // stats hold a row's cells in this order
    md << "\n|---|---|---|---|";
    for (std::size_t i = 0; i < g.cells.size(); ++i) md << "---|";
    for (std::size_t begin = 0; begin < stats.size();) {
        std::size_t end = begin;  // [begin, end): one row's cells
        const CellStats* ran = nullptr;  // a cell of the row that has run: the row's facts
        for (; end < stats.size() && stats[end].row == stats[begin].row; ++end)
            if (!ran && !stats[end].values.empty()) ran = &stats[end];
        if (ran) {
            md << "\n| " << ran->task << (ran->variant.empty() ? "" : " " + ran->variant) << " (" << ran->metric << ") | "
               << ran->T << " | " << ran->steps << " | " << format("%.4g", ran->baseline) << " |";
            for (std::size_t i = begin; i < end; ++i) {
                const CellStats& c = stats[i];
                if (c.values.empty()) {
                    md << " not run |";
                    continue;
                }
                md << format(" %.3g ± %.2g", c.mean, c.std) << format(" (%.3f)", c.extra_mean)
                   << (c.values.size() == g.seeds ? "" : ", " + std::to_string(c.values.size()) + " seed(s)") << " |";
            }
        }
        begin = end;
    }
    md << "\n\nEvery seed's final metric (second metric) and wall time:\n\n| task | T / L | cell | seed: metric (second), wall |\n"
       << "|---|---|---|---|\n";
    for (const CellStats& c : stats) {
        if (c.values.empty()) continue;
        md << "| " << c.task << (c.variant.empty() ? "" : " " + c.variant) << " | " << c.T << " | " << c.cell << " |";
        for (std::size_t i = 0; i < c.values.size(); ++i)
            md << " " << c.seeds[i] << ": " << format("%.4g (%.3f), %.0f s", c.values[i], c.extras[i], c.walls[i]) << ";";
        md << " |\n";
    }
    md << "\nThe figure shows each final metric divided by the task's baseline (below 1: better than the trivial "
          "predictor).\n\n![results](results.svg)\n";
    return md.str();
}

/// Runs the grid seed by seed (every cell's first seed, then every cell's
/// second, ...) and rewrites <doc>.md after every run: a grid stopped early, or
/// cut by --budget-minutes, still documents every run it finished. Returns one
/// entry per (row, cell), rows in --rows order, each row's cells in --cells order.
std::vector<CellStats> run_grid(const GridOptions& g) {
    const auto start = std::chrono::steady_clock::now();
    auto minutes = [&] { return std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count() / 60; };
    const std::time_t now = std::time(nullptr);
    char date[32];
    std::strftime(date, sizeof date, "%Y-%m-%d", std::gmtime(&now));
    fs::create_directories(fs::path(g.doc).parent_path().empty() ? fs::path(".") : fs::path(g.doc).parent_path());
    std::vector<std::pair<const Job*, std::string>> cells;
    for (const std::string& row : g.rows) {
        const Job& j = *std::find_if(all_jobs().begin(), all_jobs().end(), [&](const Job& x) { return x.name == row; });
        for (const std::string& cell : g.cells) cells.emplace_back(&j, cell);
    }
    std::vector<CellStats> stats(cells.size());
    for (std::size_t c = 0; c < cells.size(); ++c) stats[c].row = cells[c].first->name, stats[c].cell = cells[c].second;
    for (std::size_t i = 0; i < g.seeds; ++i)
        for (std::size_t c = 0; c < cells.size(); ++c) {
            if (g.budget_minutes > 0 && minutes() >= g.budget_minutes) return stats;
            run_seed(*cells[c].first, cells[c].second, g.seed + i, g, stats[c]);
            tt::write_file_atomic(g.doc + ".md", markdown(stats, g, minutes() * 60, date));
        }
    return stats;
}

}  // namespace

int main(int argc, char** argv) {
    GridOptions g;
    std::vector<std::string> row_names;
    for (const Job& j : all_jobs()) row_names.push_back(j.name);
    g.rows = row_names;
    CLI::App app{"Run the results grid of the example tasks and write a Markdown table and an SVG figure."};
    app.option_defaults()->always_capture_default();
    app.add_option("--steps-scale", g.scale, "multiplies every run's step budget")->check(tt::number_in(1e-4, 100.0));
    app.add_option("--seeds", g.seeds, "runs per cell, with seeds --seed, --seed + 1, ...")->check(tt::integer_in(1, 100));
    app.add_option("--rows", g.rows, "rows to run, in this order")->check(CLI::IsMember(row_names))->delimiter(',');
    app.add_option("--cells", g.cells, "cells to run")->check(CLI::IsMember({"rnn", "lstm", "gru"}))->delimiter(',');
    app.add_option("--budget-minutes", g.budget_minutes,
                   "start no run after this many minutes (0: no limit); the page and figure show what ran")
        ->check(tt::number_in(0, 1e6));
    app.add_option("--out", g.out, "folder for the individual runs");
    app.add_option("--doc", g.doc, "writes <doc>.md and <doc>.svg");
    app.add_option("--archive", g.archive,
                   "keeps a copy of each finished run's result.json here, and reuses them (empty: off)");
    app.add_option("--seed", g.seed, "seed of the first run of each cell")
        ->check(tt::integer_in(0, std::numeric_limits<std::uint64_t>::max() - 100));
    app.add_option("--threads", g.threads, "OpenBLAS threads")->check(tt::integer_in(1, tt::limits::kThreads));
    try {
        app.parse(argc, argv);
    } catch (const CLI::CallForHelp& e) {
        return app.exit(e);
    } catch (const CLI::ParseError& e) {
        std::cerr << "results_grid: " << e.what() << "\nRun with --help for the flags and their defaults.\n";
        return 2;
    }

    drop_repeats(g.rows);
    drop_repeats(g.cells);
    try {
        const std::vector<CellStats> stats = run_grid(g);
        // The figure: final metric / baseline against T, one panel per task (NTM
        // copy included), mean over the seeds with ± one standard deviation.
        std::vector<tt::TaskPanel> panels;
        for (const CellStats& c : stats)
            if (!c.values.empty()) add_point(panels, c.task, c.variant, c.T, c.cell, c.mean / c.baseline, c.std / c.baseline);
        tt::write_file_atomic(g.doc + ".svg", tt::results_figure(panels, "Final test metric / baseline (lower is better)"));
    } catch (const std::exception& e) {  // e.g. an --archive, --out or --doc that cannot be written
        std::cerr << "results_grid: " << e.what() << "\n";
        return 1;
    }
    std::printf("wrote %s.md and %s.svg\n", g.doc.c_str(), g.doc.c_str());
    return 0;
}
