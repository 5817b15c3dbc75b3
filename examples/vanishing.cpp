// The vanishing-gradient problem that LSTM and GRU were invented to solve:
// ‖∂L/∂h_t‖ against t for a tanh RNN, an LSTM and a GRU on the adding task, at
// initialization and after training, read from the tape's gradients of the
// hidden states; and the global gradient norm before and after clipping.

#include <cmath>
#include <cstdint>
#include <cstdio>
#include <filesystem>
#include <iostream>
#include <limits>
#include <stdexcept>

#include <CLI/CLI.hpp>
#include <nlohmann/json.hpp>

#include "tasks/figures.hpp"
#include "tasks/flags.hpp"
#include "tasks/plot.hpp"
#include "tasks/trainer.hpp"

namespace tt = tapegrad::tasks;
namespace fs = std::filesystem;

int main(int argc, char** argv) {
    tt::Options o = tt::defaults_for("adding");
    // The adding task's defaults: long enough for LSTM and GRU to learn, so
    // that "after training" shows what a learned memory does to the gradient.
    o.T = 100;
    o.lr = 1e-3;  // the setting docs/tasks.md's figures were measured with
    o.clip_mode = "norm";
    o.eval_every = 250;
    o.out = "runs/vanishing";
    std::string cells = "all";
    CLI::App app{"Show vanishing gradients: ||dL/dh_t|| against t for a tanh RNN, an LSTM and a GRU on the adding task, "
                 "at initialization and after training, and the gradient norm before and after clipping."};
    app.option_defaults()->always_capture_default();
    app.add_option("--cell", cells, "which cells to compare")->check(CLI::IsMember({"all", "rnn", "lstm", "gru"}));
    app.add_option("--T", o.T, "sequence length")->check(tt::integer_in(2, tt::limits::kT));
    app.add_option("--hidden", o.hidden, "hidden units")->check(tt::integer_in(1, tt::limits::kHidden));
    app.add_option("--layers", o.layers, "recurrent layers")->check(tt::integer_in(1, tt::limits::kLayers));
    app.add_option("--batch", o.batch, "batch size")->check(tt::integer_in(1, tt::limits::kBatch));
    app.add_option("--steps", o.steps, "training steps per cell")->check(tt::integer_in(0, tt::limits::kSteps));
    app.add_option("--lr", o.lr, "learning rate")->check(tt::number_in(0, 1e3, true));
    app.add_option("--optimizer", o.optimizer, "optimizer")->check(CLI::IsMember({"sgd", "adam", "adamw", "rmsprop", "adagrad"}));
    app.add_option("--clip", o.clip, "global-norm clipping threshold (0: off)")->check(tt::number_in(0.0, 1e12));
    app.add_option("--seed", o.seed, "seed of weights and data")
        ->check(tt::integer_in(0, std::numeric_limits<std::uint64_t>::max()));
    app.add_option("--threads", o.threads, "OpenBLAS threads")->check(tt::integer_in(1, tt::limits::kThreads));
    app.add_option("--eval-every", o.eval_every, "steps between evaluations")->check(tt::integer_in(1, tt::limits::kSteps));
    app.add_option("--out", o.out, "output folder: vanishing.svg, clipping.svg, result.json, one training run per cell");
    app.add_flag("--resume", o.resume, "continue each cell's training from its last checkpoint");
    try {
        app.parse(argc, argv);
    } catch (const CLI::CallForHelp& e) {
        return app.exit(e);
    } catch (const CLI::ParseError& e) {
        std::cerr << "vanishing: " << e.what() << "\nRun with --help for the flags and their defaults.\n";
        return 2;
    }
    if (o.out.empty()) {
        std::cerr << "vanishing: --out must name a folder\n";
        return 2;
    }
    o.quiet = true;
    try {
        tt::validate(o);  // the flags together: a bad combination is a bad flag too
    } catch (const std::invalid_argument& e) {
        std::cerr << "vanishing: " << e.what() << "\n";
        return 2;
    }
    try {
        fs::create_directories(o.out);
        const std::vector<std::string> list = cells == "all" ? std::vector<std::string>{"rnn", "lstm", "gru"}
                                                             : std::vector<std::string>{cells};
        std::vector<tt::Series> curves;
        std::vector<tt::NormTrace> clipping;
        nlohmann::json summary = nlohmann::json::array();
        std::printf("%-5s %-9s %14s %14s %16s %9s\n", "cell", "when", "|dL/dh_0|", "|dL/dh_T-1|", "ratio h_0/h_T-1", "test mse");
        for (const std::string& cell : list) {
            tt::Options c = o;
            c.cell = cell;
            c.out = (fs::path(o.out) / cell).string();
            const auto at_init = tt::hidden_grad_norms(c, "", 4);
            std::printf("training %s for %ld steps...\n", cell.c_str(), c.steps);
            std::fflush(stdout);
            const tt::Result r = tt::run(c, std::cout);
            const auto trained = tt::hidden_grad_norms(c, c.out, 4);
            const auto norms = tt::read_grad_norms(c.out);
            const int color = static_cast<int>(&cell - list.data());
            tt::Series s_init, s_trained;
            s_init.label = cell + " at init";
            s_init.y = at_init;
            s_init.dashed = true;
            s_init.color = color;
            s_trained.label = cell + " trained";
            s_trained.y = trained;
            s_trained.color = color;
            for (std::size_t t = 0; t < at_init.size(); ++t) {
                s_init.x.push_back(double(t));
                s_trained.x.push_back(double(t));
            }
            curves.push_back(s_init);
            curves.push_back(s_trained);
            // After global-norm clipping the norm is min(before, clip): the
            // figure shows the norm before, against the clip line.
            tt::NormTrace before{cell, {}};
            for (const auto& n : norms) before.norms.push_back(n[0]);
            clipping.push_back(std::move(before));
            const double ri = at_init.front() / at_init.back(), rt = trained.front() / trained.back();
            std::printf("%-5s %-9s %14.3e %14.3e %16.3e %9s\n", cell.c_str(), "init", at_init.front(), at_init.back(), ri, "");
            std::printf("%-5s %-9s %14.3e %14.3e %16.3e %9.4f\n", cell.c_str(), "trained", trained.front(), trained.back(), rt,
                        r.value);
            std::size_t clipped = 0;
            for (const auto& n : norms) clipped += n[0] > n[1] * (1 + 1e-6);
            std::printf("      gradient norm clipped at %.3g on %zu of %zu steps\n", o.clip, clipped, norms.size());
            summary.push_back({{"cell", cell}, {"grad_ratio_h0_over_hlast_init", ri}, {"grad_ratio_h0_over_hlast_trained", rt},
                               {"test_mse", r.value}, {"baseline", r.baseline}, {"steps_clipped", clipped},
                               {"grad_norm_at_init", at_init}, {"grad_norm_trained", trained}});
        }
        tt::PlotOptions po;
        po.title = "||dL/dh_t|| on the adding task, T=" + std::to_string(o.T) + ", loss at the last step";
        po.xlabel = "time step t";
        po.ylabel = "||dL/dh_t||";
        tt::write_file_atomic((fs::path(o.out) / "vanishing.svg").string(), tt::svg_plot(curves, po));
        tt::write_file_atomic((fs::path(o.out) / "clipping.svg").string(), tt::clipping_figure(clipping, o.clip));
        nlohmann::json result = {{"task", "vanishing"}, {"T", o.T}, {"hidden", o.hidden}, {"steps", o.steps}, {"seed", o.seed},
                                 {"cells", summary}};
        tt::write_file_atomic((fs::path(o.out) / "result.json").string(), result.dump(2) + "\n");
        std::printf("wrote %s/vanishing.svg, clipping.svg and result.json\n", o.out.c_str());
    } catch (const std::exception& e) {
        std::cerr << "vanishing: " << e.what() << "\n";
        return 1;
    }
    return 0;
}
