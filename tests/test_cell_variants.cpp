// The library's LSTM variants (layers/cells/): peephole, CIFG, layer-
// normalized and the Greff et al. ablations. Each: a double gradcheck over
// a 2-layer bidirectional run with lengths, one step against plain
// arithmetic from the cell's own parameters, the exact reduction to the
// LSTM where there is one, and the tape bytes each step keeps.

#include <algorithm>
#include <cmath>
#include <map>
#include <string>

#include "cell_checks.hpp"

namespace tg = tapegrad;
using tgtest::forward_bytes;
using tgtest::require_close;
using tgtest::smooth;

namespace {

// Options of the gradchecks: 2 layers, both directions, dropout between them.
constexpr tg::RecurrentOptions kDeep{.input_size = 2, .hidden_size = 3, .num_layers = 2, .bidirectional = true,
                                     .dropout = 0.4, .dropout_seed = 5};

double sigma(double a) { return 1.0 / (1.0 + std::exp(-a)); }

// W_ih·x + W_hh·h (+ b_ih + b_hh) of a cell, row by row in plain loops.
std::vector<double> preactivation(tg::Cell<double>& cell, const std::vector<double>& x, const std::vector<double>& h,
                                  bool with_bias) {
    const auto& wi = cell.weight_ih().value();
    const auto& wh = cell.weight_hh().value();
    std::vector<double> a(wi.shape()[0]);
    for (std::size_t r = 0; r < a.size(); ++r) {
        a[r] = with_bias ? cell.bias_ih().value()(r) + cell.bias_hh().value()(r) : 0.0;
        for (std::size_t j = 0; j < x.size(); ++j) a[r] += wi(r, j) * x[j];
        for (std::size_t j = 0; j < h.size(); ++j) a[r] += wh(r, j) * h[j];
    }
    return a;
}

// A (1, n) tensor.
tg::Tensor<double> row(const std::vector<double>& v) {
    tg::Tensor<double> t = tg::Tensor<double>::from_shape({1, v.size()});
    std::copy(v.begin(), v.end(), t.begin());
    return t;
}

const std::vector<double> kX = {0.7, -1.1}, kH = {0.4, -0.6}, kC = {0.9, -0.3};

// One step of `cell` (B = 1) from (h, c) on x, through single_step, against
// `expected_h` and `expected_c`.
template <class C>
void require_step(C& cell, const std::vector<double>& x, const std::vector<double>& h, const std::vector<double>& c,
                  const std::vector<double>& expected_h, const std::vector<double>& expected_c) {
    tg::Tape<double> t;
    const auto next = tg::single_step(cell, t.constant(row(x)), {t.constant(row(h)), t.constant(row(c))});
    require_close(next.h.value(), row(expected_h), 1e-14, 1e-15);
    require_close(next.c.value(), row(expected_c), 1e-14, 1e-15);
}

// Copies every parameter of `from` into the parameter of `to` with the same name.
template <class A, class B>
void copy_parameters_by_name(A& from, B& to) {
    std::map<std::string, tg::Parameter<double>*> target;
    for (auto& [name, p] : to.named_parameters()) target[name] = p;
    for (auto& [name, p] : from.named_parameters()) {
        INFO(name);
        REQUIRE(target.count(name) == 1);
        target[name]->mutable_value() = p->value();
    }
}

// Output, final states and parameter gradients of a 2-layer bidirectional
// run with lengths (dropout off, so two layers' runs are comparable).
struct Run {
    tg::Tensor<double> out, h, c;
    std::map<std::string, tg::Tensor<double>> grads;
};
template <class Layer>
Run run_with_grads(Layer& layer) {
    layer.zero_grad();
    tg::Tape<double> t;
    const auto x = t.variable(smooth({5, 3, layer.options().input_size}));
    auto [out, state] = layer(x, std::nullopt, {5, 2, 4});
    t.backward(tg::sum(out * out) + tg::sum(state.c));
    Run r{out.value(), state.h.value(), state.c.value(), {}};
    for (auto& [name, p] : layer.named_parameters()) r.grads[name] = p->grad();
    return r;
}

double max_abs_diff(const tg::Tensor<double>& a, const tg::Tensor<double>& b) {
    REQUIRE(a.size() == b.size());
    double m = 0.0;
    for (std::size_t i = 0; i < a.size(); ++i) m = std::max(m, std::abs(a.data()[i] - b.data()[i]));
    return m;
}

// Tape bytes one more step holds in a float layer (input 3, batch 4).
template <class Layer>
std::size_t bytes_per_step(Layer& layer) {
    const std::size_t hundred_steps = forward_bytes(layer, 200, true) - forward_bytes(layer, 100, true);
    REQUIRE(hundred_steps % 100 == 0);
    return hundred_steps / 100;
}

// What an LSTM step keeps (i, f, g, o, c, tanh c, h, the output row: 8
// (B, H) values, and the input row): the unit the counts below use.
constexpr std::size_t kB = 4, kI = 3, kHidden = 8;
constexpr std::size_t step_bytes(std::size_t bh_values, std::size_t extra_floats = 0) {
    return (bh_values * kB * kHidden + kB * kI + extra_floats) * sizeof(float);
}
// One projection GEMM for up to 1000 steps: the per-step counts assume the
// whole input stays as it is (chunks of projection_steps add a copy of each
// chunk's rows of x and a bias sum per chunk).
constexpr tg::RecurrentOptions kMemory{.input_size = kI, .hidden_size = kHidden, .projection_steps = 1000};

}  // namespace

