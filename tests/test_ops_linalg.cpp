// Linear algebra ops: matmul (2-D, batched, shared 2-D operand, size-1 dims),
// transpose and permute. Forward values are hand computed (arithmetic in the
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

using tgtest::thrown_message;

auto fmatmul = [](TapeD&, const In& in) { return tg::matmul(in[0], in[1]); };

}  // namespace

// ---- matmul -------------------------------------------------------------------

TEMPLATE_TEST_CASE("matmul: (M,K)@(K,N) forward and backward", "[ops][linalg]", float, double) {
    using T = TestType;
    tg::Tape<T> t;
    auto a = t.variable(as<T>(tg::Tensor<double>{{1.0, 2.0, 3.0}, {4.0, 5.0, 6.0}}));
    auto b = t.variable(as<T>(tg::Tensor<double>{{1.0, -1.0}, {0.0, 2.0}, {3.0, 0.5}}));
    auto y = tg::matmul(a, b);
    // row 0: [1*1 + 2*0 + 3*3, 1*-1 + 2*2 + 3*0.5] = [10, 4.5]
    // row 1: [4*1 + 5*0 + 6*3, 4*-1 + 5*2 + 6*0.5] = [22, 9]
    check(y.value(), tg::Tensor<double>{{10.0, 4.5}, {22.0, 9.0}});
    t.backward(y, as<T>(tg::Tensor<double>{{1.0, 2.0}, {-1.0, 0.5}}));
    // dA = G @ B^T: row 0 = 1*[1,0,3] + 2*[-1,2,0.5] = [-1, 4, 4]
    //               row 1 = -1*[1,0,3] + 0.5*[-1,2,0.5] = [-1.5, 1, -2.75]
    check(a.grad(), tg::Tensor<double>{{-1.0, 4.0, 4.0}, {-1.5, 1.0, -2.75}});
    // dB = A^T @ G: row k = A[0][k]*[1,2] + A[1][k]*[-1,0.5]
    //   k=0: [1-4, 2+2] ; k=1: [2-5, 4+2.5] ; k=2: [3-6, 6+3]
    check(b.grad(), tg::Tensor<double>{{-3.0, 4.0}, {-3.0, 6.5}, {-3.0, 9.0}});
}

TEMPLATE_TEST_CASE("matmul: batched (B,M,K)@(B,K,N) forward and backward", "[ops][linalg]", float, double) {
    using T = TestType;
    tg::Tape<T> t;
    // a0 = [[1,2],[3,4]], a1 = [[0,1],[-1,0]]; b0 = [[1],[1]], b1 = [[2],[3]]
    auto a = t.variable(as<T>(tg::Tensor<double>{{{1.0, 2.0}, {3.0, 4.0}}, {{0.0, 1.0}, {-1.0, 0.0}}}));
    auto b = t.variable(as<T>(m3({{{1.0}, {1.0}}, {{2.0}, {3.0}}})));
    auto y = tg::matmul(a, b);
    // a0@b0 = [[1+2],[3+4]] ; a1@b1 = [[0*2+1*3],[-1*2+0*3]]
    check(y.value(), m3({{{3.0}, {7.0}}, {{3.0}, {-2.0}}}));
    t.backward(y, as<T>(filled({2, 2, 1}, 1.0)));
    // da_b = 1 @ b_b^T: every row of da0 is [1,1], of da1 is [2,3]
    check(a.grad(), tg::Tensor<double>{{{1.0, 1.0}, {1.0, 1.0}}, {{2.0, 3.0}, {2.0, 3.0}}});
    // db_b = a_b^T @ 1 = column sums of a_b: a0 -> [4, 6], a1 -> [-1, 1]
    check(b.grad(), m3({{{4.0}, {6.0}}, {{-1.0}, {1.0}}}));
}

