// gradcheck itself: it passes correct gradients, catches wrong ones, reports
// where, handles parameters and non-scalar outputs, and leaves state as it was.
// The tape audit: passes a correct model, names a broken op.

#include <xtensor/xmath.hpp>

#include <tapegrad/autodiff/op_support.hpp>

#include "test_util.hpp"

namespace tg = tapegrad;
using Catch::Matchers::Contains;
using tgtest::smooth;

namespace {

// A small two-layer model touching most op families.
tg::Var<double> model(tg::Tape<double>& t, tg::Parameter<double>& w1, tg::Parameter<double>& b1, tg::Parameter<double>& w2,
                      const tg::Tensor<double>& x) {
    auto h = tg::tanh(tg::matmul(t.constant(x), t.param(w1)) + t.param(b1));
    auto parts = tg::chunk(h, 2, 1);
    auto g = tg::sigmoid(parts[0]) * parts[1];
    auto logits = tg::matmul(g, t.param(w2));
    tg::Index targets = {0, 2, 1};
    return tg::cross_entropy(logits, targets) + tg::mean(tg::pow(tg::softmax(logits, -1), 2.0));
}

// A custom op whose backward is wrong in one element: index 1 of its input.
tg::Var<double> broken_square(tg::Var<double> x) {
    return tg::custom_op(
        "broken_square", {x}, [](const auto& in) { return tg::Tensor<double>(in[0] * in[0]); },
        [](const auto& in, const auto&, const auto& g) {
            tg::Tensor<double> d = 2.0 * in[0] * g;
            if (d.size() > 1) d.data()[1] *= 1.5;
            return std::vector<tg::Tensor<double>>{d};
        });
}

}  // namespace

TEST_CASE("gradcheck passes a correct function of inputs", "[gradcheck]") {
    auto r = tg::gradcheck(
        [](tg::Tape<double>&, const std::vector<tg::Var<double>>& in) { return tg::sum(tg::tanh(tg::matmul(in[0], in[1]))); },
        {smooth({2, 3}), smooth({3, 4}, 0.5, 0.1)});
    INFO(r.report());
    REQUIRE(r.ok);
    REQUIRE(r.elements_checked == 18);
    REQUIRE(r.max_abs_error < 1e-8);
    REQUIRE_THAT(r.report(), Contains("passed"));
}

TEST_CASE("gradcheck catches a wrong backward and reports input, element and values", "[gradcheck]") {
    auto r = tg::gradcheck(
        [](tg::Tape<double>&, const std::vector<tg::Var<double>>& in) { return tg::sum(broken_square(in[1]) * in[0]); },
        {smooth({2, 2}, 1.0, 2.0), smooth({2, 2}, 1.0, 3.0)});
    REQUIRE_FALSE(r.ok);
    REQUIRE(r.failures.size() == 1);
    const auto& f = r.failures[0];
    REQUIRE(f.input == "input 1");
    REQUIRE(f.index == std::vector<std::size_t>{0, 1});
    REQUIRE(f.analytic == Approx(1.5 * f.numeric).epsilon(1e-6));
    REQUIRE_THAT(r.report(), Contains("input 1") && Contains("[0, 1]"));
}

TEST_CASE("gradcheck checks non-scalar outputs through projections", "[gradcheck]") {
    // Wrong gradient only reachable through a non-uniform seed: a custom op
    // whose backward ignores g (as if g were all ones).
    auto wrong = [](tg::Var<double> x) {
        return tg::custom_op(
            "ignores_g", {x}, [](const auto& in) { return tg::Tensor<double>(3.0 * in[0]); },
            [](const auto& in, const auto&, const auto&) { return std::vector<tg::Tensor<double>>{3.0 + 0.0 * in[0]}; });
    };
    auto bad = tg::gradcheck([&](tg::Tape<double>&, const std::vector<tg::Var<double>>& in) { return wrong(in[0]); },
                             {smooth({3})});
    REQUIRE_FALSE(bad.ok);
    auto good = tg::gradcheck([](tg::Tape<double>&, const std::vector<tg::Var<double>>& in) { return in[0] * 3.0; },
                              {smooth({3})});
    REQUIRE(good.ok);
}

TEST_CASE("gradcheck works on parameters and restores them", "[gradcheck]") {
    tg::Parameter<double> w1(smooth({3, 4}, 0.5), "w1"), b1(smooth({4}, 0.1), "b1"), w2(smooth({2, 3}, 0.7), "w2");
    w1.mutable_grad().fill(0.25);  // existing gradient must survive
    const tg::Tensor<double> x = smooth({3, 3});
    const tg::Tensor<double> w1_before = w1.value();
    auto r = tg::gradcheck([&](tg::Tape<double>& t) { return model(t, w1, b1, w2, x); }, {&w1, &b1, &w2});
    INFO(r.report());
    REQUIRE(r.ok);
    REQUIRE(r.elements_checked == 12 + 4 + 6);
    tgtest::require_close(w1.value(), w1_before, 0.0, 0.0);
    REQUIRE(w1.grad()(0, 0) == 0.25);
}