// ---- peephole LSTM -----------------------------------------------------------

TEST_CASE("PeepholeLSTM: gradcheck over 2 layers, both directions, lengths and dropout", "[cells][peephole]") {
    tg::Generator gen(31);
    tg::PeepholeLSTM<double> layer(kDeep, gen);
    REQUIRE(layer.named_parameters().size() == 4 * 7);
    REQUIRE(layer.named_parameters()[6].first == "p_o_l0");
    tgtest::require_sequence_gradcheck(layer);
}

TEST_CASE("PeepholeLSTM: one step equals the equations by hand", "[cells][peephole]") {
    tg::Generator gen(32);
    tg::PeepholeLSTMCell<double> cell({.input_size = 2, .hidden_size = 2}, gen);
    const auto a = preactivation(cell, kX, kH, true);
    const auto &pi = cell.p_i.value(), &pf = cell.p_f.value(), &po = cell.p_o.value();
    REQUIRE(pi(0) != 0.0);  // drawn, so the peepholes take part
    std::vector<double> h(2), c(2);
    for (std::size_t j = 0; j < 2; ++j) {
        const double i = sigma(a[j] + pi(j) * kC[j]), f = sigma(a[2 + j] + pf(j) * kC[j]), g = std::tanh(a[4 + j]);
        c[j] = f * kC[j] + i * g;
        h[j] = sigma(a[6 + j] + po(j) * c[j]) * std::tanh(c[j]);
    }
    require_step(cell, kX, kH, kC, h, c);
}

TEST_CASE("PeepholeLSTM with zero peepholes is the LSTM, bit for bit", "[cells][peephole]") {
    tg::Generator g1(33), g2(34);
    const tg::RecurrentOptions o{.input_size = 2, .hidden_size = 3, .num_layers = 2, .bidirectional = true};
    tg::LSTM<double> lstm(o, g1);
    tg::PeepholeLSTM<double> peephole(o, g2);
    copy_parameters_by_name(lstm, peephole);
    for (std::size_t l = 0; l < 2; ++l)
        for (std::size_t d = 0; d < 2; ++d)
            for (auto* p : {&peephole.cell(l, d).p_i, &peephole.cell(l, d).p_f, &peephole.cell(l, d).p_o})
                p->mutable_value().fill(0.0);
    const Run a = run_with_grads(lstm), b = run_with_grads(peephole);
    require_close(b.out, a.out, 0.0, 0.0);
    require_close(b.h, a.h, 0.0, 0.0);
    require_close(b.c, a.c, 0.0, 0.0);
    for (const auto& [name, g] : a.grads) {
        INFO(name);
        require_close(b.grads.at(name), g, 1e-12, 1e-14);
    }
    // And the peepholes do matter: nonzero ones change the output.
    peephole.cell(0, 0).p_f.mutable_value().fill(0.5);
    REQUIRE(max_abs_diff(run_with_grads(peephole).out, a.out) > 1e-6);
}

