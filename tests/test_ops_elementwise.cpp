// Elementwise ops: binary (broadcasting), scalar, unary, clamp, where, and the
// operator overloads. Forward values are hand computed (arithmetic in the
// comments); every op also gets a double-precision gradcheck.

#include <cmath>
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
double atol() { return std::is_same_v<T, float> ? 1e-6 : 1e-12; }

/// require_close with tolerances suited to T (float: 1e-5 relative).
template <class T, class U>
void check(const tg::Tensor<T>& actual, const tg::Tensor<U>& expected) {
    require_close(actual, expected, rtol<T>(), atol<T>());
}

template <class T>
bool all_finite(const tg::Tensor<T>& x) {
    for (std::size_t i = 0; i < x.size(); ++i)
        if (!std::isfinite(x.data()[i])) return false;
    return true;
}

using tgtest::thrown_message;

const tg::Tensor<double> A = {{1.0, 2.0, 3.0}, {4.0, 5.0, 6.0}};
const tg::Tensor<double> B = {{0.5, -1.0, 2.0}, {4.0, -2.0, 0.25}};
const tg::Tensor<double> G = {{1.0, -1.0, 2.0}, {0.5, 1.0, -2.0}};   // seed
const tg::Tensor<double> G2 = {{1.0, 2.0, 3.0}, {4.0, 5.0, 6.0}};    // seed (= A)

}  // namespace

// ---- binary, same shape -----------------------------------------------------

TEMPLATE_TEST_CASE("add: forward and backward, same shape", "[ops][elementwise]", float, double) {
    using T = TestType;
    tg::Tape<T> t;
    auto a = t.variable(as<T>(A));
    auto b = t.variable(as<T>(B));
    auto y = tg::add(a, b);
    // A + B = {1+0.5, 2-1, 3+2; 4+4, 5-2, 6+0.25}
    check(y.value(), tg::Tensor<double>{{1.5, 1.0, 5.0}, {8.0, 3.0, 6.25}});
    t.backward(y, as<T>(G));
    check(a.grad(), G);
    check(b.grad(), G);
}

TEMPLATE_TEST_CASE("sub: forward and backward, same shape", "[ops][elementwise]", float, double) {
    using T = TestType;
    tg::Tape<T> t;
    auto a = t.variable(as<T>(A));
    auto b = t.variable(as<T>(B));
    auto y = tg::sub(a, b);
    // A - B = {1-0.5, 2+1, 3-2; 4-4, 5+2, 6-0.25}
    check(y.value(), tg::Tensor<double>{{0.5, 3.0, 1.0}, {0.0, 7.0, 5.75}});
    t.backward(y, as<T>(G));
    check(a.grad(), G);
    check(b.grad(), tg::Tensor<double>{{-1.0, 1.0, -2.0}, {-0.5, -1.0, 2.0}});  // -G
}

TEMPLATE_TEST_CASE("mul: forward and backward, same shape", "[ops][elementwise]", float, double) {
    using T = TestType;
    tg::Tape<T> t;
    auto a = t.variable(as<T>(A));
    auto b = t.variable(as<T>(B));
    auto y = tg::mul(a, b);
    // A * B = {0.5, -2, 6; 16, -10, 1.5}
    check(y.value(), tg::Tensor<double>{{0.5, -2.0, 6.0}, {16.0, -10.0, 1.5}});
    t.backward(y, as<T>(G));
    // dA = G*B = {1*0.5, -1*-1, 2*2; 0.5*4, 1*-2, -2*0.25}
    check(a.grad(), tg::Tensor<double>{{0.5, 1.0, 4.0}, {2.0, -2.0, -0.5}});
    // dB = G*A = {1, -2, 6; 2, 5, -12}
    check(b.grad(), tg::Tensor<double>{{1.0, -2.0, 6.0}, {2.0, 5.0, -12.0}});
}

TEMPLATE_TEST_CASE("div: forward and backward, same shape", "[ops][elementwise]", float, double) {
    using T = TestType;
    tg::Tape<T> t;
    auto a = t.variable(as<T>(A));
    auto b = t.variable(as<T>(B));
    auto y = tg::div(a, b);
    // A / B = {1/0.5, 2/-1, 3/2; 4/4, 5/-2, 6/0.25}
    check(y.value(), tg::Tensor<double>{{2.0, -2.0, 1.5}, {1.0, -2.5, 24.0}});
    t.backward(y, as<T>(G));
    // dA = G/B = {1/0.5, -1/-1, 2/2; 0.5/4, 1/-2, -2/0.25}
    check(a.grad(), tg::Tensor<double>{{2.0, 1.0, 1.0}, {0.125, -0.5, -8.0}});
    // dB = -G*A/B^2 = {-1*1/0.25, 1*2/1, -2*3/4; -0.5*4/16, -1*5/4, 2*6/0.0625}
    check(b.grad(), tg::Tensor<double>{{-4.0, 2.0, -1.5}, {-0.125, -1.25, 192.0}});
}

TEST_CASE("binary ops: the same variable on both sides accumulates", "[ops][elementwise]") {
    tg::Tape<double> t;
    auto x = t.variable(tg::Tensor<double>{{1.0, -2.0, 3.0}});
    auto y = tg::add(tg::mul(x, x), x);  // x^2 + x, d/dx = 2x + 1
    check(y.value(), tg::Tensor<double>{{2.0, 2.0, 12.0}});
    t.backward(y, tg::Tensor<double>{{1.0, 1.0, 1.0}});
    check(x.grad(), tg::Tensor<double>{{3.0, -3.0, 7.0}});

    tg::Tape<double> t2;
    auto z = t2.variable(tg::Tensor<double>{{2.0, -4.0}});
    auto q = tg::div(z, tg::sub(z, t2.constant(tg::Tensor<double>{{1.0, 1.0}})));  // z/(z-1), d = -1/(z-1)^2
    check(q.value(), tg::Tensor<double>{{2.0, 0.8}});
    t2.backward(q, tg::Tensor<double>{{1.0, 1.0}});
    check(z.grad(), tg::Tensor<double>{{-1.0, -0.04}});
}

// ---- binary, broadcasting ---------------------------------------------------

