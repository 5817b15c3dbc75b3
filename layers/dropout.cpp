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
    const std::lock_guard<std::mutex> lock(gen_lock_.m);
    return (*this)(x, gen_);
}

template <class T>
Var<T> Dropout<T>::operator()(Var<T> x, Generator& gen) {
    if (!this->training() || p_ == 0.0) return x;
    if (!x) throw StaleVarError("Dropout: empty input handle");
    // The mask is a constant written straight into the tape's storage: the
    // module keeps no per-call state, and a steady loop allocates nothing.
    Tape<T>& t = *x.tape();
    const auto& shape = x.shape();
    const T keep = static_cast<T>(1.0 / (1.0 - p_));
    const Var<T> mask = t.constant_from(std::span<const std::size_t>(shape.data(), shape.size()), [&](std::span<T> m) {
        for (T& v : m) v = gen.bernoulli(p_) ? T(0) : keep;
    });
    return mul(x, mask);
}

template class Dropout<float>;
template class Dropout<double>;

}  // namespace tapegrad
