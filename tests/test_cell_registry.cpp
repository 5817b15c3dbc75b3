// Sequence layers by name (layers/cell_registry.hpp).
#include <catch2/catch.hpp>

#include "test_util.hpp"

namespace tg = tapegrad;

namespace {

// A user's cell, registered under a name: h' = tanh(gi + h·W_hhᵀ) / 2.
template <class T>
class HalfTanhCell : public tg::Cell<T> {
public:
    static constexpr tg::CellSpec kSpec{.name = "HalfTanh", .gates = 1, .states = 1};
    HalfTanhCell(const tg::RecurrentOptions& o, tg::Generator& gen) : tg::Cell<T>(kSpec, o, gen) {}
    struct Context {
        tg::Var<T> w_hh;
    };
    Context begin(tg::Tape<T>& t) { return {t.param(this->weight_hh())}; }
    tg::RecurrentState<T> step(tg::Var<T> gi, const tg::RecurrentState<T>& s, const Context& k) const {
        return {tg::tanh(tg::linear(s.h, k.w_hh, gi)) * T(0.5)};
    }
};

}  // namespace

TEST_CASE("make_recurrent builds every built-in cell by name", "[registry]") {
    const std::vector<std::string> expected{"cifg", "gru", "layernorm_lstm", "lstm", "nfg", "niaf", "nig",
                                            "noaf", "nog", "peephole", "rnn", "rnn_relu"};
    for (const std::string& name : expected) CHECK(tg::has_recurrent<float>(name));
    const std::map<std::string, std::string> spec_names{{"lstm", "LSTM"}, {"gru", "GRU"}, {"rnn", "RNN"},
                                                        {"peephole", "PeepholeLSTM"}, {"cifg", "CIFGLSTM"},
                                                        {"layernorm_lstm", "LayerNormLSTM"}, {"nig", "AblatedLSTM"}};
    for (const auto& [name, spec] : spec_names) {
        tg::Generator gen(1);
        auto layer = tg::make_recurrent<double>(name, {.input_size = 3, .hidden_size = 4}, gen);
        CHECK(std::string(layer->spec().name) == spec);
    }
}

TEST_CASE("make_recurrent: a named ablation runs that ablation, the same as AblatedLSTM", "[registry]") {
    tg::Generator g1(7), g2(7);
    auto by_name = tg::make_recurrent<double>("noaf", {.input_size = 2, .hidden_size = 3}, g1);
    tg::AblatedLSTM<double> direct({.input_size = 2, .hidden_size = 3, .lstm_ablation = tg::LSTMAblation::no_output_activation}, g2);
    tg::Tape<double> t;
    tg::Generator xg(3);
    const tg::Tensor<double> x = tg::randn<double>({4, 2, 2}, xg);
    const auto a = (*by_name)(t.constant(x)).output.value();
    const auto b = direct(t.constant(x)).output.value();
    CHECK((a == b));
    auto relu = tg::make_recurrent<double>("rnn_relu", {.input_size = 2, .hidden_size = 3}, g1);
    CHECK(relu->options().nonlinearity == tg::RNNNonlinearity::relu);
}

TEST_CASE("make_recurrent: an unknown name lists the known ones; bad options pass through", "[registry]") {
    tg::Generator gen(1);
    CHECK_THROWS_AS(tg::make_recurrent<float>("transformer", {.input_size = 1, .hidden_size = 1}, gen), tg::ArgumentError);
    CHECK_THROWS_WITH(tg::make_recurrent<float>("transformer", {.input_size = 1, .hidden_size = 1}, gen), Catch::Matchers::Contains("no recurrent layer named 'transformer'") &&
                             Catch::Matchers::Contains("cifg, gru, layernorm_lstm, lstm"));
    // GRU has no forget gate: its own ArgumentError.
    CHECK_THROWS_AS(tg::make_recurrent<float>("gru", {.input_size = 1, .hidden_size = 1, .forget_bias = 1.0}, gen),
                    tg::ArgumentError);
}

TEST_CASE("register_recurrent: a user's cell is built by name, and runs as written", "[registry]") {
    tg::register_recurrent<double>("half_tanh", [](const tg::RecurrentOptions& o, tg::Generator& g) {
        return std::make_unique<tg::Recurrent<HalfTanhCell<double>>>(o, g);
    });
    REQUIRE(tg::has_recurrent<double>("half_tanh"));
    CHECK_FALSE(tg::has_recurrent<float>("half_tanh"));  // one registry per element type
    tg::Generator gen(2);
    auto layer = tg::make_recurrent<double>("half_tanh", {.input_size = 1, .hidden_size = 1, .bias = false}, gen);
    layer->weights(0, 0).weight_ih.set_value(tgtest::m2({{2.0}}));
    layer->weights(0, 0).weight_hh.set_value(tgtest::m2({{1.0}}));
    tg::Tape<double> t;
    // x = (0.5, 0.25), one sequence: h1 = tanh(1)/2, h2 = tanh(0.5 + h1)/2.
    tg::Tensor<double> x = tg::zeros<double>({2, 1, 1});
    x(0, 0, 0) = 0.5;
    x(1, 0, 0) = 0.25;
    const auto out = (*layer)(t.constant(x)).output.value();
    const double h1 = std::tanh(1.0) / 2, h2 = std::tanh(0.5 + h1) / 2;
    CHECK(out(0, 0, 0) == Approx(h1).epsilon(1e-15));
    CHECK(out(1, 0, 0) == Approx(h2).epsilon(1e-15));
}

TEST_CASE("register_recurrent refuses names that are not flag-safe, and empty factories", "[registry]") {
    auto f = [](const tg::RecurrentOptions& o, tg::Generator& g) -> std::unique_ptr<tg::RecurrentLayer<float>> {
        return std::make_unique<tg::LSTM<float>>(o, g);
    };
    for (const std::string bad : {"", "My Cell", "lstm-2", "../x", "LSTM"}) {
        CHECK_THROWS_AS(tg::register_recurrent<float>(bad, f), tg::ArgumentError);
        CHECK_THROWS_WITH(tg::register_recurrent<float>(bad, f), Catch::Matchers::Contains("register_recurrent: name '" + bad + "'"));
    }
    CHECK_THROWS_AS(tg::register_recurrent<float>("ok_name", tg::RecurrentFactory<float>{}), tg::ArgumentError);
    CHECK_THROWS_WITH(tg::register_recurrent<float>("ok_name", tg::RecurrentFactory<float>{}), Catch::Matchers::Contains("empty"));
    CHECK_FALSE(tg::has_recurrent<float>("ok_name"));
}

TEST_CASE("accepts_forget_bias: the cells with a forget gate", "[registry]") {
    for (const std::string name : {"lstm", "peephole", "layernorm_lstm", "nig", "nog", "niaf", "noaf"})
        CHECK(tg::accepts_forget_bias<float>(name));
    // CIFG has no forget gate of its own (f = 1 − i): it refuses the option too.
    for (const std::string name : {"gru", "rnn", "rnn_relu", "nfg", "cifg"}) CHECK_FALSE(tg::accepts_forget_bias<float>(name));
    CHECK_THROWS_WITH(tg::accepts_forget_bias<float>("nope"), Catch::Matchers::Contains("no recurrent layer named 'nope'"));
}
