// Recompute checkpointing: Tape::recompute_since, tg::checkpoint and the
// sequence layers' checkpoint_every. The contract is that a checkpointed run
// differs from a plain one in memory and time only: every value and every
// gradient must be bit-identical (compared with zero tolerance), in float and
// double, for built-in cells and a user's cell, both directions, lengths and
// dropout.

#include <map>
#include <string>

#include "cell_checks.hpp"
#include "peephole_lstm_cell.hpp"

namespace tg = tapegrad;
using tgtest::as;
using tgtest::require_close;
using tgtest::smooth;

namespace {

bool dropped(const tg::Var<double>& v) { return v.tape()->value_dropped(v); }

// A small block with ops whose backwards read inputs, outputs, or nothing.
template <class T>
tg::Var<T> block(tg::Var<T> x, tg::Var<T> w) {
    const auto a = tg::matmul(x, w);
    const auto s = tg::sigmoid(a);
    const auto n = tg::narrow(s, 1, 0, 2);
    return tg::tanh(n * n + x);
}

}  // namespace

TEST_CASE("recompute_since drops a segment's values and backward brings them back bit for bit", "[recompute][tape]") {
    tg::Tape<double> plain;
    auto xp = plain.variable(smooth({2, 2})), wp = plain.variable(smooth({2, 3}, 0.5));
    plain.backward(tg::sum(block(block(xp, wp), wp)));

    tg::Tape<double> t;
    auto x = t.variable(smooth({2, 2})), w = t.variable(smooth({2, 3}, 0.5));
    const std::size_t begin = t.size();
    const auto y = block(x, w);
    const std::size_t inner = t.size();
    const std::size_t bytes_before = t.value_bytes();
    t.recompute_since(begin, {y});
    REQUIRE(t.recompute_segments().size() == 1);
    REQUIRE(t.recompute_segments()[0].begin == begin);
    REQUIRE(t.recompute_segments()[0].end == inner);
    for (std::size_t k = begin; k + 1 < inner; ++k) REQUIRE(t.value_dropped(tg::Var<double>(&t, static_cast<tg::NodeId>(k), y.epoch())));
    REQUIRE_FALSE(dropped(y));  // kept: what the segment returns
    REQUIRE_FALSE(dropped(x));  // before the segment
    REQUIRE(t.value_bytes() < bytes_before);
    const auto loss = tg::sum(block(y, w));
    t.backward(loss);
    require_close(x.grad(), xp.grad(), 0.0, 0.0);
    require_close(w.grad(), wp.grad(), 0.0, 0.0);
    // Backward dropped again what it brought back.
    for (std::size_t k = begin; k + 1 < inner; ++k) REQUIRE(t.value_dropped(tg::Var<double>(&t, static_cast<tg::NodeId>(k), y.epoch())));
}

TEST_CASE("recompute_since: bad positions, no gradients, keep_values, a second backward", "[recompute][tape]") {
    tg::Tape<double> t;
    auto x = t.variable(smooth({2, 2})), w = t.variable(smooth({2, 3}, 0.5));
    CHECK_THROWS_AS(t.recompute_since(t.size() + 1, {}), tg::ArgumentError);

    SECTION("under NoGradGuard no segment is recorded and all but what is returned goes") {
        tg::NoGradGuard no_grad;
        const std::size_t begin = t.size();
        const auto a = tg::matmul(x, w);
        const auto y = tg::sigmoid(a);
        t.recompute_since(begin, {y});
        REQUIRE(t.recompute_segments().empty());
        REQUIRE(t.steps().empty());
        REQUIRE(dropped(a));
        REQUIRE_FALSE(dropped(y));
    }
    SECTION("keep_values keeps everything") {
        t.set_keep_values(true);
        const std::size_t begin = t.size();
        const auto a = tg::matmul(x, w);
        const auto y = tg::sigmoid(a);
        t.recompute_since(begin, {y});
        REQUIRE(t.recompute_segments().empty());
        REQUIRE_FALSE(dropped(a));
    }
    SECTION("retain_graph: a second backward recomputes again and gives the same gradients") {
        const std::size_t begin = t.size();
        const auto y = block(x, w);
        t.recompute_since(begin, {y});
        const auto loss = tg::sum(y * y);
        t.backward(loss, tg::BackwardOptions{.retain_graph = true});
        const tg::Tensor<double> gx = x.grad(), gw = w.grad();
        t.backward(loss);
        // Leaf gradients are recomputed from scratch by each backward.
        require_close(x.grad(), gx, 0.0, 0.0);
        require_close(w.grad(), gw, 0.0, 0.0);
    }
    SECTION("drop_value keeps a value a segment reads") {
        const auto in = tg::tanh(x);
        const std::size_t begin = t.size();
        const auto y = block(in, w);
        t.recompute_since(begin, {y});
        t.drop_value(in);
        REQUIRE_FALSE(dropped(in));
        t.backward(tg::sum(y));
    }
    SECTION("segments closed around earlier ones absorb them") {
        const std::size_t outer = t.size();
        const auto a = tg::tanh(x);
        const std::size_t inner = t.size();
        const auto y = block(a, w);
        t.recompute_since(inner, {y});
        const auto z = block(y, w);
        t.recompute_since(outer, {z});
        REQUIRE(t.recompute_segments().size() == 1);
        REQUIRE(t.recompute_segments()[0].begin == outer);
        tg::Tape<double> plain;
        auto xp = plain.variable(smooth({2, 2})), wp = plain.variable(smooth({2, 3}, 0.5));
        plain.backward(tg::sum(block(block(tg::tanh(xp), wp), wp)));
        t.backward(tg::sum(z));
        require_close(x.grad(), xp.grad(), 0.0, 0.0);
        require_close(w.grad(), wp.grad(), 0.0, 0.0);
    }
}