TEMPLATE_TEST_CASE("matmul: (B,M,K)@(K,N) shares the 2-D operand", "[ops][linalg]", float, double) {
    using T = TestType;
    tg::Tape<T> t;
    auto a = t.variable(as<T>(tg::Tensor<double>{{{1.0, 2.0}, {3.0, 4.0}}, {{0.0, 1.0}, {-1.0, 0.0}}}));
    auto w = t.variable(as<T>(tg::Tensor<double>{{1.0, 2.0}, {0.0, -1.0}}));
    auto y = tg::matmul(a, w);
    // a0@w = [[1, 2-2], [3, 6-4]] ; a1@w = [[0, -1], [-1, -2]]
    check(y.value(), tg::Tensor<double>{{{1.0, 0.0}, {3.0, 2.0}}, {{0.0, -1.0}, {-1.0, -2.0}}});
    t.backward(y, as<T>(filled({2, 2, 2}, 1.0)));
    // dw = sum_b a_b^T @ 1 = (a0 + a1)^T @ 1; a0 + a1 = [[1,3],[2,4]] -> row k of dw = column k sum
    //    = [[1+2, 1+2], [3+4, 3+4]]
    check(w.grad(), tg::Tensor<double>{{3.0, 3.0}, {7.0, 7.0}});
    // da_b = 1 @ w^T: every row = row sums of w = [1+2, 0-1]
    check(a.grad(), tg::Tensor<double>{{{3.0, -1.0}, {3.0, -1.0}}, {{3.0, -1.0}, {3.0, -1.0}}});
}

TEMPLATE_TEST_CASE("matmul: (M,K)@(B,K,N) shares the 2-D operand", "[ops][linalg]", float, double) {
    using T = TestType;
    tg::Tape<T> t;
    auto w = t.variable(as<T>(tg::Tensor<double>{{1.0, 2.0}, {0.0, -1.0}}));
    auto b = t.variable(as<T>(m3({{{1.0}, {1.0}}, {{2.0}, {3.0}}})));
    auto y = tg::matmul(w, b);
    // w@b0 = [[1+2], [0-1]] ; w@b1 = [[2+6], [0-3]]
    check(y.value(), m3({{{3.0}, {-1.0}}, {{8.0}, {-3.0}}}));
    t.backward(y, as<T>(filled({2, 2, 1}, 1.0)));
    // dw = sum_b 1 @ b_b^T = [[1,1],[1,1]] + [[2,3],[2,3]]
    check(w.grad(), tg::Tensor<double>{{3.0, 4.0}, {3.0, 4.0}});
    // db_b = w^T @ 1 = column sums of w = [1, 1]
    check(b.grad(), m3({{{1.0}, {1.0}}, {{1.0}, {1.0}}}));
}

TEMPLATE_TEST_CASE("matmul: size-1 dims (1,1)@(1,1), (1,3)@(3,1), (3,1)@(1,4)", "[ops][linalg]", float, double) {
    using T = TestType;
    SECTION("(1,1)@(1,1)") {
        tg::Tape<T> t;
        auto a = t.variable(as<T>(m2({{3.0}})));
        auto b = t.variable(as<T>(m2({{-2.0}})));
        auto y = tg::matmul(a, b);
        check(y.value(), m2({{-6.0}}));  // 3 * -2
        t.backward(y, as<T>(m2({{2.0}})));
        check(a.grad(), m2({{-4.0}}));  // 2 * -2
        check(b.grad(), m2({{6.0}}));   // 3 * 2
    }
    SECTION("(1,3)@(3,1)") {
        tg::Tape<T> t;
        auto a = t.variable(as<T>(tg::Tensor<double>{{1.0, 2.0, 3.0}}));
        auto b = t.variable(as<T>(m2({{4.0}, {5.0}, {6.0}})));
        auto y = tg::matmul(a, b);
        check(y.value(), m2({{32.0}}));  // 4 + 10 + 18
        t.backward(y, as<T>(m2({{1.0}})));
        check(a.grad(), tg::Tensor<double>{{4.0, 5.0, 6.0}});
        check(b.grad(), m2({{1.0}, {2.0}, {3.0}}));
    }
    SECTION("(3,1)@(1,4)") {
        tg::Tape<T> t;
        auto a = t.variable(as<T>(m2({{1.0}, {2.0}, {3.0}})));
        auto b = t.variable(as<T>(tg::Tensor<double>{{1.0, -1.0, 2.0, 0.5}}));
        auto y = tg::matmul(a, b);
        // outer product a[i] * b[j]
        check(y.value(), tg::Tensor<double>{{1.0, -1.0, 2.0, 0.5}, {2.0, -2.0, 4.0, 1.0}, {3.0, -3.0, 6.0, 1.5}});
        t.backward(y, as<T>(filled({3, 4}, 1.0)));
        // da[i] = sum_j b[j] = 2.5 ; db[j] = sum_i a[i] = 6
        check(a.grad(), m2({{2.5}, {2.5}, {2.5}}));
        check(b.grad(), tg::Tensor<double>{{6.0, 6.0, 6.0, 6.0}});
    }
}

