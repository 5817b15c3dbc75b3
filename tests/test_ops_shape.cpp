// Shape ops: reshape, narrow, slice, select, split, chunk, concat, stack,
// index_select, gather. Forward values are hand computed (arithmetic in the
// comments); every op also gets a double-precision gradcheck.

#include <limits>
#include <cmath>
#include <cstdint>
#include <initializer_list>
#include <string>
#include <type_traits>
#include <utility>
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

tg::Tensor<double> filled(const tg::Shape& shape, double v) {
    tg::Tensor<double> t = tg::Tensor<double>::from_shape(shape);
    t.fill(v);
    return t;
}

/// 1, 2, 3, ... in row-major order.
tg::Tensor<double> iota(const tg::Shape& shape) {
    tg::Tensor<double> t = tg::Tensor<double>::from_shape(shape);
    for (std::size_t i = 0; i < t.size(); ++i) t.data()[i] = double(i + 1);
    return t;
}

using tgtest::thrown_message;

// A (2,3) = [[1,2,3],[4,5,6]]; X5 (2,5) = [[1..5],[6..10]]
const tg::Tensor<double> A = {{1.0, 2.0, 3.0}, {4.0, 5.0, 6.0}};
const tg::Tensor<double> X5 = {{1.0, 2.0, 3.0, 4.0, 5.0}, {6.0, 7.0, 8.0, 9.0, 10.0}};

}  // namespace

// ---- reshape --------------------------------------------------------------------

TEMPLATE_TEST_CASE("reshape: forward and backward, incl. -1", "[ops][shape]", float, double) {
    using T = TestType;
    SECTION("(2,3) -> (3,2)") {
        tg::Tape<T> t;
        auto x = t.variable(as<T>(A));
        auto y = tg::reshape(x, {3, 2});
        // same row-major elements 1..6
        check(y.value(), tg::Tensor<double>{{1.0, 2.0}, {3.0, 4.0}, {5.0, 6.0}});
        t.backward(y, as<T>(tg::Tensor<double>{{10.0, 20.0}, {30.0, 40.0}, {50.0, 60.0}}));
        check(x.grad(), tg::Tensor<double>{{10.0, 20.0, 30.0}, {40.0, 50.0, 60.0}});
    }
    SECTION("-1 is inferred") {
        tg::Tape<T> t;
        auto x = t.variable(as<T>(A));
        check(tg::reshape(x, {-1}).value(), tg::Tensor<double>{1.0, 2.0, 3.0, 4.0, 5.0, 6.0});
        check(tg::reshape(x, {3, -1}).value(), tg::Tensor<double>{{1.0, 2.0}, {3.0, 4.0}, {5.0, 6.0}});
        check(tg::reshape(x, {-1, 1}).value(), m2({{1.0}, {2.0}, {3.0}, {4.0}, {5.0}, {6.0}}));
        auto y = tg::reshape(x, {1, -1, 2});  // (1,3,2)
        REQUIRE(shape_of(y) == std::vector<std::size_t>{1, 3, 2});
        check(y.value(), tg::Tensor<double>{{{1.0, 2.0}, {3.0, 4.0}, {5.0, 6.0}}});
        t.backward(y, as<T>(tg::Tensor<double>{{{1.0, -1.0}, {2.0, -2.0}, {3.0, -3.0}}}));
        check(x.grad(), tg::Tensor<double>{{1.0, -1.0, 2.0}, {-2.0, 3.0, -3.0}});
    }
}

TEST_CASE("reshape: gradcheck", "[ops][shape]") {
    require_gradcheck([](TapeD&, const In& in) { return tg::reshape(in[0], {3, 2}); }, {smooth({2, 3})});
    require_gradcheck([](TapeD&, const In& in) { return tg::reshape(in[0], {-1}); }, {smooth({2, 3})});
    require_gradcheck([](TapeD&, const In& in) { return tg::reshape(in[0], {2, -1, 2}); }, {smooth({4, 3})});
    require_gradcheck([](TapeD&, const In& in) { return tg::reshape(in[0], {1, 3, 1}); }, {smooth({3})});
    // reshape of an intermediate value, then a broadcasting mul
    require_gradcheck(
        [](TapeD&, const In& in) { return tg::mul(tg::reshape(tg::tanh(in[0]), {3, 2}), in[1]); },
        {smooth({2, 3}), smooth({2})});
}

TEST_CASE("reshape: element-count mismatch throws ShapeError", "[ops][shape]") {
    tg::Tape<double> t;
    auto x = t.variable(smooth({2, 3}));
    const std::size_t before = t.size();
    const std::string m = thrown_message<tg::ShapeError>([&] { tg::reshape(x, {4, 2}); });
    CHECK(m.find("(2, 3)") != std::string::npos);
    REQUIRE_THROWS_AS(tg::reshape(x, {7}), tg::ShapeError);
    REQUIRE_THROWS_AS(tg::reshape(x, {1, 2, 2}), tg::ShapeError);
    // -1 cannot make 6 elements out of a 4: which error is not specified
    REQUIRE_THROWS_AS(tg::reshape(x, {4, -1}), tg::Error);
    // two -1: not specified which error either
    REQUIRE_THROWS_AS(tg::reshape(x, {-1, -1}), tg::Error);
    CHECK(t.size() == before);
}

// ---- narrow ---------------------------------------------------------------------