TEST_CASE("checkpoint(fn, inputs...) with parameters and dropout matches the plain run bit for bit", "[recompute]") {
    tg::Generator gen(5);
    tg::Linear<float> lin(3, 3, gen);
    tg::Dropout<float> drop(0.5, 17);
    const tg::Tensor<float> xs = as<float>(smooth({4, 3}));
    auto run = [&](bool checkpointed) {
        lin.zero_grad();
        drop.generator().seed(17);
        tg::Tape<float> t;
        auto x = t.variable(xs);
        auto h = tg::tanh(x);
        auto body = [&](tg::Var<float> a, tg::Var<float> b) {
            const auto u = tg::tanh(lin(drop(a)));
            return std::pair{u * b, tg::sigmoid(u)};
        };
        auto [p, q] = checkpointed ? tg::checkpoint(body, x, h) : body(x, h);
        if (checkpointed) REQUIRE(t.recompute_segments().size() == 1);
        t.backward(tg::sum(p * q));
        return std::tuple{tg::Tensor<float>(x.grad()), tg::Tensor<float>(lin.weight.grad()), tg::Tensor<float>(lin.bias.grad())};
    };
    const auto [gx, gw, gb] = run(false);
    const auto [cx, cw, cb] = run(true);
    require_close(cx, gx, 0.0, 0.0);
    require_close(cw, gw, 0.0, 0.0);
    require_close(cb, gb, 0.0, 0.0);
}

TEST_CASE("checkpoint: inputs on two tapes or empty, and a throwing fn leaves the tape unchanged", "[recompute]") {
    tg::Tape<double> a, b;
    auto x = a.variable(smooth({2, 2})), y = b.variable(smooth({2, 2}));
    auto id = [](tg::Var<double> u, tg::Var<double> v) { return u + v; };
    CHECK_THROWS_AS(tg::checkpoint(id, x, y), tg::ArgumentError);
    CHECK_THROWS_AS(tg::checkpoint(id, x, tg::Var<double>()), tg::StaleVarError);
    const std::size_t before = a.size();
    auto fails = [](tg::Var<double> u) -> tg::Var<double> {
        (void)tg::tanh(u);
        return tg::matmul(u, tg::reshape(u, {4}));  // (2, 2) @ (4,): ShapeError
    };
    CHECK_THROWS_AS(tg::checkpoint(fails, x), tg::ShapeError);
    REQUIRE(a.size() == before);
    REQUIRE(a.recompute_segments().empty());
}

TEST_CASE("checkpoint: anomaly mode, the audit and the profiler see a checkpointed tape", "[recompute]") {
    tg::Tape<double> t;
    auto x = t.variable(smooth({2, 2})), w = t.variable(smooth({2, 3}, 0.5));
    const auto y = tg::checkpoint([](tg::Var<double> a, tg::Var<double> b) { return block(a, b); }, x, w);
    const auto loss = tg::sum(block(y, w));
    const tg::AuditResult r = tg::audit(t, loss);
    INFO(r.report());
    REQUIRE(r.ok);
    REQUIRE(r.nodes_regenerated > 0);  // the segment's values, brought back for the audit
    t.set_detect_anomaly(true);
    tg::Profiler prof(t);
    t.backward(loss);
    REQUIRE(prof.table().find("recompute") != std::string::npos);
}

// ---- sequence layers ----------------------------------------------------------

