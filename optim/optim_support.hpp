#pragma once
/// \file
/// Internal to the optim/ .cpp files: argument checks with uniform messages.

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <limits>
#include <string>
#include <vector>

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

/// A learning rate must be finite, >= 0 and representable in T: a double lr
/// of 1e300 becomes inf in a float step, and the parameters NaN.
template <class T>
void require_lr(const std::string& who, const char* what, double lr) {
    require_arg(std::isfinite(lr) && lr >= 0 && lr <= double(std::numeric_limits<T>::max()), who, what,
                "finite, >= 0 and within the parameter type's range", lr);
}

/// "Adam" for an optimizer of one group, "Adam: group 1" of several: prefixes a group's messages.
inline std::string group_label(const std::string& name, std::size_t group, std::size_t count) {
    return count > 1 ? name + ": group " + std::to_string(group) : name;
}

/// "parameter 3 ('w')" (the name if it has one), for Parameter* and for shared records alike.
template <class P>
std::string param_label(const std::vector<P>& params, std::size_t i) {
    std::string s = "parameter " + std::to_string(i);
    if (params[i] != nullptr && !params[i]->name().empty()) s += " ('" + params[i]->name() + "')";
    return s;
}

template <class S1, class S2>
bool shapes_match(const S1& a, const S2& b) {
    return a.size() == b.size() && std::equal(a.begin(), a.end(), b.begin());
}

/// Checks one saved optimizer buffer ("<index>.<name>") before it is loaded:
/// every element finite in T, and >= 0 for running squares (a negative one is
/// a NaN under the square root). Names the key and the first bad element.
template <class T, class Values>
void require_state_values(const std::string& who, const std::string& key, const Values& t, bool non_negative) {
    for (std::size_t j = 0; j < t.size(); ++j) {
        const double v = t.data()[j];
        const bool in_range = std::isfinite(v) && std::abs(v) <= double(std::numeric_limits<T>::max());
        if (!in_range || (non_negative && v < 0))
            throw ArgumentError(who + "key '" + key + "' element " + std::to_string(j) + " is " + num_str(v) +
                                ", expected a finite number" + (non_negative ? " >= 0" : "") +
                                " within the parameter type's range");
    }
}

}  // namespace tapegrad::detail