TEST_CASE("PeepholeLSTM keeps what an LSTM keeps per step", "[cells][peephole][memory]") {
    tg::Generator gen(35);
    tg::PeepholeLSTM<float> peephole(kMemory, gen);
    tg::LSTM<float> lstm(kMemory, gen);
    REQUIRE(bytes_per_step(lstm) == step_bytes(8));
    // The peephole products and sums are released; their readers keep only
    // c and c', which the step keeps anyway.
    REQUIRE(bytes_per_step(peephole) == step_bytes(8));
    const std::size_t builtin = forward_bytes(lstm, 1000, true), ours = forward_bytes(peephole, 1000, true);
    REQUIRE(ours <= builtin * 11 / 10);
    REQUIRE(builtin <= ours * 11 / 10);
}

TEST_CASE("PeepholeLSTM: peepholes drawn with pytorch init, zero with glorot", "[cells][peephole]") {
    tg::Generator gen(36);
    tg::PeepholeLSTMCell<float> drawn({.input_size = 2, .hidden_size = 4}, gen);
    tg::PeepholeLSTMCell<float> zero({.input_size = 2, .hidden_size = 4, .init = tg::RecurrentInit::glorot}, gen);
    for (std::size_t j = 0; j < 4; ++j) {
        REQUIRE(std::abs(drawn.p_o.value()(j)) <= 0.5f);  // U(±1/√H)
        REQUIRE(zero.p_i.value()(j) == 0.0f);
    }
    REQUIRE(drawn.p_i.value()(0) != drawn.p_f.value()(0));
    REQUIRE_THROWS_MATCHES(tg::PeepholeLSTMCell<float>({.input_size = 2, .hidden_size = 2, .nonlinearity = tg::RNNNonlinearity::relu}, gen),
                           tg::ArgumentError, Catch::Message("PeepholeLSTM: nonlinearity applies to RNN only"));
}

// ---- CIFG LSTM -----------------------------------------------------------------

namespace {

// An LSTM weight or bias (4H rows) from a CIFG one (3H rows: i, g, o): the
// forget block is the negated input block, so σ(a_f) = σ(−a_i) = 1 − σ(a_i).
tg::Tensor<double> lstm_rows_from_cifg(const tg::Tensor<double>& w, std::size_t H) {
    const std::size_t cols = w.size() / (3 * H);
    tg::Shape shape(w.shape().begin(), w.shape().end());
    shape[0] = 4 * H;
    tg::Tensor<double> r = tg::Tensor<double>::from_shape(shape);
    const double* in = w.data();
    double* out = r.data();
    for (std::size_t k = 0; k < H * cols; ++k) {
        out[k] = in[k];                       // i
        out[H * cols + k] = -in[k];           // f = −i
        out[2 * H * cols + k] = in[H * cols + k];      // g
        out[3 * H * cols + k] = in[2 * H * cols + k];  // o
    }
    return r;
}

}  // namespace

TEST_CASE("CIFGLSTM: gradcheck over 2 layers, both directions, lengths and dropout", "[cells][cifg]") {
    tg::Generator gen(41);
    tg::CIFGLSTM<double> layer(kDeep, gen);
    REQUIRE(layer.weights(1, 1).weight_ih.shape() == std::vector<std::size_t>{9, 6});  // G = 3
    tgtest::require_sequence_gradcheck(layer);
}

TEST_CASE("CIFGLSTM: one step equals the equations by hand", "[cells][cifg]") {
    tg::Generator gen(42);
    tg::CIFGLSTMCell<double> cell({.input_size = 2, .hidden_size = 2}, gen);
    const auto a = preactivation(cell, kX, kH, true);
    std::vector<double> h(2), c(2);
    for (std::size_t j = 0; j < 2; ++j) {
        const double i = sigma(a[j]), g = std::tanh(a[2 + j]), o = sigma(a[4 + j]);
        c[j] = (1.0 - i) * kC[j] + i * g;
        h[j] = o * std::tanh(c[j]);
    }
    require_step(cell, kX, kH, kC, h, c);
}