TEMPLATE_TEST_CASE("add: broadcasting (2,3)+(3) and (2,3)+0-d", "[ops][elementwise]", float, double) {
    using T = TestType;
    tg::Tape<T> t;
    auto a = t.variable(as<T>(A));
    auto c = t.variable(as<T>(tg::Tensor<double>{10.0, 20.0, 30.0}));
    auto y = tg::add(a, c);
    // rows of A plus {10, 20, 30}
    check(y.value(), tg::Tensor<double>{{11.0, 22.0, 33.0}, {14.0, 25.0, 36.0}});
    t.backward(y, as<T>(G2));
    check(a.grad(), G2);
    // dc = column sums of G2 = {1+4, 2+5, 3+6}
    check(c.grad(), tg::Tensor<double>{5.0, 7.0, 9.0});

    tg::Tape<T> t2;
    auto s = t2.variable(as<T>(tg::Tensor<double>(0.5)));
    auto a2 = t2.variable(as<T>(A));
    auto y2 = tg::add(s, a2);
    check(y2.value(), tg::Tensor<double>{{1.5, 2.5, 3.5}, {4.5, 5.5, 6.5}});
    t2.backward(y2, as<T>(G2));
    // ds = sum of G2 = 21, stays 0-d
    check(s.grad(), tg::Tensor<double>(21.0));
    check(a2.grad(), G2);
}

TEMPLATE_TEST_CASE("mul: broadcasting (2,3)*(2,1)", "[ops][elementwise]", float, double) {
    using T = TestType;
    tg::Tape<T> t;
    auto a = t.variable(as<T>(A));
    auto d = t.variable(as<T>(m2({{2.0}, {-1.0}})));
    auto y = tg::mul(a, d);
    // row 0 * 2, row 1 * -1
    check(y.value(), tg::Tensor<double>{{2.0, 4.0, 6.0}, {-4.0, -5.0, -6.0}});
    t.backward(y, as<T>(G2));
    // dA = G2 * d = {2, 4, 6; -4, -5, -6}
    check(a.grad(), tg::Tensor<double>{{2.0, 4.0, 6.0}, {-4.0, -5.0, -6.0}});
    // dd = row sums of G2*A = {1+4+9, 16+25+36}
    check(d.grad(), m2({{14.0}, {77.0}}));
}

TEMPLATE_TEST_CASE("sub: broadcasting (1,3)-(2,1)", "[ops][elementwise]", float, double) {
    using T = TestType;
    tg::Tape<T> t;
    auto e = t.variable(as<T>(tg::Tensor<double>{{1.0, 2.0, 3.0}}));
    auto f = t.variable(as<T>(m2({{10.0}, {20.0}})));
    auto y = tg::sub(e, f);
    // out[i][j] = e[j] - f[i]
    check(y.value(), tg::Tensor<double>{{-9.0, -8.0, -7.0}, {-19.0, -18.0, -17.0}});
    t.backward(y, as<T>(G2));
    // de = column sums of G2 = {5, 7, 9}; df = -row sums = {-(1+2+3), -(4+5+6)}
    check(e.grad(), tg::Tensor<double>{{5.0, 7.0, 9.0}});
    check(f.grad(), m2({{-6.0}, {-15.0}}));
}

TEMPLATE_TEST_CASE("div: broadcasting 0-d / (2,3)", "[ops][elementwise]", float, double) {
    using T = TestType;
    tg::Tape<T> t;
    auto s = t.variable(as<T>(tg::Tensor<double>(2.0)));
    auto a = t.variable(as<T>(A));
    auto y = tg::div(s, a);
    // 2 / A = {2, 1, 2/3; 0.5, 0.4, 1/3}
    check(y.value(), tg::Tensor<double>{{2.0, 1.0, 2.0 / 3.0}, {0.5, 0.4, 1.0 / 3.0}});
    t.backward(y, as<T>(G2));
    // ds = sum(G2 / A) = sum of six ones = 6
    check(s.grad(), tg::Tensor<double>(6.0));
    // dA = -G2 * 2 / A^2 = -2 / A (G2 == A)
    check(a.grad(), tg::Tensor<double>{{-2.0, -1.0, -2.0 / 3.0}, {-0.5, -0.4, -1.0 / 3.0}});
}

TEST_CASE("binary ops: broadcasting with size-1 dims (3,1,2)*(1,4,1)", "[ops][elementwise]") {
    tg::Tape<double> t;
    auto a = t.variable(tg::Tensor<double>{{{1.0, 2.0}}, {{3.0, 4.0}}, {{5.0, 6.0}}});  // (3,1,2)
    auto b = t.variable(m3({{{1.0}, {10.0}, {100.0}, {-1.0}}}));       // (1,4,1)
    auto y = tg::mul(a, b);
    REQUIRE(y.shape().size() == 3);
    CHECK(y.shape()[0] == 3);
    CHECK(y.shape()[1] == 4);
    CHECK(y.shape()[2] == 2);
    // y[i][j][k] = a[i][0][k] * b[0][j][0]; e.g. y[2][1][1] = 6 * 10, y[1][3][0] = 3 * -1
    CHECK(y.value()(2, 1, 1) == 60.0);
    CHECK(y.value()(1, 3, 0) == -3.0);
    CHECK(y.value()(0, 2, 0) == 100.0);
    auto seed = tg::Tensor<double>::from_shape({3, 4, 2});
    seed.fill(1.0);
    t.backward(y, seed);
    // da[i][0][k] = sum_j b[j] = 1 + 10 + 100 - 1 = 110
    check(a.grad(), tg::Tensor<double>{{{110.0, 110.0}}, {{110.0, 110.0}}, {{110.0, 110.0}}});
    // db[0][j][0] = sum over i,k of a = 1+2+3+4+5+6 = 21
    check(b.grad(), m3({{{21.0}, {21.0}, {21.0}, {21.0}}}));
}

