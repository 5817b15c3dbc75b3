// Data-parallel throughput (issue 14): one configuration trained for
// --steps steps by every rank of `mpirun -np N bench_dist ...` (or by one
// process without mpirun), through tapegrad::dist::DataParallel when N > 1.
//
// Configurations: the recurrent benchmark's small (B=16, I=8, H=64, T=100),
// medium (64, 128, 256, 50) and large (64, 512, 512, 35) LSTM with a Linear
// head on the last state and an MSE loss; and charlm, the character LM's
// default model (embedding 64, one LSTM layer of 256, vocabulary 96, batch 32,
// bptt 64, cross-entropy per character). --scaling weak gives every rank the
// configuration's batch (the global batch grows with N); strong splits it.
//
// Printed by rank 0 (and appended to --json): ranks, global sequences per
// second (median step), the median step, the share of the step spent
// waiting for gradients after the backward walk (exposed communication), and
// the time of one blocking allreduce of all gradients alone.
//
//   mpirun -np 2 build/bench/bench_dist --config medium [--scaling weak|strong] [--steps 30] [--json FILE]
// tools/bench_dist.sh alternates 1 and 2 processes.

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <fstream>
#include <optional>
#include <span>
#include <string>
#include <vector>

#include <CLI/CLI.hpp>
#include <nlohmann/json.hpp>

#include <tapegrad/optim/dist/data_parallel.hpp>
#include <tapegrad/optim/dist/shard.hpp>
#include <tapegrad/tapegrad.hpp>

extern "C" void openblas_set_num_threads(int);

namespace tg = tapegrad;
namespace dist = tapegrad::dist;

namespace {

using Clock = std::chrono::steady_clock;

struct Shape {
    std::size_t B, I, H, T;
};

// One model of either kind, its loss on this rank's rows of a random batch.
struct Model {
    tg::Generator gen{1};
    bool lm = false;
    std::optional<tg::Embedding<float>> embed;
    std::optional<tg::LSTM<float>> lstm;
    std::optional<tg::Linear<float>> head;
    std::size_t vocab = 96;

    Model(const std::string& config, Shape s) : lm(config == "charlm") {
        if (lm) embed.emplace(vocab, s.I, gen);
        lstm.emplace(tg::RecurrentOptions{.input_size = s.I, .hidden_size = s.H}, gen);
        head.emplace(s.H, lm ? vocab : 1, gen);
    }
    std::vector<tg::Parameter<float>*> params() {
        std::vector<tg::Parameter<float>*> p;
        if (embed) p = embed->parameters();
        for (auto* q : lstm->parameters()) p.push_back(q);
        for (auto* q : head->parameters()) p.push_back(q);
        return p;
    }
    tg::Var<float> loss(tg::Tape<float>& tape, Shape s, std::size_t rows, tg::Generator& data) {
        if (lm) {
            tg::Index ids = tg::Index::from_shape({s.T, rows}), next = tg::Index::from_shape({s.T * rows});
            for (auto& v : ids) v = static_cast<std::int64_t>(data.below(vocab));
            for (auto& v : next) v = static_cast<std::int64_t>(data.below(vocab));
            auto [out, state] = (*lstm)((*embed)(tape, ids));
            return tg::cross_entropy(tg::reshape((*head)(out), {-1, static_cast<std::int64_t>(vocab)}), next);
        }
        const tg::Tensor<float> x = tg::rand<float>({s.T, rows, s.I}, data), y = tg::rand<float>({rows, std::size_t(1)}, data);
        auto [out, state] = (*lstm)(tape.constant(x));
        return tg::mse_loss((*head)(tg::select(state.h, 0, -1)), tape.constant(y));
    }
};

double median(std::vector<double> v) {
    std::sort(v.begin(), v.end());
    return v.empty() ? 0 : v[v.size() / 2];
}

// One blocking allreduce of every gradient, alone: the communication a step
// would pay without any overlap.
double allreduce_alone_ms(const std::vector<tg::Parameter<float>*>& params) {
    std::size_t n = 0;
    for (auto* p : params) n += p->value().size();
    std::vector<float> buffer(n, 1.0f);
    std::vector<double> ms;
    for (int k = 0; k < 10; ++k) {
        dist::barrier();
        const auto t0 = Clock::now();
        dist::allreduce_sum(std::span<float>(buffer));
        ms.push_back(std::chrono::duration<double, std::milli>(Clock::now() - t0).count());
    }
    return median(ms);
}

}  // namespace