TEST_CASE("matmul: constant operand gets no gradient, the variable one does", "[ops][linalg]") {
    tg::Tape<double> t;
    auto a = t.constant(tg::Tensor<double>{{1.0, 2.0}, {3.0, 4.0}});
    auto b = t.variable(tg::Tensor<double>{{1.0, 0.0}, {0.0, 1.0}});
    auto y = tg::matmul(a, b);
    check(y.value(), tg::Tensor<double>{{1.0, 2.0}, {3.0, 4.0}});  // a @ I
    t.backward(y, tg::Tensor<double>{{1.0, 0.0}, {0.0, 0.0}});
    // db = a^T @ G = [[1,3],[2,4]] @ [[1,0],[0,0]] = [[1,0],[2,0]]
    check(b.grad(), tg::Tensor<double>{{1.0, 0.0}, {2.0, 0.0}});
    CHECK_FALSE(a.requires_grad());
}

TEST_CASE("matmul: operand used twice and elsewhere accumulates; repeated backward does not double", "[ops][linalg]") {
    tg::Tape<double> t;
    auto a = t.variable(tg::Tensor<double>{{1.0, 2.0}, {3.0, 4.0}});
    auto y = tg::add(tg::matmul(a, a), a);
    // a@a = [[1+6, 2+8], [3+12, 6+16]] = [[7,10],[15,22]], plus a
    check(y.value(), tg::Tensor<double>{{8.0, 12.0}, {18.0, 26.0}});
    const auto seed = filled({2, 2}, 1.0);
    // d/da of sum(a@a + a) = 1@a^T + a^T@1 + 1
    //   1@a^T: every row = row sums of a = [3, 7]; a^T@1: row k = column sum k of a = [4; 6]
    //   = [[3+4+1, 7+4+1], [3+6+1, 7+6+1]]
    const tg::Tensor<double> expected = {{8.0, 12.0}, {10.0, 14.0}};
    tg::BackwardOptions keep;
    keep.retain_graph = true;
    t.backward(y, seed, keep);
    check(a.grad(), expected);
    t.backward(y, seed, keep);  // recomputed from scratch, not added onto the first
    check(a.grad(), expected);
}

TEST_CASE("matmul: gradcheck for every shape combination", "[ops][linalg]") {
    SECTION("(M,K)@(K,N)") { require_gradcheck(fmatmul, {smooth({2, 3}), smooth({3, 4}, 1.0, 0.1)}); }
    SECTION("(B,M,K)@(B,K,N)") { require_gradcheck(fmatmul, {smooth({2, 3, 4}), smooth({2, 4, 2}, 1.0, 0.1)}); }
    SECTION("(B,M,K)@(K,N)") { require_gradcheck(fmatmul, {smooth({3, 2, 4}), smooth({4, 3}, 1.0, 0.1)}); }
    SECTION("(M,K)@(B,K,N)") { require_gradcheck(fmatmul, {smooth({2, 4}), smooth({3, 4, 3}, 1.0, 0.1)}); }
    SECTION("size-1 dims") {
        require_gradcheck(fmatmul, {smooth({1, 1}), smooth({1, 1}, 1.0, 0.1)});
        require_gradcheck(fmatmul, {smooth({1, 3}), smooth({3, 1}, 1.0, 0.1)});
        require_gradcheck(fmatmul, {smooth({3, 1}), smooth({1, 4}, 1.0, 0.1)});
        require_gradcheck(fmatmul, {smooth({1, 2, 3}), smooth({1, 3, 2}, 1.0, 0.1)});  // B = 1
        require_gradcheck(fmatmul, {smooth({2, 1, 3}), smooth({3, 1}, 1.0, 0.1)});     // M = N = 1, shared
        require_gradcheck(fmatmul, {smooth({1, 3}), smooth({2, 3, 1}, 1.0, 0.1)});
    }
    SECTION("same operand twice, and one constant operand") {
        require_gradcheck([](TapeD&, const In& in) { return tg::add(tg::matmul(in[0], in[0]), in[0]); },
                          {smooth({3, 3})});
        const auto c = smooth({3, 2}, 1.0, 0.2);
        require_gradcheck([&](TapeD& t, const In& in) { return tg::matmul(in[0], t.constant(c)); }, {smooth({2, 3})});
        require_gradcheck([&](TapeD& t, const In& in) { return tg::matmul(t.constant(c), in[0]); },
                          {smooth({2, 2, 4})});
    }
}

