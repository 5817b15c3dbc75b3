// OpDef::backward_reads is verified, not trusted: every op of ops.hpp runs
// once with nothing dropped and once with every value its contract says the
// backward does not read actually dropped, and the gradients must be
// bit-identical. A backward that reads an undeclared value meets a dropped one
// and throws ContractError naming the op (the checked accessors of tape.hpp),
// so a wrong contract fails here by name instead of crashing a user's run.
// The cases are the op table's rows (op_table.hpp), which also has the test
// that every function of ops.hpp has one.

#include <cstring>
#include <fstream>
#include <functional>
#include <regex>
#include <set>
#include <sstream>

#include <xtensor/xmath.hpp>

#include <tapegrad/autodiff/op_support.hpp>

#include "op_table.hpp"
#include "test_util.hpp"

namespace tg = tapegrad;
using Catch::Matchers::Contains;
using tgtest::In;
using tgtest::smooth;
using tgtest::TapeD;

namespace {

using V = tg::Var<double>;
using Tens = tg::Tensor<double>;
using tg::NodeId;

// The rows of the op table (op_table.hpp) are the cases: every function of
// ops.hpp, with broadcasting, size-1 and zero-size shapes.
using optable::OpCase;
const std::vector<OpCase>& all_cases() { return optable::all_cases(); }

Tens plain(const tg::Shape& s, double offset = 0.0) { return smooth(s, 1.0, offset); }

/// The leaves' gradients after recording `c` on inputs that are op nodes
/// (x·1, bit-exact), so that drop_value may take them: leaves are never
/// dropped. With `drop`, every input and the output whose contract says the
/// backward does not read it is dropped first, and the test checks that it was.
std::vector<Tens> run_case(const OpCase& c, bool drop) {
    TapeD t;
    In leaves, inputs;
    for (const Tens& x : c.inputs) {
        leaves.push_back(t.variable(x));
        inputs.push_back(tg::mul_scalar(leaves.back(), 1.0));
    }
    const V y = c.record(inputs);
    using Access = tg::detail::TapeAccess<double>;
    const tg::detail::Node<double>& n = Access::node(t, y.id());
    REQUIRE(n.op != nullptr);
    REQUIRE(std::string(n.op->name) == c.op);
    REQUIRE(n.parents_count == inputs.size());
    for (std::size_t k = 0; k < inputs.size(); ++k) REQUIRE(Access::parent(t, n, k) == inputs[k].id());
    // A detached output needs no gradient: backpropagate around it.
    const V out = y.requires_grad() ? y : tg::add(y, inputs[0]);
    if (drop) {
        const std::uint32_t reads = n.op->backward_reads;
        for (const V& x : inputs) t.drop_value(x);
        t.drop_value(y);
        for (std::size_t k = 0; k < inputs.size(); ++k) {
            INFO("input " << k);
            REQUIRE(t.value_dropped(inputs[k]) == !(n.requires_grad && (reads & tg::reads_input(unsigned(k)))));
        }
        REQUIRE(n.value_dropped == !(n.requires_grad && (reads & tg::kReadsOutput)));
    }
    t.backward(out, smooth(tg::Shape(out.shape().begin(), out.shape().end()), 0.5, 0.25));
    std::vector<Tens> grads;
    for (const V& x : leaves) grads.push_back(x.grad());
    return grads;
}

bool bit_identical(const Tens& a, const Tens& b) {
    return tg::detail::shapes_equal(a.shape(), b.shape()) && (a.size() == 0 || std::memcmp(a.data(), b.data(), a.size() * sizeof(double)) == 0);
}

}  // namespace

TEST_CASE("every op's gradients are bit-identical with its unread values dropped", "[contracts]") {
    for (const OpCase& c : all_cases()) {
        INFO(optable::describe(c));
        const std::vector<Tens> kept = run_case(c, false);
        std::vector<Tens> dropped;
        try {
            dropped = run_case(c, true);
        } catch (const tg::ContractError& e) {
            FAIL("its OpDef::backward_reads is wrong: " << e.what());
        }
        REQUIRE(dropped.size() == kept.size());
        for (std::size_t k = 0; k < kept.size(); ++k) {
            INFO("gradient of input " << k << ": kept " << tgtest::describe(kept[k]) << ", dropped " << tgtest::describe(dropped[k]));
            CHECK(bit_identical(kept[k], dropped[k]));
        }
    }
}

