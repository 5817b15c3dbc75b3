// Every crash the op-program fuzzer (tests/fuzz/fuzz_ops.cpp) found, as the
// same program in plain code. The crashing inputs themselves are kept under
// tests/fuzz/regressions/ops/ and replayed by `tools/fuzz.sh ops`; these tests
// keep the bugs gone in the normal test command, which also runs under
// ASan+UBSan (most of these were only visible to a sanitizer).

#include <catch2/catch.hpp>

#include <algorithm>
#include <cmath>
#include <limits>
#include <vector>

#include <tapegrad/tapegrad.hpp>

namespace tg = tapegrad;

namespace {

tg::Tensor<double> ramp(const tg::Shape& shape) {
    tg::Tensor<double> t = tg::Tensor<double>::from_shape(shape);
    for (std::size_t i = 0; i < t.size(); ++i) t.data()[i] = static_cast<double>(static_cast<int>(i % 11) - 5) * 0.375;
    return t;
}

}  // namespace

// audit_zero_element_input.bin: audit re-ran linear with an input of no
// elements and restored it with memcpy from its null data() (UBSan: null
// pointer passed as argument 2, gradcheck.cpp).
TEST_CASE("fuzz regression: audit of an op whose input has no elements", "[fuzz_regressions]") {
    tg::Tape<double> tape;
    const auto x = tape.variable(tg::Tensor<double>::from_shape({0, 2, 2, 3}));
    const auto w = tape.variable(ramp({2, 3}));
    const auto b = tape.variable(ramp({2}));
    const auto y = tg::linear(x, w, b);
    REQUIRE(y.shape() == tg::Tensor<double>::shape_type{0, 2, 2, 2});
    tape.backward(tg::sum(y));
    const tg::AuditResult result = tg::audit(tape, y);
    INFO(result.report());
    CHECK(result.ok);
    CHECK(tape.grad(w).shape() == tg::Tensor<double>::shape_type{2, 3});
}

// sigmoid_nan_float_cast.bin: sigmoid of NaN (and exp, tanh of NaN or of
// |x| > ~1e18) reached a float-to-integer conversion overflow inside xsimd's
// exp (clang UBSan: "nan is outside the range of representable values of type
// 'long'"). The values must be IEEE's: NaN stays NaN, the limits are exact.
TEMPLATE_TEST_CASE("fuzz regression: exp, sigmoid and tanh of NaN and huge inputs", "[fuzz_regressions]", float, double) {
    using T = TestType;
    const T inf = std::numeric_limits<T>::infinity(), big = std::numeric_limits<T>::max();
    // 20 elements: whole SIMD batches and a padded tail, for every width.
    std::vector<T> xs = {std::nan(""), big, -big, inf, -inf, T(1e30), T(-1e30), T(0), T(1), T(-1)};
    for (std::size_t k = 0, n = xs.size(); k < n; ++k) xs.push_back(xs[k]);
    tg::Tensor<T> x = tg::Tensor<T>::from_shape({xs.size()});
    std::copy(xs.begin(), xs.end(), x.data());
    tg::Tape<T> tape;
    const auto v = tape.variable(x);
    const tg::Tensor<T> e = tg::exp(v).value(), s = tg::sigmoid(v).value(), t = tg::tanh(v).value();
    for (std::size_t i = 0; i < xs.size(); ++i) {
        INFO("x = " << xs[i]);
        if (std::isnan(xs[i])) {
            CHECK(std::isnan(e.data()[i]));
            CHECK(std::isnan(s.data()[i]));
            CHECK(std::isnan(t.data()[i]));
        } else if (std::abs(xs[i]) >= T(1e30)) {
            CHECK(e.data()[i] == (xs[i] > 0 ? inf : T(0)));
            CHECK(s.data()[i] == (xs[i] > 0 ? T(1) : T(0)));
            CHECK(t.data()[i] == (xs[i] > 0 ? T(1) : T(-1)));
        } else {
            CHECK(e.data()[i] == Approx(std::exp(xs[i])));
            CHECK(s.data()[i] == Approx(1 / (1 + std::exp(-xs[i]))));
            CHECK(t.data()[i] == Approx(std::tanh(xs[i])));
        }
    }
}

// pow_huge_float_cast.bin: pow(8.4e298, 1e30) in double reached the same
// float-to-integer overflow through xsimd's pow (e^(p·log x)); forward and
// backward now use std::pow, whose results for such arguments are IEEE's.
TEMPLATE_TEST_CASE("fuzz regression: pow with huge bases and exponents", "[fuzz_regressions]", float, double) {
    using T = TestType;
    const T big = std::numeric_limits<T>::max();
    for (const T p : {T(1e30), T(-1e30), big, T(0.5), T(3)}) {
        const std::vector<T> xs = {big, T(8e37), T(2), T(0.5), T(0), T(-2), T(std::nan("")), std::numeric_limits<T>::infinity()};
        tg::Tensor<T> x = tg::Tensor<T>::from_shape({xs.size()});
        std::copy(xs.begin(), xs.end(), x.data());
        tg::Tape<T> tape;
        const auto v = tape.variable(x);
        const auto y = tg::pow(v, p);
        tape.backward(tg::sum(y));
        for (std::size_t i = 0; i < xs.size(); ++i) {
            INFO("x = " << xs[i] << ", p = " << p);
            const T want = std::pow(xs[i], p), dwant = p * std::pow(xs[i], p - T(1));
            CHECK((std::isnan(want) ? std::isnan(y.value().data()[i]) : y.value().data()[i] == want));
            CHECK((std::isnan(dwant) ? std::isnan(tape.grad(v).data()[i]) : tape.grad(v).data()[i] == dwant));
        }
    }
}