TEMPLATE_TEST_CASE("narrow: forward and backward", "[ops][shape]", float, double) {
    using T = TestType;
    SECTION("axis 1") {
        tg::Tape<T> t;
        auto x = t.variable(as<T>(X5));
        auto y = tg::narrow(x, 1, 1, 3);  // columns 1, 2, 3
        check(y.value(), tg::Tensor<double>{{2.0, 3.0, 4.0}, {7.0, 8.0, 9.0}});
        t.backward(y, as<T>(A));
        check(x.grad(), tg::Tensor<double>{{0.0, 1.0, 2.0, 3.0, 0.0}, {0.0, 4.0, 5.0, 6.0, 0.0}});
    }
    SECTION("axis 0 keeps the axis (size 1)") {
        tg::Tape<T> t;
        auto x = t.variable(as<T>(X5));
        auto y = tg::narrow(x, 0, 1, 1);
        check(y.value(), tg::Tensor<double>{{6.0, 7.0, 8.0, 9.0, 10.0}});
        t.backward(y, as<T>(tg::Tensor<double>{{1.0, 2.0, 3.0, 4.0, 5.0}}));
        check(x.grad(), tg::Tensor<double>{{0.0, 0.0, 0.0, 0.0, 0.0}, {1.0, 2.0, 3.0, 4.0, 5.0}});
    }
    SECTION("negative axis") {
        tg::Tape<T> t;
        auto x = t.variable(as<T>(X5));
        auto y = tg::narrow(x, -1, 3, 2);  // last two columns
        check(y.value(), tg::Tensor<double>{{4.0, 5.0}, {9.0, 10.0}});
        t.backward(y, as<T>(tg::Tensor<double>{{1.0, 2.0}, {3.0, 4.0}}));
        check(x.grad(), tg::Tensor<double>{{0.0, 0.0, 0.0, 1.0, 2.0}, {0.0, 0.0, 0.0, 3.0, 4.0}});
    }
    SECTION("two overlapping narrows of the same value add up") {
        tg::Tape<T> t;
        auto x = t.variable(as<T>(X5));
        auto y = tg::add(tg::narrow(x, 1, 0, 3), tg::narrow(x, 1, 2, 3));
        // [1,2,3]+[3,4,5] ; [6,7,8]+[8,9,10]
        check(y.value(), tg::Tensor<double>{{4.0, 6.0, 8.0}, {14.0, 16.0, 18.0}});
        t.backward(y, as<T>(A));
        // column 2 is in both: row 0 -> [1, 2, 3+1, 2, 3], row 1 -> [4, 5, 6+4, 5, 6]
        check(x.grad(), tg::Tensor<double>{{1.0, 2.0, 4.0, 2.0, 3.0}, {4.0, 5.0, 10.0, 5.0, 6.0}});
    }
}

TEST_CASE("narrow: gradcheck", "[ops][shape]") {
    require_gradcheck([](TapeD&, const In& in) { return tg::narrow(in[0], 1, 1, 3); }, {smooth({2, 5})});
    require_gradcheck([](TapeD&, const In& in) { return tg::narrow(in[0], 0, 1, 2); }, {smooth({3, 2})});
    require_gradcheck([](TapeD&, const In& in) { return tg::narrow(in[0], -1, 0, 1); }, {smooth({2, 3, 4})});
    require_gradcheck([](TapeD&, const In& in) { return tg::narrow(in[0], 0, 0, 1); }, {smooth({1, 3})});
    // of an intermediate, twice, overlapping, plus another use of the same value
    require_gradcheck(
        [](TapeD&, const In& in) {
            auto h = tg::tanh(in[0]);
            return tg::add(tg::mul(tg::narrow(h, 1, 0, 3), tg::narrow(h, 1, 1, 3)), tg::narrow(in[0], 1, 2, 3));
        },
        {smooth({2, 5})});
}

// The first narrow to reach its source's gradient takes the buffer unzeroed
// and zeros what lies outside its block. The tape's pool hands out buffers
// that held other gradients, so a first step leaves 3s in buffers of the same
// size; the second must still see exact zeros outside the slices, along the
// first, middle and last axis (slices at the start, middle and end).
TEST_CASE("narrow: the first slice's backward zeros the rest of a reused gradient buffer", "[ops][shape]") {
    tg::Tape<double> t;
    const tg::Tensor<double> x0 = smooth({3, 4, 5});
    for (std::size_t axis = 0; axis < 3; ++axis) {
        const std::size_t n = x0.shape()[axis];
        for (const auto& [start, len] : {std::pair<std::size_t, std::size_t>{0, 1}, {1, n - 2}, {n - 1, 1}}) {
            INFO("axis " << axis << ", start " << start << ", length " << len);
            t.clear();
            auto w = t.variable(x0);
            t.backward(tg::sum(tg::mul_scalar(tg::mul_scalar(w, 1.0), 3.0)));  // 3s in (3, 4, 5) buffers
            t.clear();
            auto x = t.variable(x0);
            auto h = tg::mul_scalar(x, 1.0);  // its gradient comes from the pool
            t.backward(tg::sum(tg::narrow(h, std::int64_t(axis), std::int64_t(start), std::int64_t(len))));
            const tg::Tensor<double>& g = x.grad();
            for (std::size_t i = 0; i < 3; ++i)
                for (std::size_t j = 0; j < 4; ++j)
                    for (std::size_t k = 0; k < 5; ++k) {
                        const std::size_t at = axis == 0 ? i : axis == 1 ? j : k;
                        CHECK(g(i, j, k) == (at >= start && at < start + len ? 1.0 : 0.0));
                    }
        }
    }
}

