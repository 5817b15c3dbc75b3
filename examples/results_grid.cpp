// Runs the results grid of the example tasks (adding T ∈ {50, 100, 200}; copy
// T ∈ {10, 20, 50}; NTM copy L ≤ 10; each for rnn, lstm and gru) and writes a
// Markdown table and an SVG figure. Takes hours at full budget on 2 cores; not
// part of CI. `--steps-scale 0.1` gives a quick, rougher grid.

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <limits>
#include <map>
#include <sstream>

#include <CLI/CLI.hpp>

#include "tasks/figures.hpp"
#include "tasks/flags.hpp"
#include "tasks/plot.hpp"
#include "tasks/trainer.hpp"

namespace tt = tapegrad::tasks;
namespace fs = std::filesystem;

namespace {

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
    curve->x.push_back(double(T));
    curve->mean.push_back(mean);
    curve->std.push_back(std);
}

}  // namespace

int main(int argc, char** argv) {
    double scale = 1.0;
    std::string out = "runs/grid", doc = "docs/results";
    std::uint64_t seed = 1;
    int threads = 1;
    CLI::App app{"Run the results grid of the example tasks and write a Markdown table and an SVG figure."};
    app.option_defaults()->always_capture_default();
    app.add_option("--steps-scale", scale, "multiplies every run's step budget")->check(tt::number_in(1e-4, 100.0));
    app.add_option("--out", out, "folder for the individual runs");
    app.add_option("--doc", doc, "writes <doc>.md and <doc>.svg");
    app.add_option("--seed", seed, "seed of every run")->check(tt::integer_in(0, std::numeric_limits<std::uint64_t>::max()));
    app.add_option("--threads", threads, "OpenBLAS threads")->check(tt::integer_in(1, tt::limits::kThreads));
    try {
        app.parse(argc, argv);
    } catch (const CLI::CallForHelp& e) {
        return app.exit(e);
    } catch (const CLI::ParseError& e) {
        std::cerr << "results_grid: " << e.what() << "\nRun with --help for the flags and their defaults.\n";
        return 2;
    }

    struct Job {
        std::string task, variant;
        std::size_t T;
        long steps;
    };
    std::vector<Job> jobs;
    for (std::size_t T : {50, 100, 200}) jobs.push_back({"adding", "", T, 10000});
    for (std::size_t T : {10, 20, 50}) jobs.push_back({"copy", "", T, 5000});
    jobs.push_back({"copy", "ntm", 10, 10000});

    std::ostringstream md;
    md << "# Results grid\n\nOne run per cell (seed " << seed << ", hidden 128, batch 20), final evaluation on 200 held-out "
       << "sequences. Step budgets scaled by " << scale << ". Reproduce with `tools/results_grid.sh`.\n\n"
       << "| task | T / L | steps | baseline | rnn | lstm | gru |\n|---|---|---|---|---|---|---|\n";
    std::vector<tt::TaskPanel> panels;  // one per task, in the jobs' order
    for (const Job& j : jobs) {
        const long steps = std::max(1L, std::lround(double(j.steps) * scale));
        std::string row;
        double baseline = 0;
        std::string metric;
        for (const std::string cell : {"rnn", "lstm", "gru"}) {
            tt::Options o = tt::defaults_for(j.task, j.variant);
            o.cell = cell;
            o.T = j.T;
            o.steps = steps;
            o.seed = seed;
            o.threads = threads;
            o.eval_every = std::max(1L, steps / 20);
            o.quiet = true;
            o.out = (fs::path(out) / (j.task + (j.variant.empty() ? "" : "_" + j.variant) + "_T" + std::to_string(j.T) + "_" + cell))
                        .string();
            std::fprintf(stderr, "%s%s T=%zu %s, %ld steps...\n", j.task.c_str(), j.variant.empty() ? "" : " ntm", j.T,
                         cell.c_str(), steps);
            std::ostringstream log;
            const tt::Result r = tt::run(o, log);
            baseline = r.baseline;
            metric = r.metric;
            char cellbuf[96];
            std::snprintf(cellbuf, sizeof cellbuf, " %.4g (%s %.2f) |", r.value, r.extra_name.c_str(), r.extra);
            row += cellbuf;
            add_point(panels, j.task, j.variant, j.T, cell, r.value / r.baseline, 0.0);  // one seed: no spread
        }
        char head[160];
        std::snprintf(head, sizeof head, "| %s%s (%s) | %zu | %ld | %.4g |", j.task.c_str(), j.variant.empty() ? "" : " ntm",
                      metric.c_str(), j.T, steps, baseline);
        md << head << row << "\n";
    }
    md << "\nThe figure has one panel per task: each cell's final metric divided by the task's baseline (below 1: "
          "better than the trivial predictor) against T, both on log scales.\n\n![results](results.svg)\n";
    fs::create_directories(fs::path(doc).parent_path().empty() ? fs::path(".") : fs::path(doc).parent_path());
    tt::write_file_atomic(doc + ".md", md.str());
    tt::write_file_atomic(doc + ".svg", tt::results_figure(panels, "Final test metric / baseline (lower is better)"));
    std::printf("%s\nwrote %s.md and %s.svg\n", md.str().c_str(), doc.c_str(), doc.c_str());
    return 0;
}