TEST_CASE("matmul: shape mismatches throw ShapeError naming both shapes", "[ops][linalg]") {
    tg::Tape<double> t;
    auto a = t.variable(smooth({2, 3}));
    auto b = t.variable(smooth({4, 5}));
    const std::size_t before = t.size();
    const std::string m = thrown_message<tg::ShapeError>([&] { tg::matmul(a, b); });
    INFO(m);
    CHECK(m.find("matmul") != std::string::npos);
    CHECK(m.find("(2, 3)") != std::string::npos);
    CHECK(m.find("(4, 5)") != std::string::npos);
    CHECK(t.size() == before);  // nothing recorded

    // batched: inner dims differ, batch sizes differ
    const std::string m2s =
        thrown_message<tg::ShapeError>([&] { tg::matmul(t.variable(smooth({2, 2, 3})), t.variable(smooth({2, 4, 2}))); });
    CHECK(m2s.find("(2, 2, 3)") != std::string::npos);
    CHECK(m2s.find("(2, 4, 2)") != std::string::npos);
    REQUIRE_THROWS_AS(tg::matmul(t.variable(smooth({2, 2, 3})), t.variable(smooth({3, 3, 2}))), tg::ShapeError);
    // shared operand with a wrong inner size, both ways round
    REQUIRE_THROWS_AS(tg::matmul(t.variable(smooth({2, 2, 3})), t.variable(smooth({2, 2}))), tg::ShapeError);
    REQUIRE_THROWS_AS(tg::matmul(t.variable(smooth({2, 3})), t.variable(smooth({2, 2, 2}))), tg::ShapeError);
    // size-1 dims do not broadcast in the contraction: (3,1)@(3,1)
    REQUIRE_THROWS_AS(tg::matmul(t.variable(smooth({3, 1})), t.variable(smooth({3, 1}))), tg::ShapeError);
}

// ---- transpose ------------------------------------------------------------------

TEMPLATE_TEST_CASE("transpose: forward and backward, 2-D and 3-D", "[ops][linalg]", float, double) {
    using T = TestType;
    SECTION("2-D") {
        tg::Tape<T> t;
        auto x = t.variable(as<T>(tg::Tensor<double>{{1.0, 2.0, 3.0}, {4.0, 5.0, 6.0}}));
        auto y = tg::transpose(x);
        check(y.value(), tg::Tensor<double>{{1.0, 4.0}, {2.0, 5.0}, {3.0, 6.0}});
        t.backward(y, as<T>(tg::Tensor<double>{{1.0, 2.0}, {3.0, 4.0}, {5.0, 6.0}}));
        // the seed transposed back
        check(x.grad(), tg::Tensor<double>{{1.0, 3.0, 5.0}, {2.0, 4.0, 6.0}});
    }
    SECTION("3-D swaps only the last two axes") {
        tg::Tape<T> t;
        auto x = t.variable(as<T>(tg::Tensor<double>{{{1.0, 2.0, 3.0}, {4.0, 5.0, 6.0}},
                                                     {{7.0, 8.0, 9.0}, {10.0, 11.0, 12.0}}}));  // (2,2,3)
        auto y = tg::transpose(x);
        check(y.value(), tg::Tensor<double>{{{1.0, 4.0}, {2.0, 5.0}, {3.0, 6.0}},
                                            {{7.0, 10.0}, {8.0, 11.0}, {9.0, 12.0}}});  // (2,3,2)
        t.backward(y, as<T>(tg::Tensor<double>{{{1.0, 2.0}, {3.0, 4.0}, {5.0, 6.0}},
                                               {{-1.0, -2.0}, {-3.0, -4.0}, {-5.0, -6.0}}}));
        check(x.grad(), tg::Tensor<double>{{{1.0, 3.0, 5.0}, {2.0, 4.0, 6.0}}, {{-1.0, -3.0, -5.0}, {-2.0, -4.0, -6.0}}});
    }
    SECTION("size-1 dims: (1,3) -> (3,1)") {
        tg::Tape<T> t;
        auto x = t.variable(as<T>(tg::Tensor<double>{{1.0, 2.0, 3.0}}));
        auto y = tg::transpose(x);
        check(y.value(), m2({{1.0}, {2.0}, {3.0}}));
        t.backward(y, as<T>(m2({{7.0}, {8.0}, {9.0}})));
        check(x.grad(), tg::Tensor<double>{{7.0, 8.0, 9.0}});
    }
}

