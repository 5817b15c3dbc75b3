// Build your own model: a peephole LSTM cell (Gers & Schmidhuber 2000) written
// from primitives, trained for a few steps with Adam, then gradchecked in
// double. No backward is written anywhere: the tape derives it.

#include <cstdio>

#include <tapegrad/tapegrad.hpp>

namespace tg = tapegrad;

// Gates see the cell state through diagonal "peephole" weights:
//   i = σ(W_i·[x, h] + p_i⊙c),  f = σ(W_f·[x, h] + p_f⊙c),  g = tanh(W_g·[x, h])
//   c' = f⊙c + i⊙g,  o = σ(W_o·[x, h] + p_o⊙c'),  h' = o⊙tanh(c')
template <class T>
struct PeepholeLSTM : tg::Module<T> {
    tg::Linear<T> gates;          // [x, h] → 4H (i, f, g, o)
    tg::Parameter<T> p_i, p_f, p_o;
    std::size_t H;

    PeepholeLSTM(std::size_t input, std::size_t hidden, tg::Generator& gen)
        : gates(input + hidden, 4 * hidden, gen), p_i(peephole(hidden, gen)), p_f(peephole(hidden, gen)),
          p_o(peephole(hidden, gen)), H(hidden) {}

    static tg::Tensor<T> peephole(std::size_t n, tg::Generator& gen) {
        tg::Tensor<T> t = tg::Tensor<T>::from_shape({n});
        tg::uniform_(t, -0.1, 0.1, gen);
        return t;
    }

    void visit(tg::ModuleVisitor<T>& v) override {
        v.module("gates", gates);
        v.param("p_i", p_i);
        v.param("p_f", p_f);
        v.param("p_o", p_o);
    }

    // x (T, B, I) → final h (B, H)
    tg::Var<T> operator()(tg::Var<T> x) {
        tg::Tape<T>& t = *x.tape();
        const std::size_t B = x.shape()[1];
        const auto h_ = static_cast<std::int64_t>(H);
        auto h = t.full({B, H}, T(0)), c = t.full({B, H}, T(0));
        for (std::int64_t s = 0; s < static_cast<std::int64_t>(x.shape()[0]); ++s) {
            auto z = gates(tg::concat({tg::select(x, 0, s), h}, 1));                       // (B, 4H)
            auto i = tg::sigmoid(tg::narrow(z, 1, 0, h_) + t.param(p_i) * c);
            auto f = tg::sigmoid(tg::narrow(z, 1, h_, h_) + t.param(p_f) * c);
            auto g = tg::tanh(tg::narrow(z, 1, 2 * h_, h_));
            c = f * c + i * g;
            auto o = tg::sigmoid(tg::narrow(z, 1, 3 * h_, h_) + t.param(p_o) * c);
            h = o * tg::tanh(c);
        }
        return h;
    }
};

// A toy task: the sum of a sequence of numbers, read out after the last step.
template <class T>
struct Batch {
    tg::Tensor<T> x, y;
};
template <class T>
Batch<T> sum_batch(std::size_t steps, std::size_t batch, tg::Generator& gen) {
    Batch<T> b{tg::Tensor<T>::from_shape({steps, batch, 1}), tg::Tensor<T>::from_shape({batch, 1})};
    b.y.fill(T(0));
    for (std::size_t s = 0; s < steps; ++s)
        for (std::size_t k = 0; k < batch; ++k) {
            b.x(s, k, 0) = static_cast<T>(gen.uniform(-0.5, 0.5));
            b.y(k, 0) += b.x(s, k, 0);
        }
    return b;
}

int main() {
    tg::Generator gen(1);
    PeepholeLSTM<float> cell(1, 16, gen);
    tg::Linear<float> head(16, 1, gen);
    tg::Adam<float> opt(tg::parameters<float>(cell, head), {.lr = 1e-2});
    tg::Tape<float> tape;
    float first = 0, last = 0;
    const int steps = 200;
    for (int step = 1; step <= steps; ++step) {
        auto batch = sum_batch<float>(8, 32, gen);
        auto loss = tg::mse_loss(head(cell(tape.constant(batch.x))), tape.constant(batch.y));
        tape.backward(loss);
        opt.step();
        opt.zero_grad();
        const float value = loss.item();
        (step == 1 ? first : last) = value;
        tape.clear();
        if (step % 50 == 0) std::printf("step %3d  mse %.5f\n", step, value);
    }
    std::printf("peephole LSTM: mse %.4f -> %.4f in %d Adam steps\n", first, last, steps);

    // The same model in double, gradchecked over every parameter.
    tg::Generator gen64(2);
    PeepholeLSTM<double> cell64(1, 3, gen64);
    tg::Linear<double> head64(3, 1, gen64);
    auto batch = sum_batch<double>(4, 2, gen64);
    auto r = tg::gradcheck(
        [&](tg::Tape<double>& t) { return tg::mse_loss(head64(cell64(t.constant(batch.x))), t.constant(batch.y)); },
        tg::parameters<double>(cell64, head64));
    std::printf("%s\n", r.report().c_str());
    return r.ok && last < 0.25f * first ? 0 : 1;
}