TEST_CASE("add/sub/mul/div: gradcheck incl. broadcasting", "[ops][elementwise]") {
    auto fadd = [](TapeD&, const In& in) { return tg::add(in[0], in[1]); };
    auto fsub = [](TapeD&, const In& in) { return tg::sub(in[0], in[1]); };
    auto fmul = [](TapeD&, const In& in) { return tg::mul(in[0], in[1]); };
    auto fdiv = [](TapeD&, const In& in) { return tg::div(in[0], in[1]); };
    const tg::Tensor<double> s0 = 0.7;  // 0-d

    SECTION("same shape") {
        require_gradcheck(fadd, {smooth({2, 3}), smooth({2, 3}, 1.0, 0.3)});
        require_gradcheck(fsub, {smooth({2, 3}), smooth({2, 3}, 1.0, 0.3)});
        require_gradcheck(fmul, {smooth({2, 3}), smooth({2, 3}, 1.0, 0.3)});
        require_gradcheck(fdiv, {smooth({2, 3}), smooth({2, 3}, 0.5, 2.0)});
    }
    SECTION("(2,3) with (3)") {
        require_gradcheck(fadd, {smooth({2, 3}), smooth({3}, 1.0, 0.2)});
        require_gradcheck(fsub, {smooth({3}, 1.0, 0.2), smooth({2, 3})});
        require_gradcheck(fmul, {smooth({2, 3}), smooth({3}, 1.0, 0.2)});
        require_gradcheck(fdiv, {smooth({2, 3}), smooth({3}, 0.5, 2.0)});
        require_gradcheck(fdiv, {smooth({3}), smooth({2, 3}, 0.5, 2.0)});
    }
    SECTION("(2,3) with (2,1)") {
        require_gradcheck(fadd, {smooth({2, 3}), smooth({2, 1}, 1.0, 0.2)});
        require_gradcheck(fsub, {smooth({2, 3}), smooth({2, 1}, 1.0, 0.2)});
        require_gradcheck(fmul, {smooth({2, 3}), smooth({2, 1}, 1.0, 0.2)});
        require_gradcheck(fdiv, {smooth({2, 3}), smooth({2, 1}, 0.5, 2.0)});
    }
    SECTION("(1,3) with (2,1)") {
        require_gradcheck(fadd, {smooth({1, 3}), smooth({2, 1}, 1.0, 0.2)});
        require_gradcheck(fsub, {smooth({1, 3}), smooth({2, 1}, 1.0, 0.2)});
        require_gradcheck(fmul, {smooth({1, 3}), smooth({2, 1}, 1.0, 0.2)});
        require_gradcheck(fdiv, {smooth({1, 3}), smooth({2, 1}, 0.5, 2.0)});
    }
    SECTION("0-d with (2,3), both orders") {
        require_gradcheck(fadd, {s0, smooth({2, 3})});
        require_gradcheck(fsub, {smooth({2, 3}), s0});
        require_gradcheck(fmul, {s0, smooth({2, 3})});
        require_gradcheck(fmul, {smooth({2, 3}), s0});
        require_gradcheck(fdiv, {s0, smooth({2, 3}, 0.5, 2.0)});
        require_gradcheck(fdiv, {smooth({2, 3}), tg::Tensor<double>(1.7)});
    }
    SECTION("size-1 dims: (1,1) with (2,3), (3,1,2) with (1,4,1)") {
        require_gradcheck(fadd, {smooth({1, 1}), smooth({2, 3})});
        require_gradcheck(fmul, {smooth({2, 3}), smooth({1, 1}, 1.0, 0.2)});
        require_gradcheck(fmul, {smooth({3, 1, 2}), smooth({1, 4, 1}, 1.0, 0.2)});
        require_gradcheck(fdiv, {smooth({3, 1, 2}), smooth({1, 4, 1}, 0.5, 2.0)});
    }
    SECTION("same input on both sides") {
        require_gradcheck([](TapeD&, const In& in) { return tg::mul(in[0], in[0]); }, {smooth({2, 3})});
        require_gradcheck([](TapeD&, const In& in) { return tg::div(in[0], tg::add(in[0], in[1])); },
                          {smooth({2, 3}, 0.3, 1.0), smooth({2, 3}, 0.3, 2.0)});
    }
}

TEST_CASE("binary ops: incompatible shapes throw ShapeError naming op and shapes", "[ops][elementwise]") {
    tg::Tape<double> t;
    auto a = t.variable(smooth({2, 3}));
    auto b = t.variable(smooth({2, 2}));
    const std::size_t before = t.size();
    const std::string m = thrown_message<tg::ShapeError>([&] { tg::add(a, b); });
    CHECK(m.find("add") != std::string::npos);
    CHECK(m.find("(2, 3)") != std::string::npos);
    CHECK(m.find("(2, 2)") != std::string::npos);
    CHECK(t.size() == before);  // a throwing op records nothing
    REQUIRE_THROWS_AS(tg::sub(a, b), tg::ShapeError);
    REQUIRE_THROWS_AS(tg::mul(a, t.variable(smooth({3, 2}))), tg::ShapeError);
    REQUIRE_THROWS_AS(tg::div(a, t.variable(smooth({4}))), tg::ShapeError);
}

TEST_CASE("binary ops: handles from another tape or a cleared tape are refused", "[ops][elementwise]") {
    tg::Tape<double> t1, t2;
    auto a = t1.variable(smooth({2, 3}));
    auto b = t2.variable(smooth({2, 3}));
    REQUIRE_THROWS_AS(tg::add(a, b), tg::TapeMismatchError);
    t1.clear();
    auto c = t1.variable(smooth({2, 3}));
    REQUIRE_THROWS_AS(tg::mul(a, c), tg::StaleVarError);
}

// ---- scalar ops -----------------------------------------------------------

namespace {
const tg::Tensor<double> X = {{1.0, -2.0, 4.0}, {0.5, 8.0, -0.25}};
}

TEMPLATE_TEST_CASE("add_scalar / mul_scalar / div_scalar / rdiv_scalar: forward and backward", "[ops][elementwise]",
                   float, double) {
    using T = TestType;
    SECTION("add_scalar") {
        tg::Tape<T> t;
        auto x = t.variable(as<T>(X));
        auto y = tg::add_scalar(x, 1.5);
        // X + 1.5
        check(y.value(), tg::Tensor<double>{{2.5, -0.5, 5.5}, {2.0, 9.5, 1.25}});
        t.backward(y, as<T>(G));
        check(x.grad(), G);
    }
    SECTION("mul_scalar") {
        tg::Tape<T> t;
        auto x = t.variable(as<T>(X));
        auto y = tg::mul_scalar(x, -3.0);
        // X * -3
        check(y.value(), tg::Tensor<double>{{-3.0, 6.0, -12.0}, {-1.5, -24.0, 0.75}});
        t.backward(y, as<T>(G));
        // -3 G
        check(x.grad(), tg::Tensor<double>{{-3.0, 3.0, -6.0}, {-1.5, -3.0, 6.0}});
    }
    SECTION("div_scalar") {
        tg::Tape<T> t;
        auto x = t.variable(as<T>(X));
        auto y = tg::div_scalar(x, 4.0);
        // X / 4
        check(y.value(), tg::Tensor<double>{{0.25, -0.5, 1.0}, {0.125, 2.0, -0.0625}});
        t.backward(y, as<T>(G));
        // G / 4
        check(x.grad(), tg::Tensor<double>{{0.25, -0.25, 0.5}, {0.125, 0.25, -0.5}});
    }
    SECTION("rdiv_scalar") {
        tg::Tape<T> t;
        auto x = t.variable(as<T>(X));
        auto y = tg::rdiv_scalar(2.0, x);
        // 2 / X = {2, -1, 0.5; 4, 0.25, -8}
        check(y.value(), tg::Tensor<double>{{2.0, -1.0, 0.5}, {4.0, 0.25, -8.0}});
        t.backward(y, as<T>(G));
        // -2 G / X^2 = {-2*1/1, -2*-1/4, -2*2/16; -2*0.5/0.25, -2*1/64, -2*-2/0.0625}
        check(x.grad(), tg::Tensor<double>{{-2.0, 0.5, -0.25}, {-4.0, -0.03125, 64.0}});
    }
}