TEST_CASE("CIFGLSTM is the LSTM whose forget block is the negated input block", "[cells][cifg]") {
    tg::Generator g1(43), g2(44);
    const tg::RecurrentOptions o{.input_size = 2, .hidden_size = 3, .num_layers = 2, .bidirectional = true};
    tg::CIFGLSTM<double> cifg(o, g1);
    tg::LSTM<double> lstm(o, g2);
    for (std::size_t l = 0; l < 2; ++l)
        for (std::size_t d = 0; d < 2; ++d) {
            auto &from = cifg.weights(l, d), &to = lstm.weights(l, d);
            for (auto [f, t] : {std::pair{&from.weight_ih, &to.weight_ih}, std::pair{&from.weight_hh, &to.weight_hh},
                                std::pair{&from.bias_ih, &to.bias_ih}, std::pair{&from.bias_hh, &to.bias_hh}})
                t->mutable_value() = lstm_rows_from_cifg(f->value(), 3);
        }
    const Run a = run_with_grads(lstm), b = run_with_grads(cifg);
    require_close(b.out, a.out, 1e-12, 1e-14);
    require_close(b.h, a.h, 1e-12, 1e-14);
    require_close(b.c, a.c, 1e-12, 1e-14);
    // W_hh's gradient: the CIFG's input block collects what the LSTM splits
    // between its input block and (negated) its forget block.
    const auto& gl = a.grads.at("weight_hh_l1_reverse");
    const auto& gc = b.grads.at("weight_hh_l1_reverse");
    for (std::size_t r = 0; r < 3; ++r)
        for (std::size_t j = 0; j < 3; ++j) {
            REQUIRE(gc(r, j) == Approx(gl(r, j) - gl(3 + r, j)).epsilon(1e-10).margin(1e-13));
            REQUIRE(gc(3 + r, j) == Approx(gl(6 + r, j)).epsilon(1e-10).margin(1e-13));
        }
}

TEST_CASE("CIFGLSTM keeps what an LSTM keeps per step, and refuses forget_bias", "[cells][cifg][memory]") {
    tg::Generator gen(45);
    tg::CIFGLSTM<float> cifg(kMemory, gen);
    // i, g, o, g − c, c', tanh c', h', the output row: as many as the LSTM's.
    REQUIRE(bytes_per_step(cifg) == step_bytes(8));
    REQUIRE_THROWS_MATCHES(tg::CIFGLSTM<float>({.input_size = 2, .hidden_size = 2, .forget_bias = 1.0}, gen), tg::ArgumentError,
                           Catch::Message("CIFGLSTM: forget_bias applies only to cells with a forget gate (LSTM)"));
}

// ---- layer-normalized LSTM --------------------------------------------------

namespace {

// (z − mean)/√(var + 1e-5) over all of z, biased variance.
std::vector<double> layer_norm(const std::vector<double>& z) {
    double mean = 0.0, var = 0.0;
    for (double v : z) mean += v / double(z.size());
    for (double v : z) var += (v - mean) * (v - mean) / double(z.size());
    std::vector<double> y;
    for (double v : z) y.push_back((v - mean) / std::sqrt(var + 1e-5));
    return y;
}

// Gains and shifts away from their starting ones and zeros, so the test
// sees whether each is applied where it belongs.
void perturb_norms(tg::LayerNormLSTMCell<double>& cell) {
    const std::size_t H = cell.hidden_size();
    cell.ln_weight_ih.mutable_value() = smooth({4 * H}, 0.5, 1.0);
    cell.ln_weight_hh.mutable_value() = smooth({4 * H}, 0.4, 0.8);
    cell.ln_weight_c.mutable_value() = smooth({H}, 0.3, 1.1);
    cell.ln_bias_c.mutable_value() = smooth({H}, 0.2);
}

}  // namespace

TEST_CASE("LayerNormLSTM: gradcheck over 2 layers, both directions, lengths and dropout", "[cells][layernorm]") {
    tg::Generator gen(51);
    tg::LayerNormLSTM<double> layer(kDeep, gen);
    for (std::size_t l = 0; l < 2; ++l)
        for (std::size_t d = 0; d < 2; ++d) perturb_norms(layer.cell(l, d));
    REQUIRE(layer.named_parameters().size() == 4 * 8);
    REQUIRE(layer.named_parameters()[7].first == "ln_bias_c_l0");
    tgtest::require_sequence_gradcheck(layer);
}

