// Tensor utilities outside the tape (tensor_utils.hpp): creation, casts,
// argmax/argmin/topk, multinomial sampling and sampling from logits, and
// printing (print.hpp). Expected values are written out by hand.

#include <cmath>
#include <limits>
#include <sstream>
#include <string>
#include <vector>

#include "test_util.hpp"

namespace tg = tapegrad;
using Catch::Matchers::Contains;
using tgtest::require_close;

namespace {

template <class T>
std::vector<T> values(const tg::Tensor<T>& x) {
    return std::vector<T>(x.begin(), x.end());
}
std::vector<std::int64_t> values(const tg::Index& x) { return std::vector<std::int64_t>(x.begin(), x.end()); }

template <class X>
std::string printed(const X& x) {
    std::ostringstream s;
    s << x;
    return s.str();
}

}  // namespace

// ---- creation ----------------------------------------------------------------------

TEMPLATE_TEST_CASE("zeros, ones, full: shape and value; 0-d and empty shapes", "[tensor_utils]", float, double) {
    using T = TestType;
    const tg::Tensor<T> z = tg::zeros<T>({2, 3});
    CHECK(z.shape() == typename tg::Tensor<T>::shape_type{2, 3});
    CHECK(values(z) == std::vector<T>(6, T(0)));
    CHECK(values(tg::ones<T>({4})) == std::vector<T>(4, T(1)));
    CHECK(values(tg::full<T>({1, 2}, 2.5)) == std::vector<T>{T(2.5), T(2.5)});
    CHECK(tg::full<T>({}, 7).dimension() == 0);
    CHECK(tg::full<T>({}, 7)() == T(7));
    CHECK(tg::zeros<T>({3, 0}).size() == 0);
    CHECK(tg::zeros({2}).dimension() == 1);  // float by default
    CHECK_THROWS_WITH(tg::zeros<T>({std::size_t{1} << 40, std::size_t{1} << 40}), Contains("zeros: shape (1099511627776, 1099511627776)"));
}

TEST_CASE("arange and linspace: numpy's element counts and end points", "[tensor_utils]") {
    CHECK(values(tg::arange<double>(5)) == std::vector<double>{0, 1, 2, 3, 4});
    CHECK(values(tg::arange<double>(1, 2, 0.25)) == std::vector<double>{1, 1.25, 1.5, 1.75});  // stop excluded
    CHECK(values(tg::arange<double>(3, 0, -1)) == std::vector<double>{3, 2, 1});
    CHECK(tg::arange<double>(0, 1, 0.3).size() == 4);  // ceil(1/0.3) = 4: 0, 0.3, 0.6, 0.9
    CHECK(tg::arange<double>(2, 1).size() == 0);       // an empty range, not an error
    CHECK_THROWS_WITH(tg::arange<float>(0, 1, 0), Contains("arange: start 0, stop 1 and step 0 must be finite, with step != 0"));
    CHECK_THROWS_AS(tg::arange<float>(0, INFINITY), tg::ArgumentError);
    CHECK_THROWS_WITH(tg::arange<float>(0, 1e300, 1e-300), Contains("arange: "));
    CHECK(values(tg::linspace<double>(0, 1, 5)) == std::vector<double>{0, 0.25, 0.5, 0.75, 1});
    CHECK(values(tg::linspace<double>(2, 3, 1)) == std::vector<double>{2});
    CHECK(tg::linspace<double>(2, 3, 0).size() == 0);
    CHECK(tg::linspace<float>(0, 0.7f, 7)(6) == 0.7f);  // the end point exactly
    CHECK_THROWS_AS(tg::linspace<float>(NAN, 1, 3), tg::ArgumentError);
}