TEST_CASE("add_scalar / mul_scalar / div_scalar / rdiv_scalar: gradcheck", "[ops][elementwise]") {
    require_gradcheck([](TapeD&, const In& in) { return tg::add_scalar(in[0], 1.5); }, {smooth({2, 3})});
    require_gradcheck([](TapeD&, const In& in) { return tg::mul_scalar(in[0], -3.0); }, {smooth({2, 3})});
    require_gradcheck([](TapeD&, const In& in) { return tg::div_scalar(in[0], 4.0); }, {smooth({2, 3})});
    require_gradcheck([](TapeD&, const In& in) { return tg::rdiv_scalar(2.0, in[0]); }, {smooth({2, 3}, 0.5, 2.0)});
    // size-1 dims and 0-d
    require_gradcheck([](TapeD&, const In& in) { return tg::mul_scalar(in[0], 2.5); }, {smooth({1, 3, 1})});
    require_gradcheck([](TapeD&, const In& in) { return tg::rdiv_scalar(-1.0, in[0]); }, {tg::Tensor<double>(1.3)});
}

// ---- operators --------------------------------------------------------------

TEMPLATE_TEST_CASE("operators + - * / with Vars and scalars on both sides", "[ops][elementwise]", float, double) {
    using T = TestType;
    tg::Tape<T> t;
    auto x = t.variable(as<T>(X));
    auto b = t.variable(as<T>(B));
    auto ones = as<T>(tg::Tensor<double>{{1.0, 1.0, 1.0}, {1.0, 1.0, 1.0}});

    SECTION("Var op Var") {
        // X + B, X - B, X * B, X / B
        check((x + b).value(), tg::Tensor<double>{{1.5, -3.0, 6.0}, {4.5, 6.0, 0.0}});
        check((x - b).value(), tg::Tensor<double>{{0.5, -1.0, 2.0}, {-3.5, 10.0, -0.5}});
        check((x * b).value(), tg::Tensor<double>{{0.5, 2.0, 8.0}, {2.0, -16.0, -0.0625}});
        check((x / b).value(), tg::Tensor<double>{{2.0, 2.0, 2.0}, {0.125, -4.0, -1.0}});
    }
    SECTION("Var op scalar and scalar op Var") {
        check((x + 1.5).value(), tg::Tensor<double>{{2.5, -0.5, 5.5}, {2.0, 9.5, 1.25}});
        check((1.5 + x).value(), tg::Tensor<double>{{2.5, -0.5, 5.5}, {2.0, 9.5, 1.25}});
        // X - 1.5 and 1.5 - X
        check((x - 1.5).value(), tg::Tensor<double>{{-0.5, -3.5, 2.5}, {-1.0, 6.5, -1.75}});
        check((1.5 - x).value(), tg::Tensor<double>{{0.5, 3.5, -2.5}, {1.0, -6.5, 1.75}});
        // integer scalars are accepted too
        check((x * 2).value(), tg::Tensor<double>{{2.0, -4.0, 8.0}, {1.0, 16.0, -0.5}});
        check((2 * x).value(), tg::Tensor<double>{{2.0, -4.0, 8.0}, {1.0, 16.0, -0.5}});
        check((x / 4.0).value(), tg::Tensor<double>{{0.25, -0.5, 1.0}, {0.125, 2.0, -0.0625}});
        // 2 / X
        check((2.0 / x).value(), tg::Tensor<double>{{2.0, -1.0, 0.5}, {4.0, 0.25, -8.0}});
        check((-x).value(), tg::Tensor<double>{{-1.0, 2.0, -4.0}, {-0.5, -8.0, 0.25}});
    }
    SECTION("gradient of a composite: y = (3 - x) * 2 + 1 / x - x / 2") {
        auto y = (3.0 - x) * 2.0 + 1.0 / x - x / 2;
        // dy/dx = -2 - 1/x^2 - 0.5 -> x = {1,-2,4; 0.5,8,-0.25}
        //   = {-2.5-1, -2.5-0.25, -2.5-0.0625; -2.5-4, -2.5-1/64, -2.5-16}
        t.backward(y, ones);
        check(x.grad(), tg::Tensor<double>{{-3.5, -2.75, -2.5625}, {-6.5, -2.515625, -18.5}});
    }
    SECTION("gradient through Var op Var operators: y = x*b - x/b + (-b)") {
        auto y = x * b - x / b + (-b);
        t.backward(y, ones);
        // dy/dx = b - 1/b ; B = {0.5,-1,2; 4,-2,0.25}
        check(x.grad(), tg::Tensor<double>{{-1.5, 0.0, 1.5}, {3.75, -1.5, -3.75}});
        // dy/db = x + x/b^2 - 1 ; X = {1,-2,4; 0.5,8,-0.25}
        //   = {1+4-1, -2-2-1, 4+1-1; 0.5+0.03125-1, 8+2-1, -0.25-4-1}
        check(b.grad(), tg::Tensor<double>{{4.0, -5.0, 4.0}, {-0.46875, 9.0, -5.25}});
    }
}

TEST_CASE("operators: gradcheck", "[ops][elementwise]") {
    require_gradcheck([](TapeD&, const In& in) { return (2.0 - in[0]) * in[1] / 3.0 + 1.0 / in[1] - in[0] / in[1]; },
                      {smooth({2, 3}), smooth({3}, 0.5, 2.0)});
    require_gradcheck([](TapeD&, const In& in) { return -(1.5 + in[0] * 2) + in[0] - 0.5; }, {smooth({2, 1})});
}

// ---- unary ----------------------------------------------------------------

namespace {
const tg::Tensor<double> U = {{0.0, 1.0, -2.0}, {0.5, 2.0, -1.0}};
const tg::Tensor<double> P = {{1.0, 4.0, 0.25}, {9.0, 2.0, 16.0}};  // positive
const tg::Tensor<double> ONES = {{1.0, 1.0, 1.0}, {1.0, 1.0, 1.0}};
}  // namespace

TEMPLATE_TEST_CASE("neg: forward and backward", "[ops][elementwise]", float, double) {
    using T = TestType;
    tg::Tape<T> t;
    auto x = t.variable(as<T>(X));
    auto y = tg::neg(x);
    check(y.value(), tg::Tensor<double>{{-1.0, 2.0, -4.0}, {-0.5, -8.0, 0.25}});
    t.backward(y, as<T>(G));
    check(x.grad(), tg::Tensor<double>{{-1.0, 1.0, -2.0}, {-0.5, -1.0, 2.0}});
}

