// The LSTM-variants study (docs/variants.md), after Greff et al. 2017, "LSTM:
// A Search Space Odyssey": every cell on the adding problem (T = 100), the
// copying-memory task (T = 20) and the character LM on the fortunes, several
// seeds each, a fixed step budget per task; writes a table (mean ± std) and a
// dot chart. Finished runs are kept in --out and not repeated, so a study
// that is stopped continues where it was.
#include <cmath>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <limits>
#include <map>
#include <optional>
#include <sstream>

#include <CLI/CLI.hpp>
#include <nlohmann/json.hpp>

#include "charlm/train.hpp"
#include "dot_chart.hpp"
#include "tasks/data.hpp"
#include "tasks/flags.hpp"
#include "tasks/plot.hpp"
#include "tasks/trainer.hpp"

namespace tt = tapegrad::tasks;
namespace cl = tapegrad::charlm;
namespace tv = tapegrad::variants;
namespace fs = std::filesystem;
using json = nlohmann::json;

namespace {

struct Study {
    std::vector<std::string> cells{"lstm", "peephole", "nig", "nfg", "nog", "niaf", "noaf", "cifg", "gru", "layernorm_lstm", "rnn"};
    std::vector<std::string> tasks{"adding", "copy", "charlm"};
    std::size_t seeds = 3;
    double scale = 1.0;
    std::string out = "runs/variants", doc = "docs/variants_results";
    /// Every finished run's result.json is copied here as <run>.json, and a
    /// run found here is not repeated: the repository keeps the study's
    /// runs, so that it continues across machines and sessions.
    std::string archive = "bench/results/variants";
    int threads = 1;
};

struct Outcome {
    double metric = NAN, extra = NAN, wall = 0;
    bool reused = false;  ///< read from a finished run's result.json
};

struct TaskInfo {
    std::string title, metric, extra;
    double baseline = 0;
    bool log_x = false;
    double off_scale_above = 0;  // the chart's limit for diverged runs (0: none)
};

TaskInfo task_info(const std::string& task) {
    if (task == "adding") return {"adding T = 100: test MSE", "mse", "within 0.04", tt::adding_baseline(), true};
    if (task == "copy") return {"copy T = 20: test CE (nats)", "ce", "accuracy", tt::copy_baseline(20), true};
    // Above 8 bits per character a model does worse than storing the bytes.
    return {"char LM (fortunes): test bits/char", "bits/char", "", 0, false, 8.0};
}

// Whether a run solved its task, by the bars of the README's results grid:
// adding below MSE 0.01, copying above 90 % symbol accuracy. The char LM has
// no such bar (its figure is the bits per character).
std::optional<bool> solved(const std::string& task, double metric, double extra) {
    if (task == "adding") return metric < 0.01;
    if (task == "copy") return extra > 0.9;
    return std::nullopt;
}

// The budget of one run of `task` at scale 1: each program's default.
long base_steps(const std::string& task) {
    if (task == "charlm") return cl::Options{}.steps;
    return tt::defaults_for(task).steps;
}

// A run's result.json (or its archived copy), if it is there and finished the expected steps.
std::optional<Outcome> finished(const fs::path& file, const std::string& task, long steps) {
    std::ifstream f(file);
    if (!f) return std::nullopt;
    try {
        const json r = json::parse(f);
        if (r.at("steps").get<long>() != steps) return std::nullopt;
        if (task == "charlm") return Outcome{r.at("test_bits_per_char"), NAN, r.at("wall_seconds"), true};
        return Outcome{r.at("value"), task == "adding" ? r.at("within_0.04").get<double>() : r.at("accuracy").get<double>(),
                       r.at("wall_seconds"), true};
    } catch (const json::exception&) {
        return std::nullopt;  // damaged: run again
    }
}

Outcome train_one(const Study& st, const std::string& task, const std::string& cell, std::uint64_t seed, long steps,
                  const fs::path& dir);

Outcome run_one(const Study& st, const std::string& task, const std::string& cell, std::uint64_t seed) {
    const long steps = std::max(1L, std::lround(double(base_steps(task)) * st.scale));
    const std::string name = task + "_" + cell + "_s" + std::to_string(seed);
    const fs::path dir = fs::path(st.out) / name;
    if (auto done = finished(dir / "result.json", task, steps)) return *done;
    if (!st.archive.empty())
        if (auto done = finished(fs::path(st.archive) / (name + ".json"), task, steps)) return *done;
    const Outcome outcome = train_one(st, task, cell, seed, steps, dir);
    if (!st.archive.empty()) {
        fs::create_directories(st.archive);
        fs::copy_file(dir / "result.json", fs::path(st.archive) / (name + ".json"), fs::copy_options::overwrite_existing);
    }
    return outcome;
}

Outcome train_one(const Study& st, const std::string& task, const std::string& cell, std::uint64_t seed, long steps,
                  const fs::path& dir) {
    std::ostringstream sink;
    if (task == "charlm") {
        cl::Options o;
        o.model.cell = cell;
        o.seed = seed;
        o.steps = steps;
        o.threads = st.threads;
        o.eval_every = std::max(1L, steps / 4);
        o.eval_chars = 20000;  // the final figure is on the whole test text
        o.checkpoint_every = 0;
        o.quiet = true;
        o.out = dir.string();
        const cl::Result r = cl::train(o, sink);
        return {r.test_bits, NAN, r.wall_seconds};
    }
    tt::Options o = tt::defaults_for(task);
    o.T = task == "adding" ? 100 : 20;
    o.cell = cell;
    o.seed = seed;
    o.steps = steps;
    o.threads = st.threads;
    o.eval_every = std::max(1L, steps / 4);
    o.checkpoint_every = 0;
    o.quiet = true;
    o.out = dir.string();
    const tt::Result r = tt::run(o, sink);
    return {r.value, r.extra, r.wall_seconds};
}

struct Summary {
    double mean = NAN, std = NAN, extra = NAN, wall = 0;
    std::size_t n = 0;  // runs with a finite metric (the mean's and std's)
    std::optional<std::size_t> solved;  // runs that solved the task, of all, where it has a bar
    std::vector<double> values;  // each run's metric, for the chart's rings
};

// Mean and sample standard deviation (n − 1) of the finite metrics.
Summary summarize(const std::string& task, const std::vector<Outcome>& runs) {
    Summary s;
    double sum = 0, extra = 0, extra_n = 0;
    for (const Outcome& o : runs) {
        s.wall += o.wall;
        s.values.push_back(o.metric);
        // Over every run: one that diverged (a NaN metric) counts as not solved.
        if (const auto ok = solved(task, o.metric, o.extra)) s.solved = s.solved.value_or(0) + (*ok && std::isfinite(o.metric) ? 1 : 0);
        if (!std::isfinite(o.metric)) continue;
        sum += o.metric;
        ++s.n;
        if (std::isfinite(o.extra)) extra += o.extra, extra_n += 1;
    }
    if (s.n == 0) return s;
    s.mean = sum / double(s.n);
    double sq = 0;
    for (const Outcome& o : runs)
        if (std::isfinite(o.metric)) sq += (o.metric - s.mean) * (o.metric - s.mean);
    s.std = s.n > 1 ? std::sqrt(sq / double(s.n - 1)) : 0;
    s.extra = extra_n > 0 ? extra / extra_n : NAN;
    return s;
}

using Results = std::map<std::string, std::map<std::string, Summary>>;  // task → cell → summary

std::string cell_text(const Summary& s, const std::string& extra_name) {
    if (s.values.empty()) return "–";
    if (s.n == 0) return "no finite result in " + std::to_string(s.values.size()) + " runs";
    char buf[128];
    std::snprintf(buf, sizeof buf, "%.4g ± %.2g", s.mean, s.std);
    std::string t = buf;
    if (std::isfinite(s.extra)) {
        std::snprintf(buf, sizeof buf, " (%s %.2f)", extra_name.c_str(), s.extra);
        t += buf;
    }
    if (s.n < s.values.size()) t += ", " + std::to_string(s.values.size() - s.n) + " not finite";
    if (s.solved) t += ", solved " + std::to_string(*s.solved) + " of " + std::to_string(s.values.size());
    return t;
}

// Each cell's rank per task (1 = lowest mean), averaged over the tasks.
std::map<std::string, double> mean_ranks(const Study& st, const Results& res) {
    std::map<std::string, double> rank;
    for (const std::string& task : st.tasks) {
        std::vector<std::pair<double, std::string>> order;
        for (const std::string& cell : st.cells) order.emplace_back(res.at(task).at(cell).mean, cell);
        std::sort(order.begin(), order.end());
        for (std::size_t i = 0; i < order.size(); ++i) rank[order[i].second] += double(i + 1) / double(st.tasks.size());
    }
    return rank;
}

std::string markdown(const Study& st, const Results& res, double hours) {
    std::ostringstream md;
    md << "# LSTM variants: results\n\nWritten by `build/examples/variants` (see [variants.md](variants.md)): "
       << st.seeds << " seeds per cell, step budgets x" << st.scale << " of each program's default, "
       << "final evaluation on held-out data; mean ± sample standard deviation. " << hours
       << " hours of runs on one core (each run's wall time, including any pause of the study). \"Solved\": "
       << "adding below MSE 0.01, copying above 90 % symbol accuracy (the README's bars); \"within 0.04\": the "
       << "share of test sums predicted to within 0.04.\n\n| cell |";
    for (const std::string& task : st.tasks) md << " " << task_info(task).title << " |";
    md << " mean rank |\n|---|";
    for (std::size_t i = 0; i <= st.tasks.size(); ++i) md << "---|";
    md << "\n";
    const auto ranks = mean_ranks(st, res);
    for (const std::string& cell : st.cells) {
        md << "| " << cell << " |";
        for (const std::string& task : st.tasks) md << " " << cell_text(res.at(task).at(cell), task_info(task).extra) << " |";
        char r[32];
        std::snprintf(r, sizeof r, " %.1f |\n", ranks.at(cell));
        md << r;
    }
    md << "\nBaselines: adding MSE " << tt::adding_baseline() << ", copy CE " << tt::copy_baseline(20)
       << " nats.\n\n![variants](variants.svg)\n";
    return md.str();
}

void write_outputs(const Study& st, const Results& res) {
    double seconds = 0;
    std::vector<tv::DotPanel> panels;
    for (const std::string& task : st.tasks) {
        const TaskInfo info = task_info(task);
        tv::DotPanel p{info.title + " (lower is better)", {}, info.baseline, info.log_x, info.off_scale_above};
        for (const std::string& cell : st.cells) {
            const Summary& s = res.at(task).at(cell);
            seconds += s.wall;
            p.rows.push_back({cell, s.mean, s.std, s.values});
        }
        panels.push_back(p);
    }
    const fs::path doc = st.doc;
    if (doc.has_parent_path()) fs::create_directories(doc.parent_path());
    tt::write_file_atomic(st.doc + ".md", markdown(st, res, std::round(seconds / 36.0) / 100.0));
    const fs::path svg = doc.parent_path() / "variants.svg";
    tt::write_file_atomic(svg.string(), tv::svg_dot_chart(panels, "LSTM variants: mean ± std over " +
                                                                      std::to_string(st.seeds) + " seeds"));
    std::printf("wrote %s.md and %s\n", st.doc.c_str(), svg.string().c_str());
}

}  // namespace