namespace {

// Deliberately wrong contracts: each claims its backward reads nothing, and
// then reads x (LyingSquare, y = x²) or its own output (LyingExp, y = eˣ).
template <class T>
struct LyingSquare {
    static void forward(const tg::OpContext<T>& c, tg::Tensor<T>& out) {
        const tg::Tensor<T>& x = c.input(0);
        c.fit(out, x.shape());
        xt::noalias(out) = x * x;
    }
    static void backward(tg::OpContext<T>& c) {
        if (c.needs_grad(0)) c.accumulate(0, T(2) * c.grad() * c.input(0));
    }
    static constexpr tg::OpDef<T> def{"lying_square", forward, backward, tg::kReadsNothing};
};

template <class T>
struct LyingExp {
    static void forward(const tg::OpContext<T>& c, tg::Tensor<T>& out) {
        const tg::Tensor<T>& x = c.input(0);
        c.fit(out, x.shape());
        xt::noalias(out) = xt::exp(x);
    }
    static void backward(tg::OpContext<T>& c) {
        if (c.needs_grad(0)) c.accumulate(0, c.grad() * c.output());
    }
    static constexpr tg::OpDef<T> def{"lying_exp", forward, backward, tg::kReadsNothing};
};

template <class Op>
V record_lying(V x) {
    return tg::detail::record<Op>({x});
}

}  // namespace

TEST_CASE("a backward reading an input its contract does not declare throws ContractError naming the op", "[contracts]") {
    TapeD t;
    const V x = t.variable(plain({64, 32}));  // large enough that its storage goes back to the pool
    const V h = tg::mul_scalar(x, 1.0);
    const V y = record_lying<LyingSquare<double>>(h);
    const V loss = tg::sum(y);
    t.drop_value(h);  // the contract lets the tape take it
    REQUIRE(t.value_dropped(h));
    const std::string msg = tgtest::thrown_message<tg::ContractError>([&] { t.backward(loss); });
    CHECK_THAT(msg, Contains("backward of 'lying_square' (node #" + std::to_string(y.id()) + ")"));
    CHECK_THAT(msg, Contains("its input 0 (node #" + std::to_string(h.id()) + ", 'mul_scalar', shape (64, 32))"));
    CHECK_THAT(msg, Contains("which was dropped"));
    CHECK_THAT(msg, Contains("reads_input(0)"));
}

TEST_CASE("a backward reading its own output undeclared throws ContractError, also after release_since", "[contracts]") {
    TapeD t;
    const V x = t.variable(plain({64, 32}));
    const std::size_t step = t.size();
    const V y = record_lying<LyingExp<double>>(tg::mul_scalar(x, 1.0));
    const V z = tg::mul_scalar(y, 2.0);
    t.release_since(step, {z});  // y's contract says nothing reads it: released with the step
    REQUIRE(t.value_dropped(y));
    const std::string msg = tgtest::thrown_message<tg::ContractError>([&] { t.backward(tg::sum(z)); });
    CHECK_THAT(msg, Contains("backward of 'lying_exp' (node #" + std::to_string(y.id()) + ")"));
    CHECK_THAT(msg, Contains("its own output (shape (64, 32))"));
    CHECK_THAT(msg, Contains("kReadsOutput"));
}

TEST_CASE("a ContractError is a tapegrad::Error", "[contracts]") {
    TapeD t;
    const V h = tg::mul_scalar(t.variable(plain({3})), 1.0);
    const V loss = tg::sum(record_lying<LyingSquare<double>>(h));
    t.drop_value(h);
    REQUIRE_THROWS_AS(t.backward(loss), tg::Error);
}
