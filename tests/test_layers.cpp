// Layers: Linear, Embedding, Dropout, LayerNorm, cells and sequence layers.
// Forward values by hand where small, double gradchecks of every layer
// (parameters and inputs), variable lengths, truncated BPTT, init, names.

#include <cmath>

#include "test_util.hpp"

namespace tg = tapegrad;
using tgtest::require_close;
using tgtest::smooth;

namespace {

tg::GradcheckResult check_params(const std::function<tg::Var<double>(tg::Tape<double>&)>& fn, tg::Module<double>& m) {
    return tg::gradcheck(fn, m.parameters());
}

tg::RecurrentOptions opts(std::size_t in, std::size_t hidden) {
    tg::RecurrentOptions o;
    o.input_size = in;
    o.hidden_size = hidden;
    return o;
}

}  // namespace

TEST_CASE("Linear computes x·Wᵀ + b with PyTorch's names and shapes", "[layers]") {
    tg::Generator gen(1);
    tg::Linear<double> lin(3, 2, gen);
    REQUIRE(lin.weight.shape() == std::vector<std::size_t>{2, 3});
    lin.weight.mutable_value() = tg::Tensor<double>{{1, 2, 3}, {-1, 0, 1}};
    lin.bias.mutable_value() = tg::Tensor<double>{0.5, -0.5};
    tg::Tape<double> t;
    auto y = lin(t.constant(tg::Tensor<double>{{1, 1, 1}, {2, 0, -1}}));
    // row 0: [1+2+3+0.5, -1+0+1-0.5] = [6.5, -0.5]; row 1: [2+0-3+0.5, -2+0-1-0.5] = [-0.5, -3.5]
    require_close(y.value(), tg::Tensor<double>{{6.5, -0.5}, {-0.5, -3.5}});
    auto names = lin.named_parameters("head");
    REQUIRE(names.size() == 2);
    REQUIRE(names[0].first == "head.weight");
    REQUIRE(names[1].first == "head.bias");
    // 3-D input folds leading axes; gradcheck over inputs and parameters.
    auto r = tg::gradcheck(
        [&](tg::Tape<double>&, const std::vector<tg::Var<double>>& in) { return tg::tanh(lin(in[0])); },
        {smooth({2, 3, 3})}, lin.parameters());
    INFO(r.report());
    REQUIRE(r.ok);
    tg::Linear<double> nob(3, 2, gen, false);
    REQUIRE(nob.parameters().size() == 1);
    REQUIRE_THROWS_AS(lin(t.constant(smooth({2, 4}))), tg::ShapeError);
}

TEST_CASE("Embedding looks up rows and accumulates repeated ones", "[layers]") {
    tg::Generator gen(2);
    tg::Embedding<double> emb(4, 2, gen);
    emb.weight.mutable_value() = tg::Tensor<double>{{0, 1}, {2, 3}, {4, 5}, {6, 7}};
    tg::Tape<double> t;
    tg::Index idx = {{3, 1}, {1, 0}};
    auto y = emb(t, idx);
    REQUIRE(y.shape() == std::vector<std::size_t>{2, 2, 2});
    require_close(y.value(), tg::Tensor<double>{{{6, 7}, {2, 3}}, {{2, 3}, {0, 1}}});
    t.backward(tg::sum(y));
    // row 1 used twice, rows 0 and 3 once, row 2 never
    require_close(emb.weight.grad(), tg::Tensor<double>{{1, 1}, {2, 2}, {0, 0}, {1, 1}});
    tg::Index bad = {4};
    REQUIRE_THROWS_AS(emb(t, bad), tg::ArgumentError);
}