TEST_CASE("transpose: gradcheck and rank < 2 is refused", "[ops][linalg]") {
    auto f = [](TapeD&, const In& in) { return tg::transpose(in[0]); };
    require_gradcheck(f, {smooth({2, 3})});
    require_gradcheck(f, {smooth({2, 3, 4})});
    require_gradcheck(f, {smooth({3, 1})});
    require_gradcheck(f, {smooth({1, 1, 4})});
    // transpose feeding a matmul: x @ x^T
    require_gradcheck([](TapeD&, const In& in) { return tg::matmul(in[0], tg::transpose(in[0])); }, {smooth({2, 3})});

    tg::Tape<double> t;
    auto v = t.variable(tg::Tensor<double>{1.0, 2.0});
    const std::size_t before = t.size();
    // the kind of error for rank < 2 is not specified; it must be a tapegrad::Error
    REQUIRE_THROWS_AS(tg::transpose(v), tg::Error);
    CHECK(t.size() == before);
}

// ---- permute ----------------------------------------------------------------------

TEMPLATE_TEST_CASE("permute: forward and backward", "[ops][linalg]", float, double) {
    using T = TestType;
    tg::Tape<T> t;
    // x[i][j][k] = 12 i + 4 j + k, shape (2,3,4)
    tg::Tensor<double> xv = tg::Tensor<double>::from_shape({2, 3, 4});
    for (std::size_t i = 0; i < xv.size(); ++i) xv.data()[i] = double(i);
    auto x = t.variable(as<T>(xv));
    auto y = tg::permute(x, {2, 0, 1});
    // output axis 0 is input axis 2 etc.: shape (4,2,3), y[k][i][j] = x[i][j][k]
    REQUIRE(shape_of(y) == std::vector<std::size_t>{4, 2, 3});
    CHECK(y.value()(3, 1, 2) == T(23));  // x[1][2][3] = 12 + 8 + 3
    CHECK(y.value()(1, 0, 2) == T(9));   // x[0][2][1] = 8 + 1
    CHECK(y.value()(0, 1, 0) == T(12));  // x[1][0][0]
    for (std::size_t k = 0; k < 4; ++k)
        for (std::size_t i = 0; i < 2; ++i)
            for (std::size_t j = 0; j < 3; ++j) REQUIRE(y.value()(k, i, j) == T(12 * i + 4 * j + k));

    // seed s[k][i][j] = 100 k + 10 i + j, so dx[i][j][k] must be 100 k + 10 i + j
    tg::Tensor<T> seed = tg::Tensor<T>::from_shape({4, 2, 3});
    for (std::size_t k = 0; k < 4; ++k)
        for (std::size_t i = 0; i < 2; ++i)
            for (std::size_t j = 0; j < 3; ++j) seed(k, i, j) = T(100 * k + 10 * i + j);
    t.backward(y, seed);
    const auto& g = x.grad();
    REQUIRE(g.shape().size() == 3);
    for (std::size_t i = 0; i < 2; ++i)
        for (std::size_t j = 0; j < 3; ++j)
            for (std::size_t k = 0; k < 4; ++k) REQUIRE(g(i, j, k) == T(100 * k + 10 * i + j));
}

TEMPLATE_TEST_CASE("permute: 2-D swap, identity and size-1 dims", "[ops][linalg]", float, double) {
    using T = TestType;
    tg::Tape<T> t;
    auto x = t.variable(as<T>(tg::Tensor<double>{{1.0, 2.0, 3.0}, {4.0, 5.0, 6.0}}));
    check(tg::permute(x, {1, 0}).value(), tg::Tensor<double>{{1.0, 4.0}, {2.0, 5.0}, {3.0, 6.0}});
    check(tg::permute(x, {0, 1}).value(), tg::Tensor<double>{{1.0, 2.0, 3.0}, {4.0, 5.0, 6.0}});
    auto z = t.variable(as<T>(m3({{{1.0}, {2.0}, {3.0}}})));  // (1,3,1)
    auto p = tg::permute(z, {2, 0, 1});                          // (1,1,3)
    check(p.value(), m3({{{1.0, 2.0, 3.0}}}));
    t.backward(p, as<T>(m3({{{4.0, 5.0, 6.0}}})));
    check(z.grad(), m3({{{4.0}, {5.0}, {6.0}}}));
}

