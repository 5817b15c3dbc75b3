// tapegrad::dist under `mpirun -np 2` (and 3): broadcast, gradient averaging
// against one process's gradient of the whole batch, bucket overlap,
// training trajectories against one process, determinism, errors, and the
// example trainer distributed.
#include <catch2/catch.hpp>

#include <cmath>
#include <sstream>

#include <tapegrad/optim/dist/data_parallel.hpp>
#include <tapegrad/optim/dist/shard.hpp>
#include <tapegrad/tapegrad.hpp>

#include "tasks/trainer.hpp"

namespace tg = tapegrad;
namespace dist = tapegrad::dist;

namespace {

std::size_t my_rank() { return static_cast<std::size_t>(dist::rank()); }
std::size_t world() { return static_cast<std::size_t>(dist::world_size()); }

// Rows [begin, end) along axis 1 of (T, B, C), or axis 0 of (B, C).
template <class T>
tg::Tensor<T> rows(const tg::Tensor<T>& t, const dist::Shard& s) {
    const bool seq = t.dimension() == 3;
    const std::size_t outer = seq ? t.shape()[0] : 1, B = seq ? t.shape()[1] : t.shape()[0], C = t.shape().back();
    auto shape = t.shape();
    shape[seq ? 1 : 0] = s.rows();
    tg::Tensor<T> out = tg::Tensor<T>::from_shape(shape);
    for (std::size_t o = 0; o < outer; ++o)
        for (std::size_t r = 0; r < s.rows(); ++r)
            for (std::size_t c = 0; c < C; ++c) out.data()[(o * s.rows() + r) * C + c] = t.data()[(o * B + s.begin + r) * C + c];
    return out;
}

// A two-layer LSTM and a head: enough parameters for several buckets.
template <class T>
struct Model {
    tg::Generator gen;
    tg::LSTM<T> lstm;
    tg::Linear<T> head;
    explicit Model(std::uint64_t seed)
        : gen(seed), lstm({.input_size = 3, .hidden_size = 8, .num_layers = 2}, gen), head(8, 2, gen) {}
    std::vector<tg::Parameter<T>*> params() { return tg::parameters(lstm, head); }
    tg::Var<T> loss(tg::Tape<T>& tape, const tg::Tensor<T>& x, const tg::Tensor<T>& y) {
        auto [out, state] = lstm(tape.constant(x));
        return tg::mse_loss(head(tg::select(state.h, 0, -1)), tape.constant(y));
    }
};

template <class T>
struct Data {
    tg::Tensor<T> x, y;
};
template <class T>
Data<T> batch(std::size_t B, std::uint64_t step) {
    tg::Generator g(1000 + step);
    return {tg::rand<T>({5, B, 3}, g), tg::rand<T>({B, 2}, g)};
}

template <class T>
double max_rel_diff(const std::vector<tg::Parameter<T>*>& a, const std::vector<tg::Parameter<T>*>& b, bool grads) {
    double worst = 0;
    for (std::size_t i = 0; i < a.size(); ++i) {
        const tg::Tensor<T>& x = grads ? a[i]->grad() : a[i]->value();
        const tg::Tensor<T>& y = grads ? b[i]->grad() : b[i]->value();
        for (std::size_t j = 0; j < x.size(); ++j)
            worst = std::max(worst, std::abs(double(x.data()[j]) - double(y.data()[j])) / (std::abs(double(y.data()[j])) + 1e-6));
    }
    return worst;
}

}  // namespace

TEST_CASE("dist: rank and world size come from mpirun", "[dist]") {
    REQUIRE(dist::initialized());
    REQUIRE(world() >= 2);  // the suite runs this under mpirun -np 2 or 3
    REQUIRE(my_rank() < world());
}

TEST_CASE("dist: DataParallel starts every replica from rank 0's values", "[dist]") {
    Model<double> m(1 + my_rank());  // a different initialization on each rank
    Model<double> root_model(1);
    dist::DataParallel<double> dp(m.params());
    CHECK(max_rel_diff(m.params(), root_model.params(), false) == 0.0);
    dist::check_in_sync(m.params(), "test");
}

TEST_CASE("dist: the averaged gradient is one process's gradient of the whole batch", "[dist]") {
    // 5 rows over 2 or 3 ranks: unequal shards, weighted by their share.
    const std::size_t B = 5;
    Model<double> m(7), ref(7);
    dist::DataParallel<double> dp(m.params(), {.bucket_bytes = 512});
    const Data<double> d = batch<double>(B, 1);
    tg::Tape<double> whole;
    whole.backward(ref.loss(whole, d.x, d.y));

    const dist::Shard s = dist::shard_of(B, my_rank(), world());
    tg::Tape<double> tape;
    dp.backward(tape, m.loss(tape, rows(d.x, s), rows(d.y, s)), s.share);
    CHECK(max_rel_diff(m.params(), ref.params(), true) < 1e-12);
    const dist::DataParallelStats& st = dp.last_stats();
    CHECK(st.buckets > 2);
    // The head's bucket and the upper layer's are final while the lower
    // layer still backpropagates: they start early.
    CHECK(st.started_early >= 2);
}

