// What the tape audit costs next to one training step, on the medium LSTM of
// bench_recurrent (B=64, I=128, H=256, T=50, a Linear head, MSE) and on the
// char LM of examples/charlm (vocabulary 113, embedding 64, LSTM 256, batch
// 32, 64 characters, cross-entropy), in float and in double.
//
// A training step is forward, backward and an Adam step (median of --steps
// after one warm-up). The audit runs on a freshly recorded tape, as a user
// runs it: with the recurrent layer's memory saving on, so that part of the
// nodes it checks have inputs it must first recompute. Printed per model and
// type: step ms, audit ms, their ratio, nodes checked and values recomputed.
//
//   build/bench/bench_audit [--model medium|charlm|all] [--type float|double|all] [--steps N]

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <string>
#include <vector>

#include <CLI/CLI.hpp>

#include <tapegrad/tapegrad.hpp>

namespace tg = tapegrad;

namespace {

using Clock = std::chrono::steady_clock;

double ms_since(Clock::time_point t0) { return std::chrono::duration<double, std::milli>(Clock::now() - t0).count(); }

// One model: its parameters, and a loss recorded on a tape.
template <class T>
struct Medium {
    static constexpr std::size_t B = 64, I = 128, H = 256, L = 50;
    tg::Generator gen{1};
    tg::LSTM<T> lstm{{.input_size = I, .hidden_size = H}, gen};
    tg::Linear<T> head{H, I, gen};
    tg::Tensor<T> x = tg::randn<T>({L, B, I}, gen), target = tg::randn<T>({B, I}, gen);
    std::vector<tg::Parameter<T>*> parameters() {
        auto p = lstm.parameters();
        for (auto* q : head.parameters()) p.push_back(q);
        return p;
    }
    tg::Var<T> loss(tg::Tape<T>& t) {
        auto [y, state] = lstm(t.constant(x));
        return tg::mse_loss(head(tg::select(state.h, 0, -1)), t.constant(target));
    }
};

template <class T>
struct CharLM {
    static constexpr std::size_t V = 113, E = 64, H = 256, B = 32, L = 64;
    tg::Generator gen{1};
    tg::Embedding<T> embed{V, E, gen};
    tg::LSTM<T> lstm{{.input_size = E, .hidden_size = H}, gen};
    tg::Linear<T> head{H, V, gen};
    tg::Index input = tg::Index::from_shape({L, B}), next = tg::Index::from_shape({L * B});
    CharLM() {
        for (std::size_t k = 0; k < input.size(); ++k) input.data()[k] = std::int64_t((k * 7919) % V);
        for (std::size_t k = 0; k < next.size(); ++k) next.data()[k] = std::int64_t((k * 104729 + 3) % V);
    }
    std::vector<tg::Parameter<T>*> parameters() {
        auto p = embed.parameters();
        for (auto* q : lstm.parameters()) p.push_back(q);
        for (auto* q : head.parameters()) p.push_back(q);
        return p;
    }
    tg::Var<T> loss(tg::Tape<T>& t) {
        auto [y, state] = lstm(embed(t, input));
        return tg::cross_entropy(head(tg::reshape(y, {-1, std::int64_t(H)})), next);
    }
};

template <class Model, class T>
void measure(const char* name, const char* type, int steps) {
    Model m;
    tg::Adam<T> opt(m.parameters(), {.lr = T(1e-3)});
    tg::Tape<T> t;
    std::vector<double> step_ms;
    for (int s = 0; s <= steps; ++s) {
        const auto t0 = Clock::now();
        t.clear();
        opt.zero_grad();
        t.backward(m.loss(t));
        opt.step();
        if (s > 0) step_ms.push_back(ms_since(t0));  // step 0 warms the pool up
    }
    std::sort(step_ms.begin(), step_ms.end());
    t.clear();
    const tg::Var<T> loss = m.loss(t);
    const std::size_t nodes = t.size();
    const auto t0 = Clock::now();
    const tg::AuditResult r = tg::audit(t, loss);
    const double audit_ms = ms_since(t0);
    const double step = step_ms[step_ms.size() / 2];
    std::printf("%-7s %-6s  step %8.1f ms  audit %9.1f ms  ratio %5.1f  nodes %5zu  checked %5zu  recomputed %5zu  %s\n", name, type,
                step, audit_ms, audit_ms / step, nodes, r.nodes_checked, r.nodes_regenerated, r.ok ? "passed" : "FAILED");
    std::fflush(stdout);
}

}  // namespace

int main(int argc, char** argv) {
    CLI::App app{"The tape audit's cost next to one training step (medium LSTM, char LM; float and double)."};
    std::string model = "all", type = "all";
    int steps = 5;
    app.add_option("--model", model)->check(CLI::IsMember({"medium", "charlm", "all"}));
    app.add_option("--type", type)->check(CLI::IsMember({"float", "double", "all"}));
    app.add_option("--steps", steps, "timed training steps (the median is printed)")->check(CLI::Range(1, 1000));
    CLI11_PARSE(app, argc, argv);
    const bool f = type != "double", d = type != "float";
    if (model != "charlm") {
        if (f) measure<Medium<float>, float>("medium", "float", steps);
        if (d) measure<Medium<double>, double>("medium", "double", steps);
    }
    if (model != "medium") {
        if (f) measure<CharLM<float>, float>("charlm", "float", steps);
        if (d) measure<CharLM<double>, double>("charlm", "double", steps);
    }
    return 0;
}