namespace {

template <class T>
struct LayerRun {
    tg::Tensor<T> out, h, x_grad;
    std::map<std::string, tg::Tensor<T>> grads;
    std::size_t segments = 0;
};

// Forward and backward through a 2-layer bidirectional layer with lengths
// and dropout between layers, T = 11 steps (segments that do not divide T).
template <class Layer, class T = typename std::remove_reference_t<decltype(std::declval<Layer&>().cell(0, 0))>::value_type>
LayerRun<T> run_layer(Layer& layer) {
    layer.zero_grad();
    layer.train();
    layer.dropout_generator().seed(9);
    tg::Tape<T> t;
    auto x = t.variable(as<T>(smooth({11, 3, layer.options().input_size})));
    auto [out, state] = layer(x, std::nullopt, {11, 5, 8});
    t.backward(tg::sum(out * out) + tg::sum(state.h));
    LayerRun<T> r{out.value(), state.h.value(), x.grad(), {}, t.recompute_segments().size()};
    for (auto& [name, p] : layer.named_parameters()) r.grads[name] = p->grad();
    return r;
}

template <class T>
void require_identical(const LayerRun<T>& a, const LayerRun<T>& b) {
    require_close(a.out, b.out, 0.0, 0.0);
    require_close(a.h, b.h, 0.0, 0.0);
    require_close(a.x_grad, b.x_grad, 0.0, 0.0);
    REQUIRE(a.grads.size() == b.grads.size());
    for (const auto& [name, g] : a.grads) {
        INFO(name);
        require_close(g, b.grads.at(name), 0.0, 0.0);
    }
}

template <class Layer>
void require_checkpointing_changes_nothing() {
    tg::RecurrentOptions o{.input_size = 2, .hidden_size = 4, .num_layers = 2, .bidirectional = true, .dropout = 0.3};
    o.projection_steps = 2;
    tg::Generator gen(12);
    Layer layer(o, gen);
    const auto plain = run_layer(layer);
    REQUIRE(plain.segments == 0);
    // 12 and 2^64 - 2: one segment longer than the sequence (no overflow in
    // counting segments).
    for (const std::size_t every : {std::size_t(2), std::size_t(4), std::size_t(12), tg::checkpoint_auto - 1, tg::checkpoint_auto}) {
        INFO("checkpoint_every " << every);
        tg::RecurrentOptions oc = o;
        oc.checkpoint_every = every;
        tg::Generator same(12);  // the same initial weights
        Layer ckpt(oc, same);
        const auto r = run_layer(ckpt);
        // One segment per started block of `every` steps, per layer and direction
        // (auto: √11 ≈ 3.3, the nearest multiple of 2 is 4).
        const std::size_t k = every == tg::checkpoint_auto ? 4 : std::min<std::size_t>(every, 11);
        REQUIRE(r.segments == 4 * ((11 + k - 1) / k));
        require_identical(r, plain);
    }
}

}  // namespace

TEST_CASE("checkpoint_every: LSTM gradients bit-identical to the plain run, float and double", "[recompute][layers]") {
    require_checkpointing_changes_nothing<tg::LSTM<float>>();
    require_checkpointing_changes_nothing<tg::LSTM<double>>();
}

TEST_CASE("checkpoint_every: GRU gradients bit-identical to the plain run, float and double", "[recompute][layers]") {
    require_checkpointing_changes_nothing<tg::GRU<float>>();
    require_checkpointing_changes_nothing<tg::GRU<double>>();
}

TEST_CASE("checkpoint_every: a user's cell gets it through the open cell interface", "[recompute][layers][cells]") {
    require_checkpointing_changes_nothing<tg::Recurrent<tgtest::PeepholeLSTMCell<float>>>();
    require_checkpointing_changes_nothing<tg::Recurrent<tgtest::PeepholeLSTMCell<double>>>();
    // And a gradcheck through checkpointed segments (2 layers, both directions, lengths).
    tg::Generator gen(14);
    tg::Recurrent<tgtest::PeepholeLSTMCell<double>> layer(
        {.input_size = 2, .hidden_size = 3, .num_layers = 2, .bidirectional = true, .checkpoint_every = 2, .projection_steps = 1},
        gen);
    tgtest::require_sequence_gradcheck(layer);
}

TEST_CASE("checkpoint_every: a segment that cuts a projection GEMM changes gradients by rounding only", "[recompute][layers]") {
    tg::Generator gen(15), same(15);
    tg::LSTM<double> plain({.input_size = 2, .hidden_size = 4, .num_layers = 2, .bidirectional = true, .projection_steps = 4}, gen);
    tg::LSTM<double> ckpt({.input_size = 2, .hidden_size = 4, .num_layers = 2, .bidirectional = true, .checkpoint_every = 3,
                           .projection_steps = 4},
                          same);
    const auto a = run_layer(plain), b = run_layer(ckpt);
    // Forward values too may differ by rounding: whether a GEMM row's result
    // depends on how many rows share the call is up to the BLAS kernel
    // (equal on OpenBLAS's Haswell kernel, not on its Zen kernel).
    require_close(b.out, a.out, 1e-14, 1e-16);
    for (const auto& [name, g] : a.grads) {
        INFO(name);
        require_close(b.grads.at(name), g, 1e-13, 1e-15);
    }
}

