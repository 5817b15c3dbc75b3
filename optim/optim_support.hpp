#pragma once
/// \file
/// Internal to the optim/ .cpp files: argument checks with uniform messages.

#include <cmath>
#include <cstdio>
#include <string>

#include "../autodiff/errors.hpp"

namespace tapegrad::detail {

/// Enough digits to tell 0.1 from 0.1000001, and "1e-08" rather than "0.000000".
inline std::string num_str(double x) {
    char buf[32];
    std::snprintf(buf, sizeof buf, "%.9g", x);
    return buf;
}

/// Throws "<who>: <what> must be <rule>, got <x>" unless `ok`.
inline void require_arg(bool ok, const std::string& who, const char* what, const char* rule, double x) {
    if (!ok) throw ArgumentError(who + ": " + what + " must be " + rule + ", got " + num_str(x));
}

/// NaN fails every comparison, so `x >= 0` alone would let it through.
inline void require_nonnegative(const std::string& who, const char* what, double x) {
    require_arg(std::isfinite(x) && x >= 0, who, what, "finite and >= 0", x);
}

}  // namespace tapegrad::detail
