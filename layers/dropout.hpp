#pragma once
/// \file
/// `Dropout<T>`: zeroes elements with probability p in training mode.

#include <mutex>

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
    /// as a product with a constant mask (the mask lives on the tape), so the
    /// gradient is g ⊙ m / (1 − p). Evaluation, or p = 0: x unchanged (no node
    /// recorded). Draws from the module's generator under a lock, so calls
    /// from several threads are safe, but which thread gets which mask then
    /// depends on timing: pass a generator per thread for reproducible masks.
    Var<T> operator()(Var<T> x);
    /// The same, drawing the mask from `gen` (e.g. one generator per thread).
    Var<T> operator()(Var<T> x, Generator& gen);
    void visit(ModuleVisitor<T>&) override {}

    double p() const { return p_; }
    /// The module's own generator. Reseeding it while another thread draws
    /// from it (a training-mode call) is a data race.
    Generator& generator() { return gen_; }

private:
    // Guards gen_ for concurrent calls; a copy or move of the module gets a
    // fresh, unlocked mutex (and the generator's state).
    struct GeneratorLock {
        std::mutex m;
        GeneratorLock() = default;
        GeneratorLock(const GeneratorLock&) noexcept {}
        GeneratorLock& operator=(const GeneratorLock&) noexcept { return *this; }
    };

    double p_;
    Generator gen_;
    GeneratorLock gen_lock_;
};

extern template class Dropout<float>;
extern template class Dropout<double>;

}  // namespace tapegrad
