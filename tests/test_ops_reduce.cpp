// Reductions: sum, mean, max over all elements and over one axis (positive and
// negative axis, keepdims, size-1 axes). Forward values are hand computed
// (arithmetic in the comments); every op also gets a double-precision gradcheck.

#include <cmath>
#include <cstdint>
#include <initializer_list>
#include <string>
#include <type_traits>
#include <vector>

#include "test_util.hpp"

namespace tg = tapegrad;
using namespace tgtest;

namespace {

template <class T>
double rtol() { return std::is_same_v<T, float> ? 1e-5 : 1e-10; }
template <class T>
double atol() { return std::is_same_v<T, float> ? 1e-5 : 1e-12; }

template <class T, class U>
void check(const tg::Tensor<T>& actual, const tg::Tensor<U>& expected) {
    require_close(actual, expected, rtol<T>(), atol<T>());
}

// A = [[1,2,3],[4,5,6]]
const tg::Tensor<double> A = {{1.0, 2.0, 3.0}, {4.0, 5.0, 6.0}};
// M has ties: 7 at (0,1), (0,2), (1,0), (1,2)
const tg::Tensor<double> M = {{1.0, 7.0, 7.0}, {7.0, 2.0, 7.0}};

}  // namespace

// ---- sum ------------------------------------------------------------------------

TEMPLATE_TEST_CASE("sum: all elements to 0-d", "[ops][reduce]", float, double) {
    using T = TestType;
    tg::Tape<T> t;
    auto x = t.variable(as<T>(A));
    auto y = tg::sum(x);
    REQUIRE(y.dim() == 0);
    check(y.value(), tg::Tensor<double>(21.0));  // 1+2+3+4+5+6
    CHECK(y.item() == T(21));
    t.backward(y, as<T>(tg::Tensor<double>(2.0)));
    check(x.grad(), tg::Tensor<double>{{2.0, 2.0, 2.0}, {2.0, 2.0, 2.0}});
    tg::Tape<T> t2;
    auto x2 = t2.variable(as<T>(A));
    t2.backward(tg::sum(x2));  // seed 1
    check(x2.grad(), tg::Tensor<double>{{1.0, 1.0, 1.0}, {1.0, 1.0, 1.0}});
}

