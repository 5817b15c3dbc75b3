#pragma once
// A user's cell, written only against the public Cell interface (as
// docs/layers.md, "Write your own cell", shows): the tests run it through
// Recurrent<> to check that a cell from outside the library gets layers,
// directions, lengths, dropout, released temporaries and no allocations.

#include <tapegrad/tapegrad.hpp>

namespace tgtest {

// Peephole LSTM (Gers & Schmidhuber 2000): the gates also see the cell state
// through diagonal weights, p_i and p_f the old one, p_o the new one:
//   [a_i a_f a_g a_o] = x·W_ihᵀ + b_ih + h·W_hhᵀ + b_hh
//   i = σ(a_i + p_i⊙c), f = σ(a_f + p_f⊙c), g = tanh(a_g)
//   c' = f⊙c + i⊙g, o = σ(a_o + p_o⊙c'), h' = o⊙tanh(c')
template <class T>
class PeepholeLSTMCell : public tapegrad::Cell<T> {
public:
    static constexpr tapegrad::CellSpec kSpec{.name = "PeepholeLSTM", .gates = 4, .states = 2, .forget_gate = 1};
    tapegrad::Parameter<T> p_i, p_f, p_o;

    PeepholeLSTMCell(const tapegrad::RecurrentOptions& o, tapegrad::Generator& gen)
        : tapegrad::Cell<T>(kSpec, o, gen), p_i(peephole(o, gen)), p_f(peephole(o, gen)), p_o(peephole(o, gen)) {}

    void visit_extra(tapegrad::ModuleVisitor<T>& v) override {
        v.param("p_i", p_i);
        v.param("p_f", p_f);
        v.param("p_o", p_o);
    }

    struct Context {
        tapegrad::Var<T> w_hh, p_i, p_f, p_o;
    };
    Context begin(tapegrad::Tape<T>& t) { return {t.param(this->weight_hh()), t.param(p_i), t.param(p_f), t.param(p_o)}; }

    tapegrad::RecurrentState<T> step(tapegrad::Var<T> gi, const tapegrad::RecurrentState<T>& s, const Context& k) const {
        namespace tg = tapegrad;
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
    static tapegrad::Tensor<T> peephole(const tapegrad::RecurrentOptions& o, tapegrad::Generator& gen) {
        tapegrad::Tensor<T> p = tapegrad::Tensor<T>::from_shape({o.hidden_size});
        tapegrad::uniform_(p, -0.1, 0.1, gen);
        return p;
    }
};

}  // namespace tgtest
