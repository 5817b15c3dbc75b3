#include "ablated_lstm_cell.hpp"

#include "../../autodiff/ops.hpp"

namespace tapegrad {

const char* lstm_ablation_name(LSTMAblation a) {
    switch (a) {
        case LSTMAblation::none: return "none";
        case LSTMAblation::no_input_gate: return "no_input_gate";
        case LSTMAblation::no_forget_gate: return "no_forget_gate";
        case LSTMAblation::no_output_gate: return "no_output_gate";
        case LSTMAblation::no_input_activation: return "no_input_activation";
        case LSTMAblation::no_output_activation: return "no_output_activation";
    }
    return "unknown";
}

template <class T>
AblatedLSTMCell<T>::AblatedLSTMCell(const RecurrentOptions& o, Generator& gen)
    : Cell<T>(kSpec, o, gen), ablation_(o.lstm_ablation) {
    const std::string who = kSpec.name;
    if (o.nonlinearity != RNNNonlinearity::tanh) throw ArgumentError(who + ": nonlinearity applies to RNN only");
    if (std::string(lstm_ablation_name(ablation_)) == "unknown")
        throw ArgumentError(who + ": lstm_ablation " + std::to_string(static_cast<int>(ablation_)) + " is not an ablation");
    if (ablation_ == LSTMAblation::no_forget_gate && o.forget_bias)
        throw ArgumentError(who + ": forget_bias has no forget gate to act on with lstm_ablation = no_forget_gate");
}

template <class T>
RecurrentState<T> AblatedLSTMCell<T>::step(Var<T> gi, const RecurrentState<T>& s, const Context& k) const {
    const auto H = static_cast<std::int64_t>(s.h.shape()[1]);
    // gi holds both biases and starts the recurrent GEMM, as in LSTMCell.
    const Var<T> z = linear(s.h, k.w_hh, gi);
    const Var<T> a_g = narrow(z, 1, 2 * H, H);
    const Var<T> g = ablation_ == LSTMAblation::no_input_activation ? a_g : tanh(a_g);
    // A gate fixed at 1 is left out of its product rather than multiplied in:
    // no op recorded, nothing kept for backward. The order of the remaining
    // ops is LSTMCell's, so `none` reproduces it bit for bit.
    const Var<T> fc = ablation_ == LSTMAblation::no_forget_gate ? s.c : sigmoid(narrow(z, 1, H, H)) * s.c;
    const Var<T> ig = ablation_ == LSTMAblation::no_input_gate ? g : sigmoid(narrow(z, 1, 0, H)) * g;
    const Var<T> c = fc + ig;
    const Var<T> squashed = ablation_ == LSTMAblation::no_output_activation ? c : tanh(c);
    const Var<T> h = ablation_ == LSTMAblation::no_output_gate ? squashed : sigmoid(narrow(z, 1, 3 * H, H)) * squashed;
    return {h, c};
}

template class AblatedLSTMCell<float>;
template class AblatedLSTMCell<double>;
template class Recurrent<AblatedLSTMCell<float>>;
template class Recurrent<AblatedLSTMCell<double>>;

}  // namespace tapegrad