TEMPLATE_TEST_CASE("sum: over one axis, keepdims, negative axis", "[ops][reduce]", float, double) {
    using T = TestType;
    SECTION("axis 0") {
        tg::Tape<T> t;
        auto x = t.variable(as<T>(A));
        auto y = tg::sum(x, 0);
        check(y.value(), tg::Tensor<double>{5.0, 7.0, 9.0});  // 1+4, 2+5, 3+6
        t.backward(y, as<T>(tg::Tensor<double>{1.0, 2.0, 3.0}));
        check(x.grad(), tg::Tensor<double>{{1.0, 2.0, 3.0}, {1.0, 2.0, 3.0}});
    }
    SECTION("axis 0, keepdims") {
        tg::Tape<T> t;
        auto x = t.variable(as<T>(A));
        auto y = tg::sum(x, 0, true);
        check(y.value(), tg::Tensor<double>{{5.0, 7.0, 9.0}});
        t.backward(y, as<T>(tg::Tensor<double>{{1.0, 2.0, 3.0}}));
        check(x.grad(), tg::Tensor<double>{{1.0, 2.0, 3.0}, {1.0, 2.0, 3.0}});
    }
    SECTION("axis 1 and -1") {
        tg::Tape<T> t;
        auto x = t.variable(as<T>(A));
        auto y = tg::sum(x, 1);
        check(y.value(), tg::Tensor<double>{6.0, 15.0});  // 1+2+3, 4+5+6
        check(tg::sum(x, -1).value(), tg::Tensor<double>{6.0, 15.0});
        check(tg::sum(x, -2).value(), tg::Tensor<double>{5.0, 7.0, 9.0});
        t.backward(y, as<T>(tg::Tensor<double>{1.0, -2.0}));
        check(x.grad(), tg::Tensor<double>{{1.0, 1.0, 1.0}, {-2.0, -2.0, -2.0}});
    }
    SECTION("axis -1, keepdims") {
        tg::Tape<T> t;
        auto x = t.variable(as<T>(A));
        auto y = tg::sum(x, -1, true);
        check(y.value(), m2({{6.0}, {15.0}}));
        t.backward(y, as<T>(m2({{3.0}, {0.5}})));
        check(x.grad(), tg::Tensor<double>{{3.0, 3.0, 3.0}, {0.5, 0.5, 0.5}});
    }
    SECTION("size-1 axes") {
        tg::Tape<T> t;
        auto r = t.variable(as<T>(tg::Tensor<double>{{1.0, 2.0, 3.0}}));  // (1,3)
        auto c = t.variable(as<T>(m2({{1.0}, {2.0}, {3.0}})));            // (3,1)
        check(tg::sum(r, 0).value(), tg::Tensor<double>{1.0, 2.0, 3.0});
        check(tg::sum(r, 0, true).value(), tg::Tensor<double>{{1.0, 2.0, 3.0}});
        auto y = tg::sum(c, 1);
        check(y.value(), tg::Tensor<double>{1.0, 2.0, 3.0});
        t.backward(y, as<T>(tg::Tensor<double>{4.0, 5.0, 6.0}));
        check(c.grad(), m2({{4.0}, {5.0}, {6.0}}));
    }
    SECTION("3-D, middle axis") {
        tg::Tape<T> t;
        // x[i][j][k]: [[[1,2],[3,4],[5,6]], [[7,8],[9,10],[11,12]]]
        auto x = t.variable(as<T>(tg::Tensor<double>{{{1.0, 2.0}, {3.0, 4.0}, {5.0, 6.0}},
                                                     {{7.0, 8.0}, {9.0, 10.0}, {11.0, 12.0}}}));
        auto y = tg::sum(x, 1);
        // [1+3+5, 2+4+6], [7+9+11, 8+10+12]
        check(y.value(), tg::Tensor<double>{{9.0, 12.0}, {27.0, 30.0}});
        t.backward(y, as<T>(tg::Tensor<double>{{1.0, 2.0}, {3.0, 4.0}}));
        check(x.grad(), tg::Tensor<double>{{{1.0, 2.0}, {1.0, 2.0}, {1.0, 2.0}}, {{3.0, 4.0}, {3.0, 4.0}, {3.0, 4.0}}});
    }
}

// ---- mean -----------------------------------------------------------------------

TEMPLATE_TEST_CASE("mean: all elements to 0-d", "[ops][reduce]", float, double) {
    using T = TestType;
    tg::Tape<T> t;
    auto x = t.variable(as<T>(A));
    auto y = tg::mean(x);
    REQUIRE(y.dim() == 0);
    check(y.value(), tg::Tensor<double>(3.5));  // 21 / 6
    t.backward(y, as<T>(tg::Tensor<double>(3.0)));
    check(x.grad(), tg::Tensor<double>{{0.5, 0.5, 0.5}, {0.5, 0.5, 0.5}});  // 3 / 6
}

TEMPLATE_TEST_CASE("mean: over one axis, keepdims, negative axis", "[ops][reduce]", float, double) {
    using T = TestType;
    SECTION("axis 0") {
        tg::Tape<T> t;
        auto x = t.variable(as<T>(A));
        auto y = tg::mean(x, 0);
        check(y.value(), tg::Tensor<double>{2.5, 3.5, 4.5});  // (1+4)/2, (2+5)/2, (3+6)/2
        t.backward(y, as<T>(tg::Tensor<double>{2.0, 4.0, 6.0}));
        check(x.grad(), tg::Tensor<double>{{1.0, 2.0, 3.0}, {1.0, 2.0, 3.0}});  // seed / 2
    }
    SECTION("axis 1 and -1, keepdims") {
        tg::Tape<T> t;
        auto x = t.variable(as<T>(A));
        check(tg::mean(x, 1).value(), tg::Tensor<double>{2.0, 5.0});  // 6/3, 15/3
        check(tg::mean(x, -1).value(), tg::Tensor<double>{2.0, 5.0});
        check(tg::mean(x, -2, true).value(), tg::Tensor<double>{{2.5, 3.5, 4.5}});
        auto y = tg::mean(x, -1, true);
        check(y.value(), m2({{2.0}, {5.0}}));
        t.backward(y, as<T>(m2({{3.0}, {6.0}})));
        check(x.grad(), tg::Tensor<double>{{1.0, 1.0, 1.0}, {2.0, 2.0, 2.0}});  // seed / 3
    }
    SECTION("size-1 axes") {
        tg::Tape<T> t;
        auto r = t.variable(as<T>(tg::Tensor<double>{{1.0, 2.0, 3.0}}));  // (1,3)
        auto y = tg::mean(r, 0, true);
        check(y.value(), tg::Tensor<double>{{1.0, 2.0, 3.0}});  // mean of one element
        t.backward(y, as<T>(tg::Tensor<double>{{4.0, 5.0, 6.0}}));
        check(r.grad(), tg::Tensor<double>{{4.0, 5.0, 6.0}});
        check(tg::mean(t.variable(as<T>(m2({{1.0}, {2.0}, {3.0}}))), 1).value(), tg::Tensor<double>{1.0, 2.0, 3.0});
    }
}