TEST_CASE("Dropout masks and rescales in training, is the identity in eval", "[layers]") {
    tg::Dropout<double> drop(0.25, 7);
    tg::Tape<double> t;
    tg::Tensor<double> ones = tg::Tensor<double>::from_shape({100, 40});
    ones.fill(1.0);
    auto x = t.variable(ones);
    auto y = drop(x);
    std::size_t zeros = 0;
    for (double v : y.value()) {
        REQUIRE((v == 0.0 || std::abs(v - 1.0 / 0.75) < 1e-12));
        zeros += v == 0.0;
    }
    REQUIRE(zeros > 850);  // expected 1000 of 4000
    REQUIRE(zeros < 1150);
    t.backward(tg::sum(y));
    require_close(x.grad(), y.value());  // gradient is the mask / (1 − p)
    drop.eval();
    REQUIRE(drop(x).id() == x.id());
    REQUIRE_THROWS_AS(tg::Dropout<double>(1.0), tg::ArgumentError);
}

TEST_CASE("LayerNorm normalizes the last axis and passes gradcheck", "[layers]") {
    tg::LayerNorm<double> ln(4);
    tg::Tape<double> t;
    auto y = ln(t.constant(tg::Tensor<double>{{1, 2, 3, 4}}));
    // mean 2.5, biased var 1.25: (x − 2.5)/√(1.25 + 1e-5)
    const double s = std::sqrt(1.25 + 1e-5);
    require_close(y.value(), tg::Tensor<double>{{-1.5 / s, -0.5 / s, 0.5 / s, 1.5 / s}}, 1e-12);
    ln.weight.mutable_value() = smooth({4}, 0.5, 1.0);
    ln.bias.mutable_value() = smooth({4}, 0.2);
    auto r = tg::gradcheck([&](tg::Tape<double>&, const std::vector<tg::Var<double>>& in) { return ln(in[0]); },
                           {smooth({3, 4})}, ln.parameters());
    INFO(r.report());
    REQUIRE(r.ok);
}

TEST_CASE("each cell passes gradcheck over input, state and parameters", "[layers][cells]") {
    tg::Generator gen(3);
    const auto x = smooth({2, 3}), h = smooth({2, 4}, 0.5), c = smooth({2, 4}, 0.7, 0.1);
    SECTION("RNNCell tanh and relu") {
        for (bool relu : {false, true}) {
            tg::RecurrentOptions o = opts(3, 4);
            o.nonlinearity = relu ? tg::RNNNonlinearity::relu : tg::RNNNonlinearity::tanh;
            tg::RNNCell<double> cell(o, gen);
            auto r = tg::gradcheck([&](tg::Tape<double>&, const std::vector<tg::Var<double>>& in) { return cell(in[0], in[1]); },
                                   {x, h}, cell.parameters());
            INFO(r.report());
            REQUIRE(r.ok);
        }
    }
    SECTION("LSTMCell") {
        tg::LSTMCell<double> cell(opts(3, 4), gen);
        auto r = tg::gradcheck(
            [&](tg::Tape<double>&, const std::vector<tg::Var<double>>& in) {
                auto s = cell(in[0], {in[1], in[2]});
                return tg::concat({s.h, s.c}, 1);
            },
            {x, h, c}, cell.parameters());
        INFO(r.report());
        REQUIRE(r.ok);
    }
    SECTION("GRUCell") {
        tg::GRUCell<double> cell(opts(3, 4), gen);
        auto r = tg::gradcheck([&](tg::Tape<double>&, const std::vector<tg::Var<double>>& in) { return cell(in[0], in[1]); },
                               {x, h}, cell.parameters());
        INFO(r.report());
        REQUIRE(r.ok);
    }
}

