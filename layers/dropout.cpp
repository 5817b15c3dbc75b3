#include "dropout.hpp"

#include "../autodiff/ops.hpp"

namespace tapegrad {

template <class T>
Dropout<T>::Dropout(double p, std::uint64_t seed) : p_(p), gen_(seed) {
    if (!(p >= 0.0 && p < 1.0)) throw ArgumentError("Dropout: p must lie in [0, 1), got " + std::to_string(p));
}

template <class T>
Var<T> Dropout<T>::operator()(Var<T> x) {
    if (!this->training() || p_ == 0.0) return x;
    const auto& shape = x.shape();
    if (mask_.shape() != shape) mask_.resize(shape);
    const T keep = static_cast<T>(1.0 / (1.0 - p_));
    for (auto& m : mask_) m = gen_.bernoulli(p_) ? T(0) : keep;
    return mul(x, x.tape()->constant(mask_));
}

template class Dropout<float>;
template class Dropout<double>;

}  // namespace tapegrad