// Slices along the first axis are contiguous blocks: backward writes a run of
// them below each other into their source's gradient without zeroing it
// first (a recurrent layer's steps selecting their input projection, last
// step first). What no slice wrote must still read as zero to everyone else:
// the source's own backward, another reader adding to it, `grad()`, anomaly
// mode. The pool's buffers hold NaN from a first backward, so an element
// left unset would show.
TEST_CASE("narrow: slices along the first axis written below each other leave exact zeros elsewhere", "[ops][shape]") {
    tg::Tape<double> t;
    const tg::Tensor<double> x0 = smooth({5, 2, 3});
    const double nan = std::numeric_limits<double>::quiet_NaN();
    auto dirty_pool = [&] {
        t.set_detect_anomaly(false);
        t.clear();
        auto w = t.variable(x0);
        t.backward(tg::sum(tg::mul_scalar(tg::mul_scalar(w, 1.0), nan)));  // NaN in (5, 2, 3) buffers
        t.clear();
    };
    // Row r of x.grad: what each case expects, plus x twice where mul(h, h)
    // reads it (added once for each of its inputs, after the slices).
    auto expect_rows = [&](const tg::Tensor<double>& g, std::initializer_list<double> rows, bool squared) {
        std::size_t r = 0;
        for (double want : rows) {
            for (std::size_t j = 0; j < 2; ++j)
                for (std::size_t k = 0; k < 3; ++k) {
                    INFO("row " << r << ", (" << j << ", " << k << ")");
                    CHECK(g(r, j, k) == (squared ? (want + x0(r, j, k)) + x0(r, j, k) : want));
                }
            ++r;
        }
    };
    for (bool anomaly : {false, true}) {
        INFO("anomaly mode " << anomaly);
        // Rows 3 and 2 only, written below each other: rows 0, 1 and 4 hold no gradient.
        dirty_pool();
        t.set_detect_anomaly(anomaly);
        auto x = t.variable(x0);
        auto h = tg::mul_scalar(x, 1.0);
        t.backward(tg::add(tg::sum(tg::select(h, 0, 2)), tg::sum(tg::select(h, 0, 3))));
        expect_rows(x.grad(), {0, 0, 1, 1, 0}, false);
        // Every row once (the recurrent layer's pattern), then a reader of the
        // whole value recorded before the slices (it adds after them).
        dirty_pool();
        t.set_detect_anomaly(anomaly);
        x = t.variable(x0);
        h = tg::mul_scalar(x, 1.0);
        auto loss = tg::sum(tg::mul(h, h));
        for (std::int64_t r = 0; r < 5; ++r) loss = tg::add(loss, tg::sum(tg::select(h, 0, r)));
        t.backward(loss);
        expect_rows(x.grad(), {1, 1, 1, 1, 1}, true);
        // Out of order (rows 1, then 3, then 4 reached first): the run breaks
        // and the rest is zeroed before the next block is added.
        dirty_pool();
        t.set_detect_anomaly(anomaly);
        x = t.variable(x0);
        h = tg::mul_scalar(x, 1.0);
        t.backward(tg::add(tg::add(tg::sum(tg::narrow(h, 0, 1, 1)), tg::sum(tg::narrow(h, 0, 3, 2))), tg::sum(tg::select(h, 0, 4))));
        expect_rows(x.grad(), {0, 1, 0, 1, 2}, false);
        // The slices' source read by the user after backward (retain_grad).
        dirty_pool();
        t.set_detect_anomaly(anomaly);
        x = t.variable(x0);
        h = tg::mul_scalar(x, 1.0);
        t.retain_grad(h);
        t.backward(tg::sum(tg::select(h, 0, 3)));
        const tg::Tensor<double>& gh = h.grad();
        for (std::size_t i = 0; i < gh.size(); ++i) CHECK(gh.data()[i] == (i / 6 == 3 ? 1.0 : 0.0));
    }
    t.set_detect_anomaly(false);
    // And gradcheck (with the audit of each node) through such a run.
    require_gradcheck(
        [](TapeD&, const In& in) {
            auto h = tg::tanh(in[0]);
            auto y = tg::mul(tg::select(h, 0, 0), tg::select(h, 0, 1));
            return tg::add(tg::add(y, tg::select(h, 0, 2)), tg::narrow(tg::mul(h, in[0]), 0, 1, 1));
        },
        {smooth({3, 2, 2})});
}

TEST_CASE("narrow: out-of-range axis or bounds throw ArgumentError", "[ops][shape]") {
    tg::Tape<double> t;
    auto x = t.variable(smooth({2, 5}));
    const std::size_t before = t.size();
    REQUIRE_THROWS_AS(tg::narrow(x, 2, 0, 1), tg::ArgumentError);
    REQUIRE_THROWS_AS(tg::narrow(x, -3, 0, 1), tg::ArgumentError);
    REQUIRE_THROWS_AS(tg::narrow(x, 1, 3, 3), tg::ArgumentError);  // 3 + 3 > 5
    REQUIRE_THROWS_AS(tg::narrow(x, 0, 2, 1), tg::ArgumentError);  // start past the end
    CHECK(t.size() == before);
}

// ---- slice ------------------------------------------------------------------------

TEMPLATE_TEST_CASE("slice: forward and backward, incl. negative bounds", "[ops][shape]", float, double) {
    using T = TestType;
    SECTION("[1, 4) along axis 1") {
        tg::Tape<T> t;
        auto x = t.variable(as<T>(X5));
        auto y = tg::slice(x, 1, 1, 4);
        check(y.value(), tg::Tensor<double>{{2.0, 3.0, 4.0}, {7.0, 8.0, 9.0}});
        t.backward(y, as<T>(A));
        check(x.grad(), tg::Tensor<double>{{0.0, 1.0, 2.0, 3.0, 0.0}, {0.0, 4.0, 5.0, 6.0, 0.0}});
    }
    SECTION("[-3, -1) along axis 1 is [2, 4)") {
        tg::Tape<T> t;
        auto x = t.variable(as<T>(X5));
        auto y = tg::slice(x, 1, -3, -1);
        check(y.value(), tg::Tensor<double>{{3.0, 4.0}, {8.0, 9.0}});
        t.backward(y, as<T>(tg::Tensor<double>{{1.0, 2.0}, {3.0, 4.0}}));
        check(x.grad(), tg::Tensor<double>{{0.0, 0.0, 1.0, 2.0, 0.0}, {0.0, 0.0, 3.0, 4.0, 0.0}});
    }
    SECTION("[0, -4) along axis -1 is column 0; [-1, 2) along axis 0 is row 1") {
        tg::Tape<T> t;
        auto x = t.variable(as<T>(X5));
        check(tg::slice(x, -1, 0, -4).value(), m2({{1.0}, {6.0}}));
        auto y = tg::slice(x, 0, -1, 2);
        check(y.value(), tg::Tensor<double>{{6.0, 7.0, 8.0, 9.0, 10.0}});
        t.backward(y, as<T>(tg::Tensor<double>{{1.0, 1.0, 1.0, 1.0, 1.0}}));
        check(x.grad(), tg::Tensor<double>{{0.0, 0.0, 0.0, 0.0, 0.0}, {1.0, 1.0, 1.0, 1.0, 1.0}});
    }
}

TEST_CASE("slice: gradcheck and out-of-range axis", "[ops][shape]") {
    require_gradcheck([](TapeD&, const In& in) { return tg::slice(in[0], 1, 1, 4); }, {smooth({2, 5})});
    require_gradcheck([](TapeD&, const In& in) { return tg::slice(in[0], 1, -3, -1); }, {smooth({2, 5})});
    require_gradcheck([](TapeD&, const In& in) { return tg::slice(in[0], -3, 0, -1); }, {smooth({3, 1, 2})});
    require_gradcheck([](TapeD&, const In& in) { return tg::slice(tg::exp(in[0]), 0, -2, 3); }, {smooth({3, 2})});

    tg::Tape<double> t;
    auto x = t.variable(smooth({2, 5}));
    REQUIRE_THROWS_AS(tg::slice(x, 2, 0, 1), tg::ArgumentError);
    REQUIRE_THROWS_AS(tg::slice(x, -3, 0, 1), tg::ArgumentError);
}