TEST_CASE("an LSTM cell computes PyTorch's equations", "[layers][cells]") {
    // H = 1, I = 1: every gate is a scalar, so the equations can be followed by hand.
    tg::Generator gen(0);
    tg::LSTMCell<double> cell(opts(1, 1), gen);
    cell.weight_ih().mutable_value() = tgtest::matrix(4, 1, {0.5, -0.5, 1.0, 2.0});  // i f g o
    cell.weight_hh().mutable_value() = tgtest::matrix(4, 1, {0.1, 0.2, 0.3, 0.4});
    cell.bias_ih().mutable_value() = tg::Tensor<double>{0.0, 1.0, 0.0, -1.0};
    cell.bias_hh().mutable_value() = tg::Tensor<double>{0.0, 0.0, 0.5, 0.0};
    tg::Tape<double> t;
    const double x = 2.0, h = 1.0, c = -0.5;
    auto s = cell(t.constant(tgtest::matrix(1, 1, {x})), {t.constant(tgtest::matrix(1, 1, {h})), t.constant(tgtest::matrix(1, 1, {c}))});
    auto sig = [](double v) { return 1.0 / (1.0 + std::exp(-v)); };
    const double i = sig(0.5 * x + 0.1 * h), f = sig(-0.5 * x + 1.0 + 0.2 * h), g = std::tanh(1.0 * x + 0.3 * h + 0.5),
                 o = sig(2.0 * x - 1.0 + 0.4 * h);
    const double c2 = f * c + i * g, h2 = o * std::tanh(c2);
    REQUIRE(s.c.item() == Approx(c2).epsilon(1e-14));
    REQUIRE(s.h.item() == Approx(h2).epsilon(1e-14));
}

TEST_CASE("a GRU whose update gate is saturated at 1 carries h unchanged", "[layers][cells]") {
    tg::Generator gen(4);
    tg::GRUCell<double> cell(opts(3, 4), gen);
    double* b = cell.bias_ih().mutable_value().data();
    for (int j = 4; j < 8; ++j) b[j] = 1000.0;  // z block
    tg::Tape<double> t;
    auto h = t.constant(smooth({2, 4}, 0.8));
    auto h2 = cell(t.constant(smooth({2, 3})), h);
    require_close(h2.value(), h.value(), 0.0, 1e-12);
}

TEST_CASE("three-step unrolls pass gradcheck and gradients flow back in time", "[layers][cells]") {
    tg::Generator gen(5);
    tg::LSTMCell<double> lstm(opts(3, 4), gen);
    tg::GRUCell<double> gru(opts(3, 4), gen);
    const std::vector<tg::Tensor<double>> xs = {smooth({2, 3}), smooth({2, 3}, 0.5, 0.2), smooth({2, 3}, 0.8, -0.1)};
    auto unroll_lstm = [&](tg::Tape<double>& t, const std::vector<tg::Var<double>>& in) {
        tg::RecurrentState<double> s{t.full({2, 4}, 0.0), t.full({2, 4}, 0.0)};
        for (auto& x : in) s = lstm(x, s);
        return tg::sum(s.h * s.h);
    };
    auto unroll_gru = [&](tg::Tape<double>& t, const std::vector<tg::Var<double>>& in) {
        auto h = t.full({2, 4}, 0.0);
        for (auto& x : in) h = gru(x, h);
        return tg::sum(h * h);
    };
    auto r1 = tg::gradcheck(unroll_lstm, xs, lstm.parameters());
    INFO(r1.report());
    REQUIRE(r1.ok);
    auto r2 = tg::gradcheck(unroll_gru, xs, gru.parameters());
    INFO(r2.report());
    REQUIRE(r2.ok);
    // dL/dx_0 is not zero: the first input reaches the loss through time.
    tg::Tape<double> t;
    std::vector<tg::Var<double>> vars;
    for (auto& x : xs) vars.push_back(t.variable(x));
    t.backward(unroll_lstm(t, vars));
    double norm = 0;
    for (double g : t.grad(vars[0])) norm += g * g;
    REQUIRE(norm > 1e-8);
}

