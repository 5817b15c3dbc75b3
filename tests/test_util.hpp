#pragma once
// Helpers shared by the test files: tensor comparison and gradcheck glue.

#include <catch2/catch.hpp>

#include <cmath>
#include <cstdint>
#include <sstream>
#include <string>

#include <tapegrad/tapegrad.hpp>

namespace tgtest {

namespace tg = tapegrad;

template <class T>
std::string describe(const tg::Tensor<T>& t) {
    std::ostringstream os;
    os << "shape " << tg::shape_str(t.shape()) << " [";
    for (std::size_t i = 0; i < t.size() && i < 32; ++i) os << (i ? ", " : "") << t.data()[i];
    if (t.size() > 32) os << ", ...";
    os << "]";
    return os.str();
}

/// Same shape and |a − e| ≤ atol + rtol·|e| everywhere; prints both on failure.
template <class T, class U>
void require_close(const tg::Tensor<T>& actual, const tg::Tensor<U>& expected, double rtol = 1e-6, double atol = 1e-9) {
    INFO("actual:   " << describe(actual));
    INFO("expected: " << describe(expected));
    REQUIRE(std::vector<std::size_t>(actual.shape().begin(), actual.shape().end()) ==
            std::vector<std::size_t>(expected.shape().begin(), expected.shape().end()));
    for (std::size_t i = 0; i < actual.size(); ++i) {
        const double a = static_cast<double>(actual.data()[i]), e = static_cast<double>(expected.data()[i]);
        INFO("element " << i);
        REQUIRE(std::abs(a - e) <= atol + rtol * std::abs(e));
    }
}

/// Runs gradcheck in double and fails the test with its report.
inline void require_gradcheck(const tg::GradcheckFn& fn, const std::vector<tg::Tensor<double>>& inputs,
                              const std::vector<tg::Parameter<double>*>& params = {}) {
    const tg::GradcheckResult r = tg::gradcheck(fn, inputs, params);
    INFO(r.report());
    REQUIRE(r.ok);
    REQUIRE(r.elements_checked > 0);
}

/// Deterministic "random-looking" values away from 0, for gradchecks:
/// element i is `offset + scale * sin(1.3 i + 0.7)`.
inline tg::Tensor<double> smooth(const tg::Shape& shape, double scale = 1.0, double offset = 0.0) {
    tg::Tensor<double> t = tg::Tensor<double>::from_shape(shape);
    for (std::size_t i = 0; i < t.size(); ++i) t.data()[i] = offset + scale * std::sin(1.3 * double(i) + 0.7);
    return t;
}

/// Handles given to gradcheck functions, and a double tape.
using In = std::vector<tg::Var<double>>;
using TapeD = tg::Tape<double>;

/// Converts a double tensor to T (for seeds and inputs written once).
template <class T>
tg::Tensor<T> as(const tg::Tensor<double>& x) {
    tg::Tensor<T> r = tg::Tensor<T>::from_shape(x.shape());
    for (std::size_t i = 0; i < x.size(); ++i) r.data()[i] = static_cast<T>(x.data()[i]);
    return r;
}

/// 2-D / 3-D literals whose innermost lists have one element ({{1.0}, {2.0}})
/// are ambiguous for xarray's constructors; these pin the rank.
inline tg::Tensor<double> m2(std::initializer_list<std::initializer_list<double>> l) { return tg::Tensor<double>(l); }
inline tg::Tensor<double> m3(std::initializer_list<std::initializer_list<std::initializer_list<double>>> l) {
    return tg::Tensor<double>(l);
}
inline tg::Index i2(std::initializer_list<std::initializer_list<std::int64_t>> l) { return tg::Index(l); }

/// A handle's shape as a vector, for comparisons.
template <class T>
std::vector<std::size_t> shape_of(const tg::Var<T>& v) {
    return {v.shape().begin(), v.shape().end()};
}

/// A (rows, cols) double tensor from row-major values: avoids xtensor's
/// ambiguous nested braces for single-column literals like {{1.0}, {2.0}}.
inline tg::Tensor<double> matrix(std::size_t rows, std::size_t cols, std::initializer_list<double> values) {
    tg::Tensor<double> t = tg::Tensor<double>::from_shape({rows, cols});
    REQUIRE(values.size() == rows * cols);
    std::copy(values.begin(), values.end(), t.begin());
    return t;
}

/// Runs f, requires it to throw E, returns the message.
template <class E, class F>
std::string thrown_message(F&& f) {
    try {
        f();
    } catch (const E& e) {
        return e.what();
    }
    FAIL("expected exception was not thrown");
    return {};
}

/// Bytes of hand-made zip archives: the CRC-32 of `s` and little-endian integers.
inline std::uint32_t crc32(const std::string& s) {
    std::uint32_t c = 0xFFFFFFFFu;
    for (unsigned char b : s) {
        c ^= b;
        for (int k = 0; k < 8; ++k) c = (c >> 1) ^ (0xEDB88320u & (0u - (c & 1u)));
    }
    return ~c;
}
inline void put16(std::string& s, std::uint32_t v) {
    for (int k = 0; k < 2; ++k) s += static_cast<char>((v >> (8 * k)) & 0xFF);
}
inline void put32(std::string& s, std::uint32_t v) {
    for (int k = 0; k < 4; ++k) s += static_cast<char>((v >> (8 * k)) & 0xFF);
}

}  // namespace tgtest