// ---- select -----------------------------------------------------------------------

TEMPLATE_TEST_CASE("select: forward and backward, axis removed", "[ops][shape]", float, double) {
    using T = TestType;
    // x[i][j][k] = 4 i + 2 j + k + 1, shape (3,2,2)
    const tg::Tensor<double> xv = iota({3, 2, 2});
    SECTION("axis 0") {
        tg::Tape<T> t;
        auto x = t.variable(as<T>(xv));
        auto y = tg::select(x, 0, 1);
        check(y.value(), tg::Tensor<double>{{5.0, 6.0}, {7.0, 8.0}});
        t.backward(y, as<T>(tg::Tensor<double>{{1.0, 2.0}, {3.0, 4.0}}));
        check(x.grad(), tg::Tensor<double>{{{0.0, 0.0}, {0.0, 0.0}}, {{1.0, 2.0}, {3.0, 4.0}}, {{0.0, 0.0}, {0.0, 0.0}}});
    }
    SECTION("axis 1") {
        tg::Tape<T> t;
        auto x = t.variable(as<T>(xv));
        auto y = tg::select(x, 1, 0);  // x[i][0][k]
        check(y.value(), tg::Tensor<double>{{1.0, 2.0}, {5.0, 6.0}, {9.0, 10.0}});
        t.backward(y, as<T>(tg::Tensor<double>{{1.0, 2.0}, {3.0, 4.0}, {5.0, 6.0}}));
        check(x.grad(), tg::Tensor<double>{{{1.0, 2.0}, {0.0, 0.0}}, {{3.0, 4.0}, {0.0, 0.0}}, {{5.0, 6.0}, {0.0, 0.0}}});
    }
    SECTION("axis -1") {
        tg::Tape<T> t;
        auto x = t.variable(as<T>(xv));
        auto y = tg::select(x, -1, 1);  // x[i][j][1]
        check(y.value(), tg::Tensor<double>{{2.0, 4.0}, {6.0, 8.0}, {10.0, 12.0}});
        t.backward(y, as<T>(tg::Tensor<double>{{1.0, 2.0}, {3.0, 4.0}, {5.0, 6.0}}));
        check(x.grad(), tg::Tensor<double>{{{0.0, 1.0}, {0.0, 2.0}}, {{0.0, 3.0}, {0.0, 4.0}}, {{0.0, 5.0}, {0.0, 6.0}}});
    }
    SECTION("the same index twice accumulates") {
        tg::Tape<T> t;
        auto x = t.variable(as<T>(xv));
        auto y = tg::add(tg::select(x, 0, 2), tg::select(x, 0, 2));
        check(y.value(), tg::Tensor<double>{{18.0, 20.0}, {22.0, 24.0}});  // 2 * x[2]
        t.backward(y, as<T>(tg::Tensor<double>{{1.0, 2.0}, {3.0, 4.0}}));
        check(x.grad(), tg::Tensor<double>{{{0.0, 0.0}, {0.0, 0.0}}, {{0.0, 0.0}, {0.0, 0.0}}, {{2.0, 4.0}, {6.0, 8.0}}});
    }
}

TEST_CASE("select: gradcheck and out-of-range axis/index", "[ops][shape]") {
    require_gradcheck([](TapeD&, const In& in) { return tg::select(in[0], 0, 1); }, {smooth({3, 2, 2})});
    require_gradcheck([](TapeD&, const In& in) { return tg::select(in[0], 1, 1); }, {smooth({3, 2, 2})});
    require_gradcheck([](TapeD&, const In& in) { return tg::select(in[0], -1, 0); }, {smooth({3, 2, 2})});
    require_gradcheck([](TapeD&, const In& in) { return tg::select(in[0], 0, 0); }, {smooth({1, 3})});
    // every step of an intermediate, recombined with different weights
    require_gradcheck(
        [](TapeD&, const In& in) {
            auto h = tg::tanh(in[0]);
            auto acc = tg::select(h, 0, 0);
            for (std::int64_t s = 1; s < 4; ++s) acc = tg::add(acc, tg::mul_scalar(tg::select(h, 0, s), double(s + 1)));
            return tg::mul(acc, tg::select(in[0], 0, 3));
        },
        {smooth({4, 2, 3})});

    tg::Tape<double> t;
    auto x = t.variable(smooth({3, 2, 2}));
    const std::size_t before = t.size();
    REQUIRE_THROWS_AS(tg::select(x, 0, 3), tg::ArgumentError);
    REQUIRE_THROWS_AS(tg::select(x, 1, 2), tg::ArgumentError);
    REQUIRE_THROWS_AS(tg::select(x, 3, 0), tg::ArgumentError);
    REQUIRE_THROWS_AS(tg::select(x, -4, 0), tg::ArgumentError);
    CHECK(t.size() == before);
}