TEST_CASE("gradcheck restores parameters when the function throws midway", "[gradcheck]") {
    tg::Parameter<double> w(smooth({2, 2}, 0.5), "w");
    w.mutable_grad().fill(0.25);
    const tg::Tensor<double> before = w.value();
    int calls = 0;
    // Calls: 1 the output's shape, 2 the backward (one projection: the output
    // is a scalar), 3 w[0, 0] at x + eps, 4 at x - eps: it throws there.
    const auto fn = [&](tg::Tape<double>& t) {
        if (++calls == 4) throw std::runtime_error("model failed");
        return tg::sum(tg::tanh(t.param(w)));
    };
    CHECK_THROWS_WITH(tg::gradcheck(fn, {&w}), "model failed");
    REQUIRE(calls == 4);
    tgtest::require_close(w.value(), before, 0.0, 0.0);  // bit for bit, not left at x + eps
    CHECK(w.grad()(0, 0) == 0.25);
}

TEST_CASE("gradcheck names a failing parameter", "[gradcheck]") {
    tg::Parameter<double> w(smooth({3}, 1.0, 2.0), "decoder.w");
    auto r = tg::gradcheck([&](tg::Tape<double>& t) { return tg::sum(broken_square(t.param(w))); }, {&w});
    REQUIRE_FALSE(r.ok);
    REQUIRE_THAT(r.report(), Contains("parameter 'decoder.w'") && Contains("[1]"));
}

TEST_CASE("the audit passes every node of a correct model", "[gradcheck][audit]") {
    tg::Parameter<double> w1(smooth({3, 4}, 0.5), "w1"), b1(smooth({4}, 0.1), "b1"), w2(smooth({2, 3}, 0.7), "w2");
    tg::Tape<double> t;
    auto loss = model(t, w1, b1, w2, smooth({3, 3}));
    t.retain_grad(loss);
    t.backward(loss);
    const tg::Tensor<double> g_before = t.grad(loss);
    auto r = tg::audit(t, loss);
    INFO(r.report());
    REQUIRE(r.ok);
    REQUIRE(r.nodes_checked >= 10);
    // The tape's own gradients are untouched by the audit.
    tgtest::require_close(t.grad(loss), g_before, 0.0, 0.0);
}

TEST_CASE("the audit names the one broken op inside a larger model", "[gradcheck][audit]") {
    tg::Parameter<double> w1(smooth({3, 4}, 0.5), "w1"), b1(smooth({4}, 0.1), "b1"), w2(smooth({2, 3}, 0.7), "w2");
    tg::Tape<double> t;
    auto h = tg::tanh(tg::matmul(t.constant(smooth({5, 3})), t.param(w1)) + t.param(b1));
    auto broken = broken_square(h);
    auto loss = tg::mean(tg::sigmoid(broken));
    auto r = tg::audit(t, loss);
    REQUIRE_FALSE(r.ok);
    REQUIRE(r.failures.size() == 1);
    const auto& f = r.failures[0];
    REQUIRE(f.op == "broken_square");
    REQUIRE(f.node == broken.id());
    REQUIRE(f.input == 0);
    REQUIRE(f.index == std::vector<std::size_t>{0, 1});
    REQUIRE(f.analytic == Approx(1.5 * f.numeric).epsilon(1e-4));
    REQUIRE_THAT(r.report(), Contains("'broken_square'") && Contains("(5, 4)") && Contains("[0, 1]"));
}

TEST_CASE("the audit works on float tapes with float tolerances", "[gradcheck][audit]") {
    tg::Tape<float> t;
    tg::Tensor<float> x = {{0.3f, -0.2f, 0.5f}, {0.1f, 0.4f, -0.6f}};
    auto v = t.variable(x);
    auto loss = tg::sum(tg::log_softmax(tg::tanh(v) * 2.0f, 1));
    auto r = tg::audit(t, loss);
    INFO(r.report());
    REQUIRE(r.ok);
    REQUIRE(r.nodes_checked == 4);
}