TEMPLATE_TEST_CASE("exp: forward and backward", "[ops][elementwise]", float, double) {
    using T = TestType;
    tg::Tape<T> t;
    auto x = t.variable(as<T>(U));
    auto y = tg::exp(x);
    // e^0 = 1, e^1 = 2.718281828459045, e^-2 = 0.1353352832366127,
    // e^0.5 = 1.6487212707001282, e^2 = 7.38905609893065, e^-1 = 0.36787944117144233
    const tg::Tensor<double> e = {{1.0, 2.718281828459045, 0.1353352832366127},
                                  {1.6487212707001282, 7.38905609893065, 0.36787944117144233}};
    check(y.value(), e);
    t.backward(y, as<T>(G2));
    // d = G2 * e^x
    check(x.grad(), tg::Tensor<double>{{1.0, 2.0 * 2.718281828459045, 3.0 * 0.1353352832366127},
                                       {4.0 * 1.6487212707001282, 5.0 * 7.38905609893065, 6.0 * 0.36787944117144233}});
}

TEMPLATE_TEST_CASE("log: forward and backward", "[ops][elementwise]", float, double) {
    using T = TestType;
    tg::Tape<T> t;
    auto x = t.variable(as<T>(P));
    auto y = tg::log(x);
    // ln 1 = 0, ln 4 = 1.3862943611198906, ln 0.25 = -ln 4, ln 9 = 2.1972245773362196,
    // ln 2 = 0.6931471805599453, ln 16 = 2.772588722239781
    check(y.value(), tg::Tensor<double>{{0.0, 1.3862943611198906, -1.3862943611198906},
                                        {2.1972245773362196, 0.6931471805599453, 2.772588722239781}});
    t.backward(y, as<T>(ONES));
    // 1 / P
    check(x.grad(), tg::Tensor<double>{{1.0, 0.25, 4.0}, {1.0 / 9.0, 0.5, 0.0625}});
}

TEST_CASE("log: non-positive inputs follow IEEE", "[ops][elementwise]") {
    tg::Tape<double> t;
    auto y = tg::log(t.constant(tg::Tensor<double>{0.0, -1.0}));
    CHECK(std::isinf(y.value()(0)));
    CHECK(y.value()(0) < 0);
    CHECK(std::isnan(y.value()(1)));
}

TEMPLATE_TEST_CASE("sqrt: forward and backward", "[ops][elementwise]", float, double) {
    using T = TestType;
    tg::Tape<T> t;
    auto x = t.variable(as<T>(P));
    auto y = tg::sqrt(x);
    // sqrt: 1, 2, 0.5, 3, 1.4142135623730951, 4
    check(y.value(), tg::Tensor<double>{{1.0, 2.0, 0.5}, {3.0, 1.4142135623730951, 4.0}});
    t.backward(y, as<T>(ONES));
    // 1 / (2 sqrt x): 0.5, 0.25, 1, 1/6, 0.35355339059327373, 0.125
    check(x.grad(), tg::Tensor<double>{{0.5, 0.25, 1.0}, {1.0 / 6.0, 0.35355339059327373, 0.125}});
}

TEMPLATE_TEST_CASE("pow: forward and backward for several exponents", "[ops][elementwise]", float, double) {
    using T = TestType;
    SECTION("p = 2") {
        tg::Tape<T> t;
        auto x = t.variable(as<T>(P));
        auto y = tg::pow(x, 2.0);
        check(y.value(), tg::Tensor<double>{{1.0, 16.0, 0.0625}, {81.0, 4.0, 256.0}});
        t.backward(y, as<T>(ONES));
        check(x.grad(), tg::Tensor<double>{{2.0, 8.0, 0.5}, {18.0, 4.0, 32.0}});  // 2x
    }
    SECTION("p = -1") {
        tg::Tape<T> t;
        auto x = t.variable(as<T>(P));
        auto y = tg::pow(x, -1.0);
        check(y.value(), tg::Tensor<double>{{1.0, 0.25, 4.0}, {1.0 / 9.0, 0.5, 0.0625}});
        t.backward(y, as<T>(ONES));
        // -x^-2
        check(x.grad(), tg::Tensor<double>{{-1.0, -0.0625, -16.0}, {-1.0 / 81.0, -0.25, -1.0 / 256.0}});
    }
    SECTION("p = 0.5") {
        tg::Tape<T> t;
        auto x = t.variable(as<T>(P));
        auto y = tg::pow(x, 0.5);
        check(y.value(), tg::Tensor<double>{{1.0, 2.0, 0.5}, {3.0, 1.4142135623730951, 4.0}});
        t.backward(y, as<T>(ONES));
        // 0.5 x^-0.5
        check(x.grad(), tg::Tensor<double>{{0.5, 0.25, 1.0}, {1.0 / 6.0, 0.35355339059327373, 0.125}});
    }
    SECTION("p = 3 with negative bases") {
        tg::Tape<T> t;
        auto x = t.variable(as<T>(tg::Tensor<double>{{-2.0, 0.5, 3.0}}));
        auto y = tg::pow(x, 3.0);
        check(y.value(), tg::Tensor<double>{{-8.0, 0.125, 27.0}});
        t.backward(y, as<T>(tg::Tensor<double>{{1.0, 1.0, 1.0}}));
        check(x.grad(), tg::Tensor<double>{{12.0, 0.75, 27.0}});  // 3x^2
    }
}

TEMPLATE_TEST_CASE("abs: forward and backward, 0 at x = 0", "[ops][elementwise]", float, double) {
    using T = TestType;
    tg::Tape<T> t;
    auto x = t.variable(as<T>(tg::Tensor<double>{{-2.0, 0.0, 3.0}, {-0.5, 1.0, -1.0}}));
    auto y = tg::abs(x);
    check(y.value(), tg::Tensor<double>{{2.0, 0.0, 3.0}, {0.5, 1.0, 1.0}});
    t.backward(y, as<T>(G2));
    // G2 * sign(x)
    check(x.grad(), tg::Tensor<double>{{-1.0, 0.0, 3.0}, {-4.0, 5.0, -6.0}});
}

TEMPLATE_TEST_CASE("tanh: forward and backward", "[ops][elementwise]", float, double) {
    using T = TestType;
    tg::Tape<T> t;
    auto x = t.variable(as<T>(U));
    auto y = tg::tanh(x);
    // tanh 0 = 0, tanh 1 = 0.7615941559557649, tanh -2 = -0.9640275800758169,
    // tanh 0.5 = 0.46211715726000974, tanh 2 = -tanh -2, tanh -1 = -tanh 1
    check(y.value(), tg::Tensor<double>{{0.0, 0.7615941559557649, -0.9640275800758169},
                                        {0.46211715726000974, 0.9640275800758169, -0.7615941559557649}});
    t.backward(y, as<T>(ONES));
    // 1 - y^2
    check(x.grad(), tg::Tensor<double>{{1.0, 0.41997434161402614, 0.07065082485316443},
                                       {0.7864477329659274, 0.07065082485316443, 0.41997434161402614}});
}