TEST_CASE("select: all T = 50 steps of a (T,B,F) value get the right gradient", "[ops][shape]") {
    constexpr std::int64_t T = 50;
    const std::size_t B = 2, F = 3;
    tg::Tensor<double> xv = tg::Tensor<double>::from_shape({std::size_t(T), B, F});
    for (std::size_t i = 0; i < xv.size(); ++i) xv.data()[i] = 0.01 * double(i) - 1.0;

    SECTION("from a leaf") {
        tg::Tape<double> t;
        auto x = t.variable(xv);
        // loss = sum_t (t + 1) * sum(x[t]) -> dloss/dx[t] = t + 1
        auto loss = tg::mul_scalar(tg::sum(tg::select(x, 0, 0)), 1.0);
        for (std::int64_t s = 1; s < T; ++s) {
            auto step = tg::select(x, 0, s);
            // each step's value is x[s]
            REQUIRE(step.value()(1, 2) == xv(std::size_t(s), 1, 2));
            loss = tg::add(loss, tg::mul_scalar(tg::sum(step), double(s + 1)));
        }
        t.backward(loss);
        const auto& g = x.grad();
        REQUIRE(g.size() == xv.size());
        for (std::size_t s = 0; s < std::size_t(T); ++s)
            for (std::size_t b = 0; b < B; ++b)
                for (std::size_t f = 0; f < F; ++f) REQUIRE(g(s, b, f) == double(s + 1));
    }
    SECTION("from an intermediate that is also used elsewhere") {
        tg::Tape<double> t;
        auto x = t.variable(xv);
        auto h = tg::mul_scalar(x, 2.0);
        // loss = sum(x) + sum_t (t + 1) * sum(h[t]) -> dloss/dx[t] = 1 + 2 (t + 1), dloss/dh[t] = t + 1
        auto loss = tg::sum(x);
        for (std::int64_t s = 0; s < T; ++s) loss = tg::add(loss, tg::mul_scalar(tg::sum(tg::select(h, 0, s)), double(s + 1)));
        t.retain_grad(h);
        t.backward(loss);
        const auto& gx = x.grad();
        const auto& gh = h.grad();
        for (std::size_t s = 0; s < std::size_t(T); ++s)
            for (std::size_t b = 0; b < B; ++b)
                for (std::size_t f = 0; f < F; ++f) {
                    REQUIRE(gx(s, b, f) == 1.0 + 2.0 * double(s + 1));
                    REQUIRE(gh(s, b, f) == double(s + 1));
                }
    }
    SECTION("a repeated backward (retain_graph) gives the same gradient, not twice it") {
        tg::Tape<double> t;
        auto x = t.variable(xv);
        auto loss = tg::sum(tg::select(x, 0, 0));
        for (std::int64_t s = 1; s < T; ++s) loss = tg::add(loss, tg::mul_scalar(tg::sum(tg::select(x, 0, s)), double(s + 1)));
        tg::BackwardOptions keep;
        keep.retain_graph = true;
        t.backward(loss, keep);
        t.backward(loss, keep);
        const auto& g = x.grad();
        for (std::size_t s = 0; s < std::size_t(T); ++s) REQUIRE(g(s, 1, 1) == double(s + 1));
    }
}

// ---- split / chunk ----------------------------------------------------------------

TEMPLATE_TEST_CASE("split: forward and backward", "[ops][shape]", float, double) {
    using T = TestType;
    SECTION("sizes {1, 2} along axis 1, pieces recombined by broadcasting") {
        tg::Tape<T> t;
        auto x = t.variable(as<T>(A));
        auto p = tg::split(x, {1, 2}, 1);
        REQUIRE(p.size() == 2);
        check(p[0].value(), m2({{1.0}, {4.0}}));
        check(p[1].value(), tg::Tensor<double>{{2.0, 3.0}, {5.0, 6.0}});
        auto y = tg::add(p[0], p[1]);  // (2,1) + (2,2)
        check(y.value(), tg::Tensor<double>{{3.0, 4.0}, {9.0, 10.0}});
        t.backward(y, as<T>(tg::Tensor<double>{{1.0, 2.0}, {3.0, 4.0}}));
        // dp0 = row sums of the seed = [3; 7]; dp1 = seed
        check(x.grad(), tg::Tensor<double>{{3.0, 1.0, 2.0}, {7.0, 3.0, 4.0}});
    }
    SECTION("sizes {1, 1} along axis 0, only one piece used") {
        tg::Tape<T> t;
        auto x = t.variable(as<T>(A));
        auto p = tg::split(x, {1, 1}, 0);
        REQUIRE(p.size() == 2);
        check(p[0].value(), tg::Tensor<double>{{1.0, 2.0, 3.0}});
        check(p[1].value(), tg::Tensor<double>{{4.0, 5.0, 6.0}});
        t.backward(p[1], as<T>(tg::Tensor<double>{{7.0, 8.0, 9.0}}));
        check(x.grad(), tg::Tensor<double>{{0.0, 0.0, 0.0}, {7.0, 8.0, 9.0}});
    }
    SECTION("negative axis, three pieces") {
        tg::Tape<T> t;
        auto x = t.variable(as<T>(X5));
        auto p = tg::split(x, {2, 1, 2}, -1);
        REQUIRE(p.size() == 3);
        check(p[0].value(), tg::Tensor<double>{{1.0, 2.0}, {6.0, 7.0}});
        check(p[1].value(), m2({{3.0}, {8.0}}));
        check(p[2].value(), tg::Tensor<double>{{4.0, 5.0}, {9.0, 10.0}});
        auto y = tg::sub(p[2], p[0]);
        t.backward(y, as<T>(tg::Tensor<double>{{1.0, 2.0}, {3.0, 4.0}}));
        check(x.grad(), tg::Tensor<double>{{-1.0, -2.0, 0.0, 1.0, 2.0}, {-3.0, -4.0, 0.0, 3.0, 4.0}});
    }
}

TEST_CASE("split: gradcheck and invalid arguments", "[ops][shape]") {
    for (int k = 0; k < 3; ++k) {
        require_gradcheck([k](TapeD&, const In& in) { return tg::split(in[0], {2, 1, 2}, 1)[std::size_t(k)]; },
                          {smooth({2, 5})});
    }
    require_gradcheck(
        [](TapeD&, const In& in) {
            auto p = tg::split(in[0], {1, 2}, 0);
            return tg::mul(p[0], p[1]);  // (1,2) * (2,2)
        },
        {smooth({3, 2})});

    tg::Tape<double> t;
    auto x = t.variable(smooth({2, 5}));
    const std::size_t before = t.size();
    REQUIRE_THROWS_AS(tg::split(x, {1, 1}, 2), tg::ArgumentError);  // axis out of range
    // sizes that do not sum to the axis: error kind not specified
    REQUIRE_THROWS_AS(tg::split(x, {2, 2}, 1), tg::Error);
    REQUIRE_THROWS_AS(tg::split(x, {3, 3}, 1), tg::Error);
    CHECK(t.size() == before);
}