TEMPLATE_TEST_CASE("rand, randn, randint: seeded, in range, reproducible", "[tensor_utils]", float, double) {
    using T = TestType;
    tg::Generator g1(7), g2(7);
    const tg::Tensor<T> u = tg::rand<T>({1000}, g1);
    CHECK(values(u) == values(tg::rand<T>({1000}, g2)));  // same seed, same draws
    double sum = 0, sq = 0;
    for (T v : u) {
        REQUIRE(v >= T(0));
        REQUIRE(v < T(1));
        sum += v;
    }
    CHECK(sum / 1000 == Approx(0.5).margin(0.03));  // U(0,1): mean 1/2, sd of the mean 0.009
    const tg::Tensor<T> n = tg::randn<T>({2000}, g1);
    sum = 0;
    for (T v : n) sum += v, sq += double(v) * double(v);
    CHECK(sum / 2000 == Approx(0.0).margin(0.07));  // sd of the mean 0.022
    CHECK(sq / 2000 == Approx(1.0).margin(0.1));
    const tg::Index r = tg::randint(-2, 3, {500}, g1);
    std::vector<int> counts(5, 0);
    for (std::int64_t v : r) {
        REQUIRE(v >= -2);
        REQUIRE(v < 3);
        ++counts[std::size_t(v + 2)];
    }
    for (int c : counts) CHECK(c > 60);  // each of 5 values about 100 times
    CHECK_THROWS_WITH(tg::randint(3, 3, {2}, g1), Contains("randint: low 3 must be below high 3"));
    tg::Generator g3(1);
    CHECK(tg::randint(INT64_MIN, INT64_MAX, {4}, g3).size() == 4);  // the widest range does not overflow
}

TEST_CASE("tensor from values, int64 fills, count_equal", "[tensor_utils]") {
    const tg::Index idx = tg::tensor<std::int64_t>({3, 1, 4, 1, 5, 9}, {2, 3});
    CHECK(idx.shape() == tg::Index::shape_type{2, 3});
    CHECK(idx(1, 2) == 9);
    CHECK(values(tg::tensor<double>({0.5, 2.0})) == std::vector<double>{0.5, 2.0});
    CHECK(tg::tensor<float>({7.0f}, {}).dimension() == 0);
    CHECK_THROWS_WITH(tg::tensor<float>({1, 2, 3}, {2, 2}), Contains("tensor: 3 values for shape (2, 2) of 4 elements"));
    CHECK(values(tg::full<std::int64_t>({3}, -1)) == std::vector<std::int64_t>{-1, -1, -1});
    CHECK(values(tg::zeros<std::int64_t>({2})) == std::vector<std::int64_t>{0, 0});
    CHECK(tg::count_equal(tg::tensor<std::int64_t>({1, 2, 3}), tg::tensor<std::int64_t>({1, 0, 3})) == 2);
    CHECK(tg::count_equal(tg::Index::from_shape({0}), tg::Index::from_shape({0})) == 0);
    CHECK_THROWS_WITH(tg::count_equal(tg::tensor<std::int64_t>({1}), tg::tensor<std::int64_t>({1, 2})),
                      Contains("count_equal: shapes (1,) and (2,) differ"));
}

// ---- casts -------------------------------------------------------------------------

TEST_CASE("cast: float, double and Index each way; to Index only whole numbers in range", "[tensor_utils]") {
    const tg::Tensor<double> d = {{1.5, -2.0}, {0.1, 3.0}};
    const tg::Tensor<float> f = tg::cast<float>(d);
    CHECK(f.shape() == tg::Tensor<float>::shape_type{2, 2});
    CHECK(values(f) == std::vector<float>{1.5f, -2.0f, 0.1f, 3.0f});  // 0.1 rounds to the nearest float
    CHECK(values(tg::cast<double>(f))[2] == double(0.1f));
    const tg::Index i = tg::cast<std::int64_t>(tg::Tensor<double>{-3.0, 0.0, 9007199254740992.0});
    CHECK(values(i) == std::vector<std::int64_t>{-3, 0, 9007199254740992});
    CHECK(values(tg::cast<float>(tg::Index{4, -1})) == std::vector<float>{4.0f, -1.0f});
    CHECK_THROWS_WITH(tg::cast<std::int64_t>(d), Contains("cast: element 0 of (2, 2) (1.5) is not a whole number within int64's range"));
    CHECK_THROWS_AS(tg::cast<std::int64_t>(tg::Tensor<float>{NAN}), tg::ArgumentError);
    CHECK_THROWS_AS(tg::cast<std::int64_t>(tg::Tensor<double>{0x1p63}), tg::ArgumentError);  // one past INT64_MAX
    CHECK(tg::cast<std::int64_t>(tg::Tensor<double>{-0x1p63})(0) == INT64_MIN);
}