TEST_CASE("the audit recomputes dropped values and checks every node, kept or not", "[gradcheck][audit]") {
    std::size_t all = 0;
    for (bool keep : {true, false}) {
        INFO("keep_values " << keep);
        tg::Generator gen(5);
        tg::LSTM<double> lstm({.input_size = 2, .hidden_size = 3}, gen);
        tg::Tensor<double> xv = tg::Tensor<double>::from_shape({4, 2, 2});
        tg::uniform_(xv, -1, 1, gen);
        tg::Tape<double> t;
        t.set_keep_values(keep);
        auto [y, state] = lstm(t.constant(xv));
        auto loss = tg::sum(y * y);
        std::vector<bool> dropped_before;
        for (tg::NodeId id = 0; id < t.size(); ++id) dropped_before.push_back(tg::detail::TapeAccess<double>::node(t, id).value_dropped);
        const std::size_t bytes_before = t.value_bytes();
        auto r = tg::audit(t, loss);
        INFO(r.report());
        REQUIRE(r.ok);
        if (keep) {
            REQUIRE(r.nodes_regenerated == 0);
            REQUIRE(r.nodes_checked >= 4 * 14);  // 14 ops per LSTM step
            all = r.nodes_checked;
        } else {
            REQUIRE(r.nodes_checked == all);  // nothing skipped
            REQUIRE(r.nodes_regenerated > 0);
            REQUIRE(r.nodes_regenerated == std::size_t(std::count(dropped_before.begin(), dropped_before.end(), true)));
            REQUIRE_THAT(r.report(), Contains(std::to_string(r.nodes_regenerated) + " dropped values recomputed"));
        }
        // The tape's memory is as it was: the recomputed values are dropped again.
        for (tg::NodeId id = 0; id < t.size(); ++id) REQUIRE(tg::detail::TapeAccess<double>::node(t, id).value_dropped == dropped_before[id]);
        REQUIRE(t.value_bytes() == bytes_before);
        t.backward(loss);  // and the recording still backpropagates
        REQUIRE(lstm.parameters()[0]->grad().size() > 0);
    }
}

namespace {

// out = 3x, but its backward gives 2.5·g: wrong, and it declares that it
// reads nothing, so a sequence layer's step scope drops its input.
struct BrokenTriple {
    static void forward(const tg::OpContext<double>& c, tg::Tensor<double>& out) {
        const tg::Tensor<double>& x = c.input(0);
        c.fit(out, x.shape());
        for (std::size_t i = 0; i < x.size(); ++i) out.data()[i] = 3 * x.data()[i];
    }
    static void backward(tg::OpContext<double>& c) {
        if (c.needs_grad(0)) c.accumulate(0, c.grad() * 2.5);
    }
    static constexpr tg::OpDef<double> def{"broken_triple", forward, backward, tg::kReadsNothing};
};

tg::Var<double> broken_triple(tg::Var<double> x) {
    tg::Tape<double>& t = tg::detail::tape_of<double>(BrokenTriple::def.name, {x});
    return tg::detail::record<BrokenTriple>(t, {x});
}

// A user's cell with the broken op inside its step: h' = tanh(3·(gi + h·Wᵀ)).
class BrokenCell : public tg::Cell<double> {
public:
    static constexpr tg::CellSpec kSpec{.name = "BrokenCell", .gates = 1, .states = 1};
    BrokenCell(const tg::RecurrentOptions& o, tg::Generator& gen) : tg::Cell<double>(kSpec, o, gen) {}
    struct Context {
        tg::Var<double> w_hh;
    };
    Context begin(tg::Tape<double>& t) { return {t.param(this->weight_hh())}; }
    tg::RecurrentState<double> step(tg::Var<double> gi, const tg::RecurrentState<double>& s, const Context& k) const {
        return {tg::tanh(broken_triple(tg::linear(s.h, k.w_hh, gi)))};
    }
};

}  // namespace

TEST_CASE("the audit finds a broken op inside a user's cell although the layer dropped its input", "[gradcheck][audit]") {
    tg::Generator gen(3);
    tg::Recurrent<BrokenCell> rnn({.input_size = 2, .hidden_size = 3}, gen);
    tg::Tape<double> t;
    auto [y, state] = rnn(t.constant(tg::randn<double>({5, 2, 2}, gen)));
    auto loss = tg::sum(y * y);
    std::size_t broken_nodes = 0, broken_dropped_inputs = 0;
    for (tg::NodeId id = 0; id < t.size(); ++id) {
        using Access = tg::detail::TapeAccess<double>;
        const auto& n = Access::node(t, id);
        if (n.op != &BrokenTriple::def) continue;
        ++broken_nodes;
        broken_dropped_inputs += Access::node(t, Access::parent(t, n, 0)).value_dropped;
    }
    REQUIRE(broken_nodes == 5);
    REQUIRE(broken_dropped_inputs == 5);  // the memory saving the audit used to skip
    auto r = tg::audit(t, loss);
    REQUIRE_FALSE(r.ok);
    REQUIRE(r.failures.size() == 5);  // one per time step, each named
    for (const auto& f : r.failures) {
        CHECK(f.op == "broken_triple");
        CHECK(f.input == 0);
        CHECK(f.analytic == Approx(2.5 / 3 * f.numeric).epsilon(1e-4));
    }
    CHECK(r.nodes_regenerated >= 5);
    const auto first = tg::audit(t, loss, {.stop_at_first = true});
    REQUIRE(first.failures.size() == 1);
    CHECK(first.failures[0].node == r.failures[0].node);
}
