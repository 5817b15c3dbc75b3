// The open cell interface and the step scope: a user-defined cell (a
// peephole LSTM written against tg::Cell in peephole_lstm_cell.hpp) gets
// everything the built-in LSTM gets (layers, directions, lengths, dropout,
// released step temporaries), and Tape::release_since keeps exactly what a
// backward reads.

#include "cell_checks.hpp"
#include "peephole_lstm_cell.hpp"

namespace tg = tapegrad;
using tgtest::forward_bytes;
using tgtest::PeepholeLSTMCell;
using tgtest::require_close;
using tgtest::smooth;

TEST_CASE("release_since drops what no backward reads and keeps what the step returns", "[tape][cells]") {
    auto record = [](tg::Tape<double>& t, tg::Var<double> x) {
        struct Step {
            tg::Var<double> a, s, n, y, z;
        } r;
        r.a = x * 2.0;                   // read by nobody's backward (sigmoid reads its output)
        r.s = tg::sigmoid(r.a);          // its backward reads its own value
        r.n = tg::narrow(r.s, 1, 0, 2);  // mul's backward reads it
        r.y = r.n * r.n;                 // add's backward reads nothing
        r.z = r.y + r.y;                 // returned
        return r;
    };
    auto dropped = [](tg::Var<double> v) {
        try {
            (void)v.value();
            return false;
        } catch (const tg::ArgumentError&) {
            return true;
        }
    };
    tg::Tape<double> kept;
    auto xk = kept.variable(smooth({2, 3}));
    kept.backward(tg::sum(record(kept, xk).z));

    tg::Tape<double> t;
    auto x = t.variable(smooth({2, 3}));
    const std::size_t begin = t.size();
    const auto r = record(t, x);
    t.release_since(begin, {r.z});
    REQUIRE(dropped(r.a));
    REQUIRE_FALSE(dropped(r.s));
    REQUIRE_FALSE(dropped(r.n));
    REQUIRE(dropped(r.y));
    REQUIRE_FALSE(dropped(r.z));
    REQUIRE_FALSE(dropped(x));  // before the step
    t.backward(tg::sum(r.z));
    require_close(x.grad(), xk.grad(), 0.0, 0.0);

    SECTION("without gradients everything but what is returned goes") {
        tg::Tape<double> n;
        auto xn = n.variable(smooth({2, 3}));
        tg::NoGradGuard no_grad;
        const std::size_t b = n.size();
        const auto rn = record(n, xn);
        n.release_since(b, {rn.z});
        for (auto v : {rn.a, rn.s, rn.n, rn.y}) REQUIRE(dropped(v));
        REQUIRE_FALSE(dropped(rn.z));
    }
    SECTION("keep_values keeps everything") {
        tg::Tape<double> k;
        k.set_keep_values(true);
        auto xk2 = k.variable(smooth({2, 3}));
        const std::size_t b = k.size();
        const auto rk = record(k, xk2);
        k.release_since(b, {rk.z});
        for (auto v : {rk.a, rk.s, rk.n, rk.y, rk.z}) REQUIRE_FALSE(dropped(v));
    }
    SECTION("a step that began before a clear is refused") {
        const std::size_t late = t.size() + 1;
        REQUIRE_THROWS_AS(t.release_since(late, {}), tg::ArgumentError);
    }
}

TEST_CASE("a user-defined cell runs 2-layer bidirectional with lengths and dropout, and passes gradcheck",
          "[layers][cells]") {
    tg::Generator gen(21);
    const tg::RecurrentOptions o{.input_size = 2, .hidden_size = 3, .num_layers = 2, .bidirectional = true,
                                 .dropout = 0.4, .dropout_seed = 5};
    tg::Recurrent<PeepholeLSTMCell<double>> layer(o, gen);
    auto named = layer.named_parameters();
    REQUIRE(named.size() == 4 * 7);  // 2 layers × 2 directions × (4 weights + 3 peepholes)
    REQUIRE(named[4].first == "p_i_l0");
    REQUIRE(named[27].first == "p_o_l1_reverse");
    REQUIRE(layer.cell(1, 1).p_o.shape() == std::vector<std::size_t>{3});

    tgtest::require_sequence_gradcheck(layer);  // lengths {4, 2}, initial h and c, the same dropout mask each call
}