TEMPLATE_TEST_CASE("sigmoid: forward and backward", "[ops][elementwise]", float, double) {
    using T = TestType;
    tg::Tape<T> t;
    auto x = t.variable(as<T>(U));
    auto y = tg::sigmoid(x);
    // 1/(1+e^-x): 0.5, 0.7310585786300049, 0.11920292202211755, 0.6224593312018546,
    // 0.8807970779778823, 0.2689414213699951
    check(y.value(), tg::Tensor<double>{{0.5, 0.7310585786300049, 0.11920292202211755},
                                        {0.6224593312018546, 0.8807970779778823, 0.2689414213699951}});
    t.backward(y, as<T>(ONES));
    // y (1 - y)
    check(x.grad(), tg::Tensor<double>{{0.25, 0.19661193324148185, 0.1049935854035065},
                                       {0.2350037122015945, 0.10499358540350662, 0.19661193324148185}});
}

TEMPLATE_TEST_CASE("sigmoid: large |x| gives finite values at the limits 0 and 1", "[ops][elementwise]", float,
                   double) {
    using T = TestType;
    tg::Tape<T> t;
    auto x = t.variable(as<T>(tg::Tensor<double>{100.0, -100.0, 1000.0, -1000.0, 30.0, -30.0}));
    auto y = tg::sigmoid(x);
    REQUIRE(all_finite(y.value()));
    // sigmoid(±100), sigmoid(±1000) are 1/0 to far below any tolerance;
    // sigmoid(-30) = e^-30 / (1 + e^-30) = 9.3576229688393e-14
    require_close(y.value(), tg::Tensor<double>{1.0, 0.0, 1.0, 0.0, 1.0, 9.3576229688393e-14}, 1e-5, 1e-12);
    for (std::size_t i = 0; i < y.value().size(); ++i) {
        CHECK(y.value()(i) >= T(0));
        CHECK(y.value()(i) <= T(1));
    }
    t.backward(y, as<T>(tg::Tensor<double>{1.0, 1.0, 1.0, 1.0, 1.0, 1.0}));
    REQUIRE(all_finite(x.grad()));
    // y(1-y) is ~0 for all of them (e^-30 ≈ 9.4e-14 at ±30)
    require_close(x.grad(), tg::Tensor<double>{0.0, 0.0, 0.0, 0.0, 0.0, 0.0}, 0.0, 1e-12);
}

TEMPLATE_TEST_CASE("relu: forward and backward, no gradient at x = 0", "[ops][elementwise]", float, double) {
    using T = TestType;
    tg::Tape<T> t;
    auto x = t.variable(as<T>(tg::Tensor<double>{{-2.0, 0.0, 3.0}, {0.5, -0.1, 1.0}}));
    auto y = tg::relu(x);
    check(y.value(), tg::Tensor<double>{{0.0, 0.0, 3.0}, {0.5, 0.0, 1.0}});
    t.backward(y, as<T>(G2));
    // G2 where x > 0
    check(x.grad(), tg::Tensor<double>{{0.0, 0.0, 3.0}, {4.0, 0.0, 6.0}});
}

TEMPLATE_TEST_CASE("clamp: forward and backward, bounds inclusive", "[ops][elementwise]", float, double) {
    using T = TestType;
    tg::Tape<T> t;
    auto x = t.variable(as<T>(tg::Tensor<double>{{-2.0, -1.0, 0.3}, {1.0, 1.5, -0.5}}));
    auto y = tg::clamp(x, -1.0, 1.0);
    check(y.value(), tg::Tensor<double>{{-1.0, -1.0, 0.3}, {1.0, 1.0, -0.5}});
    t.backward(y, as<T>(G2));
    // G2 where -1 <= x <= 1
    check(x.grad(), tg::Tensor<double>{{0.0, 2.0, 3.0}, {4.0, 0.0, 6.0}});
}

TEST_CASE("clamp: lo == hi is allowed, lo > hi throws ArgumentError", "[ops][elementwise]") {
    tg::Tape<double> t;
    auto x = t.variable(tg::Tensor<double>{-1.0, 0.5, 2.0});
    check(tg::clamp(x, 0.5, 0.5).value(), tg::Tensor<double>{0.5, 0.5, 0.5});
    const std::size_t before = t.size();
    REQUIRE_THROWS_AS(tg::clamp(x, 1.0, -1.0), tg::ArgumentError);
    CHECK(t.size() == before);
}

TEST_CASE("unary ops: gradcheck", "[ops][elementwise]") {
    // smooth values lie in [-1, 1], the closest to 0 is ±0.158: away from the
    // kinks of abs/relu, and from clamp's bounds ±0.5.
    const auto x = smooth({2, 3});
    const auto x1 = smooth({1, 3, 1});  // size-1 dims
    const auto pos = smooth({2, 3}, 0.5, 1.5);  // in [1, 2]
    auto run = [&](const tg::GradcheckFn& f, const tg::Tensor<double>& in, const tg::Tensor<double>& in1) {
        require_gradcheck(f, {in});
        require_gradcheck(f, {in1});
    };
    SECTION("neg") { run([](TapeD&, const In& in) { return tg::neg(in[0]); }, x, x1); }
    SECTION("exp") { run([](TapeD&, const In& in) { return tg::exp(in[0]); }, x, x1); }
    SECTION("log") { run([](TapeD&, const In& in) { return tg::log(in[0]); }, pos, smooth({1, 3, 1}, 0.5, 1.5)); }
    SECTION("sqrt") { run([](TapeD&, const In& in) { return tg::sqrt(in[0]); }, pos, smooth({1, 3, 1}, 0.5, 1.5)); }
    SECTION("pow") {
        run([](TapeD&, const In& in) { return tg::pow(in[0], 3.0); }, x, x1);
        run([](TapeD&, const In& in) { return tg::pow(in[0], -1.5); }, pos, smooth({1, 3, 1}, 0.5, 1.5));
        run([](TapeD&, const In& in) { return tg::pow(in[0], 0.5); }, pos, smooth({1, 3, 1}, 0.5, 1.5));
    }
    SECTION("abs") { run([](TapeD&, const In& in) { return tg::abs(in[0]); }, x, x1); }
    SECTION("tanh") { run([](TapeD&, const In& in) { return tg::tanh(in[0]); }, smooth({2, 3}, 2.0), x1); }
    SECTION("sigmoid") { run([](TapeD&, const In& in) { return tg::sigmoid(in[0]); }, smooth({2, 3}, 3.0), x1); }
    SECTION("relu") { run([](TapeD&, const In& in) { return tg::relu(in[0]); }, x, x1); }
    SECTION("clamp") { run([](TapeD&, const In& in) { return tg::clamp(in[0], -0.5, 0.5); }, x, x1); }
    SECTION("0-d input") {
        require_gradcheck([](TapeD&, const In& in) { return tg::tanh(tg::exp(in[0])); }, {tg::Tensor<double>(0.3)});
    }
}