// ---- argmax, argmin, topk ---------------------------------------------------------------

TEMPLATE_TEST_CASE("argmax / argmin: flat and along an axis, first on ties, NaN wins", "[tensor_utils]", float, double) {
    using T = TestType;
    const tg::Tensor<T> x = {{1, 7, 7}, {9, 2, 0}};
    CHECK(tg::argmax(x) == 3);
    CHECK(tg::argmin(x) == 5);
    CHECK(values(tg::argmax(x, 1)) == std::vector<std::int64_t>{1, 0});  // the first 7
    CHECK(values(tg::argmin(x, 0)) == std::vector<std::int64_t>{0, 1, 1});
    CHECK(tg::argmax(x, -1, true).shape() == tg::Index::shape_type{2, 1});
    CHECK(tg::argmax(tg::Tensor<T>{1, NAN, 5}) == 1);
    CHECK(tg::argmin(tg::Tensor<T>{1, NAN, -5}) == 1);
    CHECK_THROWS_WITH(tg::argmax(tg::Tensor<T>::from_shape({0})), Contains("argmax: the tensor of shape (0,) is empty"));
    CHECK_THROWS_WITH(tg::argmax(x, 2), Contains("argmax: axis 2 is out of range for a tensor of rank 2"));
    CHECK_THROWS_WITH(tg::argmin(tg::Tensor<T>::from_shape({2, 0}), 1), Contains("argmin: axis 1 of shape (2, 0) is empty"));
    CHECK(tg::argmax(tg::Tensor<T>::from_shape({0, 3}), 1).size() == 0);  // no lines, nothing to pick
    tg::Tape<T> tape;
    CHECK(values(tg::argmax(tape.variable(x), 1)) == std::vector<std::int64_t>{1, 0});  // a Var's value
}

TEMPLATE_TEST_CASE("topk: largest and smallest, sorted, ties by position, any axis", "[tensor_utils]", float, double) {
    using T = TestType;
    const tg::Tensor<T> x = {{3, 1, 4, 1, 5}, {9, 2, 6, 5, 3}};
    const auto top = tg::topk(x, 3);
    CHECK((top.values == tg::Tensor<T>{{5, 4, 3}, {9, 6, 5}}));
    CHECK((top.indices == tg::Index{{4, 2, 0}, {0, 2, 3}}));
    const auto low = tg::topk(x, 2, 1, false);
    CHECK((low.values == tg::Tensor<T>{{1, 1}, {2, 3}}));
    CHECK((low.indices == tg::Index{{1, 3}, {1, 4}}));  // the tied 1s in position order
    const auto cols = tg::topk(x, 1, 0);
    CHECK((cols.values == tgtest::as<T>(tgtest::m2({{9, 2, 6, 5, 5}}))));
    CHECK((cols.indices == tgtest::i2({{1, 1, 1, 1, 0}})));
    CHECK(tg::topk(x, 0).values.shape() == typename tg::Tensor<T>::shape_type{2, 0});
    CHECK_THROWS_WITH(tg::topk(x, 6), Contains("topk: k = 6 is more than the 5 entries along axis -1 of shape (2, 5)"));
}

// ---- sampling --------------------------------------------------------------------------

TEST_CASE("multinomial: frequencies follow the weights; zero weights never drawn", "[tensor_utils]") {
    tg::Generator gen(3);
    const tg::Tensor<double> w = {{1.0, 0.0, 3.0}, {0.0, 2.0, 2.0}};  // need not sum to 1
    const tg::Index s = tg::multinomial(w, 20000, gen);
    REQUIRE(s.shape() == tg::Index::shape_type{2, 20000});
    std::vector<std::vector<int>> counts(2, std::vector<int>(3, 0));
    for (std::size_t r = 0; r < 2; ++r)
        for (std::size_t k = 0; k < 20000; ++k) ++counts[r][std::size_t(s(r, k))];
    CHECK(counts[0][1] == 0);
    CHECK(counts[1][0] == 0);
    CHECK(counts[0][2] / 20000.0 == Approx(0.75).margin(0.015));  // sd 0.003
    CHECK(counts[1][1] / 20000.0 == Approx(0.5).margin(0.015));
    tg::Generator again(3);
    CHECK((tg::multinomial(w, 20000, again) == s));  // seeded: the same draws
    CHECK(tg::multinomial(tg::Tensor<float>{0, 1}, 3, gen).shape() == tg::Index::shape_type{3});
}