TEST_CASE("checkpoint_every: the forward holds segment ends, not every step", "[recompute][layers][memory]") {
    tg::Generator gen(16), same(16);
    const tg::RecurrentOptions o{.input_size = 3, .hidden_size = 8, .projection_steps = 8};
    tg::LSTM<float> plain(o, gen);
    tg::RecurrentOptions oc = o;
    oc.checkpoint_every = 16;
    tg::LSTM<float> ckpt(oc, same);
    const std::size_t p = tgtest::forward_bytes(plain, 256, true), c = tgtest::forward_bytes(ckpt, 256, true);
    INFO("plain " << p << " bytes, checkpointed " << c << " bytes");
    // Plain: 8 (B, H) values a step. Checkpointed: the output (1 per step), 16
    // segment-end states (2 each) and the input: under a third.
    REQUIRE(c * 3 < p);
    // Under NoGradGuard there is nothing to recompute: the same as plain.
    REQUIRE(tgtest::forward_bytes(ckpt, 256, false) == tgtest::forward_bytes(plain, 256, false));
}


TEST_CASE("recompute re-runs only what the segment's backward needs", "[recompute][tape]") {
    // The profiler's `recompute` row counts the GEMM work re-run in backward.
    tg::Tape<double> t;
    auto x = t.variable(smooth({2, 3})), w = t.variable(smooth({3, 4}, 0.5));
    auto recomputed_gemm_flops = [&](auto fn) {
        tg::Profiler prof(t);
        const auto y = tg::checkpoint(fn, x, w);
        t.backward(tg::sum(y));
        for (const tg::OpProfile& row : prof.ops())
            if (row.op == "recompute") return row.gemm_flops;
        return std::uint64_t(0);
    };
    SECTION("a value read only by a kept node is not recomputed") {
        // tanh reads its output, not its input: the product is needed by nobody.
        REQUIRE(recomputed_gemm_flops([](tg::Var<double> a, tg::Var<double> b) { return tg::tanh(tg::matmul(a, b)); }) == 0);
    }
    SECTION("a value a backward reads is recomputed") {
        // mul reads both inputs: the product comes back for it (2·2·4·3 flops).
        REQUIRE(recomputed_gemm_flops([](tg::Var<double> a, tg::Var<double> b) {
                    const auto p = tg::matmul(a, b);
                    return tg::sigmoid(p * p);
                }) == 48);
    }
}

TEST_CASE("release_since keeps the inputs of a checkpoint recorded inside the step", "[recompute][tape]") {
    // A user's loop step that checkpoints part of itself: the step's own
    // temporaries go, but what the segment reads must stay for its recompute.
    tg::Tape<double> t;
    auto xs = t.variable(smooth({3, 2, 2}));
    auto w = t.variable(smooth({2, 2}, 0.4));
    auto h = t.full({2, 2}, 0.0);
    auto step = [&](tg::Var<double> h_in, std::int64_t i, bool checkpointed) {
        auto x = tg::select(xs, 0, i) + 1.0;  // add reads nothing in backward: release_since would drop x
        // sigmoid's backward reads its output, so the recompute re-runs it,
        // and the add before it, whose forward reads x.
        auto body = [&](tg::Var<double> a, tg::Var<double> b) { return tg::tanh(tg::sigmoid(a + tg::matmul(b, w))); };
        return checkpointed ? tg::checkpoint(body, x, h_in) : body(x, h_in);
    };
    for (std::int64_t i = 0; i < 3; ++i) {
        const std::size_t begin = t.size();
        h = step(h, i, true);
        t.release_since(begin, {h});
    }
    t.backward(tg::sum(h));
    tg::Tape<double> plain;
    auto xp = plain.variable(smooth({3, 2, 2}));
    auto wp = plain.variable(smooth({2, 2}, 0.4));
    auto hp = plain.full({2, 2}, 0.0);
    for (std::int64_t i = 0; i < 3; ++i) hp = tg::tanh(tg::sigmoid(tg::select(xp, 0, i) + 1.0 + tg::matmul(hp, wp)));
    plain.backward(tg::sum(hp));
    require_close(xs.grad(), xp.grad(), 0.0, 0.0);
    require_close(w.grad(), wp.grad(), 0.0, 0.0);
}