TEST_CASE("LayerNormLSTM: one step equals the equations by hand", "[cells][layernorm]") {
    tg::Generator gen(52);
    const std::size_t H = 3;
    tg::LayerNormLSTMCell<double> cell({.input_size = 2, .hidden_size = H, .forget_bias = 1.0}, gen);
    perturb_norms(cell);
    const std::vector<double> h0 = {0.4, -0.6, 0.2}, c0 = {0.9, -0.3, 0.5};
    // The two projections, without bias, each normalized block by block.
    const auto xw = preactivation(cell, kX, {0.0, 0.0, 0.0}, false), hw = preactivation(cell, {0.0, 0.0}, h0, false);
    const auto &gih = cell.ln_weight_ih.value(), &ghh = cell.ln_weight_hh.value();
    const auto &bih = cell.bias_ih().value(), &bhh = cell.bias_hh().value();
    REQUIRE(bih(H) + bhh(H) == 1.0);  // forget_bias: the forget gate's shift after normalization
    std::vector<double> a(4 * H);
    for (std::size_t k = 0; k < 4; ++k) {
        const auto nx = layer_norm({xw.begin() + k * H, xw.begin() + (k + 1) * H});
        const auto nh = layer_norm({hw.begin() + k * H, hw.begin() + (k + 1) * H});
        for (std::size_t j = 0; j < H; ++j) {
            const std::size_t r = k * H + j;
            a[r] = nx[j] * gih(r) + nh[j] * ghh(r) + bih(r) + bhh(r);
        }
    }
    std::vector<double> h(H), c(H);
    for (std::size_t j = 0; j < H; ++j) c[j] = sigma(a[H + j]) * c0[j] + sigma(a[j]) * std::tanh(a[2 * H + j]);
    const auto nc = layer_norm(c);
    for (std::size_t j = 0; j < H; ++j)
        h[j] = sigma(a[3 * H + j]) * std::tanh(nc[j] * cell.ln_weight_c.value()(j) + cell.ln_bias_c.value()(j));
    require_step(cell, kX, h0, c0, h, c);
}

TEST_CASE("LayerNormLSTM normalizes the bias-free input projection: scaling W_ih changes nothing", "[cells][layernorm]") {
    tg::Generator gen(53);
    tg::LayerNormLSTM<double> layer({.input_size = 2, .hidden_size = 3, .num_layers = 2, .bidirectional = true}, gen);
    tg::Tape<double> t;
    REQUIRE_FALSE(layer.cell(0, 0).input_bias(t));  // biases come after the normalization
    auto scale_first_layer = [&layer] {
        for (std::size_t d = 0; d < 2; ++d) {
            auto& w = layer.weights(0, d).weight_ih.mutable_value();
            for (std::size_t i = 0; i < w.size(); ++i) w.data()[i] *= 10.0;
        }
    };
    // Equal up to ε = 1e-5 in √(var + ε): from ×1 to ×10 that is still
    // 4e-4 relative on these 3-unit blocks, from ×10 to ×100 a hundred
    // times less. A bias inside the normalized projection would differ by
    // O(0.1).
    scale_first_layer();
    const Run before = run_with_grads(layer);
    scale_first_layer();
    require_close(run_with_grads(layer).out, before.out, 1e-4, 1e-6);
    // Without biases the shifts b_ih, b_hh and β_c are all left out.
    tg::LayerNormLSTMCell<double> plain({.input_size = 2, .hidden_size = 3, .bias = false}, gen);
    std::vector<std::string> names;
    for (auto& [name, p] : plain.named_parameters()) names.push_back(name);
    REQUIRE(names == std::vector<std::string>{"weight_ih", "weight_hh", "ln_weight_ih", "ln_weight_hh", "ln_weight_c"});
}

TEST_CASE("LayerNormLSTM releases what no backward reads", "[cells][layernorm][memory]") {
    tg::Generator gen(54);
    tg::LayerNormLSTM<float> ln(kMemory, gen);
    // Each of the two gate normalizations (4H wide) keeps, for the backward
    // of mean, div and mul (mean and div read all their values): its
    // reshaped input, the centred values, their squares, the normalized
    // values and their reshape, 5·4H = 20H, and three (B, 4, 1) statistics
    // (mean, variance, standard deviation). The one of c' keeps the same
    // but c' itself (3H) and three (B, 1). Then the LSTM's i, f, g, o, c',
    // tanh, h' and the output row: 40 + 3 + 8 (B, H) values.
    REQUIRE(bytes_per_step(ln) == step_bytes(40 + 3 + 8, (12 + 12 + 3) * kB));
    tg::Tensor<float> x = tg::Tensor<float>::from_shape({1000, kB, kI});
    x.fill(0.5f);
    tg::Tape<float> all;
    all.set_keep_values(true);
    (void)ln(all.variable(x));
    // The release takes the reshaped projections, the products with the
    // gains, their sums, the gate slices...: keeping them all holds 1.68
    // times as much (measured).
    REQUIRE(all.value_bytes() > 3 * forward_bytes(ln, 1000, true) / 2);
}

