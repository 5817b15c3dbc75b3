#pragma once
/// \file
/// `Dropout<T>`: zeroes elements with probability p in training mode.

#include "../autodiff/tape.hpp"
#include "init.hpp"
#include "module.hpp"

namespace tapegrad {

template <class T = float>
class Dropout : public Module<T> {
public:
    /// `p` in [0, 1) (`ArgumentError` otherwise). The mask comes from the
    /// module's own generator, seeded with `seed`: reseed it (`generator().seed`)
    /// to replay the same masks, e.g. for gradcheck.
    explicit Dropout(double p = 0.5, std::uint64_t seed = 0);

    /// Training: x ⊙ m / (1 − p) with m ~ Bernoulli(1 − p) per element, recorded
    /// as a product with a constant mask, so the gradient is g ⊙ m / (1 − p).
    /// Evaluation, or p = 0: x unchanged (no node recorded).
    Var<T> operator()(Var<T> x);
    void visit(ModuleVisitor<T>&) override {}

    double p() const { return p_; }
    Generator& generator() { return gen_; }

private:
    double p_;
    Generator gen_;
    Tensor<T> mask_;  // reused between calls: no allocation once its size is reached
};

extern template class Dropout<float>;
extern template class Dropout<double>;

}  // namespace tapegrad
