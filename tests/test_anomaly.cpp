// Anomaly mode: the first op producing NaN/Inf, forward or backward, is named.

#include "test_util.hpp"

namespace tg = tapegrad;
using Catch::Matchers::Contains;

TEST_CASE("anomaly mode names the first op whose forward produces NaN or Inf", "[anomaly]") {
    tg::Tape<double> t;
    t.set_detect_anomaly(true);
    auto x = t.variable(tg::Tensor<double>{{1.0, -2.0, 3.0}});
    auto y = tg::tanh(x);  // finite
    const auto before = t.size();
    REQUIRE_THROWS_MATCHES(tg::log(y), tg::AnomalyError,
                           Catch::Matchers::Predicate<tg::AnomalyError>([](const tg::AnomalyError& e) {
                               const std::string m = e.what();
                               return m.find("forward") != std::string::npos && m.find("'log'") != std::string::npos &&
                                      m.find("node #2") != std::string::npos && m.find("(1, 3)") != std::string::npos &&
                                      m.find("NaN at [0, 1]") != std::string::npos &&
                                      m.find("inputs were finite") != std::string::npos;
                           }));
    REQUIRE(t.size() == before);  // the failing op recorded nothing
    REQUIRE_THROWS_WITH(tg::div_scalar(x, 0.0), Contains("'div_scalar'") && Contains("inf at [0, 0]"));
}

TEST_CASE("anomaly mode names the op whose backward produces a non-finite gradient, and the input", "[anomaly]") {
    tg::Tape<double> t;
    t.set_detect_anomaly(true);
    auto x = t.variable(tg::Tensor<double>{0.0, 4.0});
    auto w = t.variable(tg::Tensor<double>{1.0, 1.0});
    auto r = tg::sqrt(x);            // forward finite (0, 2); backward 1/(2·0) = inf at element 0
    auto loss = tg::sum(r * w);
    REQUIRE_THROWS_MATCHES(t.backward(loss), tg::AnomalyError,
                           Catch::Matchers::Predicate<tg::AnomalyError>([&](const tg::AnomalyError& e) {
                               const std::string m = e.what();
                               return m.find("backward") != std::string::npos && m.find("'sqrt'") != std::string::npos &&
                                      m.find("node #" + std::to_string(r.id())) != std::string::npos &&
                                      m.find("for input 0") != std::string::npos && m.find("inf at [0]") != std::string::npos &&
                                      m.find("received was finite") != std::string::npos;
                           }));
}

TEST_CASE("anomaly mode is off by default and lets non-finite values through", "[anomaly]") {
    tg::Tape<double> t;
    REQUIRE_FALSE(t.detect_anomaly());
    auto x = t.variable(tg::Tensor<double>{-1.0});
    auto y = tg::log(x);
    REQUIRE(std::isnan(y.item()));
    t.backward(tg::sum(y));
    REQUIRE(x.grad()(0) == -1.0);
}