TEST_CASE("dist: an error on one rank reaches every rank, and the next backward is clean", "[dist]") {
    const std::size_t B = 4;
    Model<double> m(8), ref(8);
    dist::DataParallel<double> dp(m.params());
    const dist::Shard s = dist::shard_of(B, my_rank(), world());
    const Data<double> d = batch<double>(B, 2);
    tg::Tape<double> tape;
    // Rank 1 passes an impossible share: its own ArgumentError there, a
    // DistError naming the failure everywhere else; no rank hangs.
    const double share = my_rank() == 1 ? 0.0 : s.share;
    if (my_rank() == 1) {
        CHECK_THROWS_AS(dp.backward(tape, m.loss(tape, rows(d.x, s), rows(d.y, s)), share), tg::ArgumentError);
    } else {
        CHECK_THROWS_WITH(dp.backward(tape, m.loss(tape, rows(d.x, s), rows(d.y, s)), share),
                          Catch::Contains("1 other rank(s) failed in this backward"));
    }
    tape.clear();
    // Shares that do not sum to 1 (every rank claims the whole batch).
    CHECK_THROWS_WITH(dp.backward(tape, m.loss(tape, rows(d.x, s), rows(d.y, s)), 1.0),
                      Catch::Contains("shares sum to " + std::to_string(double(world()))));
    tape.clear();
    // Then a clean backward gives one process's gradient again.
    for (auto* p : m.params()) p->zero_grad();
    dp.backward(tape, m.loss(tape, rows(d.x, s), rows(d.y, s)), s.share);
    tg::Tape<double> whole;
    whole.backward(ref.loss(whole, d.x, d.y));
    CHECK(max_rel_diff(m.params(), ref.params(), true) < 1e-12);
}

TEST_CASE("dist: a parameter resized after the DataParallel was built is refused, not overrun", "[dist]") {
    Model<double> m(9);
    dist::DataParallel<double> dp(m.params());
    m.head.parameters()[1]->set_value(tg::zeros<double>({5}));  // the bias: 2 -> 5 elements, on every rank
    tg::Tape<double> tape;
    tg::Var<double> y = tg::sum(tg::matmul(tape.constant(tg::ones<double>({1, 2})), tape.param(*m.head.parameters()[0])));
    y = y + tg::sum(tape.param(*m.head.parameters()[1]));
    CHECK_THROWS_WITH(dp.backward(tape, y), Catch::Contains("had 2 elements when the DataParallel was built"));
}

TEST_CASE("dist: gradients accumulated before a backward are averaged with it", "[dist]") {
    const std::size_t B = 4;
    Model<double> m(3), ref(3);
    dist::DataParallel<double> dp(m.params());
    tg::Tape<double> tape, whole;
    for (std::uint64_t micro = 0; micro < 2; ++micro) {
        const Data<double> d = batch<double>(B, 10 + micro);
        whole.backward(ref.loss(whole, d.x, d.y));
        whole.clear();
        const dist::Shard s = dist::shard_of(B, my_rank(), world());
        dp.backward(tape, m.loss(tape, rows(d.x, s), rows(d.y, s)), s.share);
        tape.clear();
    }
    CHECK(max_rel_diff(m.params(), ref.params(), true) < 1e-12);
}

TEST_CASE("dist: N ranks train to one process's parameters, and the same run twice is bit-identical", "[dist]") {
    // float, Adam, 30 steps of global batch 6. The ranks' gradients differ
    // from one process's only in the order of the batch sums (each rank sums
    // its rows, the allreduce sums the ranks): about 1 ulp per step, which
    // Adam's normalization can amplify where a gradient is near 0. Measured
    // worst relative difference: see docs/distributed.md; bound 1e-4.
    auto train = [](bool distributed) {
        Model<float> m(11);
        tg::Adam<float> opt(m.params(), {.lr = 1e-2});
        std::optional<dist::DataParallel<float>> dp;
        if (distributed) dp.emplace(m.params());
        tg::Tape<float> tape;
        for (std::uint64_t step = 1; step <= 30; ++step) {
            const Data<float> d = batch<float>(6, step);
            if (distributed) {
                const dist::Shard s = dist::shard_of(6, my_rank(), world());
                dp->backward(tape, m.loss(tape, rows(d.x, s), rows(d.y, s)), s.share);
            } else {
                tape.backward(m.loss(tape, d.x, d.y));
            }
            tg::clip_grad_norm(opt.params(), 1.0);
            opt.step();
            opt.zero_grad();
            tape.clear();
        }
        std::vector<tg::Tensor<float>> values;
        for (auto* p : m.params()) values.push_back(p->value());
        return values;
    };
    const auto one = train(false), first = train(true), second = train(true);
    double worst = 0;
    for (std::size_t i = 0; i < one.size(); ++i) {
        const bool same = first[i] == second[i];
        CHECK(same);  // exactly the same run, run after run
        for (std::size_t j = 0; j < one[i].size(); ++j)
            worst = std::max(worst, double(std::abs(first[i].data()[j] - one[i].data()[j])) / (std::abs(one[i].data()[j]) + 1e-3));
    }
    INFO("worst relative difference from one process: " << worst);
    CHECK(worst < 1e-4);
    CHECK(worst > 0);  // float sums in another order: not bit-identical, or the test compares nothing
}