// ---- max ----------------------------------------------------------------------------

TEMPLATE_TEST_CASE("max: all elements, gradient to the first maximal element", "[ops][reduce]", float, double) {
    using T = TestType;
    SECTION("no tie") {
        tg::Tape<T> t;
        auto x = t.variable(as<T>(A));
        auto y = tg::max(x);
        REQUIRE(y.dim() == 0);
        check(y.value(), tg::Tensor<double>(6.0));
        t.backward(y, as<T>(tg::Tensor<double>(2.0)));
        check(x.grad(), tg::Tensor<double>{{0.0, 0.0, 0.0}, {0.0, 0.0, 2.0}});
    }
    SECTION("ties: first in row-major order wins") {
        tg::Tape<T> t;
        auto x = t.variable(as<T>(M));
        auto y = tg::max(x);
        check(y.value(), tg::Tensor<double>(7.0));
        t.backward(y);
        check(x.grad(), tg::Tensor<double>{{0.0, 1.0, 0.0}, {0.0, 0.0, 0.0}});
    }
    SECTION("all negative") {
        tg::Tape<T> t;
        auto x = t.variable(as<T>(tg::Tensor<double>{{-3.0, -1.0}, {-2.0, -5.0}}));
        auto y = tg::max(x);
        check(y.value(), tg::Tensor<double>(-1.0));
        t.backward(y);
        check(x.grad(), tg::Tensor<double>{{0.0, 1.0}, {0.0, 0.0}});
    }
}