// ---- where --------------------------------------------------------------------

TEMPLATE_TEST_CASE("where: forward and backward, cond gets no gradient", "[ops][elementwise]", float, double) {
    using T = TestType;
    tg::Tape<T> t;
    // nonzero (incl. 2 and -1) selects a
    auto c = t.variable(as<T>(tg::Tensor<double>{{1.0, 0.0, 2.0}, {0.0, -1.0, 0.0}}));
    auto a = t.variable(as<T>(A));
    auto b = t.variable(as<T>(tg::Tensor<double>{{10.0, 20.0, 30.0}, {40.0, 50.0, 60.0}}));
    auto y = tg::where(c, a, b);
    check(y.value(), tg::Tensor<double>{{1.0, 20.0, 3.0}, {40.0, 5.0, 60.0}});
    t.backward(y, as<T>(G2));
    check(a.grad(), tg::Tensor<double>{{1.0, 0.0, 3.0}, {0.0, 5.0, 0.0}});
    check(b.grad(), tg::Tensor<double>{{0.0, 2.0, 0.0}, {4.0, 0.0, 6.0}});
    check(c.grad(), tg::Tensor<double>{{0.0, 0.0, 0.0}, {0.0, 0.0, 0.0}});
}

TEMPLATE_TEST_CASE("where: broadcasting cond (2,1), a (3), b 0-d", "[ops][elementwise]", float, double) {
    using T = TestType;
    tg::Tape<T> t;
    auto c = t.constant(as<T>(m2({{1.0}, {0.0}})));
    auto a = t.variable(as<T>(tg::Tensor<double>{1.0, 2.0, 3.0}));
    auto b = t.variable(as<T>(tg::Tensor<double>(7.0)));
    auto y = tg::where(c, a, b);
    // row 0 from a, row 1 from b
    check(y.value(), tg::Tensor<double>{{1.0, 2.0, 3.0}, {7.0, 7.0, 7.0}});
    t.backward(y, as<T>(G2));
    // da = row 0 of G2; db = sum of row 1 = 4+5+6
    check(a.grad(), tg::Tensor<double>{1.0, 2.0, 3.0});
    check(b.grad(), tg::Tensor<double>(15.0));
}

TEST_CASE("where: all three broadcast together (1,3), (2,1), (2,3)", "[ops][elementwise]") {
    tg::Tape<double> t;
    auto c = t.constant(tg::Tensor<double>{{1.0, 0.0, 1.0}});
    auto a = t.variable(m2({{1.0}, {2.0}}));
    auto b = t.variable(tg::Tensor<double>{{10.0, 20.0, 30.0}, {40.0, 50.0, 60.0}});
    auto y = tg::where(c, a, b);
    check(y.value(), tg::Tensor<double>{{1.0, 20.0, 1.0}, {2.0, 50.0, 2.0}});
    t.backward(y, G2);
    // da[i] = G2[i][0] + G2[i][2] = {1+3, 4+6}
    check(a.grad(), m2({{4.0}, {10.0}}));
    check(b.grad(), tg::Tensor<double>{{0.0, 2.0, 0.0}, {0.0, 5.0, 0.0}});
}

TEST_CASE("where: gradcheck and shape errors", "[ops][elementwise]") {
    const tg::Tensor<double> cond = {{1.0, 0.0, 1.0}, {0.0, 0.0, 1.0}};
    require_gradcheck([&](TapeD& t, const In& in) { return tg::where(t.constant(cond), in[0], in[1]); },
                      {smooth({2, 3}), smooth({2, 3}, 1.0, 0.5)});
    // broadcasting: a (3), b (2,1), cond (2,3)
    require_gradcheck([&](TapeD& t, const In& in) { return tg::where(t.constant(cond), in[0], in[1]); },
                      {smooth({3}), smooth({2, 1}, 1.0, 0.5)});
    // b 0-d, cond (2,1)
    require_gradcheck(
        [](TapeD& t, const In& in) { return tg::where(t.constant(m2({{0.0}, {1.0}})), in[0], in[1]); },
        {smooth({2, 3}), tg::Tensor<double>(0.4)});

    tg::Tape<double> t;
    auto c = t.constant(cond);
    REQUIRE_THROWS_AS(tg::where(c, t.variable(smooth({2, 2})), t.variable(smooth({2, 3}))), tg::ShapeError);
    REQUIRE_THROWS_AS(tg::where(t.constant(smooth({3, 3})), t.variable(smooth({2, 3})), t.variable(smooth({2, 3}))),
                      tg::ShapeError);
}

// The vectorized paths: sigmoid and tanh run whole SIMD batches and one padded
// batch for the tail; add/sub/mul of equal shapes run raw loops. Every length
// from 1 to 70 crosses both paths for float and double (a batch is 2 to 16
// lanes); each element is checked against the scalar formula, and the result
// must not depend on where an element sits.
TEMPLATE_TEST_CASE("sigmoid, tanh and same-shape arithmetic agree with scalar formulas at every length", "[ops][elementwise]",
                   float, double) {
    using T = TestType;
    const double tol = std::is_same_v<T, float> ? 4e-7 : 1e-15;
    for (std::size_t len = 1; len <= 70; ++len) {
        INFO("length " << len);
        tg::Tensor<T> xv = tg::Tensor<T>::from_shape({len}), bv = tg::Tensor<T>::from_shape({len});
        for (std::size_t i = 0; i < len; ++i) {
            // Spans ±40 (sigmoid and tanh saturate), with exact zeros and tiny values.
            xv(i) = static_cast<T>(i % 7 == 0 ? 0.0 : std::sin(1.3 * double(i)) * (i % 3 == 0 ? 40.0 : 2.5));
            bv(i) = static_cast<T>(std::cos(0.7 * double(i)));
        }
        tg::Tape<T> t;
        auto x = t.variable(xv), b = t.variable(bv);
        auto s = tg::sigmoid(x), th = tg::tanh(x), sum = x + b, diff = x - b, prod = x * b;
        for (std::size_t i = 0; i < len; ++i) {
            const double xi = double(xv(i)), bi = double(bv(i));
            const double sig = 1.0 / (1.0 + std::exp(-xi));
            CHECK(std::abs(double(s.value()(i)) - sig) <= tol * std::max(sig, 1e-30) + 1e-300);
            CHECK(std::abs(double(th.value()(i)) - std::tanh(xi)) <= tol * std::max(std::abs(std::tanh(xi)), 1e-30) + 1e-300);
            CHECK(sum.value()(i) == static_cast<T>(xv(i) + bv(i)));
            CHECK(diff.value()(i) == static_cast<T>(xv(i) - bv(i)));
            CHECK(prod.value()(i) == static_cast<T>(xv(i) * bv(i)));
        }
        // Position independence: the first element alone gives the same bits.
        tg::Tape<T> one;
        auto x0 = one.variable(tg::Tensor<T>{xv(len - 1)});
        CHECK(tg::sigmoid(x0).value()(0) == s.value()(len - 1));
        CHECK(tg::tanh(x0).value()(0) == th.value()(len - 1));
        // Backward of the fast paths: d/dx Σ(σ(x) + tanh(x) + x·b + (x − b)) = σ(1−σ) + 1 − tanh² + b + 1.
        t.backward(tg::sum(s + th + prod + diff));
        for (std::size_t i = 0; i < len; ++i) {
            const double sv = double(s.value()(i)), tv = double(th.value()(i));
            const double expected = sv * (1 - sv) + (1 - tv * tv) + double(bv(i)) + 1.0;
            CHECK(std::abs(double(x.grad()(i)) - expected) <= 1e-5 * (1 + std::abs(expected)));
            CHECK(std::abs(double(b.grad()(i)) - (double(xv(i)) - 1.0)) <= 1e-6 * (1 + std::abs(double(xv(i)))));
        }
    }
}

