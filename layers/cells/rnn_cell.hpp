#pragma once
/// \file
/// `RNNCell<T>`: the Elman RNN, PyTorch's equations and names:
///   h' = tanh(x·W_ihᵀ + b_ih + h·W_hhᵀ + b_hh)   (or relu: RecurrentOptions::nonlinearity)
/// Written against the `Cell` interface like any user's cell; `RNN<T>`
/// (recurrent.hpp) runs it over sequences.

#include "../cell.hpp"

namespace tapegrad {

template <class T = float>
class RNNCell : public Cell<T> {
public:
    static constexpr CellSpec kSpec{.name = "RNN", .gates = 1, .states = 1};

    /// `ArgumentError` on bad options (see RecurrentOptions).
    RNNCell(const RecurrentOptions& o, Generator& gen);
    /// x (B, I), h (B, H) → h' (B, H).
    Var<T> operator()(Var<T> x, Var<T> h) { return single_step(*this, x, {h, {}}).h; }
    RNNNonlinearity nonlinearity() const { return nonlinearity_; }

    struct Context {
        Var<T> w_hh;
    };
    Context begin(Tape<T>& t) { return {t.param(this->weight_hh())}; }
    RecurrentState<T> step(Var<T> gi, const RecurrentState<T>& s, const Context& k) const;

private:
    RNNNonlinearity nonlinearity_;
};

extern template class RNNCell<float>;
extern template class RNNCell<double>;

}  // namespace tapegrad
