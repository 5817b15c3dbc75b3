// See inside a model (docs/inspecting.md): where a training step's time goes
// (tg::Profiler: a table and a Chrome/Perfetto trace), what the recorded
// graph looks like (tg::to_dot, 100 LSTM steps folded to three boxes), and
// whether every op's backward agrees with its forward (tg::audit, in double).
//
//   build/examples/inspect [--out runs/inspect] [--T 100] [--steps 20]
//   dot -Tsvg runs/inspect/graph.dot -o runs/inspect/graph.svg
#include <algorithm>
#include <cstdio>
#include <filesystem>
#include <fstream>

#include <CLI/CLI.hpp>

#include <tapegrad/tapegrad.hpp>

namespace tg = tapegrad;

namespace {

// An LSTM with a linear head on its last hidden state, regressing random
// targets from random sequences: enough to show a real step's profile.
template <class T>
struct Model {
    tg::LSTM<T> lstm;
    tg::Linear<T> head;
    Model(std::size_t hidden, tg::Generator& gen) : lstm({.input_size = 2, .hidden_size = hidden}, gen), head(hidden, 1, gen) {}
    std::vector<tg::Parameter<T>*> parameters() {
        auto p = lstm.parameters();
        for (auto* q : head.parameters()) p.push_back(q);
        return p;
    }
    tg::Var<T> loss(tg::Tape<T>& t, const tg::Tensor<T>& x, const tg::Tensor<T>& y) {
        auto [out, state] = lstm(t.constant(x));
        return tg::mse_loss(head(tg::select(state.h, 0, -1)), t.constant(y));
    }
};

void profile_and_draw(const std::filesystem::path& out, std::size_t T, int steps) {
    tg::Generator gen(1);
    Model<float> model(32, gen);
    tg::Adam<float> opt(model.parameters(), {.lr = 1e-3f});
    const tg::Tensor<float> x = tg::rand<float>({T, 16, 2}, gen), y = tg::rand<float>({16, 1}, gen);
    tg::Tape<float> tape;
    tg::Profiler prof(tape);
    tg::Var<float> loss;
    for (int s = 0; s < steps; ++s) {
        tape.clear();
        opt.zero_grad();
        loss = model.loss(tape, x, y);
        tape.backward(loss);
        opt.step();
    }
    std::printf("== %d training steps of an LSTM (B 16, H 32, T %zu), by op\n%s", steps, T, prof.table(12).c_str());
    prof.write_trace((out / "trace.json").string());
    // The last step is still on the tape: its graph, with each node's time and
    // the parameters' gradient norms.
    const std::string title = "LSTM (H 32), T = " + std::to_string(T) + ": one training step";
    std::ofstream(out / "graph.dot") << tg::to_dot(tape, loss, {.profile = &prof, .grad_norms = true, .title = title});
}

void audit_in_double(std::size_t T) {
    tg::Generator gen(2);
    Model<double> model(8, gen);
    const tg::Tensor<double> x = tg::rand<double>({T, 4, 2}, gen), y = tg::rand<double>({4, 1}, gen);
    tg::Tape<double> tape;
    const tg::Var<double> loss = model.loss(tape, x, y);
    const tg::AuditResult r = tg::audit(tape, loss);
    std::printf("\n== the audit, in double (LSTM H 8, T %zu)\n%s\n", T, r.report().c_str());
}

}  // namespace

int main(int argc, char** argv) {
    CLI::App app{"Profile a training step, draw its graph, audit every op."};
    std::string out = "runs/inspect";
    std::size_t T = 100;
    int steps = 20;
    app.add_option("--out", out, "folder for trace.json and graph.dot");
    app.add_option("--T", T, "sequence length")->check(CLI::Range(1, 10000));
    app.add_option("--steps", steps, "training steps to profile")->check(CLI::Range(1, 100000));
    try {
        app.parse(argc, argv);
    } catch (const CLI::CallForHelp& e) {
        return app.exit(e);
    } catch (const CLI::ParseError& e) {
        std::fprintf(stderr, "inspect: %s\nRun with --help for the flags and their defaults.\n", e.what());
        return 2;
    }
    try {
        std::filesystem::create_directories(out);
        profile_and_draw(out, T, steps);
        audit_in_double(std::min<std::size_t>(T, 20));
        std::printf("\nwrote %s/trace.json (open in ui.perfetto.dev or chrome://tracing) and %s/graph.dot\n"
                    "render: dot -Tsvg %s/graph.dot -o %s/graph.svg\n",
                    out.c_str(), out.c_str(), out.c_str(), out.c_str());
    } catch (const std::exception& e) {
        std::fprintf(stderr, "inspect: %s\n", e.what());
        return 1;
    }
    return 0;
}