int main(int argc, char** argv) {
    std::string config = "medium", scaling = "weak", json_file;
    int steps = 30, threads = 1;
    std::size_t bucket_kib = 1024;
    CLI::App app{"Data-parallel training throughput of tapegrad::dist"};
    app.add_option("--config", config)->check(CLI::IsMember({"small", "medium", "large", "charlm"}));
    app.add_option("--scaling", scaling, "weak: every rank trains the config's batch; strong: the ranks split it")
        ->check(CLI::IsMember({"weak", "strong"}));
    app.add_option("--steps", steps)->check(CLI::Range(3, 100000));
    app.add_option("--threads", threads, "OpenBLAS threads per process")->check(CLI::Range(1, 64));
    app.add_option("--bucket-kib", bucket_kib)->check(CLI::Range(1, 1 << 20));
    app.add_option("--json", json_file, "append the result as one JSON line");
    CLI11_PARSE(app, argc, argv);
    dist::Session mpi(argc, argv);
    openblas_set_num_threads(threads);
    const int world = dist::world_size(), rank = dist::rank();
    Shape s = config == "small" ? Shape{16, 8, 64, 100} : config == "medium" ? Shape{64, 128, 256, 50}
            : config == "large" ? Shape{64, 512, 512, 35} : Shape{32, 64, 256, 64};
    const std::size_t global = scaling == "weak" ? s.B * std::size_t(world) : s.B;
    const dist::Shard shard = dist::shard_of(global, std::size_t(rank), std::size_t(world));

    Model model(config, s);
    tg::Adam<float> opt(model.params(), {.lr = 1e-3});
    std::optional<dist::DataParallel<float>> dp;
    if (world > 1) dp.emplace(model.params(), dist::DataParallelOptions{.bucket_bytes = bucket_kib * 1024});
    tg::Generator data(100 + std::uint64_t(rank));
    tg::Tape<float> tape;
    std::vector<double> step_ms, wait_ms;
    for (int k = 0; k <= steps; ++k) {  // step 0 warms up
        if (world > 1) dist::barrier();
        const auto t0 = Clock::now();
        tg::Var<float> loss = model.loss(tape, s, shard.rows(), data);
        if (dp)
            dp->backward(tape, loss, shard.share);
        else
            tape.backward(loss);
        opt.step();
        opt.zero_grad();
        tape.clear();
        if (k == 0) continue;
        step_ms.push_back(std::chrono::duration<double, std::milli>(Clock::now() - t0).count());
        wait_ms.push_back(dp ? dp->last_stats().wait_seconds * 1e3 : 0.0);
    }
    const double alone = world > 1 ? allreduce_alone_ms(model.params()) : 0.0;
    if (rank != 0) return 0;
    const double step = median(step_ms);
    nlohmann::json j = {{"config", config}, {"scaling", scaling}, {"ranks", world}, {"threads", threads},
                        {"global_batch", global}, {"step_ms", step}, {"sequences_per_s", double(global) / (step / 1e3)},
                        {"wait_share", median(wait_ms) / step}, {"allreduce_alone_ms", alone},
                        {"buckets", dp ? dp->last_stats().buckets : 0}, {"started_early", dp ? dp->last_stats().started_early : 0}};
    std::printf("%s\n", j.dump().c_str());
    if (!json_file.empty()) std::ofstream(json_file, std::ios::app) << j.dump() << "\n";
    return 0;
}
