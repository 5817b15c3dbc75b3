// Recompute checkpointing's price and gain (issue 14): one LSTM training step
// over a long sequence, with and without `checkpoint_every`, in its own
// process, so that the peak resident set (VmHWM) is this configuration's.
//
// The model: an LSTM (input I, hidden H) over T steps of a batch of B, a
// Linear(H, 1) head on every step and an MSE loss against a target per step,
// so the loss reads the whole output, then Adam. Printed: the step time
// (median of --iters after one warm-up step), the peak RSS, and the tape's
// value bytes after the forward pass. `--limit-mib` caps the address space
// (setrlimit RLIMIT_AS) to show a T that only trains checkpointed: an
// allocation past it is reported, not a crash.
//
//   build/bench/bench_memory --every 0|auto|K [--steps T] [--batch B] [--hidden H] [--input I]
//                            [--iters N] [--limit-mib M] [--json FILE]
// tools/bench_memory.sh alternates the plain and checkpointed runs.

#include <sys/resource.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <fstream>
#include <map>
#include <optional>
#include <new>
#include <string>
#include <vector>

#include <CLI/CLI.hpp>
#include <nlohmann/json.hpp>

#include <tapegrad/tapegrad.hpp>

namespace tg = tapegrad;

namespace {

using Clock = std::chrono::steady_clock;

// Peak resident set of this process, from /proc/self/status (VmHWM).
double peak_rss_mib() {
    std::ifstream status("/proc/self/status");
    std::string line;
    while (std::getline(status, line))
        if (line.rfind("VmHWM:", 0) == 0) return std::stod(line.substr(6)) / 1024.0;
    return 0.0;
}

struct Config {
    std::size_t T = 10000, B = 16, H = 256, I = 32, every = 0;
    int iters = 3;
    bool profile = false;
    bool last_only = false;  // --loss last: the loss reads only the final hidden state
};

struct Result {
    std::vector<double> step_ms;
    double forward_value_mib = 0, loss = 0;
};

// The bytes of values the tape holds, by op: what the forward pass keeps.
void print_values(tg::Tape<float>& t) {
    std::map<std::string, std::pair<std::size_t, std::size_t>> by_op;  // count, bytes
    for (std::size_t k = 0; k < t.size(); ++k) {
        const tg::Var<float> v(&t, static_cast<tg::NodeId>(k), t.epoch());
        if (t.value_dropped(v)) continue;
        auto& [count, bytes] = by_op[t.op_name(v)];
        ++count;
        bytes += tg::shape_size(t.shape(v)) * sizeof(float);
    }
    for (const auto& [op, cb] : by_op) std::printf("  %-14s %8zu values %10.1f MiB\n", op.c_str(), cb.first, double(cb.second) / 1048576.0);
}

Result train(const Config& c) {
    tg::Generator gen(1);
    tg::LSTM<float> lstm({.input_size = c.I, .hidden_size = c.H, .checkpoint_every = c.every}, gen);
    tg::Linear<float> head(c.H, 1, gen);
    auto params = lstm.parameters();
    for (auto* p : head.parameters()) params.push_back(p);
    tg::Adam<float> opt(params, {.lr = 1e-3f});
    const tg::Tensor<float> x = tg::randn<float>({c.T, c.B, c.I}, gen), target = tg::randn<float>({c.T, c.B, 1}, gen),
                            last_target = tg::randn<float>({c.B, 1}, gen);
    tg::Tape<float> t;
    Result r;
    for (int s = 0; s <= c.iters; ++s) {
        const auto t0 = Clock::now();
        t.clear();
        opt.zero_grad();
        std::optional<tg::Profiler> profiler;
        if (c.profile && s == c.iters) profiler.emplace(t);
        auto [y, state] = lstm(t.constant(x));
        const auto loss = c.last_only ? tg::mse_loss(head(tg::select(state.h, 0, 0)), t.constant(last_target))
                                      : tg::mse_loss(head(y), t.constant(target));
        r.forward_value_mib = double(t.value_bytes()) / (1024.0 * 1024.0);
        if (profiler) print_values(t);
        t.backward(loss);
        if (profiler) std::printf("%s", profiler->table(25).c_str());
        opt.step();
        r.loss = loss.item();
        if (s > 0) r.step_ms.push_back(std::chrono::duration<double, std::milli>(Clock::now() - t0).count());
    }
    std::sort(r.step_ms.begin(), r.step_ms.end());
    return r;
}

}  // namespace