// ---- Greff et al.'s ablations -------------------------------------------------

namespace {

using tg::LSTMAblation;
constexpr LSTMAblation kAblations[] = {LSTMAblation::no_input_gate, LSTMAblation::no_forget_gate,
                                       LSTMAblation::no_output_gate, LSTMAblation::no_input_activation,
                                       LSTMAblation::no_output_activation};

tg::RecurrentOptions with_ablation(tg::RecurrentOptions o, LSTMAblation a) {
    o.lstm_ablation = a;
    return o;
}

}  // namespace

TEST_CASE("AblatedLSTM: gradcheck of every ablation over 2 layers, both directions, lengths and dropout",
          "[cells][ablation]") {
    for (LSTMAblation a : kAblations) {
        INFO(tg::lstm_ablation_name(a));
        tg::Generator gen(61);
        tg::AblatedLSTM<double> layer(with_ablation(kDeep, a), gen);
        REQUIRE(layer.cell(1, 0).ablation() == a);
        tgtest::require_sequence_gradcheck(layer);
    }
}

TEST_CASE("AblatedLSTM: one step of every ablation equals the equations by hand", "[cells][ablation]") {
    for (LSTMAblation ablation : kAblations) {
        INFO(tg::lstm_ablation_name(ablation));
        tg::Generator gen(62);
        tg::AblatedLSTMCell<double> cell(with_ablation({.input_size = 2, .hidden_size = 2}, ablation), gen);
        const auto a = preactivation(cell, kX, kH, true);
        std::vector<double> h(2), c(2);
        for (std::size_t j = 0; j < 2; ++j) {
            const double i = ablation == LSTMAblation::no_input_gate ? 1.0 : sigma(a[j]);
            const double f = ablation == LSTMAblation::no_forget_gate ? 1.0 : sigma(a[2 + j]);
            const double g = ablation == LSTMAblation::no_input_activation ? a[4 + j] : std::tanh(a[4 + j]);
            const double o = ablation == LSTMAblation::no_output_gate ? 1.0 : sigma(a[6 + j]);
            c[j] = f * kC[j] + i * g;
            h[j] = o * (ablation == LSTMAblation::no_output_activation ? c[j] : std::tanh(c[j]));
        }
        require_step(cell, kX, kH, kC, h, c);
    }
}

TEST_CASE("AblatedLSTM without an ablation is the LSTM, bit for bit, gradients included", "[cells][ablation]") {
    const tg::RecurrentOptions o{.input_size = 2, .hidden_size = 3, .num_layers = 2, .bidirectional = true};
    tg::Generator g1(63), g2(63);
    tg::LSTM<double> lstm(o, g1);
    tg::AblatedLSTM<double> none(o, g2);  // same seed, same shapes: the same weights
    const Run a = run_with_grads(lstm), b = run_with_grads(none);
    require_close(b.out, a.out, 0.0, 0.0);
    require_close(b.c, a.c, 0.0, 0.0);
    for (const auto& [name, g] : a.grads) {
        INFO(name);
        require_close(b.grads.at(name), g, 0.0, 0.0);
    }
}

TEST_CASE("AblatedLSTM without a gate is the LSTM with that gate saturated open", "[cells][ablation]") {
    // σ(a) is exactly 1.0 in double once a > 37: an LSTM whose gate bias is
    // 100 multiplies by exactly 1, which the ablation leaves out.
    const tg::RecurrentOptions o{.input_size = 2, .hidden_size = 3, .num_layers = 2, .bidirectional = true};
    const std::pair<LSTMAblation, std::size_t> gates[] = {
        {LSTMAblation::no_input_gate, 0}, {LSTMAblation::no_forget_gate, 1}, {LSTMAblation::no_output_gate, 3}};
    for (auto [ablation, block] : gates) {
        INFO(tg::lstm_ablation_name(ablation));
        tg::Generator g1(64), g2(64);
        tg::LSTM<double> lstm(o, g1);
        tg::AblatedLSTM<double> ablated(with_ablation(o, ablation), g2);
        for (std::size_t l = 0; l < 2; ++l)
            for (std::size_t d = 0; d < 2; ++d)
                for (std::size_t j = 0; j < 3; ++j) lstm.weights(l, d).bias_ih.mutable_value()(block * 3 + j) = 100.0;
        const Run a = run_with_grads(lstm), b = run_with_grads(ablated);
        require_close(b.out, a.out, 0.0, 0.0);
        require_close(b.c, a.c, 0.0, 0.0);
        // The ablated gate's rows take no gradient.
        const auto& gw = b.grads.at("weight_hh_l0");
        for (std::size_t j = 0; j < 3; ++j) REQUIRE(gw(block * 3 + j, 1) == 0.0);
        REQUIRE(gw((block + 2) % 4 * 3, 1) != 0.0);
    }
}