TEMPLATE_TEST_CASE("max: over one axis, ties, keepdims, negative axis", "[ops][reduce]", float, double) {
    using T = TestType;
    SECTION("axis 1: row 0 = max(1,7,7) at 1, row 1 = max(7,2,7) at 0") {
        tg::Tape<T> t;
        auto x = t.variable(as<T>(M));
        auto y = tg::max(x, 1);
        check(y.value(), tg::Tensor<double>{7.0, 7.0});
        t.backward(y, as<T>(tg::Tensor<double>{1.0, 2.0}));
        check(x.grad(), tg::Tensor<double>{{0.0, 1.0, 0.0}, {2.0, 0.0, 0.0}});
    }
    SECTION("axis 0: columns (1,7) (7,2) (7,7) -> rows 1, 0, 0") {
        tg::Tape<T> t;
        auto x = t.variable(as<T>(M));
        auto y = tg::max(x, 0);
        check(y.value(), tg::Tensor<double>{7.0, 7.0, 7.0});
        t.backward(y, as<T>(tg::Tensor<double>{1.0, 2.0, 3.0}));
        check(x.grad(), tg::Tensor<double>{{0.0, 2.0, 3.0}, {1.0, 0.0, 0.0}});
    }
    SECTION("axis -1 and -2 without ties, keepdims") {
        tg::Tape<T> t;
        auto x = t.variable(as<T>(tg::Tensor<double>{{3.0, -1.0, 2.0}, {-4.0, 0.5, -2.0}}));
        check(tg::max(x, -1).value(), tg::Tensor<double>{3.0, 0.5});
        check(tg::max(x, -2).value(), tg::Tensor<double>{3.0, 0.5, 2.0});
        auto y = tg::max(x, -1, true);
        check(y.value(), m2({{3.0}, {0.5}}));
        t.backward(y, as<T>(m2({{5.0}, {-1.0}})));
        check(x.grad(), tg::Tensor<double>{{5.0, 0.0, 0.0}, {0.0, -1.0, 0.0}});
    }
    SECTION("axis 0 keepdims") {
        tg::Tape<T> t;
        auto x = t.variable(as<T>(tg::Tensor<double>{{3.0, -1.0, 2.0}, {-4.0, 0.5, -2.0}}));
        auto y = tg::max(x, 0, true);
        check(y.value(), tg::Tensor<double>{{3.0, 0.5, 2.0}});
        t.backward(y, as<T>(tg::Tensor<double>{{1.0, 2.0, 3.0}}));
        check(x.grad(), tg::Tensor<double>{{1.0, 0.0, 3.0}, {0.0, 2.0, 0.0}});
    }
    SECTION("size-1 axes pass everything through") {
        tg::Tape<T> t;
        auto c = t.variable(as<T>(m2({{1.0}, {-2.0}, {3.0}})));  // (3,1)
        auto y = tg::max(c, 1);
        check(y.value(), tg::Tensor<double>{1.0, -2.0, 3.0});
        t.backward(y, as<T>(tg::Tensor<double>{4.0, 5.0, 6.0}));
        check(c.grad(), m2({{4.0}, {5.0}, {6.0}}));
        auto r = t.variable(as<T>(tg::Tensor<double>{{1.0, -2.0, 3.0}}));  // (1,3)
        check(tg::max(r, 0, true).value(), tg::Tensor<double>{{1.0, -2.0, 3.0}});
    }
    SECTION("3-D, middle axis") {
        tg::Tape<T> t;
        auto x = t.variable(as<T>(tg::Tensor<double>{{{1.0, 8.0}, {3.0, 4.0}, {2.0, 6.0}},
                                                     {{7.0, 0.0}, {9.0, -1.0}, {9.0, 5.0}}}));
        auto y = tg::max(x, 1);
        // [max(1,3,2), max(8,4,6)] = [3, 8] ; [max(7,9,9), max(0,-1,5)] = [9 (first at j=1), 5]
        check(y.value(), tg::Tensor<double>{{3.0, 8.0}, {9.0, 5.0}});
        t.backward(y, as<T>(tg::Tensor<double>{{1.0, 2.0}, {3.0, 4.0}}));
        check(x.grad(), tg::Tensor<double>{{{0.0, 2.0}, {1.0, 0.0}, {0.0, 0.0}}, {{0.0, 0.0}, {3.0, 0.0}, {0.0, 4.0}}});
    }
}

// ---- gradchecks and errors -------------------------------------------------------------