TEMPLATE_TEST_CASE("chunk: forward and backward", "[ops][shape]", float, double) {
    using T = TestType;
    const tg::Tensor<double> xv = iota({4, 3});  // [[1,2,3],[4,5,6],[7,8,9],[10,11,12]]
    SECTION("2 pieces along axis 0") {
        tg::Tape<T> t;
        auto x = t.variable(as<T>(xv));
        auto c = tg::chunk(x, 2, 0);
        REQUIRE(c.size() == 2);
        check(c[0].value(), tg::Tensor<double>{{1.0, 2.0, 3.0}, {4.0, 5.0, 6.0}});
        check(c[1].value(), tg::Tensor<double>{{7.0, 8.0, 9.0}, {10.0, 11.0, 12.0}});
        auto y = tg::sub(c[0], c[1]);
        t.backward(y, as<T>(filled({2, 3}, 1.0)));
        check(x.grad(), tg::Tensor<double>{{1.0, 1.0, 1.0}, {1.0, 1.0, 1.0}, {-1.0, -1.0, -1.0}, {-1.0, -1.0, -1.0}});
    }
    SECTION("3 pieces along axis -1 (size-1 pieces)") {
        tg::Tape<T> t;
        auto x = t.variable(as<T>(xv));
        auto c = tg::chunk(x, 3, -1);
        REQUIRE(c.size() == 3);
        check(c[0].value(), m2({{1.0}, {4.0}, {7.0}, {10.0}}));
        check(c[2].value(), m2({{3.0}, {6.0}, {9.0}, {12.0}}));
        t.backward(c[1], as<T>(m2({{1.0}, {2.0}, {3.0}, {4.0}})));
        check(x.grad(), tg::Tensor<double>{{0.0, 1.0, 0.0}, {0.0, 2.0, 0.0}, {0.0, 3.0, 0.0}, {0.0, 4.0, 0.0}});
    }
}

TEST_CASE("chunk: gradcheck and invalid arguments", "[ops][shape]") {
    for (int k = 0; k < 2; ++k) {
        require_gradcheck([k](TapeD&, const In& in) { return tg::chunk(in[0], 2, 0)[std::size_t(k)]; }, {smooth({4, 3})});
    }
    require_gradcheck(
        [](TapeD&, const In& in) {
            auto c = tg::chunk(in[0], 3, 1);
            return tg::add(tg::mul(c[0], c[1]), c[2]);
        },
        {smooth({2, 3})});

    tg::Tape<double> t;
    auto x = t.variable(smooth({4, 3}));
    REQUIRE_THROWS_AS(tg::chunk(x, 2, 2), tg::ArgumentError);  // axis out of range
    REQUIRE_THROWS_AS(tg::chunk(x, 3, 0), tg::Error);          // 4 not divisible by 3: kind not specified
}

// ---- concat / stack -----------------------------------------------------------------

TEMPLATE_TEST_CASE("concat: forward and backward", "[ops][shape]", float, double) {
    using T = TestType;
    SECTION("axis 1 (and -1), (2,1) with (2,2)") {
        tg::Tape<T> t;
        auto a = t.variable(as<T>(m2({{1.0}, {2.0}})));
        auto b = t.variable(as<T>(tg::Tensor<double>{{3.0, 4.0}, {5.0, 6.0}}));
        auto y = tg::concat(std::vector{a, b}, 1);
        check(y.value(), tg::Tensor<double>{{1.0, 3.0, 4.0}, {2.0, 5.0, 6.0}});
        check(tg::concat(std::vector{a, b}, -1).value(), tg::Tensor<double>{{1.0, 3.0, 4.0}, {2.0, 5.0, 6.0}});
        t.backward(y, as<T>(A));
        check(a.grad(), m2({{1.0}, {4.0}}));
        check(b.grad(), tg::Tensor<double>{{2.0, 3.0}, {5.0, 6.0}});
    }
    SECTION("axis 0, three operands, one used twice") {
        tg::Tape<T> t;
        auto a = t.variable(as<T>(tg::Tensor<double>{{1.0, 2.0}}));
        auto b = t.variable(as<T>(tg::Tensor<double>{{3.0, 4.0}, {5.0, 6.0}}));
        auto y = tg::concat(std::vector{a, b, a}, 0);
        check(y.value(), tg::Tensor<double>{{1.0, 2.0}, {3.0, 4.0}, {5.0, 6.0}, {1.0, 2.0}});
        t.backward(y, as<T>(tg::Tensor<double>{{1.0, 2.0}, {3.0, 4.0}, {5.0, 6.0}, {7.0, 8.0}}));
        check(a.grad(), tg::Tensor<double>{{8.0, 10.0}});  // rows 0 and 3 of the seed
        check(b.grad(), tg::Tensor<double>{{3.0, 4.0}, {5.0, 6.0}});
    }
}

TEST_CASE("concat: gradcheck and errors", "[ops][shape]") {
    auto f2 = [](TapeD&, const In& in) { return tg::concat(std::vector{in[0], in[1]}, 1); };
    require_gradcheck(f2, {smooth({2, 1}), smooth({2, 3}, 1.0, 0.2)});
    require_gradcheck([](TapeD&, const In& in) { return tg::concat(std::vector{in[0], in[1], in[0]}, 0); },
                      {smooth({1, 3}), smooth({2, 3}, 1.0, 0.2)});
    require_gradcheck([](TapeD&, const In& in) { return tg::concat(std::vector{in[0], in[1]}, -1); },
                      {smooth({2, 1, 2}), smooth({2, 1, 1}, 1.0, 0.2)});

    tg::Tape<double> t;
    auto a = t.variable(smooth({2, 1}));
    auto b = t.variable(smooth({3, 2}));
    const std::size_t before = t.size();
    const std::string m = thrown_message<tg::ShapeError>([&] { tg::concat(std::vector{a, b}, 1); });
    CHECK(m.find("(2, 1)") != std::string::npos);
    CHECK(m.find("(3, 2)") != std::string::npos);
    REQUIRE_THROWS_AS(tg::concat(std::vector{a, t.variable(smooth({2, 1, 1}))}, 0), tg::ShapeError);  // ranks differ
    const std::size_t before2 = t.size();
    REQUIRE_THROWS_AS(tg::concat(std::vector{a, a}, 2), tg::ArgumentError);
    REQUIRE_THROWS_AS(tg::concat(std::vector{a, a}, -3), tg::ArgumentError);
    CHECK(t.size() == before2);
    CHECK(before2 == before + 1);
}