TEST_CASE("AblatedLSTM keeps per step only what its ops read", "[cells][ablation][memory]") {
    // The LSTM's 8 (B, H) values (i, f, g, o, c', tanh c', h', output row),
    // less the gate left out, or less tanh c' when h' = o⊙c'. Without the
    // output gate h' is tanh c' itself: 6. Without g's tanh, g is the slice
    // a_g, which i⊙g reads: still 8.
    const std::pair<LSTMAblation, std::size_t> kept[] = {
        {LSTMAblation::none, 8},           {LSTMAblation::no_input_gate, 7},       {LSTMAblation::no_forget_gate, 7},
        {LSTMAblation::no_output_gate, 6}, {LSTMAblation::no_input_activation, 8}, {LSTMAblation::no_output_activation, 7}};
    for (auto [ablation, values] : kept) {
        INFO(tg::lstm_ablation_name(ablation));
        tg::Generator gen(65);
        tg::AblatedLSTM<float> layer(with_ablation(kMemory, ablation), gen);
        REQUIRE(bytes_per_step(layer) == step_bytes(values));
    }
}

TEST_CASE("lstm_ablation is refused by name by every other cell, and no_forget_gate refuses forget_bias",
          "[cells][ablation][errors]") {
    tg::Generator gen(66);
    const tg::RecurrentOptions nig{.input_size = 2, .hidden_size = 2, .lstm_ablation = LSTMAblation::no_input_gate};
    auto message = [](auto make) { return tgtest::thrown_message<tg::ArgumentError>(make); };
    REQUIRE(message([&] { (void)tg::LSTM<float>(nig, gen); }) == "LSTM: lstm_ablation applies to AblatedLSTM only");
    REQUIRE(message([&] { (void)tg::GRUCell<float>(nig, gen); }) == "GRU: lstm_ablation applies to AblatedLSTM only");
    REQUIRE(message([&] { (void)tg::RNN<float>(nig, gen); }) == "RNN: lstm_ablation applies to AblatedLSTM only");
    REQUIRE(message([&] { (void)tg::CIFGLSTM<float>(nig, gen); }) == "CIFGLSTM: lstm_ablation applies to AblatedLSTM only");
    REQUIRE(message([&] { (void)tg::LayerNormLSTMCell<float>(nig, gen); }) ==
            "LayerNormLSTM: lstm_ablation applies to AblatedLSTM only");
    REQUIRE(message([&] { (void)tg::PeepholeLSTM<float>(nig, gen); }) == "PeepholeLSTM: lstm_ablation applies to AblatedLSTM only");
    REQUIRE(message([&] { (void)tg::AblatedLSTM<float>(with_ablation({.input_size = 2, .hidden_size = 2, .forget_bias = 1.0},
                                                                LSTMAblation::no_forget_gate),
                                                  gen); }) ==
            "AblatedLSTM: forget_bias has no forget gate to act on with lstm_ablation = no_forget_gate");
    REQUIRE(message([&] { (void)tg::AblatedLSTMCell<float>(with_ablation(nig, static_cast<LSTMAblation>(17)), gen); }) ==
            "AblatedLSTM: lstm_ablation 17 is not an ablation");
    // Every other ablation takes forget_bias on the forget block.
    tg::AblatedLSTM<float> nig_biased(with_ablation({.input_size = 2, .hidden_size = 2, .forget_bias = 1.0},
                                                    LSTMAblation::no_input_gate),
                                      gen);
    REQUIRE(nig_biased.weights(0, 0).bias_ih.value()(2) == 1.0f);
}
