// User-defined ops: recorded like built-ins, gradchecked, validated.

#include <xtensor/xmath.hpp>

#include "test_util.hpp"

namespace tg = tapegrad;
using Catch::Matchers::Contains;

namespace {

template <class T>
tg::Var<T> softsign(tg::Var<T> x) {
    return tg::custom_op(
        "softsign", {x}, [](const auto& in) { return in[0] / (T(1) + xt::abs(in[0])); },
        [](const auto& in, const auto&, const auto& g) {
            return std::vector{tg::Tensor<T>(g / xt::square(T(1) + xt::abs(in[0])))};
        });
}

}  // namespace

TEST_CASE("a custom op computes its forward and records like a built-in", "[custom]") {
    tg::Tape<float> t;
    auto x = t.variable(tg::Tensor<float>{-3.0f, 0.0f, 1.0f});
    auto y = softsign(x);
    // x/(1+|x|): -3/4, 0, 1/2
    tgtest::require_close(y.value(), tg::Tensor<float>{-0.75f, 0.0f, 0.5f});
    REQUIRE(std::string(t.op_name(y)) == "softsign");
    t.backward(tg::sum(y));
    // 1/(1+|x|)^2: 1/16, 1, 1/4
    tgtest::require_close(x.grad(), tg::Tensor<float>{0.0625f, 1.0f, 0.25f});
}

TEST_CASE("a custom op passes gradcheck in double, with several inputs", "[custom]") {
    auto r = tg::gradcheck(
        [](tg::Tape<double>&, const std::vector<tg::Var<double>>& in) {
            auto weighted = tg::custom_op(
                "weighted", {in[0], in[1]}, [](const auto& v) { return tg::Tensor<double>(v[0] * xt::exp(v[1])); },
                [](const auto& v, const auto& out, const auto& g) {
                    return std::vector<tg::Tensor<double>>{g * xt::exp(v[1]), g * out};
                });
            return softsign(weighted);
        },
        {tgtest::smooth({2, 3}), tgtest::smooth({2, 3}, 0.5)});
    INFO(r.report());
    REQUIRE(r.ok);
}

TEST_CASE("a custom op returning a wrong gradient shape or count is refused", "[custom]") {
    tg::Tape<double> t;
    auto x = t.variable(tg::Tensor<double>{1.0, 2.0});
    auto bad_shape = tg::custom_op(
        "bad_shape", {x}, [](const auto& in) { return tg::Tensor<double>(in[0]); },
        [](const auto&, const auto&, const auto&) { return std::vector<tg::Tensor<double>>{tg::Tensor<double>{1.0}}; });
    REQUIRE_THROWS_AS(t.backward(tg::sum(bad_shape)), tg::ShapeError);
    t.clear();
    x = t.variable(tg::Tensor<double>{1.0, 2.0});
    auto bad_count = tg::custom_op(
        "bad_count", {x}, [](const auto& in) { return tg::Tensor<double>(in[0]); },
        [](const auto& in, const auto&, const auto&) { return std::vector<tg::Tensor<double>>{in[0], in[0]}; });
    REQUIRE_THROWS_WITH(t.backward(tg::sum(bad_count)), Contains("bad_count") && Contains("2 gradients for 1 inputs"));
}

TEST_CASE("a custom op whose forward throws leaves the tape unchanged", "[custom]") {
    tg::Tape<double> t;
    auto x = t.variable(tg::Tensor<double>{1.0});
    const auto before = t.size();
    REQUIRE_THROWS_AS(tg::custom_op(
                          "throws", {x}, [](const auto&) -> tg::Tensor<double> { throw tg::ArgumentError("nope"); },
                          [](const auto& in, const auto&, const auto&) { return std::vector<tg::Tensor<double>>{in[0]}; }),
                      tg::ArgumentError);
    REQUIRE(t.size() == before);
    auto y = x * 2.0;
    REQUIRE(y.id() == before);
}