TEST_CASE("permute: gradcheck", "[ops][linalg]") {
    require_gradcheck([](TapeD&, const In& in) { return tg::permute(in[0], {2, 0, 1}); }, {smooth({2, 3, 4})});
    require_gradcheck([](TapeD&, const In& in) { return tg::permute(in[0], {1, 2, 0}); }, {smooth({2, 3, 4})});
    require_gradcheck([](TapeD&, const In& in) { return tg::permute(in[0], {1, 0}); }, {smooth({3, 2})});
    require_gradcheck([](TapeD&, const In& in) { return tg::permute(in[0], {2, 1, 0}); }, {smooth({1, 3, 1})});
    require_gradcheck([](TapeD&, const In& in) { return tg::permute(in[0], {0, 3, 1, 2}); }, {smooth({2, 1, 3, 2})});
}

TEST_CASE("permute: an invalid permutation throws ArgumentError", "[ops][linalg]") {
    tg::Tape<double> t;
    auto x = t.variable(smooth({2, 3, 4}));
    const std::size_t before = t.size();
    REQUIRE_THROWS_AS(tg::permute(x, {0, 0, 1}), tg::ArgumentError);  // repeated axis
    REQUIRE_THROWS_AS(tg::permute(x, {0, 1, 3}), tg::ArgumentError);  // axis out of range
    REQUIRE_THROWS_AS(tg::permute(x, {1, 0}), tg::ArgumentError);     // too short
    REQUIRE_THROWS_AS(tg::permute(x, {0, 1, 2, 3}), tg::ArgumentError);  // too long
    CHECK(t.size() == before);
}

// ---- linear: x·wᵀ + b ---------------------------------------------------------

TEST_CASE("linear: forward by hand, with and without bias, 2-D and 3-D input", "[ops][linalg]") {
    tg::Tape<double> t;
    auto x = t.variable(tg::Tensor<double>{{1.0, 2.0}, {3.0, -1.0}});
    auto w = t.variable(tg::Tensor<double>{{1.0, 0.0}, {2.0, 1.0}, {-1.0, 1.0}});  // (O=3, I=2)
    auto b = t.variable(tg::Tensor<double>{0.5, 0.0, -0.5});
    // row 0: [1, 2+2, -1+2] = [1, 4, 1]; row 1: [3, 6-1, -3-1] = [3, 5, -4]
    tgtest::require_close(tg::linear(x, w).value(), tg::Tensor<double>{{1.0, 4.0, 1.0}, {3.0, 5.0, -4.0}});
    auto y = tg::linear(x, w, b);
    tgtest::require_close(y.value(), tg::Tensor<double>{{1.5, 4.0, 0.5}, {3.5, 5.0, -4.5}});
    t.backward(y, tg::Tensor<double>{{1.0, 0.0, 0.0}, {0.0, 1.0, 1.0}});
    // dx = G·w: row 0 = w[0] = [1, 0]; row 1 = w[1] + w[2] = [1, 2]
    tgtest::require_close(x.grad(), tg::Tensor<double>{{1.0, 0.0}, {1.0, 2.0}});
    // dw = Gᵀ·x: w[0] ← x[0] = [1, 2]; w[1] ← x[1] = [3, -1]; w[2] ← x[1]
    tgtest::require_close(w.grad(), tg::Tensor<double>{{1.0, 2.0}, {3.0, -1.0}, {3.0, -1.0}});
    tgtest::require_close(b.grad(), tg::Tensor<double>{1.0, 1.0, 1.0});
    // (T, B, I) folds into rows: same numbers, shape (1, 2, 3).
    auto x3 = t.constant(tg::Tensor<double>{{{1.0, 2.0}, {3.0, -1.0}}});
    auto y3 = tg::linear(x3, w, b);
    REQUIRE(y3.shape() == std::vector<std::size_t>{1, 2, 3});
    tgtest::require_close(y3.value(), tg::Tensor<double>{{{1.5, 4.0, 0.5}, {3.5, 5.0, -4.5}}});
}

