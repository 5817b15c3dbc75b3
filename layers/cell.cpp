#include "cell.hpp"

#include <algorithm>
#include <cmath>

#include "../autodiff/ops.hpp"

namespace tapegrad {

namespace detail {

void validate_options(const CellSpec& spec, const RecurrentOptions& o) {
    const std::string who = spec.name;
    if (spec.gates == 0) throw ArgumentError(who + ": a cell needs at least one gate block");
    if (spec.states == 0 || spec.states > RecurrentState<float>::capacity)
        throw ArgumentError(who + ": " + std::to_string(spec.states) + " state tensors; a cell has 1 to " +
                            std::to_string(RecurrentState<float>::capacity));
    if (spec.forget_gate && *spec.forget_gate >= spec.gates)
        throw ArgumentError(who + ": forget gate " + std::to_string(*spec.forget_gate) + " of " +
                            std::to_string(spec.gates) + " gate blocks");
    if (o.hidden_size == 0) throw ArgumentError(who + ": hidden_size must be positive");
    if (o.num_layers == 0) throw ArgumentError(who + ": num_layers must be positive");
    if (!(o.dropout >= 0.0 && o.dropout < 1.0)) throw ArgumentError(who + ": dropout must lie in [0, 1)");
    if (o.projection_steps == 0) throw ArgumentError(who + ": projection_steps must be positive");
    if (o.forget_bias && !spec.forget_gate)
        throw ArgumentError(who + ": forget_bias applies only to cells with a forget gate (LSTM)");
    if (o.lstm_ablation != LSTMAblation::none && !spec.takes_lstm_ablation)
        throw ArgumentError(who + ": lstm_ablation applies to AblatedLSTM only");
}

}  // namespace detail

namespace {

// PyTorch's order: w_ih, w_hh, b_ih, b_hh, each U(±1/√H); or Glorot weights
// and zero biases. Then the options that adjust them.
template <class T>
void initialize(CellWeights<T>& w, const CellSpec& spec, const RecurrentOptions& o, Generator& gen) {
    const std::size_t H = o.hidden_size;
    if (o.init == RecurrentInit::pytorch) {
        const double k = 1.0 / std::sqrt(double(H));
        for (Parameter<T>* p : {&w.weight_ih, &w.weight_hh, &w.bias_ih, &w.bias_hh}) uniform_(p->mutable_value(), -k, k, gen);
    } else {
        xavier_uniform_(w.weight_ih.mutable_value(), gen);
        xavier_uniform_(w.weight_hh.mutable_value(), gen);
        w.bias_ih.mutable_value().fill(T(0));
        w.bias_hh.mutable_value().fill(T(0));
    }
    if (o.orthogonal_recurrent) {
        // Each gate's own H × H block is orthogonal.
        Tensor<T> block = detail::new_tensor<T>(spec.name, Shape{H, H});
        T* whh = w.weight_hh.mutable_value().data();
        for (std::size_t g = 0; g < spec.gates; ++g) {
            orthogonal_(block, gen);
            std::copy(block.begin(), block.end(), whh + g * H * H);
        }
    }
    if (!o.bias) {
        w.bias_ih.mutable_value().fill(T(0));
        w.bias_hh.mutable_value().fill(T(0));
    }
    if (o.forget_bias) {
        T* bi = w.bias_ih.mutable_value().data();
        T* bh = w.bias_hh.mutable_value().data();
        for (std::size_t j = *spec.forget_gate * H; j < (*spec.forget_gate + 1) * H; ++j) {
            bi[j] = static_cast<T>(*o.forget_bias);
            bh[j] = T(0);
        }
    }
}

}  // namespace

template <class T>
Cell<T>::Cell(const CellSpec& spec, const RecurrentOptions& o, Generator& gen)
    : spec_(spec), input_(o.input_size), hidden_(o.hidden_size), bias_(o.bias) {
    detail::validate_options(spec, o);
    std::size_t rows = 0;  // G gates of H rows each
    if (!checked_mul(spec.gates, hidden_, rows))
        throw ShapeError(std::string(spec.name) + ": " + std::to_string(spec.gates) + " gates of hidden size " +
                         std::to_string(hidden_) + " are more rows than a tensor can hold");
    w_.weight_ih = Parameter<T>(detail::new_tensor<T>(spec.name, Shape{rows, input_}));
    w_.weight_hh = Parameter<T>(detail::new_tensor<T>(spec.name, Shape{rows, hidden_}));
    w_.bias_ih = Parameter<T>(detail::new_tensor<T>(spec.name, Shape{rows}));
    w_.bias_hh = Parameter<T>(detail::new_tensor<T>(spec.name, Shape{rows}));
    initialize(w_, spec, o, gen);
}

template <class T>
void Cell<T>::visit(ModuleVisitor<T>& v) {
    v.param("weight_ih", w_.weight_ih);
    v.param("weight_hh", w_.weight_hh);
    if (bias_) {
        v.param("bias_ih", w_.bias_ih);
        v.param("bias_hh", w_.bias_hh);
    }
    visit_extra(v);
}

template <class T>
Var<T> Cell<T>::input_bias(Tape<T>& t) {
    if (!bias_) return {};
    const Var<T> b_hh = t.param(w_.bias_hh);
    return t.param(w_.bias_ih) + b_hh;
}

template <class T>
Var<T> Cell<T>::project(Var<T> x) {
    Tape<T>& t = *x.tape();
    const Var<T> b = input_bias(t);
    return b ? linear(x, t.param(w_.weight_ih), b) : linear(x, t.param(w_.weight_ih));
}

template <class T>
void Cell<T>::check_step(Var<T> x, const RecurrentState<T>& s) const {
    const std::string who = std::string(spec_.name) + "Cell";
    if (!x || !s.h) throw StaleVarError(who + ": empty input or state handle");
    if (x.dim() != 2 || x.shape()[1] != input_)
        throw ShapeError(who + ": input of shape " + shape_str(x.shape()) + ", expected (B, " + std::to_string(input_) + ")");
    const std::size_t B = x.shape()[0];
    static const char* const names[] = {"h", "c", "state 2", "state 3"};
    for (std::size_t k = 0; k < spec_.states; ++k) {
        const Var<T>& v = s[k];
        if (!v) throw StaleVarError(who + ": empty " + names[k] + " handle");
        if (v.dim() != 2 || v.shape()[0] != B || v.shape()[1] != hidden_)
            throw ShapeError(who + ": " + names[k] + " of shape " + shape_str(v.shape()) + ", expected (" + std::to_string(B) +
                             ", " + std::to_string(hidden_) + ")");
    }
}

template class Cell<float>;
template class Cell<double>;

}  // namespace tapegrad