TEST_CASE("sequence layers use PyTorch's parameter names and shapes", "[layers][recurrent]") {
    tg::Generator gen(6);
    tg::RecurrentOptions o = opts(3, 5);
    o.num_layers = 2;
    o.bidirectional = true;
    tg::LSTM<float> lstm(o, gen);
    auto named = lstm.named_parameters();
    std::vector<std::string> names;
    for (auto& [n, p] : named) names.push_back(n);
    REQUIRE(names == std::vector<std::string>{"weight_ih_l0", "weight_hh_l0", "bias_ih_l0", "bias_hh_l0",
                                              "weight_ih_l0_reverse", "weight_hh_l0_reverse", "bias_ih_l0_reverse",
                                              "bias_hh_l0_reverse", "weight_ih_l1", "weight_hh_l1", "bias_ih_l1",
                                              "bias_hh_l1", "weight_ih_l1_reverse", "weight_hh_l1_reverse",
                                              "bias_ih_l1_reverse", "bias_hh_l1_reverse"});
    REQUIRE(named[0].second->shape() == std::vector<std::size_t>{20, 3});
    REQUIRE(named[8].second->shape() == std::vector<std::size_t>{20, 10});  // layer 1 reads both directions
    tg::GRU<float> gru(o, gen);
    REQUIRE(gru.named_parameters()[1].second->shape() == std::vector<std::size_t>{15, 5});
    o.bias = false;
    o.num_layers = 1;
    o.bidirectional = false;
    tg::RNN<float> rnn(o, gen);
    REQUIRE(rnn.parameters().size() == 2);
}

TEST_CASE("a 2-layer bidirectional LSTM and GRU with variable lengths pass gradcheck", "[layers][recurrent]") {
    tg::Generator gen(7);
    tg::RecurrentOptions o = opts(2, 3);
    o.num_layers = 2;
    o.bidirectional = true;
    const std::vector<std::int64_t> lengths = {4, 2};
    const auto x = smooth({4, 2, 2}), h0 = smooth({4, 2, 3}, 0.3), c0 = smooth({4, 2, 3}, 0.4, 0.1);
    SECTION("LSTM") {
        tg::LSTM<double> lstm(o, gen);
        auto r = tg::gradcheck(
            [&](tg::Tape<double>&, const std::vector<tg::Var<double>>& in) {
                auto [out, state] = lstm(in[0], tg::RecurrentState<double>{in[1], in[2]}, lengths);
                return tg::concat({tg::reshape(out, {-1}), tg::reshape(state.h, {-1}), tg::reshape(state.c, {-1})}, 0);
            },
            {x, h0, c0}, lstm.parameters());
        INFO(r.report());
        REQUIRE(r.ok);
    }
    SECTION("GRU") {
        tg::GRU<double> gru(o, gen);
        auto r = tg::gradcheck(
            [&](tg::Tape<double>&, const std::vector<tg::Var<double>>& in) {
                auto [out, state] = gru(in[0], tg::RecurrentState<double>{in[1], {}}, lengths);
                return tg::concat({tg::reshape(out, {-1}), tg::reshape(state.h, {-1})}, 0);
            },
            {x, h0}, gru.parameters());
        INFO(r.report());
        REQUIRE(r.ok);
    }
}

