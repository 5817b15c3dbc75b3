// Milliseconds per training step (zero_grad, forward over T steps, a
// Linear(H→I) head on the last hidden state, MSE, backward, Adam step) and per
// forward-only pass, for tapegrad's LSTM and GRU, at the configurations of
// issue "Performance" (see ../shared/reference/PERF.md): small (B=16, I=8,
// H=64, T=100), medium (64, 128, 256, 50), large (64, 512, 512, 35).
// `--anomaly` measures the cost of anomaly detection (off by default).
//
//   build/bench/bench_recurrent [--config small|medium|large|all] [--cell lstm|gru|all]
//                               [--threads N] [--steps N] [--anomaly] [--json FILE]

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <fstream>
#include <string>
#include <vector>

#include <sys/resource.h>

#include <CLI/CLI.hpp>
#include <nlohmann/json.hpp>

#include <tapegrad/tapegrad.hpp>

extern "C" void openblas_set_num_threads(int);

namespace tg = tapegrad;

namespace {

struct Config {
    const char* name;
    std::size_t B, I, H, T;
};
const Config kConfigs[] = {{"small", 16, 8, 64, 100}, {"medium", 64, 128, 256, 50}, {"large", 64, 512, 512, 35}};

struct Timing {
    double median, min, max;
};

Timing summarize(std::vector<double> ms) {
    std::sort(ms.begin(), ms.end());
    return {ms[ms.size() / 2], ms.front(), ms.back()};
}

double peak_rss_mib() {
    rusage u{};
    getrusage(RUSAGE_SELF, &u);
    return double(u.ru_maxrss) / 1024.0;
}

// FLOPs as PERF.md counts them: forward = 2·B·(I+H)·G·H·T, train = 3 × forward.
double forward_gflop(const Config& c, std::size_t gates) {
    return 2.0 * double(c.B) * double(c.I + c.H) * double(gates) * double(c.H) * double(c.T) / 1e9;
}

}  // namespace

int main(int argc, char** argv) {
    std::string config = "all", cell = "all", json_path;
    int threads = 1, steps = 20;
    bool anomaly = false;
    CLI::App app{"tapegrad LSTM/GRU training-step and forward timings."};
    app.add_option("--config", config)->check(CLI::IsMember({"small", "medium", "large", "all"}));
    app.add_option("--cell", cell)->check(CLI::IsMember({"lstm", "gru", "all"}));
    app.add_option("--threads", threads, "OpenBLAS threads")->check(CLI::Range(1, 64));
    app.add_option("--steps", steps, "timed repetitions (after 3 warm-up ones)")->check(CLI::Range(3, 100000));
    app.add_flag("--anomaly", anomaly, "turn on anomaly detection");
    app.add_option("--json", json_path, "also write the records as JSON");
    CLI11_PARSE(app, argc, argv);
    openblas_set_num_threads(threads);

    nlohmann::json records = nlohmann::json::array();
    std::printf("%-7s %-5s %-8s %8s %10s %10s %10s %9s %9s\n", "config", "cell", "mode", "threads", "ms median", "ms min",
                "ms max", "GFLOP/s", "RSS MiB");
    for (const Config& c : kConfigs) {
        if (config != "all" && config != c.name) continue;
        for (const std::string kind : {"lstm", "gru"}) {
            if (cell != "all" && cell != kind) continue;
            tg::Generator gen(1);
            tg::RecurrentOptions o{.input_size = c.I, .hidden_size = c.H};
            std::unique_ptr<tg::RecurrentLayer<float>> rnn;
            if (kind == "lstm")
                rnn = std::make_unique<tg::LSTM<float>>(o, gen);
            else
                rnn = std::make_unique<tg::GRU<float>>(o, gen);
            tg::Linear<float> head(c.H, c.I, gen);
            std::vector<tg::Parameter<float>*> params = rnn->parameters();
            for (auto* p : head.parameters()) params.push_back(p);
            tg::Adam<float> opt(params, {.lr = 1e-3});
            tg::Tensor<float> x = tg::Tensor<float>::from_shape({c.T, c.B, c.I}), y = tg::Tensor<float>::from_shape({c.B, c.I});
            tg::uniform_(x, -1, 1, gen);
            tg::uniform_(y, -1, 1, gen);
            tg::Tape<float> tape;
            tape.set_detect_anomaly(anomaly);
            const std::size_t gates = kind == "lstm" ? 4 : 3;
            for (const std::string mode : {"train", "forward"}) {
                std::vector<double> ms;
                for (int rep = 0; rep < steps + 3; ++rep) {
                    const auto t0 = std::chrono::steady_clock::now();
                    if (mode == "train") {
                        opt.zero_grad();
                        auto [out, state] = (*rnn)(tape.constant(x));
                        auto loss = tg::mse_loss(head(tg::select(state.h, 0, -1)), tape.constant(y));
                        tape.backward(loss);
                        opt.step();
                    } else {
                        tg::NoGradGuard no_grad;
                        auto [out, state] = (*rnn)(tape.constant(x));
                        (void)head(tg::select(state.h, 0, -1));
                    }
                    tape.clear();
                    const auto t1 = std::chrono::steady_clock::now();
                    if (rep >= 3) ms.push_back(std::chrono::duration<double, std::milli>(t1 - t0).count());
                }
                const Timing tm = summarize(ms);
                const double gflop = forward_gflop(c, gates) * (mode == "train" ? 3.0 : 1.0);
                const double rate = gflop / (tm.median / 1e3);
                std::printf("%-7s %-5s %-8s %8d %10.3f %10.3f %10.3f %9.1f %9.1f\n", c.name, kind.c_str(), mode.c_str(), threads,
                            tm.median, tm.min, tm.max, rate, peak_rss_mib());
                records.push_back({{"config", c.name}, {"cell", kind}, {"mode", mode}, {"threads", threads},
                                   {"anomaly", anomaly}, {"ms_median", tm.median}, {"ms_min", tm.min}, {"ms_max", tm.max},
                                   {"gflops", rate}, {"peak_rss_mib", peak_rss_mib()}});
            }
        }
    }
    if (!json_path.empty()) std::ofstream(json_path) << records.dump(2) << "\n";
    return 0;
}
