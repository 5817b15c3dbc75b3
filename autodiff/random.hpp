#pragma once
/// \file
/// `Generator`: the seedable random source behind weight initialization,
/// dropout, random tensors and sampling.
///
/// Its draws are defined here bit for bit (not left to the standard library's
/// distributions), so the same seed gives the same numbers on every run and
/// every platform.

#include <cstdint>
#include <mutex>
#include <random>

namespace tapegrad {

/// A seedable source of uniform and normal numbers (mt19937_64 underneath).
class Generator {
public:
    explicit Generator(std::uint64_t seed = 0) : engine_(seed) {}
    void seed(std::uint64_t s) { engine_.seed(s); }
    /// Uniform in [0, 1), 53 random bits.
    double uniform() { return double(engine_() >> 11) * 0x1.0p-53; }
    /// Uniform in [lo, hi).
    double uniform(double lo, double hi) { return lo + (hi - lo) * uniform(); }
    /// Standard normal (Box–Muller; one draw per call, two uniforms each).
    double normal();
    /// True with probability p.
    bool bernoulli(double p) { return uniform() < p; }
    /// Uniform integer in [0, n); `ArgumentError` for n = 0.
    std::uint64_t below(std::uint64_t n);
    std::mt19937_64& engine() { return engine_; }

private:
    std::mt19937_64 engine_;
};

/// Reseeds the default generator: the one layers draw their initial weights
/// from when constructed without a `Generator` (`tg::Linear head(128, 10)`).
/// It starts seeded with 0, so a program that builds its layers in the same
/// order gets the same weights on every run, as with torch.manual_seed.
void manual_seed(std::uint64_t seed);

namespace detail {

/// The default generator, held under a lock for as long as this object lives
/// (layers take it for the length of their constructor, so layers built on
/// several threads at once draw in some order, never at the same time).
class DefaultGenerator {
public:
    DefaultGenerator();
    Generator& get() { return gen_; }

private:
    std::unique_lock<std::recursive_mutex> lock_;
    Generator& gen_;
};

}  // namespace detail

}  // namespace tapegrad
