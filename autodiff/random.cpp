#include "random.hpp"

#include <cmath>
#include <limits>
#include <numbers>

#include "errors.hpp"

namespace tapegrad {

double Generator::normal() {
    // 1 − u lies in (0, 1], so the log is finite.
    const double u1 = 1.0 - uniform(), u2 = uniform();
    return std::sqrt(-2.0 * std::log(u1)) * std::cos(2.0 * std::numbers::pi * u2);
}

std::uint64_t Generator::below(std::uint64_t n) {
    if (n == 0) throw ArgumentError("Generator::below: n must be positive");
    // Rejection sampling keeps every value equally likely.
    const std::uint64_t limit = std::numeric_limits<std::uint64_t>::max() - std::numeric_limits<std::uint64_t>::max() % n;
    std::uint64_t r;
    do r = engine_();
    while (r >= limit);
    return r % n;
}

namespace {
std::recursive_mutex default_mutex;
Generator default_generator{0};
}  // namespace

void manual_seed(std::uint64_t seed) {
    std::lock_guard lock(default_mutex);
    default_generator.seed(seed);
}

detail::DefaultGenerator::DefaultGenerator() : lock_(default_mutex), gen_(default_generator) {}

}  // namespace tapegrad