int main(int argc, char** argv) {
    Study st;
    CLI::App app{"The LSTM-variants study: every cell on adding, copy and the char LM, several seeds; a table and a figure."};
    app.option_defaults()->always_capture_default();
    app.add_option("--cells", st.cells, "cells to compare (registered names)")->delimiter(',');
    app.add_option("--tasks", st.tasks, "tasks: adding, copy, charlm")->delimiter(',')->check(CLI::IsMember({"adding", "copy", "charlm"}));
    app.add_option("--seeds", st.seeds, "seeds per cell and task")->check(tt::integer_in(1, 100));
    app.add_option("--steps-scale", st.scale, "multiplies every run's step budget")->check(tt::number_in(1e-4, 100.0));
    app.add_option("--out", st.out, "folder of the individual runs (finished ones are reused)");
    app.add_option("--doc", st.doc, "writes <doc>.md, and variants.svg beside it");
    app.add_option("--archive", st.archive, "keeps a copy of each finished run's result.json here, and reuses them (empty: off)");
    app.add_option("--threads", st.threads, "OpenBLAS threads per run")->check(tt::integer_in(1, tt::limits::kThreads));
    try {
        app.parse(argc, argv);
        for (const std::string& c : st.cells)
            if (!tapegrad::has_recurrent<float>(c)) throw CLI::ValidationError("--cells", "unknown cell '" + c + "'");
    } catch (const CLI::CallForHelp& e) {
        return app.exit(e);
    } catch (const CLI::ParseError& e) {
        std::cerr << "variants: " << e.what() << "\nRun with --help for the flags and their defaults.\n";
        return 2;
    }
    try {
        Results res;
        for (const std::string& task : st.tasks)
            for (const std::string& cell : st.cells) {
                std::vector<Outcome> runs;
                for (std::uint64_t seed = 1; seed <= st.seeds; ++seed) {
                    runs.push_back(run_one(st, task, cell, seed));
                    std::fprintf(stderr, "%s %s seed %llu: %.4g%s\n", task.c_str(), cell.c_str(), (unsigned long long)seed,
                                 runs.back().metric, runs.back().reused ? " (reused)" : "");
                }
                res[task][cell] = summarize(task, runs);
                std::fprintf(stderr, "  %s\n", cell_text(res[task][cell], task_info(task).extra).c_str());
            }
        write_outputs(st, res);
    } catch (const std::exception& e) {
        std::cerr << "variants: " << e.what() << "\n";
        return 1;
    }
    return 0;
}
