// A character-level language model on real text (see docs/charlm.md):
//   charlm                               train on the fortunes collection, write runs/charlm/
//   charlm --sample 400 --prime "The "   continue a text with the trained model
//   charlm --units                       find units that track quotes, parentheses,
//                                        the line position; write units.html
#include <cstdio>
#include <filesystem>
#include <iostream>
#include <limits>

#include <CLI/CLI.hpp>
#include <nlohmann/json.hpp>

#include "sample.hpp"
#include "tasks/flags.hpp"
#include "tasks/plot.hpp"
#include "tasks/replicas.hpp"
#include "train.hpp"
#include "units.hpp"

namespace cl = tapegrad::charlm;
namespace tt = tapegrad::tasks;
namespace fs = std::filesystem;

namespace {

struct Modes {
    std::size_t sample = 0;  // characters to draw; 0: train
    double temperature = 0.8;
    std::string prime;
    std::uint64_t sample_seed = 1;
    bool units = false;
    std::size_t unit = std::numeric_limits<std::size_t>::max();
    std::size_t html_chars = 3000;
};

void add_training_flags(CLI::App& app, cl::Options& o) {
    namespace lim = tt::limits;
    app.add_option("--data", o.data, "a UTF-8 text file (default: Debian's fortunes collection)");
    app.add_option("--fortunes-dir", o.fortunes_dir, "where the fortunes collection is");
    app.add_option("--cell", o.model.cell, "recurrent cell: any registered name (lstm, gru, cifg, peephole, ...)");
    app.add_option("--embed", o.model.embed, "embedding size")->check(tt::integer_in(1, lim::kHidden));
    app.add_option("--hidden", o.model.hidden, "hidden units per layer")->check(tt::integer_in(1, lim::kHidden));
    app.add_option("--layers", o.model.layers, "recurrent layers")->check(tt::integer_in(1, lim::kLayers));
    app.add_option("--dropout", o.model.dropout, "dropout between layers and before the head")->check(tt::number_in(0, 0.99));
    app.add_option("--forget-bias", o.model.forget_bias, "forget-gate bias (cells that have one)")->check(tt::number_in(-100, 100));
    app.add_option("--batch", o.batch, "parallel streams")->check(tt::integer_in(1, lim::kBatch));
    app.add_option("--bptt", o.bptt, "characters per truncated-BPTT chunk")->check(tt::integer_in(1, lim::kT));
    app.add_option("--steps", o.steps, "training steps (one chunk each)")->check(tt::integer_in(0, lim::kSteps));
    app.add_option("--lr", o.lr, "Adam learning rate")->check(tt::number_in(0, 10, true));
    app.add_option("--schedule", o.schedule, "cosine (lr to lr/10 at the last step) or constant")
        ->check(CLI::IsMember({"cosine", "constant"}));
    app.add_option("--clip", o.clip, "global gradient-norm clipping (0: off)")->check(tt::number_in(0, 1e12));
    app.add_option("--seed", o.seed, "seed of weights and dropout")->check(tt::integer_in(0, std::numeric_limits<std::uint64_t>::max()));
    app.add_option("--threads", o.threads, "OpenBLAS threads")->check(tt::integer_in(1, lim::kThreads));
    app.add_option("--eval-every", o.eval_every, "steps between validations")->check(tt::integer_in(1, lim::kSteps));
    app.add_option("--eval-chars", o.eval_chars, "validation characters per evaluation (0: all)")->check(tt::integer_in(0, 1u << 30));
    app.add_option("--checkpoint-every", o.checkpoint_every, "steps between checkpoints (0: only at the end)")
        ->check(tt::integer_in(0, lim::kSteps));
    app.add_option("--out", o.out, "output folder: result.json, log.csv, loss.svg, vocab.txt, checkpoints/");
    app.add_flag("--resume", o.resume, "continue from the last checkpoint in --out");
    app.add_flag("--quiet", o.quiet, "no progress lines");
    app.add_flag("--distributed", o.distributed,
                 "one rank of an MPI job (mpirun -np N): data-parallel over the ranks, --batch streams in all");
    app.add_option("--save-init", o.save_init, "also write the initial weights to this .npz (tools/charlm_torch.py)");
}

void add_mode_flags(CLI::App& app, Modes& m) {
    app.add_option("--sample", m.sample, "draw this many characters from the model in --out instead of training")
        ->check(tt::integer_in(1, 1000000));
    app.add_option("--temperature", m.temperature, "sampling temperature (0: most likely character)")->check(tt::number_in(0, 100));
    app.add_option("--prime", m.prime, "text the sample continues");
    app.add_option("--sample-seed", m.sample_seed, "seed of the sampling")->check(tt::integer_in(0, std::numeric_limits<std::uint64_t>::max()));
    app.add_flag("--units", m.units, "find the units of the model in --out that track long-range properties; write units.html");
    app.add_option("--unit", m.unit, "also colour the page by this unit")->check(tt::integer_in(0, tt::limits::kHidden - 1));
    app.add_option("--html-chars", m.html_chars, "characters of test text on the page")->check(tt::integer_in(1, 1000000));
}

int sample_mode(const cl::Options& o, const Modes& m) {
    cl::Trained t = cl::load_trained(o.out);
    tapegrad::Generator gen(m.sample_seed);
    const std::string text = cl::sample(*t.model, t.vocab, m.prime, m.sample, m.temperature, gen);
    std::cout << m.prime << text << "\n";
    return 0;
}

int units_mode(const cl::Options& o, const Modes& m) {
    cl::Trained t = cl::load_trained(o.out);
    const cl::Data d = cl::load_data(t.options);
    std::vector<std::string> chars;
    for (std::size_t i = 0; i < d.test.size(); ++i) chars.push_back(t.vocab.token(d.test(i)));
    if (m.unit != std::numeric_limits<std::size_t>::max() && m.unit >= t.options.model.hidden)
        throw std::invalid_argument("--unit " + std::to_string(m.unit) + " is past the model's " +
                                    std::to_string(t.options.model.hidden) + " hidden units");
    const tapegrad::Tensor<float> acts = cl::unit_activations(*t.model, d.test);
    const std::vector<cl::UnitMatch> matches = cl::best_units(acts, cl::text_properties(chars));
    nlohmann::json j = nlohmann::json::array();
    for (const cl::UnitMatch& u : matches) {
        std::printf("unit %3zu  r = %+.3f  %s\n", u.unit, u.correlation, u.description.c_str());
        j.push_back({{"property", u.property}, {"unit", u.unit}, {"correlation", u.correlation}});
    }
    tt::write_file_atomic((fs::path(o.out) / "units.json").string(), j.dump(2) + "\n");
    tt::write_file_atomic((fs::path(o.out) / "units.html").string(), cl::units_html(chars, acts, matches, m.unit, m.html_chars));
    std::printf("over %zu test characters; wrote %s/units.html and units.json\n", chars.size(), o.out.c_str());
    return 0;
}

}  // namespace

int main(int argc, char** argv) {
    cl::Options o;
    o.out = "runs/charlm";
    Modes m;
    CLI::App app{"Train a character-level language model on real text, sample from it, and find its long-range units."};
    app.option_defaults()->always_capture_default();
    add_training_flags(app, o);
    add_mode_flags(app, m);
    try {
        app.parse(argc, argv);
        cl::validate(o);
    } catch (const CLI::CallForHelp& e) {
        return app.exit(e);
    } catch (const CLI::ParseError& e) {
        std::cerr << "charlm: " << e.what() << "\nRun with --help for the flags and their defaults.\n";
        return 2;
    } catch (const std::invalid_argument& e) {
        std::cerr << "charlm: " << e.what() << "\n";
        return 2;
    }
    try {
        if (m.sample > 0) return sample_mode(o, m);
        if (m.units) return units_mode(o, m);
    } catch (const std::exception& e) {
        std::cerr << "charlm: " << e.what() << "\n";
        return 1;
    }
    return tapegrad::tasks::run_job("charlm", o.distributed, argc, argv, [&] { cl::train(o, std::cout); });
}