TEMPLATE_TEST_CASE("stack: forward and backward along each axis", "[ops][shape]", float, double) {
    using T = TestType;
    const tg::Tensor<double> bv = {{10.0, 20.0, 30.0}, {40.0, 50.0, 60.0}};
    const tg::Tensor<double> seed0 = {{{1.0, 2.0, 3.0}, {4.0, 5.0, 6.0}}, {{7.0, 8.0, 9.0}, {10.0, 11.0, 12.0}}};
    SECTION("axis 0: (2,2,3), out[s] = xs[s]") {
        tg::Tape<T> t;
        auto a = t.variable(as<T>(A));
        auto b = t.variable(as<T>(bv));
        auto y = tg::stack(std::vector{a, b}, 0);
        check(y.value(), tg::Tensor<double>{{{1.0, 2.0, 3.0}, {4.0, 5.0, 6.0}}, {{10.0, 20.0, 30.0}, {40.0, 50.0, 60.0}}});
        t.backward(y, as<T>(seed0));
        check(a.grad(), tg::Tensor<double>{{1.0, 2.0, 3.0}, {4.0, 5.0, 6.0}});
        check(b.grad(), tg::Tensor<double>{{7.0, 8.0, 9.0}, {10.0, 11.0, 12.0}});
    }
    SECTION("axis 1: (2,2,3), out[i][s] = xs[s][i]") {
        tg::Tape<T> t;
        auto a = t.variable(as<T>(A));
        auto b = t.variable(as<T>(bv));
        auto y = tg::stack(std::vector{a, b}, 1);
        check(y.value(), tg::Tensor<double>{{{1.0, 2.0, 3.0}, {10.0, 20.0, 30.0}}, {{4.0, 5.0, 6.0}, {40.0, 50.0, 60.0}}});
        t.backward(y, as<T>(seed0));
        check(a.grad(), tg::Tensor<double>{{1.0, 2.0, 3.0}, {7.0, 8.0, 9.0}});
        check(b.grad(), tg::Tensor<double>{{4.0, 5.0, 6.0}, {10.0, 11.0, 12.0}});
    }
    SECTION("axis 2 = rank: (2,3,2), out[i][j][s] = xs[s][i][j]") {
        tg::Tape<T> t;
        auto a = t.variable(as<T>(A));
        auto b = t.variable(as<T>(bv));
        auto y = tg::stack(std::vector{a, b}, 2);
        check(y.value(), tg::Tensor<double>{{{1.0, 10.0}, {2.0, 20.0}, {3.0, 30.0}}, {{4.0, 40.0}, {5.0, 50.0}, {6.0, 60.0}}});
        t.backward(y, as<T>(tg::Tensor<double>{{{1.0, 2.0}, {3.0, 4.0}, {5.0, 6.0}}, {{7.0, 8.0}, {9.0, 10.0}, {11.0, 12.0}}}));
        check(a.grad(), tg::Tensor<double>{{1.0, 3.0, 5.0}, {7.0, 9.0, 11.0}});
        check(b.grad(), tg::Tensor<double>{{2.0, 4.0, 6.0}, {8.0, 10.0, 12.0}});
    }
}

TEST_CASE("stack: gradcheck and errors", "[ops][shape]") {
    for (std::int64_t axis = 0; axis <= 2; ++axis) {
        require_gradcheck([axis](TapeD&, const In& in) { return tg::stack(std::vector{in[0], in[1], in[0]}, axis); },
                          {smooth({2, 3}), smooth({2, 3}, 1.0, 0.2)});
    }
    require_gradcheck([](TapeD&, const In& in) { return tg::stack(std::vector{in[0], in[1]}, 1); },
                      {smooth({1, 3}), smooth({1, 3}, 1.0, 0.2)});

    tg::Tape<double> t;
    auto a = t.variable(smooth({2, 3}));
    auto b = t.variable(smooth({3, 2}));
    const std::size_t before = t.size();
    const std::string m = thrown_message<tg::ShapeError>([&] { tg::stack(std::vector{a, b}, 0); });
    CHECK(m.find("(2, 3)") != std::string::npos);
    CHECK(m.find("(3, 2)") != std::string::npos);
    REQUIRE_THROWS_AS(tg::stack(std::vector{a, a}, 3), tg::ArgumentError);  // 0 <= axis <= rank = 2
    CHECK(t.size() == before);
}

// ---- index_select / gather -----------------------------------------------------------

TEMPLATE_TEST_CASE("index_select: forward and backward, repeated indices accumulate", "[ops][shape]", float, double) {
    using T = TestType;
    const tg::Tensor<double> xv = {{1.0, 2.0}, {3.0, 4.0}, {5.0, 6.0}};
    SECTION("axis 0, indices {2, 0, 2}") {
        tg::Tape<T> t;
        auto x = t.variable(as<T>(xv));
        auto y = tg::index_select(x, 0, {2, 0, 2});
        check(y.value(), tg::Tensor<double>{{5.0, 6.0}, {1.0, 2.0}, {5.0, 6.0}});
        t.backward(y, as<T>(tg::Tensor<double>{{1.0, 2.0}, {3.0, 4.0}, {5.0, 6.0}}));
        // row 0 <- seed row 1; row 1 unused; row 2 <- seed rows 0 + 2 = [1+5, 2+6]
        check(x.grad(), tg::Tensor<double>{{3.0, 4.0}, {0.0, 0.0}, {6.0, 8.0}});
    }
    SECTION("axis 1 (and -1), indices {1, 1, 0}") {
        tg::Tape<T> t;
        auto x = t.variable(as<T>(xv));
        auto y = tg::index_select(x, 1, {1, 1, 0});
        check(y.value(), tg::Tensor<double>{{2.0, 2.0, 1.0}, {4.0, 4.0, 3.0}, {6.0, 6.0, 5.0}});
        check(tg::index_select(x, -1, {1, 1, 0}).value(), y.value());
        t.backward(y, as<T>(tg::Tensor<double>{{1.0, 2.0, 3.0}, {4.0, 5.0, 6.0}, {7.0, 8.0, 9.0}}));
        // column 0 <- seed column 2; column 1 <- seed columns 0 + 1
        check(x.grad(), tg::Tensor<double>{{3.0, 3.0}, {6.0, 9.0}, {9.0, 15.0}});
    }
}