TEST_CASE("padded steps output zeros, take no gradient, and the final state is the sequence's own", "[layers][recurrent]") {
    tg::Generator gen(8);
    tg::RecurrentOptions o = opts(2, 3);
    o.bidirectional = true;
    tg::LSTM<double> lstm(o, gen);
    tg::Tape<double> t;
    tg::Tensor<double> xs = smooth({5, 2, 2});
    auto x = t.variable(xs);
    auto [out, state] = lstm(x, std::nullopt, {5, 3});
    t.backward(tg::sum(out * out) + tg::sum(state.h) + tg::sum(state.c));
    for (std::size_t s = 3; s < 5; ++s)
        for (std::size_t k = 0; k < 6; ++k) REQUIRE(out.value()(s, 1, k) == 0.0);
    for (std::size_t s = 3; s < 5; ++s)
        for (std::size_t k = 0; k < 2; ++k) REQUIRE(x.grad()(s, 1, k) == 0.0);
    // Sequence 1 alone, truncated to its 3 steps, gives the same final state and outputs.
    tg::Tape<double> t2;
    tg::Tensor<double> x1 = tg::Tensor<double>::from_shape({3, 1, 2});
    for (std::size_t s = 0; s < 3; ++s)
        for (std::size_t k = 0; k < 2; ++k) x1(s, 0, k) = xs(s, 1, k);
    auto [out1, state1] = lstm(t2.constant(x1));
    for (std::size_t d = 0; d < 2; ++d)
        for (std::size_t k = 0; k < 3; ++k) {
            REQUIRE(state.h.value()(d, 1, k) == Approx(state1.h.value()(d, 0, k)).epsilon(1e-14));
            REQUIRE(state.c.value()(d, 1, k) == Approx(state1.c.value()(d, 0, k)).epsilon(1e-14));
        }
    for (std::size_t s = 0; s < 3; ++s)
        for (std::size_t k = 0; k < 6; ++k) REQUIRE(out.value()(s, 1, k) == Approx(out1.value()(s, 0, k)).epsilon(1e-14));
    REQUIRE_THROWS_AS(lstm(x, std::nullopt, {6, 1}), tg::ArgumentError);
    REQUIRE_THROWS_AS(lstm(x, std::nullopt, {1}), tg::ShapeError);
}

TEST_CASE("dropout between layers with a fixed mask passes gradcheck", "[layers][recurrent]") {
    tg::Generator gen(9);
    tg::RecurrentOptions o = opts(2, 3);
    o.num_layers = 2;
    o.dropout = 0.5;
    o.dropout_seed = 11;
    tg::LSTM<double> lstm(o, gen);
    const auto x = smooth({3, 2, 2});
    auto fn = [&](tg::Tape<double>&, const std::vector<tg::Var<double>>& in) {
        lstm.dropout_generator().seed(11);  // the same mask on every call
        return lstm(in[0]).output;
    };
    auto r = tg::gradcheck(fn, {x}, lstm.parameters());
    INFO(r.report());
    REQUIRE(r.ok);
    // Dropout is really active in training and off in eval.
    tg::Tape<double> t;
    lstm.dropout_generator().seed(11);
    auto train_out = lstm(t.constant(x)).output.value();
    lstm.eval();
    auto eval_out = lstm(t.constant(x)).output.value();
    const bool same = train_out == eval_out;
    REQUIRE_FALSE(same);
}

TEST_CASE("truncated BPTT: carried state reproduces the full forward, gradients stop at chunk edges", "[layers][recurrent]") {
    tg::Generator gen(10);
    tg::GRU<double> gru(opts(2, 3), gen);
    const auto xs = smooth({6, 2, 2});
    auto chunk = [&](std::size_t from, std::size_t n) {
        tg::Tensor<double> c = tg::Tensor<double>::from_shape({n, 2, 2});
        for (std::size_t s = 0; s < n; ++s)
            for (std::size_t b = 0; b < 2; ++b)
                for (std::size_t k = 0; k < 2; ++k) c(s, b, k) = xs(from + s, b, k);
        return c;
    };
    // Full sequence on one tape, with the graph cut (detach) after step 3.
    tg::Tape<double> full;
    auto first = gru(full.constant(chunk(0, 3)));
    auto second = gru(full.constant(chunk(3, 3)), tg::RecurrentState<double>{tg::detach(first.state.h), {}});
    full.backward(tg::sum(second.output));
    const tg::Tensor<double> grad_full = gru.weights(0, 0).weight_hh.grad();
    gru.zero_grad();

    // Truncated BPTT: chunk 1, copy the state out, clear, chunk 2 from a constant.
    tg::Tape<double> t;
    auto a = gru(t.constant(chunk(0, 3)));
    const tg::Tensor<double> carried = a.state.h.value();
    t.clear();
    auto b = gru(t.constant(chunk(3, 3)), tg::RecurrentState<double>{t.constant(carried), {}});
    t.backward(tg::sum(b.output));
    require_close(b.output.value(), second.output.value(), 0.0, 0.0);
    require_close(gru.weights(0, 0).weight_hh.grad(), grad_full, 0.0, 0.0);
}