TEST_CASE("dist: replicas that drift apart are detected on every rank", "[dist]") {
    Model<float> m(5);
    dist::DataParallel<float> dp(m.params());
    if (my_rank() == 1) m.params()[0]->mutable_value().data()[0] += 1e-3f;
    CHECK_THROWS_AS(dist::check_in_sync(m.params(), "test"), dist::DistError);
}

TEST_CASE("dist: a parameter on the tape but not in the list is refused by name", "[dist]") {
    Model<double> m(2);
    std::vector<tg::Parameter<double>*> only_lstm = m.lstm.parameters();
    dist::DataParallel<double> dp(only_lstm);
    const Data<double> d = batch<double>(4, 3);
    tg::Tape<double> tape;
    try {
        dp.backward(tape, m.loss(tape, d.x, d.y));
        FAIL("no error");
    } catch (const dist::DistError& e) {
        CHECK_THAT(e.what(), Catch::Contains("not in the DataParallel's list"));
    }
}

TEST_CASE("dist: broadcasts refuse mismatched models and carry state dicts and tensors", "[dist]") {
    tg::Generator g(4);
    tg::Linear<float> a(3, my_rank() == 0 ? 2 : 3, g);  // rank 0's head differs
    CHECK_THROWS_AS(dist::broadcast(a.parameters()), dist::DistError);

    Model<float> m(6);
    tg::Adam<float> opt(m.params(), {.lr = 1e-3});
    if (my_rank() == 0) {  // a state with moments: one step on rank 0 only
        tg::Tape<float> t;
        const Data<float> d = batch<float>(2, 1);
        t.backward(m.loss(t, d.x, d.y));
        opt.step();
    }
    tg::StateDict state = my_rank() == 0 ? opt.state_dict() : tg::StateDict{};
    dist::broadcast(state);
    tg::Adam<float> other(m.params(), {.lr = 1e-3});
    other.load_state_dict(state);
    CHECK(other.steps() == 1);

    tg::Tensor<float> t = my_rank() == 0 ? tg::Tensor<float>({{1.f, 2.f}, {3.f, 4.f}}) : tg::Tensor<float>();
    dist::broadcast(t);
    const bool received = t == tg::Tensor<float>({{1.f, 2.f}, {3.f, 4.f}});
    CHECK(received);
    CHECK_THROWS_AS(dist::DataParallel<float>(m.params(), {.bucket_bytes = 0}), tg::ArgumentError);
}

namespace {
// The trainer's run on one process and on every rank: rank 0's final metric
// must agree to float rounding.
void require_distributed_run_matches(tapegrad::tasks::Options o) {
    namespace tt = tapegrad::tasks;
    std::ostringstream log;
    const tt::Result one = tt::run(o, log);
    o.distributed = true;
    const tt::Result many = tt::run(o, log);
    if (my_rank() == 0) {
        INFO(o.task << " " << o.variant << ": one process " << one.value << ", " << world() << " ranks " << many.value);
        CHECK(std::abs(many.value - one.value) <= 1e-4 * std::abs(one.value));
    }
    CHECK(many.steps == o.steps);
}
}  // namespace

TEST_CASE("dist: NTM copy weights each rank by its scored bits", "[dist]") {
    namespace tt = tapegrad::tasks;
    tt::Options o = tt::defaults_for("copy", "ntm", 4);  // a mean over scored bits: lengths differ by row
    o.steps = 30;
    o.hidden = 16;
    o.batch = 5;
    o.eval_every = 30;
    o.eval_batches = 2;
    o.quiet = true;
    require_distributed_run_matches(o);
}

TEST_CASE("dist: the adding program trains distributed as one process does", "[dist]") {
    namespace tt = tapegrad::tasks;
    tt::Options o = tt::defaults_for("adding", "", 20);
    o.steps = 60;
    o.hidden = 16;
    o.batch = 7;  // unequal shards
    o.eval_every = 60;
    o.eval_batches = 2;
    o.quiet = true;
    require_distributed_run_matches(o);
}
