// Build your own model: a peephole LSTM cell (Gers & Schmidhuber 2000) written
// from primitives against the Cell interface, run by the library's sequence
// layer (2 layers, bidirectional, variable lengths, dropout), trained for a
// few steps with Adam, then gradchecked in double. No backward is written
// anywhere: the tape derives it.

#include <algorithm>
#include <cstdio>
#include <vector>

#include <tapegrad/tapegrad.hpp>

namespace tg = tapegrad;

// Peephole LSTM (Gers & Schmidhuber 2000): the gates also see the cell state
// through diagonal weights, p_i and p_f the old one, p_o the new one:
//   [a_i a_f a_g a_o] = x·W_ihᵀ + b_ih + h·W_hhᵀ + b_hh
//   i = σ(a_i + p_i⊙c), f = σ(a_f + p_f⊙c), g = tanh(a_g)
//   c' = f⊙c + i⊙g, o = σ(a_o + p_o⊙c'), h' = o⊙tanh(c')
// A cell says what it is (kSpec: 4 gate blocks, state h and c), adds its own
// parameters to the four every cell has (W_ih, W_hh, b_ih, b_hh), records
// what its steps reuse once per sequence (begin), and writes one step.
template <class T>
class PeepholeLSTMCell : public tg::Cell<T> {
public:
    static constexpr tg::CellSpec kSpec{.name = "PeepholeLSTM", .gates = 4, .states = 2, .forget_gate = 1};
    tg::Parameter<T> p_i, p_f, p_o;

    PeepholeLSTMCell(const tg::RecurrentOptions& o, tg::Generator& gen)
        : tg::Cell<T>(kSpec, o, gen), p_i(peephole(o, gen)), p_f(peephole(o, gen)), p_o(peephole(o, gen)) {}

    void visit_extra(tg::ModuleVisitor<T>& v) override {
        v.param("p_i", p_i);
        v.param("p_f", p_f);
        v.param("p_o", p_o);
    }

    struct Context {
        tg::Var<T> w_hh, p_i, p_f, p_o;
    };
    Context begin(tg::Tape<T>& t) { return {t.param(this->weight_hh()), t.param(p_i), t.param(p_f), t.param(p_o)}; }

    // gi = x_t·W_ihᵀ + b_ih + b_hh (B, 4H), from the layer's one GEMM over all steps.
    tg::RecurrentState<T> step(tg::Var<T> gi, const tg::RecurrentState<T>& s, const Context& k) const {
        const auto H = static_cast<std::int64_t>(this->hidden_size());
        const auto z = tg::linear(s.h, k.w_hh, gi);  // gi + h·W_hhᵀ in one GEMM
        const auto i = tg::sigmoid(tg::narrow(z, 1, 0, H) + k.p_i * s.c);
        const auto f = tg::sigmoid(tg::narrow(z, 1, H, H) + k.p_f * s.c);
        const auto g = tg::tanh(tg::narrow(z, 1, 2 * H, H));
        const auto c = f * s.c + i * g;
        const auto o = tg::sigmoid(tg::narrow(z, 1, 3 * H, H) + k.p_o * c);
        return {o * tg::tanh(c), c};
    }

private:
    static tg::Tensor<T> peephole(const tg::RecurrentOptions& o, tg::Generator& gen) {
        tg::Tensor<T> p = tg::Tensor<T>::from_shape({o.hidden_size});
        tg::uniform_(p, -0.1, 0.1, gen);
        return p;
    }
};

// The cell run over sequences of different lengths, 2 layers, both
// directions, dropout between the layers: all of it the library's
// Recurrent<>, none of it code of ours. The head reads the top layer's last
// state in each direction.
template <class T>
struct Model : tg::Module<T> {
    tg::Recurrent<PeepholeLSTMCell<T>> rnn;
    tg::Linear<T> head;
    Model(std::size_t hidden, tg::Generator& gen)
        : rnn({.input_size = 1, .hidden_size = hidden, .num_layers = 2, .bidirectional = true, .dropout = 0.1}, gen),
          head(2 * hidden, 1, gen) {}
    void visit(tg::ModuleVisitor<T>& v) override {
        v.module("rnn", rnn);
        v.module("head", head);
    }
    tg::Var<T> operator()(tg::Var<T> x, const std::vector<std::int64_t>& lengths) {
        const auto [out, state] = rnn(x, std::nullopt, lengths);
        return head(tg::concat({tg::select(state.h, 0, -2), tg::select(state.h, 0, -1)}, 1));
    }
};

// A toy task: the sum of a sequence of numbers, read out after its last
// step; sequences in a batch have different lengths (1 to `steps`).
template <class T>
struct Batch {
    tg::Tensor<T> x, y;
    std::vector<std::int64_t> lengths;
};
template <class T>
Batch<T> sum_batch(std::size_t steps, std::size_t batch, tg::Generator& gen) {
    Batch<T> b{tg::Tensor<T>::from_shape({steps, batch, 1}), tg::Tensor<T>::from_shape({batch, 1}), {}};
    b.y.fill(T(0));
    for (std::size_t k = 0; k < batch; ++k) {
        const auto length = static_cast<std::size_t>(gen.uniform(1.0, double(steps) + 1.0));
        b.lengths.push_back(static_cast<std::int64_t>(std::min(length, steps)));
        for (std::size_t s = 0; s < steps; ++s) {
            b.x(s, k, 0) = static_cast<T>(gen.uniform(-0.5, 0.5));
            if (s < std::min(length, steps)) b.y(k, 0) += b.x(s, k, 0);
        }
    }
    return b;
}

int main() {
    tg::Generator gen(1);
    Model<float> model(16, gen);
    tg::Adam<float> opt(model.parameters(), {.lr = 1e-2});
    tg::Tape<float> tape;
    float first = 0, last = 0;
    const int steps = 200;
    for (int step = 1; step <= steps; ++step) {
        auto batch = sum_batch<float>(8, 32, gen);
        auto loss = tg::mse_loss(model(tape.constant(batch.x), batch.lengths), tape.constant(batch.y));
        tape.backward(loss);
        opt.step();
        opt.zero_grad();
        const float value = loss.item();
        (step == 1 ? first : last) = value;
        tape.clear();
        if (step % 50 == 0) std::printf("step %3d  mse %.5f\n", step, value);
    }
    std::printf("peephole LSTM: mse %.4f -> %.4f in %d Adam steps\n", first, last, steps);

    // The same model in double, gradchecked over every parameter (the
    // dropout generator reseeded so that every evaluation draws the same masks).
    tg::Generator gen64(2);
    Model<double> model64(3, gen64);
    auto batch = sum_batch<double>(4, 2, gen64);
    auto r = tg::gradcheck(
        [&](tg::Tape<double>& t) {
            model64.rnn.dropout_generator().seed(3);
            return tg::mse_loss(model64(t.constant(batch.x), batch.lengths), t.constant(batch.y));
        },
        model64.parameters());
    std::printf("%s\n", r.report().c_str());
    return r.ok && last < 0.25f * first ? 0 : 1;
}