TEST_CASE("initializers: same seed same weights, orthogonal, Glorot bounds, forget bias", "[layers][init]") {
    tg::RecurrentOptions o = opts(3, 4);
    tg::Generator g1(42), g2(42), g3(43);
    tg::LSTM<float> a(o, g1), b(o, g2), c(o, g3);
    require_close(a.weights(0, 0).weight_hh.value(), b.weights(0, 0).weight_hh.value(), 0.0, 0.0);
    const bool same = a.weights(0, 0).weight_hh.value() == c.weights(0, 0).weight_hh.value();
    REQUIRE_FALSE(same);
    for (float v : a.weights(0, 0).weight_ih.value()) REQUIRE(std::abs(v) <= 0.5f);  // U(±1/√4)

    tg::Tensor<double> q = tg::Tensor<double>::from_shape({6, 4});
    tg::Generator gq(1);
    tg::orthogonal_(q, gq);
    for (std::size_t i = 0; i < 4; ++i)
        for (std::size_t j = 0; j < 4; ++j) {
            double d = 0;
            for (std::size_t r = 0; r < 6; ++r) d += q(r, i) * q(r, j);
            REQUIRE(d == Approx(i == j ? 1.0 : 0.0).margin(1e-12));
        }
    tg::Tensor<double> wide = tg::Tensor<double>::from_shape({2, 5});
    tg::orthogonal_(wide, gq);
    double dot01 = 0;
    for (std::size_t c2 = 0; c2 < 5; ++c2) dot01 += wide(0, c2) * wide(1, c2);
    REQUIRE(dot01 == Approx(0.0).margin(1e-12));

    tg::Tensor<double> w = tg::Tensor<double>::from_shape({30, 20});
    tg::xavier_uniform_(w, gq);
    const double bound = std::sqrt(6.0 / 50.0);
    double maxabs = 0;
    for (double v : w) maxabs = std::max(maxabs, std::abs(v));
    REQUIRE(maxabs <= bound);
    REQUIRE(maxabs > 0.9 * bound);

    o.forget_bias = 1.0;
    o.init = tg::RecurrentInit::glorot;
    o.orthogonal_recurrent = true;
    tg::LSTM<double> f(o, gq);
    auto& wts = f.weights(0, 0);
    for (std::size_t j = 0; j < 16; ++j) {
        const bool forget = j >= 4 && j < 8;
        REQUIRE(wts.bias_ih.value()(j) == (forget ? 1.0 : 0.0));
        REQUIRE(wts.bias_hh.value()(j) == 0.0);
    }
    double block_dot = 0;  // rows of the i-gate block are orthonormal
    for (std::size_t k = 0; k < 4; ++k) block_dot += wts.weight_hh.value()(0, k) * wts.weight_hh.value()(0, k);
    REQUIRE(block_dot == Approx(1.0).epsilon(1e-12));
    o.forget_bias.reset();
    REQUIRE_THROWS_AS(tg::GRU<double>(tg::RecurrentOptions{.input_size = 2, .hidden_size = 2, .forget_bias = 1.0}, gq),
                      tg::ArgumentError);
}

TEST_CASE("train/eval and zero_grad reach every module below", "[layers]") {
    tg::Generator gen(12);
    tg::RecurrentOptions o = opts(2, 3);
    o.num_layers = 2;
    o.dropout = 0.3;
    tg::LSTM<float> lstm(o, gen);
    REQUIRE(lstm.training());
    lstm.eval();
    REQUIRE_FALSE(lstm.training());
    for (auto* p : lstm.parameters()) p->mutable_grad().fill(1.0f);
    lstm.zero_grad();
    for (auto* p : lstm.parameters())
        for (float g : p->grad()) REQUIRE(g == 0.0f);
}