TEST_CASE("multinomial without replacement: each category at most once", "[tensor_utils]") {
    tg::Generator gen(5);
    const tg::Tensor<float> w = {1, 2, 0, 3};
    for (int trial = 0; trial < 50; ++trial) {
        const std::vector<std::int64_t> s = values(tg::multinomial(w, 3, gen, false));
        std::vector<std::int64_t> sorted = s;
        std::sort(sorted.begin(), sorted.end());
        REQUIRE(sorted == std::vector<std::int64_t>{0, 1, 3});  // all three nonzero categories, once each
    }
    CHECK_THROWS_WITH(tg::multinomial(w, 4, gen, false), Contains("which has only 3 categories of nonzero weight"));
}

TEST_CASE("multinomial: bad weights are refused by row and position", "[tensor_utils]") {
    tg::Generator gen(1);
    CHECK_THROWS_WITH(tg::multinomial(tg::Tensor<double>{{1, 1}, {1, -1}}, 1, gen), Contains("weight 1 of row 1 is -1"));
    CHECK_THROWS_WITH(tg::multinomial(tg::Tensor<double>{1, NAN}, 1, gen), Contains("weight 1 of row 0 is nan"));
    CHECK_THROWS_WITH(tg::multinomial(tg::Tensor<double>{0, 0}, 1, gen), Contains("the weights of row 0 sum to 0"));
    CHECK_THROWS_WITH(tg::multinomial(tg::Tensor<double>::from_shape({2, 2, 2}), 1, gen),
                      Contains("multinomial: expected shape (C) or (N, C), got (2, 2, 2)"));
}

TEST_CASE("sample_logits: temperature 0 is the argmax, low temperatures sharpen, high flatten", "[tensor_utils]") {
    const tg::Tensor<float> logits = {{0.0f, 1.0f, 2.0f}, {5.0f, 5.0f, -1.0f}};
    tg::Generator gen(11);
    CHECK((tg::sample_logits(logits, gen, 0.0) == tg::Index{2, 0}));  // greedy; the first maximum on ties
    const auto share_of_best = [&](double temperature) {
        int best = 0;
        for (int k = 0; k < 4000; ++k) best += tg::sample_logits(logits, gen, temperature)(0) == 2;
        return best / 4000.0;
    };
    // softmax(0, 1, 2) gives the last category 0.665; at t = 0.5, softmax(0, 2, 4) gives 0.867; at t = 100, nearly 1/3.
    CHECK(share_of_best(1.0) == Approx(0.665).margin(0.03));
    CHECK(share_of_best(0.5) == Approx(0.867).margin(0.03));
    CHECK(share_of_best(100.0) == Approx(0.34).margin(0.03));
    const tg::Index one = tg::sample_logits(tg::Tensor<double>{-INFINITY, 0.0, -INFINITY}, gen);
    CHECK(one.dimension() == 0);  // (C) gives one index, 0-d
    CHECK(one() == 1);            // -inf logits are never drawn
    CHECK(tg::sample_logits(tg::Tensor<double>{1.0, INFINITY}, gen)() == 1);
    CHECK_THROWS_WITH(tg::sample_logits(logits, gen, -1.0), Contains("sample_logits: temperature -1.000000 must be >= 0"));
    CHECK_THROWS_WITH(tg::sample_logits(tg::Tensor<float>{1, NAN}, gen), Contains("sample_logits: logit 1 of row 0 is NaN"));
}

// ---- printing --------------------------------------------------------------------------