TEST_CASE("sum / mean / max: gradcheck", "[ops][reduce]") {
    // smooth values are pairwise at least 6e-4 apart: no ties for max.
    const std::vector<std::int64_t> axes = {0, 1, -1, -2};
    SECTION("all elements") {
        require_gradcheck([](TapeD&, const In& in) { return tg::sum(in[0]); }, {smooth({2, 3})});
        require_gradcheck([](TapeD&, const In& in) { return tg::mean(in[0]); }, {smooth({2, 3})});
        require_gradcheck([](TapeD&, const In& in) { return tg::max(in[0]); }, {smooth({2, 3})});
        require_gradcheck([](TapeD&, const In& in) { return tg::max(in[0]); }, {smooth({2, 3, 4})});
        require_gradcheck([](TapeD&, const In& in) { return tg::mean(in[0]); }, {smooth({1, 1})});
    }
    SECTION("one axis, keepdims false and true") {
        for (std::int64_t ax : axes) {
            for (bool keep : {false, true}) {
                INFO("axis " << ax << " keepdims " << keep);
                require_gradcheck([=](TapeD&, const In& in) { return tg::sum(in[0], ax, keep); }, {smooth({2, 3})});
                require_gradcheck([=](TapeD&, const In& in) { return tg::mean(in[0], ax, keep); }, {smooth({2, 3})});
                require_gradcheck([=](TapeD&, const In& in) { return tg::max(in[0], ax, keep); }, {smooth({2, 3})});
            }
        }
    }
    SECTION("3-D and size-1 axes") {
        require_gradcheck([](TapeD&, const In& in) { return tg::sum(in[0], 1); }, {smooth({2, 3, 4})});
        require_gradcheck([](TapeD&, const In& in) { return tg::mean(in[0], -1, true); }, {smooth({2, 3, 4})});
        require_gradcheck([](TapeD&, const In& in) { return tg::max(in[0], 1); }, {smooth({2, 3, 4})});
        require_gradcheck([](TapeD&, const In& in) { return tg::max(in[0], 0, true); }, {smooth({2, 3, 4})});
        require_gradcheck([](TapeD&, const In& in) { return tg::sum(in[0], 0); }, {smooth({1, 3})});
        require_gradcheck([](TapeD&, const In& in) { return tg::mean(in[0], 1, true); }, {smooth({3, 1})});
        require_gradcheck([](TapeD&, const In& in) { return tg::max(in[0], 1); }, {smooth({2, 1, 3})});
    }
    SECTION("reductions of an intermediate used twice") {
        require_gradcheck(
            [](TapeD&, const In& in) {
                auto h = tg::tanh(in[0]);
                return tg::add(tg::mul(tg::max(h, 1, true), tg::mean(h, 1, true)), tg::sum(h, 0));  // (2,1) and (3)
            },
            {smooth({2, 3})});
    }
}

TEST_CASE("sum / mean / max: out-of-range axis throws ArgumentError", "[ops][reduce]") {
    tg::Tape<double> t;
    auto x = t.variable(smooth({2, 3}));
    const std::size_t before = t.size();
    for (std::int64_t ax : {2, 3, -3}) {
        INFO("axis " << ax);
        REQUIRE_THROWS_AS(tg::sum(x, ax), tg::ArgumentError);
        REQUIRE_THROWS_AS(tg::mean(x, ax, true), tg::ArgumentError);
        REQUIRE_THROWS_AS(tg::max(x, ax), tg::ArgumentError);
    }
    CHECK(t.size() == before);
}

// ---- min ------------------------------------------------------------------------

TEMPLATE_TEST_CASE("min: all elements and one axis, gradient to the first minimal element", "[ops][reduce]", float, double) {
    using T = TestType;
    // N has ties: 1 at (0,0), (0,2), (1,1)
    const tg::Tensor<double> N = {{1.0, 5.0, 1.0}, {3.0, 1.0, 4.0}};
    SECTION("all elements") {
        tg::Tape<T> t;
        auto x = t.variable(as<T>(N));
        auto y = tg::min(x);
        REQUIRE(y.dim() == 0);
        CHECK(y.item() == T(1));
        t.backward(y, as<T>(tg::Tensor<double>(3.0)));
        check(x.grad(), tg::Tensor<double>{{3.0, 0.0, 0.0}, {0.0, 0.0, 0.0}});  // the first 1 only
    }
    SECTION("axis 1, keepdims") {
        tg::Tape<T> t;
        auto x = t.variable(as<T>(N));
        auto y = tg::min(x, 1, true);
        check(y.value(), m2({{1.0}, {1.0}}));  // min(1,5,1), min(3,1,4)
        t.backward(y, as<T>(m2({{2.0}, {5.0}})));
        check(x.grad(), tg::Tensor<double>{{2.0, 0.0, 0.0}, {0.0, 5.0, 0.0}});
    }
    SECTION("axis -2") {
        tg::Tape<T> t;
        auto y = tg::min(t.variable(as<T>(N)), -2);
        check(y.value(), tg::Tensor<double>{1.0, 1.0, 1.0});  // min(1,3), min(5,1), min(1,4)
    }
    SECTION("NaN propagates; empty input throws naming min") {
        tg::Tape<T> t;
        CHECK(std::isnan(tg::min(t.variable(tg::Tensor<T>{2, NAN, 1})).item()));
        auto e = t.variable(tg::Tensor<T>::from_shape({2, 0}));
        CHECK_THROWS_WITH(tg::min(e), Catch::Contains("min: cannot reduce an empty tensor of shape (2, 0)"));
        CHECK_THROWS_WITH(tg::min(e, 1), Catch::Contains("min: axis 1 of shape (2, 0) is empty"));
        CHECK(tg::min(e, 0).shape() == typename tg::Tensor<T>::shape_type{0});  // zero lines: nothing to reduce
    }
}