TEST_CASE("a user-defined cell in a layer equals the same cell stepped by hand", "[layers][cells]") {
    tg::Generator gen(22);
    tg::Recurrent<PeepholeLSTMCell<double>> layer({.input_size = 2, .hidden_size = 3}, gen);
    const auto xs = smooth({5, 2, 2});
    tg::Tape<double> t;
    auto x = t.constant(xs);
    auto [out, state] = layer(x);
    tg::RecurrentState<double> s{t.full({2, 3}, 0.0), t.full({2, 3}, 0.0)};
    for (std::int64_t k = 0; k < 5; ++k) {
        s = tg::single_step(layer.cell(0, 0), tg::select(x, 0, k), s);
        require_close(tg::select(out, 0, k).value(), s.h.value(), 1e-12, 1e-14);
    }
    require_close(tg::select(state.c, 0, 0).value(), s.c.value(), 1e-12, 1e-14);
}

TEST_CASE("a user-defined cell holds as much tape memory over T = 1000 as the built-in LSTM", "[layers][cells][memory]") {
    // One projection GEMM for all 1000 steps, as the per-step count assumes.
    const tg::RecurrentOptions o{.input_size = 3, .hidden_size = 8, .projection_steps = 1000};
    const std::size_t B = 4, H = 8, I = 3;
    tg::Generator gen(23);
    tg::LSTM<float> lstm(o, gen);
    tg::Recurrent<PeepholeLSTMCell<float>> peephole(o, gen);

    // What an LSTM step keeps for backward: i, f, g, o, c, tanh(c), h, each
    // (B, H), plus its row of the stacked output and of the input x.
    const std::size_t per_step = (8 * B * H + B * I) * sizeof(float);
    REQUIRE(forward_bytes(lstm, 200, true) - forward_bytes(lstm, 100, true) == 100 * per_step);
    // Without gradients only h and c (and the output and input rows) stay.
    REQUIRE(forward_bytes(lstm, 200, false) - forward_bytes(lstm, 100, false) == 100 * (3 * B * H + B * I) * sizeof(float));

    const std::size_t builtin = forward_bytes(lstm, 1000, true), user = forward_bytes(peephole, 1000, true);
    INFO("built-in LSTM " << builtin << " bytes, user peephole cell " << user << " bytes");
    REQUIRE(user <= builtin * 11 / 10);
    REQUIRE(builtin <= user * 11 / 10);
    // The release is what makes them equal: the user cell records more ops
    // per step (peephole products and sums), which keep_values would hold.
    tg::Tensor<float> x = tg::Tensor<float>::from_shape({1000, B, I});
    x.fill(0.5f);
    tg::Tape<float> all;
    all.set_keep_values(true);
    (void)peephole(all.variable(x));
    REQUIRE(all.value_bytes() > 2 * user);
}

TEST_CASE("cells refuse options that are not theirs, by name", "[layers][cells][errors]") {
    tg::Generator gen(24);
    REQUIRE_THROWS_MATCHES(tg::LSTM<float>({.input_size = 2, .hidden_size = 2, .nonlinearity = tg::RNNNonlinearity::relu}, gen),
                           tg::ArgumentError, Catch::Message("LSTM: nonlinearity applies to RNN only"));
    REQUIRE_THROWS_MATCHES(tg::GRUCell<float>({.input_size = 2, .hidden_size = 2, .forget_bias = 1.0}, gen), tg::ArgumentError,
                           Catch::Message("GRU: forget_bias applies only to cells with a forget gate (LSTM)"));
    // A user cell with a forget gate takes forget_bias on its declared block.
    tg::Recurrent<PeepholeLSTMCell<float>> p({.input_size = 2, .hidden_size = 2, .forget_bias = 1.0}, gen);
    REQUIRE(p.weights(0, 0).bias_ih.value()(2) == 1.0f);
    REQUIRE(p.weights(0, 0).bias_hh.value()(3) == 0.0f);
    REQUIRE_THROWS_AS(p.cell(1, 0), tg::ArgumentError);
}

TEST_CASE("train and eval reach a layer's cells, also through a parent module", "[layers][cells]") {
    // A cell with training-only behaviour of its own (say, recurrent dropout)
    // reads its own training(); the layer lists the cells' parameters under
    // its names, not the cells as children, so it forwards the mode itself.
    tg::Generator gen(25);
    struct Model : tg::Module<float> {
        tg::Recurrent<PeepholeLSTMCell<float>> rnn;
        explicit Model(tg::Generator& g) : rnn({.input_size = 2, .hidden_size = 3, .num_layers = 2, .bidirectional = true}, g) {}
        void visit(tg::ModuleVisitor<float>& v) override { v.module("rnn", rnn); }
    } model(gen);
    const auto cells_training = [&model](bool on) {
        for (std::size_t l = 0; l < 2; ++l)
            for (std::size_t d = 0; d < 2; ++d)
                if (model.rnn.cell(l, d).training() != on) return false;
        return true;
    };
    REQUIRE(cells_training(true));
    model.eval();
    REQUIRE_FALSE(model.rnn.training());
    REQUIRE(cells_training(false));
    model.rnn.train();
    REQUIRE(cells_training(true));
    model.rnn.eval();
    REQUIRE(cells_training(false));
}