// ---- log1p ---------------------------------------------------------------------

TEMPLATE_TEST_CASE("log1p: forward, accurate near 0, backward 1/(1+x)", "[ops][elementwise]", float, double) {
    using T = TestType;
    tg::Tape<T> t;
    auto x = t.variable(tg::Tensor<T>{0, 1, T(-0.5), T(1e-10)});
    auto y = tg::log1p(x);
    // ln 1 = 0, ln 2, ln 0.5, and 1e-10 where ln(1 + 1e-10) would round to 0 in float
    check(y.value(), tg::Tensor<double>{0.0, 0.693147180559945, -0.693147180559945, 1e-10});
    CHECK(y.value()(3) > T(0));
    t.backward(y, tg::Tensor<T>{1, 2, 3, 1});
    check(x.grad(), tg::Tensor<double>{1.0, 1.0, 6.0, 1.0});  // 1/1, 2/2, 3/0.5, 1/(1+1e-10)
}

TEST_CASE("log1p: gradcheck, including size-1 and 0-d", "[ops][elementwise]") {
    require_gradcheck([](TapeD&, const In& in) { return tg::sum(tg::log1p(in[0])); }, {smooth({2, 3}, 0.5, 1.0)});
    require_gradcheck([](TapeD&, const In& in) { return tg::sum(tg::log1p(in[0])); }, {smooth({1, 1}, 0.5, 1.0)});
    require_gradcheck([](TapeD&, const In& in) { return tg::log1p(in[0]); }, {tg::Tensor<double>(0.25)});
}

// ---- comparisons -------------------------------------------------------------------

TEMPLATE_TEST_CASE("comparisons: masks of 1 and 0, broadcast, with a scalar", "[ops][elementwise]", float, double) {
    using T = TestType;
    tg::Tape<T> t;
    auto a = t.variable(as<T>(tg::Tensor<double>{{1.0, 2.0, 3.0}, {4.0, 5.0, 6.0}}));
    auto b = t.variable(as<T>(tg::Tensor<double>{2.0, 2.0, 7.0}));  // (3): broadcast over rows
    check(tg::eq(a, b).value(), tg::Tensor<double>{{0, 1, 0}, {0, 0, 0}});
    check(tg::ne(a, b).value(), tg::Tensor<double>{{1, 0, 1}, {1, 1, 1}});
    check(tg::lt(a, b).value(), tg::Tensor<double>{{1, 0, 1}, {0, 0, 1}});
    check(tg::le(a, b).value(), tg::Tensor<double>{{1, 1, 1}, {0, 0, 1}});
    check(tg::gt(a, b).value(), tg::Tensor<double>{{0, 0, 0}, {1, 1, 0}});
    check(tg::ge(a, b).value(), tg::Tensor<double>{{0, 1, 0}, {1, 1, 0}});
    check(tg::gt(a, 3.5).value(), tg::Tensor<double>{{0, 0, 0}, {1, 1, 1}});
    check(tg::le(a, 2.0).value(), tg::Tensor<double>{{1, 1, 0}, {0, 0, 0}});
    check(tg::eq(a, 5.0).value(), tg::Tensor<double>{{0, 0, 0}, {0, 1, 0}});
    auto m = tg::lt(a, b);
    CHECK_FALSE(m.requires_grad());
    CHECK(t.op_name(m) == std::string("lt"));
}

TEMPLATE_TEST_CASE("comparisons: NaN compares false and unequal; size-1 and empty shapes", "[ops][elementwise]", float, double) {
    using T = TestType;
    tg::Tape<T> t;
    auto x = t.variable(tg::Tensor<T>{NAN, 1});
    check(tg::eq(x, x).value(), tg::Tensor<double>{0, 1});
    check(tg::ne(x, x).value(), tg::Tensor<double>{1, 0});
    check(tg::ge(x, T(0)).value(), tg::Tensor<double>{0, 1});
    auto s = t.variable(as<T>(m2({{2.0}})));  // (1,1) against (2)
    check(tg::lt(s, x).value(), tg::Tensor<double>{{0, 0}});
    auto e = t.variable(tg::Tensor<T>::from_shape({0, 3}));
    CHECK(tg::gt(e, T(0)).size() == 0);
}

TEST_CASE("comparisons: the mask routes gradients through where, and gets none itself", "[ops][elementwise]") {
    // relu written with a mask: where(x > 0, x, 0)
    tg::Tape<double> t;
    auto x = t.variable(tg::Tensor<double>{-1.0, 2.0, 0.0, 3.0});
    auto zero = t.constant(tg::Tensor<double>(0.0));
    auto y = tg::where(tg::gt(x, 0.0), x, zero);
    t.backward(tg::sum(y * y));
    check(x.grad(), tg::Tensor<double>{0.0, 4.0, 0.0, 6.0});  // 2x where x > 0
    require_gradcheck([](TapeD& tape, const In& in) {
        return tg::sum(tg::where(tg::lt(in[0], in[1]), in[0] * in[1], tape.constant(tg::Tensor<double>(0.5))));
    }, {smooth({2, 3}), smooth({3}, 1.0, 0.2)});
}

TEST_CASE("comparisons: incompatible shapes throw ShapeError naming the comparison, tape unchanged", "[ops][elementwise]") {
    tg::Tape<double> t;
    auto a = t.variable(smooth({2, 3}));
    auto b = t.variable(smooth({4}));
    const std::size_t before = t.size();
    CHECK_THROWS_WITH(tg::ge(a, b), Catch::Contains("ge: shapes (2, 3) and (4,) cannot be broadcast"));
    CHECK_THROWS_AS(tg::eq(a, b), tg::ShapeError);
    CHECK(t.size() == before);
}