TEST_CASE("linear: gradcheck including size-1 shapes, and shape errors", "[ops][linalg]") {
    auto fn_bias = [](tg::Tape<double>&, const std::vector<tg::Var<double>>& in) { return tg::linear(in[0], in[1], in[2]); };
    auto fn = [](tg::Tape<double>&, const std::vector<tg::Var<double>>& in) { return tg::linear(in[0], in[1]); };
    tgtest::require_gradcheck(fn_bias, {tgtest::smooth({4, 3}), tgtest::smooth({2, 3}, 0.5), tgtest::smooth({2}, 0.3)});
    tgtest::require_gradcheck(fn_bias, {tgtest::smooth({2, 5, 3}), tgtest::smooth({4, 3}, 0.5), tgtest::smooth({4}, 0.3)});
    tgtest::require_gradcheck(fn_bias, {tgtest::smooth({1, 1}), tgtest::smooth({1, 1}, 0.5), tgtest::smooth({1}, 0.3)});
    tgtest::require_gradcheck(fn, {tgtest::smooth({3}), tgtest::smooth({2, 3}, 0.5)});
    tg::Tape<double> t;
    auto x = t.variable(tgtest::smooth({2, 3}));
    REQUIRE_THROWS_WITH(tg::linear(x, t.variable(tgtest::smooth({2, 4}))),
                        Catch::Matchers::Contains("linear") && Catch::Matchers::Contains("(2, 4)"));
    REQUIRE_THROWS_AS(tg::linear(x, t.variable(tgtest::smooth({4, 3})), t.variable(tgtest::smooth({3}))), tg::ShapeError);
}

TEST_CASE("linear: a bias of the output's shape is the GEMM's starting value (addmm)", "[ops][linalg]") {
    tg::Tape<double> t;
    auto x = t.variable(tg::Tensor<double>{{1.0, 2.0}, {3.0, -1.0}});
    auto w = t.variable(tg::Tensor<double>{{1.0, 0.0}, {2.0, 1.0}, {-1.0, 1.0}});
    auto c = t.variable(tg::Tensor<double>{{0.5, 0.0, -0.5}, {1.0, 2.0, 3.0}});
    // x·wᵀ = [[1, 4, 1], [3, 5, -4]] plus c elementwise
    auto y = tg::linear(x, w, c);
    tgtest::require_close(y.value(), tg::Tensor<double>{{1.5, 4.0, 0.5}, {4.0, 7.0, -1.0}});
    t.backward(y, tg::Tensor<double>{{1.0, 0.0, 2.0}, {0.0, -1.0, 1.0}});
    tgtest::require_close(c.grad(), tg::Tensor<double>{{1.0, 0.0, 2.0}, {0.0, -1.0, 1.0}});
    // dx = G·w: row 0 = w[0] + 2 w[2] = [-1, 2]; row 1 = -w[1] + w[2] = [-3, 0]
    tgtest::require_close(x.grad(), tg::Tensor<double>{{-1.0, 2.0}, {-3.0, 0.0}});

    auto fn = [](tg::Tape<double>&, const std::vector<tg::Var<double>>& in) { return tg::linear(in[0], in[1], in[2]); };
    tgtest::require_gradcheck(fn, {tgtest::smooth({4, 3}), tgtest::smooth({2, 3}, 0.5), tgtest::smooth({4, 2}, 0.3)});
    tgtest::require_gradcheck(fn, {tgtest::smooth({2, 5, 3}), tgtest::smooth({4, 3}, 0.5), tgtest::smooth({2, 5, 4}, 0.3)});
    tgtest::require_gradcheck(fn, {tgtest::smooth({1, 1}), tgtest::smooth({1, 1}, 0.5), tgtest::smooth({1, 1}, 0.3)});
    // Used twice: both contributions reach c.
    auto twice = [](tg::Tape<double>&, const std::vector<tg::Var<double>>& in) {
        return tg::linear(in[0], in[1], tg::linear(in[0], in[1], in[2]));
    };
    tgtest::require_gradcheck(twice, {tgtest::smooth({3, 2}), tgtest::smooth({2, 2}, 0.5), tgtest::smooth({3, 2}, 0.3)});

    // Anything else is refused by name, recording nothing.
    auto square = t.variable(tgtest::smooth({3, 3})), row = t.variable(tgtest::smooth({1, 3}));
    const auto before = t.size();
    REQUIRE_THROWS_WITH(tg::linear(x, w, square),
                        "linear: bias must be 1-D of size out_features, or of the output's shape: input (2, 2), weight (3, 2), bias (3, 3)");
    REQUIRE_THROWS_AS(tg::linear(x, w, row), tg::ShapeError);  // no broadcasting
    CHECK(t.size() == before);
}