TEST_CASE("the RNN's nonlinearity is an option", "[layers][cells]") {
    tg::Generator g1(25), g2(25);
    tg::RNN<double> tanh_rnn({.input_size = 2, .hidden_size = 3}, g1);
    tg::RNN<double> relu_rnn({.input_size = 2, .hidden_size = 3, .nonlinearity = tg::RNNNonlinearity::relu}, g2);
    tg::Tape<double> t;
    auto x = t.constant(smooth({1, 2, 2}));
    const auto pre = tg::linear(tg::select(x, 0, 0), t.param(tanh_rnn.weights(0, 0).weight_ih),
                                t.param(tanh_rnn.weights(0, 0).bias_ih) + t.param(tanh_rnn.weights(0, 0).bias_hh));
    require_close(tg::select(tanh_rnn(x).output, 0, 0).value(), tg::tanh(pre).value(), 1e-14, 1e-15);
    require_close(tg::select(relu_rnn(x).output, 0, 0).value(), tg::relu(pre).value(), 1e-14, 1e-15);
}

namespace {

// A cell with three state tensors: an Elman RNN that also carries the sum of
// its outputs (c) and a decaying trace of them (extra[0]).
template <class T>
class TracingRNNCell : public tg::Cell<T> {
public:
    static constexpr tg::CellSpec kSpec{.name = "TracingRNN", .gates = 1, .states = 3};
    TracingRNNCell(const tg::RecurrentOptions& o, tg::Generator& gen) : tg::Cell<T>(kSpec, o, gen) {}
    struct Context {
        tg::Var<T> w_hh;
    };
    Context begin(tg::Tape<T>& t) { return {t.param(this->weight_hh())}; }
    tg::RecurrentState<T> step(tg::Var<T> gi, const tg::RecurrentState<T>& s, const Context& k) const {
        const auto h = tg::tanh(tg::linear(s.h, k.w_hh, gi));
        return {h, s.c + h, {s.extra[0] * T(0.5) + h, {}}};
    }
};

}  // namespace

TEST_CASE("a cell with three state tensors gets initial states, masks and final states for each", "[layers][cells]") {
    tg::Generator gen(26);
    const tg::RecurrentOptions o{.input_size = 2, .hidden_size = 3, .num_layers = 2, .bidirectional = true};
    tg::Recurrent<TracingRNNCell<double>> layer(o, gen);
    const std::vector<std::int64_t> lengths = {4, 2};
    const auto x = smooth({4, 2, 2}), h0 = smooth({4, 2, 3}, 0.3), c0 = smooth({4, 2, 3}, 0.4, 0.1),
               e0 = smooth({4, 2, 3}, 0.2, -0.1);
    auto run = [&](const std::vector<tg::Var<double>>& in) {
        tg::RecurrentState<double> initial{in[1], in[2], {in[3], {}}};
        return layer(in[0], initial, lengths);
    };
    auto r = tg::gradcheck(
        [&](tg::Tape<double>&, const std::vector<tg::Var<double>>& in) {
            auto [out, state] = run(in);
            return tg::concat({tg::reshape(out, {-1}), tg::reshape(state.h, {-1}), tg::reshape(state.c, {-1}),
                               tg::reshape(state.extra[0], {-1})},
                              0);
        },
        {x, h0, c0, e0}, layer.parameters());
    INFO(r.report());
    REQUIRE(r.ok);

    // Forward direction of the first layer: c ends at c0 plus the sum of the
    // outputs over each sequence's own steps (the mask holds it afterwards).
    tg::Tape<double> t;
    std::vector<tg::Var<double>> in;
    for (const auto* v : {&x, &h0, &c0, &e0}) in.push_back(t.constant(*v));
    const auto res = run(in);
    REQUIRE(res.state.extra[0].shape() == std::vector<std::size_t>{4, 2, 3});
    const auto& hidden = res.step_hidden[0];
    for (std::size_t b = 0; b < 2; ++b)
        for (std::size_t j = 0; j < 3; ++j) {
            double sum = c0(0, b, j);
            for (std::size_t s = 0; s < static_cast<std::size_t>(lengths[b]); ++s) sum += hidden[s].value()(b, j);
            REQUIRE(res.state.c.value()(0, b, j) == Approx(sum).epsilon(1e-13));
        }
    // A missing or misshapen third initial state is refused by name.
    tg::RecurrentState<double> short_initial{in[1], in[2]};
    REQUIRE_THROWS_MATCHES(layer(in[0], short_initial), tg::StaleVarError, Catch::Message("TracingRNN: empty initial state 2"));
}