TEST_CASE("index_select: gradcheck and out-of-range axis/index", "[ops][shape]") {
    require_gradcheck([](TapeD&, const In& in) { return tg::index_select(in[0], 0, {2, 0, 2, 2}); }, {smooth({3, 2})});
    require_gradcheck([](TapeD&, const In& in) { return tg::index_select(in[0], 1, {1, 1, 0}); }, {smooth({2, 3})});
    require_gradcheck([](TapeD&, const In& in) { return tg::index_select(in[0], -1, {0, 0}); }, {smooth({2, 3, 1})});
    require_gradcheck([](TapeD&, const In& in) { return tg::index_select(tg::exp(in[0]), 0, {1, 0, 1}); },
                      {smooth({2, 3})});

    tg::Tape<double> t;
    auto x = t.variable(smooth({3, 2}));
    const std::size_t before = t.size();
    REQUIRE_THROWS_AS(tg::index_select(x, 0, {0, 3}), tg::ArgumentError);
    REQUIRE_THROWS_AS(tg::index_select(x, 1, {2}), tg::ArgumentError);
    REQUIRE_THROWS_AS(tg::index_select(x, 2, {0}), tg::ArgumentError);
    REQUIRE_THROWS_AS(tg::index_select(x, -3, {0}), tg::ArgumentError);
    CHECK(t.size() == before);
}

TEMPLATE_TEST_CASE("gather: forward and backward", "[ops][shape]", float, double) {
    using T = TestType;
    SECTION("axis 1: out[i][j] = x[i][index[i][j]]") {
        tg::Tape<T> t;
        auto x = t.variable(as<T>(A));
        const tg::Index idx = {{0, 2}, {1, 1}};
        auto y = tg::gather(x, 1, idx);
        // [x00, x02], [x11, x11]
        check(y.value(), tg::Tensor<double>{{1.0, 3.0}, {5.0, 5.0}});
        t.backward(y, as<T>(tg::Tensor<double>{{1.0, 2.0}, {3.0, 4.0}}));
        // x11 gets 3 + 4
        check(x.grad(), tg::Tensor<double>{{1.0, 0.0, 2.0}, {0.0, 7.0, 0.0}});
    }
    SECTION("axis 0: out[i][j] = x[index[i][j]][j]") {
        tg::Tape<T> t;
        auto x = t.variable(as<T>(A));
        const tg::Index idx = {{1, 0, 1}, {1, 1, 0}};
        auto y = tg::gather(x, 0, idx);
        // [x10, x01, x12], [x10, x11, x02]
        check(y.value(), tg::Tensor<double>{{4.0, 2.0, 6.0}, {4.0, 5.0, 3.0}});
        t.backward(y, as<T>(tg::Tensor<double>{{1.0, 2.0, 3.0}, {4.0, 5.0, 6.0}}));
        // x10 <- 1 + 4, x01 <- 2, x12 <- 3, x11 <- 5, x02 <- 6
        check(x.grad(), tg::Tensor<double>{{0.0, 2.0, 6.0}, {5.0, 5.0, 3.0}});
    }
    SECTION("index smaller than x along the other axis, negative axis") {
        tg::Tape<T> t;
        auto x = t.variable(as<T>(A));
        const tg::Index idx = {{2, 2}};  // (1,2): only row 0 is read
        auto y = tg::gather(x, -1, idx);
        check(y.value(), tg::Tensor<double>{{3.0, 3.0}});
        t.backward(y, as<T>(tg::Tensor<double>{{1.5, 2.5}}));
        check(x.grad(), tg::Tensor<double>{{0.0, 0.0, 4.0}, {0.0, 0.0, 0.0}});
    }
    SECTION("(N,1) index picks one entry per row") {
        tg::Tape<T> t;
        auto x = t.variable(as<T>(A));
        auto y = tg::gather(x, 1, i2({{2}, {0}}));
        check(y.value(), m2({{3.0}, {4.0}}));
        t.backward(y, as<T>(m2({{1.0}, {-1.0}})));
        check(x.grad(), tg::Tensor<double>{{0.0, 0.0, 1.0}, {-1.0, 0.0, 0.0}});
    }
}

TEST_CASE("gather: gradcheck and invalid arguments", "[ops][shape]") {
    const tg::Index idx1 = {{0, 2, 2, 1}, {1, 1, 0, 0}};
    require_gradcheck([&](TapeD&, const In& in) { return tg::gather(in[0], 1, idx1); }, {smooth({2, 3})});
    const tg::Index idx0 = {{1, 0, 1}, {1, 1, 0}, {0, 0, 0}};
    require_gradcheck([&](TapeD&, const In& in) { return tg::gather(in[0], 0, idx0); }, {smooth({2, 3})});
    const tg::Index idx3 = {{{1, 0}}, {{0, 0}}};  // (2,1,2) into (2,3,2) along axis 1
    require_gradcheck([&](TapeD&, const In& in) { return tg::gather(tg::tanh(in[0]), 1, idx3); }, {smooth({2, 3, 2})});

    tg::Tape<double> t;
    auto x = t.variable(smooth({2, 3}));
    const std::size_t before = t.size();
    REQUIRE_THROWS_AS(tg::gather(x, 1, tg::Index{{0, 3}, {1, 1}}), tg::ArgumentError);  // index 3 >= 3
    REQUIRE_THROWS_AS(tg::gather(x, 0, tg::Index{{0, 2, 0}}), tg::ArgumentError);       // index 2 >= 2
    REQUIRE_THROWS_AS(tg::gather(x, 2, tg::Index{{0, 0}, {0, 0}}), tg::ArgumentError);  // axis
    REQUIRE_THROWS_AS(tg::gather(x, -3, tg::Index{{0, 0}, {0, 0}}), tg::ArgumentError);
    // index larger than x along a non-gathered axis, or of another rank: kind not specified
    REQUIRE_THROWS_AS(tg::gather(x, 1, i2({{0}, {0}, {0}})), tg::Error);
    REQUIRE_THROWS_AS(tg::gather(x, 1, tg::Index{0, 1}), tg::Error);
    CHECK(t.size() == before);
}