TEST_CASE("Tape::full records a filled constant", "[tape]") {
    tg::Tape<float> t;
    auto z = t.full({2, 3}, 1.5f);
    REQUIRE(z.shape() == std::vector<std::size_t>{2, 3});
    for (float v : z.value()) REQUIRE(v == 1.5f);
    REQUIRE_FALSE(z.requires_grad());
}

extern "C" void openblas_set_num_threads(int);
extern "C" int openblas_get_num_threads(void);

TEST_CASE("weight gradients of thin products are exact whether or not backward gathers them", "[ops][linalg]") {
    // A 256 × 300 weight used by 12 thin products (as a cell's weight is at
    // every time step), once directly and once through a scaled copy, so the
    // gathered GEMM must be flushed before that copy's backward. With several
    // OpenBLAS threads backward gathers the thin products (and, at 200 rows of
    // 556 doubles each, flushes once the 4 MiB bound is reached); on one
    // thread it runs them one by one. Both must equal the sum by hand.
    const std::size_t O = 256, I = 300, steps = 12;
    const std::size_t rows[] = {4, 4, 200, 200, 200, 200, 200, 200, 7, 1, 1, 3};
    tg::Tensor<double> w0 = tgtest::smooth({O, I}, 0.01);
    std::vector<tg::Tensor<double>> xs, rs;
    for (std::size_t s = 0; s < steps; ++s) {
        xs.push_back(tgtest::smooth({rows[s], I}, 0.1 + 0.01 * double(s)));
        rs.push_back(tgtest::smooth({rows[s], O}, 0.2 + 0.03 * double(s)));
    }
    // dL/dW = Σ_s (1 + [s odd]) r_sᵀ x_s, the odd steps going through 2·W.
    tg::Tensor<double> expected = tg::Tensor<double>::from_shape({O, I});
    expected.fill(0.0);
    for (std::size_t s = 0; s < steps; ++s)
        for (std::size_t r = 0; r < rows[s]; ++r)
            for (std::size_t o = 0; o < O; ++o)
                for (std::size_t i = 0; i < I; ++i) expected(o, i) += (s % 2 ? 2.0 : 1.0) * rs[s](r, o) * xs[s](r, i);
    const int threads_before = openblas_get_num_threads();
    for (int threads : {1, 2}) {
        openblas_set_num_threads(threads);
        tg::Tape<double> t;
        auto w = t.variable(w0);
        auto w2 = tg::mul_scalar(w, 2.0);
        tg::Var<double> loss;
        for (std::size_t s = 0; s < steps; ++s) {
            auto y = tg::linear(t.constant(xs[s]), s % 2 ? w2 : w);
            auto term = tg::sum(y * t.constant(rs[s]));
            loss = s == 0 ? term : loss + term;
        }
        t.backward(loss);
        INFO("OpenBLAS threads: " << threads);
        tgtest::require_close(t.grad(w), expected, 1e-12, 1e-12);
    }
    openblas_set_num_threads(threads_before);
}

TEST_CASE("linear with zero in_features gives the bias, and the bias its gradient", "[ops][linalg]") {
    tg::Tape<double> t;
    auto x = t.variable(tg::Tensor<double>::from_shape({2, 0}));
    auto w = t.variable(tg::Tensor<double>::from_shape({3, 0}));
    auto b = t.variable(tg::Tensor<double>{0.5, -1.0, 2.0});
    auto y = tg::linear(x, w, b);
    tgtest::require_close(y.value(), tg::Tensor<double>{{0.5, -1.0, 2.0}, {0.5, -1.0, 2.0}}, 0.0, 0.0);
    tgtest::require_close(tg::linear(x, w).value(), tg::Tensor<double>{{0.0, 0.0, 0.0}, {0.0, 0.0, 0.0}}, 0.0, 0.0);
    t.backward(y, tg::Tensor<double>{{1.0, 2.0, 3.0}, {4.0, 5.0, 6.0}});
    tgtest::require_close(b.grad(), tg::Tensor<double>{5.0, 7.0, 9.0}, 0.0, 0.0);
    REQUIRE(x.grad().size() == 0);
    REQUIRE(w.grad().size() == 0);
}