TEST_CASE("printing tensors: PyTorch's layout, aligned columns, dtype for double and int64", "[tensor_utils][print]") {
    CHECK(printed(tg::Tensor<float>{{1, 2.5}, {3, 4}}) == "tensor([[1.0000, 2.5000],\n        [3.0000, 4.0000]])");
    CHECK(printed(tg::Tensor<float>{1, 2, 3}) == "tensor([1., 2., 3.])");  // whole numbers
    CHECK(printed(tg::Tensor<double>{0.5, -1.25}) == "tensor([ 0.5000, -1.2500], dtype=float64)");
    CHECK(printed(tg::Index{{1, 2}, {3, 40}}) == "tensor([[ 1,  2],\n        [ 3, 40]], dtype=int64)");
    CHECK(printed(tg::Tensor<float>(3.5f)) == "tensor(3.5000)");
    CHECK(printed(tg::Tensor<float>{1e-5f, 1.0f}) == "tensor([1.0000e-05, 1.0000e+00])");  // magnitudes 1e5 apart
    CHECK(printed(tg::Tensor<float>{NAN, 1.5f, -INFINITY}) == "tensor([   nan, 1.5000,   -inf])");
    CHECK(printed(tg::zeros<float>({2, 1, 2})) == "tensor([[[0., 0.]],\n\n        [[0., 0.]]])");
    CHECK(printed(tg::zeros<float>({0, 3})) == "tensor([], shape=(0, 3))");
}

TEST_CASE("printing a big tensor shows the edges of each axis and its shape", "[tensor_utils][print]") {
    CHECK(printed(tg::arange<float>(2000)) == "tensor([   0.,    1.,    2., ..., 1997., 1998., 1999.], shape=(2000,))");
    const std::string big = printed(tg::zeros<double>({100, 100}));
    CHECK(big == "tensor([[0., 0., 0., ..., 0., 0., 0.],\n"
                 "        [0., 0., 0., ..., 0., 0., 0.],\n"
                 "        [0., 0., 0., ..., 0., 0., 0.],\n"
                 "        ...,\n"
                 "        [0., 0., 0., ..., 0., 0., 0.],\n"
                 "        [0., 0., 0., ..., 0., 0., 0.],\n"
                 "        [0., 0., 0., ..., 0., 0., 0.]], shape=(100, 100), dtype=float64)");
    tg::PrintOptions narrow;
    narrow.threshold = 2;
    narrow.edge_items = 1;
    CHECK(tg::to_string(tg::Tensor<float>{1, 2, 3}, narrow) == "tensor([1., ..., 3.], shape=(3,))");
}

TEST_CASE("printing wraps long rows at 80 columns", "[tensor_utils][print]") {
    const std::string s = printed(tg::linspace<float>(0, 1, 40));
    std::istringstream lines(s);
    std::string line;
    int count = 0;
    while (std::getline(lines, line)) {
        CHECK(line.size() <= 80);
        ++count;
    }
    CHECK(count == 5);  // 40 entries of 8 columns ("0.0256, "): 9 per line
    CHECK(s.rfind("tensor([0.0000, 0.0256,", 0) == 0);
    CHECK(s.find("\n        0.") != std::string::npos);  // continuation lines align under the first entry
}

TEST_CASE("printing a Var names where it came from", "[tensor_utils][print]") {
    tg::Tape<float> t;
    auto x = t.variable(tg::Tensor<float>{1, 2});
    CHECK(printed(x) == "tensor([1., 2.], requires_grad=true)");
    CHECK(printed(tg::tanh(x)) == "tensor([0.7616, 0.9640], grad_fn=tanh)");
    CHECK(printed(t.constant(tg::Tensor<float>{1, 2})) == "tensor([1., 2.])");
    CHECK(printed(tg::exp(t.constant(tg::Tensor<float>{0}))) == "tensor([1.])");  // constants only: no grad_fn
    {
        tg::NoGradGuard no_grad;
        CHECK(printed(tg::tanh(x)) == "tensor([0.7616, 0.9640])");
    }
    t.clear();
    CHECK_THROWS_AS(printed(x), tg::StaleVarError);
}