int main(int argc, char** argv) {
    CLI::App app{"An LSTM training step over a long sequence, with and without recompute checkpointing: time and peak RSS."};
    Config c;
    std::string every = "0", json;
    std::size_t limit_mib = 0;
    app.add_option("--every", every, "checkpoint_every: 0 (plain), auto (about sqrt(T)) or a step count");
    app.add_option("--steps", c.T, "sequence length T")->check(CLI::Range(1, 10000000));
    app.add_option("--batch", c.B)->check(CLI::Range(1, 4096));
    app.add_option("--hidden", c.H)->check(CLI::Range(1, 8192));
    app.add_option("--input", c.I)->check(CLI::Range(1, 8192));
    app.add_option("--iters", c.iters, "timed steps after one warm-up")->check(CLI::Range(1, 100));
    app.add_option("--limit-mib", limit_mib, "cap the address space (RLIMIT_AS) at this many MiB");
    std::string loss = "every";
    app.add_option("--loss", loss, "every: a head and target on every step (the loss reads the whole output); last: on the final hidden state only")
        ->check(CLI::IsMember({"every", "last"}));
    app.add_flag("--profile", c.profile, "print the tape's values by op after the last forward, and the profiler's table");
    app.add_option("--json", json, "append the result as one JSON line to this file");
    bool flush = false;
    app.add_flag("--flush-denormal", flush, "tg::set_flush_denormal(true): denormal floats become 0 (faster where gradients fade)");
    CLI11_PARSE(app, argc, argv);
    c.last_only = loss == "last";
    if (flush) tg::set_flush_denormal(true);
    try {
        c.every = every == "auto" ? tg::checkpoint_auto : std::stoul(every);
    } catch (const std::exception&) {
        std::fprintf(stderr, "--every: '%s' is neither auto nor a step count\n", every.c_str());
        return 2;
    }
    if (limit_mib > 0) {
        const rlimit lim{limit_mib << 20, limit_mib << 20};
        if (setrlimit(RLIMIT_AS, &lim) != 0) std::perror("setrlimit");
    }
    nlohmann::json out{{"T", c.T}, {"B", c.B}, {"H", c.H}, {"I", c.I}, {"every", every}, {"loss", loss}, {"limit_mib", limit_mib},
                        {"flush_denormal", flush}};
    try {
        const Result r = train(c);
        out["step_ms"] = r.step_ms;
        out["median_ms"] = r.step_ms[r.step_ms.size() / 2];
        out["forward_value_mib"] = r.forward_value_mib;
        out["final_loss"] = r.loss;
        std::printf("T %zu B %zu H %zu I %zu loss %-5s every %-5s  step %9.1f ms (min %.1f)  peak RSS %8.1f MiB  tape values after forward %8.1f MiB\n",
                    c.T, c.B, c.H, c.I, loss.c_str(), every.c_str(), r.step_ms[r.step_ms.size() / 2], r.step_ms.front(), peak_rss_mib(),
                    r.forward_value_mib);
    } catch (const std::bad_alloc&) {
        out["out_of_memory"] = true;
        std::printf("T %zu B %zu H %zu I %zu every %-5s  out of memory (std::bad_alloc) under a %zu MiB address-space limit; peak RSS %.1f MiB\n",
                    c.T, c.B, c.H, c.I, every.c_str(), limit_mib, peak_rss_mib());
    } catch (const tg::Error& e) {
        out["error"] = e.what();
        std::printf("T %zu every %s: %s\n", c.T, every.c_str(), e.what());
    }
    out["peak_rss_mib"] = peak_rss_mib();
    if (!json.empty()) std::ofstream(json, std::ios::app) << out.dump() << "\n";
    return 0;
}