// ---- logsumexp --------------------------------------------------------------------

TEMPLATE_TEST_CASE("logsumexp: all elements and one axis, stable for large values", "[ops][reduce]", float, double) {
    using T = TestType;
    SECTION("values") {
        tg::Tape<T> t;
        auto x = t.variable(as<T>(A));
        // log(e^1 + ... + e^6) = 6 + log(1 + e^-1 + ... + e^-5) = 6.456193316...
        check(tg::logsumexp(x).value(), tg::Tensor<double>(6.4561933159017));
        // rows: 3 + log(1 + e^-1 + e^-2) = 3.40760596444; 6.40760596444
        check(tg::logsumexp(x, 1).value(), tg::Tensor<double>{3.40760596444438, 6.40760596444438});
        // columns: 4 + log(1 + e^-3) = 4.04858735157
        check(tg::logsumexp(x, 0, true).value(), tg::Tensor<double>{{4.04858735157374, 5.04858735157374, 6.04858735157374}});
    }
    SECTION("no overflow at 1000; infinities and empty lines") {
        tg::Tape<T> t;
        check(tg::logsumexp(t.variable(tg::Tensor<T>{1000, 1000})).value(), tg::Tensor<double>(1000.69314718056));
        const T inf = std::numeric_limits<T>::infinity();
        CHECK(tg::logsumexp(t.variable(tg::Tensor<T>{-inf, -inf})).item() == -inf);
        CHECK(tg::logsumexp(t.variable(tg::Tensor<T>{1, inf})).item() == inf);
        auto e = tg::logsumexp(t.variable(tg::Tensor<T>::from_shape({2, 0})), 1);
        REQUIRE(e.size() == 2);
        CHECK(e.value()(0) == -inf);  // the log of an empty sum
        CHECK(e.value()(1) == -inf);
    }
    SECTION("gradient is the softmax; 0 for a line of only -inf") {
        tg::Tape<T> t;
        const T inf = std::numeric_limits<T>::infinity();
        auto x = t.variable(tg::Tensor<T>{{0, std::log(T(3))}, {-inf, -inf}});
        t.backward(tg::sum(tg::logsumexp(x, 1)));
        check(x.grad(), tg::Tensor<double>{{0.25, 0.75}, {0.0, 0.0}});  // e^0/(1+3), 3/(1+3)
    }
}

TEST_CASE("min / logsumexp: gradcheck", "[ops][reduce]") {
    require_gradcheck([](TapeD&, const In& in) { return tg::min(in[0]); }, {smooth({2, 3})});
    require_gradcheck([](TapeD&, const In& in) { return tg::logsumexp(in[0]); }, {smooth({2, 3})});
    require_gradcheck([](TapeD&, const In& in) { return tg::logsumexp(in[0]); }, {smooth({1})});
    for (std::int64_t ax : {0, 1, -1}) {
        for (bool keep : {false, true}) {
            INFO("axis " << ax << " keepdims " << keep);
            require_gradcheck([=](TapeD&, const In& in) { return tg::min(in[0], ax, keep); }, {smooth({2, 3})});
            require_gradcheck([=](TapeD&, const In& in) { return tg::logsumexp(in[0], ax, keep); }, {smooth({2, 3}, 3.0)});
        }
    }
    require_gradcheck([](TapeD&, const In& in) { return tg::logsumexp(in[0], 1); }, {smooth({2, 1, 3})});
    require_gradcheck([](TapeD&, const In& in) { return tg::min(in[0], 1); }, {smooth({2, 3, 4})});
    // logsumexp − x is log_softmax: both ops agree on a shared input.
    tg::Tape<double> t;
    auto x = t.variable(smooth({3, 4}, 2.0));
    require_close((x - tg::logsumexp(x, 1, true)).value(), tg::log_softmax(x, 1).value(), 1e-12, 1e-12);
}
