#pragma once
// Checks shared by the optimizer tests (test_optim.cpp, test_param_groups.cpp).

#include <cstring>
#include <functional>
#include <initializer_list>
#include <string>

#include "test_util.hpp"

namespace tgtest {

/// Same shape and the same bits (a state that round-trips must be exact).
template <class T>
bool bitwise_equal(const tapegrad::Tensor<T>& a, const tapegrad::Tensor<T>& b) {
    return a.shape() == b.shape() && (a.size() == 0 || std::memcmp(a.data(), b.data(), a.size() * sizeof(T)) == 0);
}

/// The same keys holding bitwise-equal tensors.
inline void require_same_state(const tapegrad::StateDict& a, const tapegrad::StateDict& b) {
    REQUIRE(a.size() == b.size());
    for (const auto& [key, t] : a) {
        INFO("key " << key);
        REQUIRE(b.count(key) == 1);
        REQUIRE(bitwise_equal(t, b.at(key)));
    }
}

/// Runs `f`, which must throw ArgumentError (not another type) whose message
/// contains every one of `parts`.
inline void require_argument_error(const std::function<void()>& f, std::initializer_list<std::string> parts) {
    const std::string m = thrown_message<tapegrad::ArgumentError>(f);
    INFO("message: " << m);
    for (const std::string& p : parts) {
        INFO("expected to contain: " << p);
        CHECK(m.find(p) != std::string::npos);
    }
}

/// A 0-d double tensor, as state dicts hold "step" and the options.
inline tapegrad::Tensor<double> scalar(double v) { return tapegrad::Tensor<double>(v); }

}  // namespace tgtest
