// Every documented error: its type, its message, and that it loses nothing.

#include "test_util.hpp"

namespace tg = tapegrad;
using Catch::Matchers::Contains;

TEST_CASE("shape mismatch names the op and both shapes, and records nothing", "[errors]") {
    tg::Tape<float> t;
    auto a = t.variable(tg::Tensor<float>::from_shape({2, 3}));
    auto b = t.variable(tg::Tensor<float>::from_shape({4}));
    const auto before = t.size();
    REQUIRE_THROWS_MATCHES(a + b, tg::ShapeError,
                           Catch::Matchers::Predicate<tg::ShapeError>([](const tg::ShapeError& e) {
                               const std::string m = e.what();
                               return m.find("add") != std::string::npos && m.find("(2, 3)") != std::string::npos &&
                                      m.find("(4,)") != std::string::npos;
                           }));
    REQUIRE_THROWS_WITH(tg::matmul(a, a), Contains("matmul") && Contains("(2, 3) @ (2, 3)"));
    REQUIRE(t.size() == before);
}

TEST_CASE("a handle from a cleared tape is stale", "[errors]") {
    tg::Tape<float> t;
    auto x = t.variable(tg::Tensor<float>{1.0f});
    t.clear();
    REQUIRE_THROWS_AS(tg::tanh(x), tg::StaleVarError);
    REQUIRE_THROWS_WITH(x.value(), Contains("cleared"));
    // Even when the slot has been filled again by a new recording.
    auto y = t.variable(tg::Tensor<float>{2.0f});
    REQUIRE(y.id() == x.id());
    REQUIRE_THROWS_AS(x + y, tg::StaleVarError);
    REQUIRE_THROWS_AS(tg::Var<float>().value(), tg::StaleVarError);
}

TEST_CASE("handles from another tape are refused", "[errors]") {
    tg::Tape<float> t1, t2;
    auto a = t1.variable(tg::Tensor<float>{1.0f});
    auto b = t2.variable(tg::Tensor<float>{1.0f});
    REQUIRE_THROWS_AS(a * b, tg::TapeMismatchError);
    REQUIRE_THROWS_WITH(a * b, Contains("another tape"));
    REQUIRE_THROWS_AS(t2.backward(tg::sum(a)), tg::TapeMismatchError);
    REQUIRE_THROWS_AS(t1.grad(b), tg::TapeMismatchError);
}

TEST_CASE("backward on a non-scalar output needs a seed", "[errors]") {
    tg::Tape<float> t;
    auto x = t.variable(tg::Tensor<float>{1.0f, 2.0f});
    REQUIRE_THROWS_AS(t.backward(x * 2.0f), tg::NonScalarError);
    REQUIRE_THROWS_WITH(t.backward(x * 2.0f), Contains("(2,)") && Contains("seed"));
    REQUIRE_THROWS_AS(t.backward(x * 2.0f, tg::Tensor<float>{1.0f}), tg::ShapeError);
}

TEST_CASE("a parameter modified between forward and backward is detected", "[errors]") {
    tg::Parameter<float> w(tg::Tensor<float>{1.0f, 2.0f}, "encoder.weight");
    tg::Tape<float> t;
    auto loss = tg::sum(t.param(w) * t.param(w));
    w.mutable_value()(0) = 5.0f;  // e.g. an optimizer step before backward
    REQUIRE_THROWS_AS(t.backward(loss), tg::ParameterModifiedError);
    REQUIRE_THROWS_WITH(t.backward(loss), Contains("encoder.weight") && Contains("modified"));
    // Nothing was added to the gradient.
    tgtest::require_close(w.grad(), tg::Tensor<float>{0.0f, 0.0f});
}

TEST_CASE("backward twice on a consumed tape throws", "[errors]") {
    tg::Tape<float> t;
    auto x = t.variable(tg::Tensor<float>{1.0f});
    auto loss = tg::sum(x * x);
    t.backward(loss);
    REQUIRE_THROWS_AS(t.backward(loss), tg::TapeConsumedError);
    REQUIRE_THROWS_WITH(t.backward(loss), Contains("retain_graph"));
    t.clear();
    auto y = t.variable(tg::Tensor<float>{1.0f});
    REQUIRE_NOTHROW(t.backward(tg::sum(y * y)));
}

TEST_CASE("backward from a value that needs no gradient is refused", "[errors]") {
    tg::Tape<float> t;
    auto c = t.constant(tg::Tensor<float>{1.0f});
    REQUIRE_THROWS_AS(t.backward(tg::sum(c)), tg::ArgumentError);
}

TEST_CASE("all errors are tapegrad::Error", "[errors]") {
    tg::Tape<float> t;
    auto x = t.variable(tg::Tensor<float>{1.0f, 2.0f});
    REQUIRE_THROWS_AS(tg::sum(x, 3), tg::Error);
    REQUIRE_THROWS_AS(tg::reshape(x, {3}), tg::Error);
    REQUIRE_THROWS_AS(t.backward(x), tg::Error);
}
