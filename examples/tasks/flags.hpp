#pragma once
/// \file
/// CLI11 validators for the example programs' numeric flags. Each says what it
/// wants ("an integer in [1, 4096]") rather than the type's whole range, and
/// refuses what a plain conversion would let through: "1e20" for a count, a
/// number past the range, "nan" or "inf". A refused flag makes CLI11 throw a
/// ValidationError naming the flag, which the programs turn into exit code 2.

#include <charconv>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <string>

#include <CLI/CLI.hpp>

namespace tapegrad::tasks {

/// The largest values the example programs accept: far beyond any useful run,
/// well below what overflows a size computation or exhausts memory at once.
namespace limits {
inline constexpr std::uint64_t kT = 100000;          ///< sequence length / delay
inline constexpr std::uint64_t kHidden = 4096;
inline constexpr std::uint64_t kLayers = 16;
inline constexpr std::uint64_t kBatch = 4096;
inline constexpr std::uint64_t kSteps = 1000000000;  ///< also --eval-every, --checkpoint-every
inline constexpr std::uint64_t kEvalBatches = 10000;
inline constexpr std::uint64_t kThreads = 64;
}  // namespace limits

/// A whole number in [lo, hi], written with digits only (no sign, exponent or
/// fraction: "1e20" and "4.5" are refused, not rounded or wrapped).
inline CLI::Validator integer_in(std::uint64_t lo, std::uint64_t hi) {
    const std::string rule = "must be an integer in [" + std::to_string(lo) + ", " + std::to_string(hi) + "]";
    return CLI::Validator(
        [lo, hi, rule](std::string& in) -> std::string {
            std::uint64_t v = 0;
            const char* end = in.data() + in.size();
            const auto [p, ec] = std::from_chars(in.data(), end, v);
            if (in.empty() || ec != std::errc() || p != end || v < lo || v > hi) return rule + ", got '" + in + "'";
            return {};
        },
        "INT in [" + std::to_string(lo) + ", " + std::to_string(hi) + "]");
}

/// A finite number in [lo, hi] (or (lo, hi] when `lo_open`); NaN and inf are refused.
inline CLI::Validator number_in(double lo, double hi, bool lo_open = false) {
    auto str = [](double x) {
        char buf[32];
        std::snprintf(buf, sizeof buf, "%g", x);
        return std::string(buf);
    };
    const std::string range = (lo_open ? "(" : "[") + str(lo) + ", " + str(hi) + "]";
    return CLI::Validator(
        [lo, hi, lo_open, range](std::string& in) -> std::string {
            try {
                std::size_t used = 0;
                const double v = std::stod(in, &used);
                const bool above_lo = lo_open ? v > lo : v >= lo;
                if (used == in.size() && std::isfinite(v) && above_lo && v <= hi) return {};
            } catch (const std::exception&) {
            }
            return "must be a finite number in " + range + ", got '" + in + "'";
        },
        "NUMBER in " + range);
}

}  // namespace tapegrad::tasks
