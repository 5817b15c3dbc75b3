// OpDef::backward_reads is verified, not trusted: every op of ops.hpp runs
// once with nothing dropped and once with every value its contract says the
// backward does not read actually dropped, and the gradients must be
// bit-identical. A backward that reads an undeclared value meets a dropped one
// and throws ContractError naming the op (the checked accessors of tape.hpp),
// so a wrong contract fails here by name instead of crashing a user's run.

#include <cstring>
#include <fstream>
#include <functional>
#include <regex>
#include <set>
#include <sstream>

#include <xtensor/xmath.hpp>

#include <tapegrad/autodiff/op_support.hpp>

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

/// One way of calling one public function of ops.hpp: `fn` is its name there,
/// `op` the OpDef its last node records (transpose records "permute").
struct OpCase {
    std::string fn, op;
    std::vector<Tens> inputs;
    std::function<V(const In&)> record;
};

Tens positive(const tg::Shape& s) { return smooth(s, 1.0, 2.0); }  // values in [1, 3]
Tens plain(const tg::Shape& s, double offset = 0.0) { return smooth(s, 1.0, offset); }

std::vector<OpCase> elementwise_cases() {
    std::vector<OpCase> c;
    for (const auto& [a, b] : std::vector<std::pair<tg::Shape, tg::Shape>>{
             {{2, 3}, {2, 3}}, {{2, 3}, {1, 3}}, {{2, 1}, {3}}, {{1, 1}, {2, 3}}}) {
        c.push_back({"add", "add", {plain(a), plain(b, 0.3)}, [](const In& x) { return tg::add(x[0], x[1]); }});
        c.push_back({"sub", "sub", {plain(a), plain(b, 0.3)}, [](const In& x) { return tg::sub(x[0], x[1]); }});
        c.push_back({"mul", "mul", {plain(a), plain(b, 0.3)}, [](const In& x) { return tg::mul(x[0], x[1]); }});
        c.push_back({"div", "div", {plain(a), positive(b)}, [](const In& x) { return tg::div(x[0], x[1]); }});
    }
    const tg::Shape s{2, 3};
    c.push_back({"add_scalar", "add_scalar", {plain(s)}, [](const In& x) { return tg::add_scalar(x[0], 1.5); }});
    c.push_back({"mul_scalar", "mul_scalar", {plain(s)}, [](const In& x) { return tg::mul_scalar(x[0], -1.5); }});
    c.push_back({"div_scalar", "div_scalar", {plain(s)}, [](const In& x) { return tg::div_scalar(x[0], 3.0); }});
    c.push_back({"rdiv_scalar", "rdiv_scalar", {positive(s)}, [](const In& x) { return tg::rdiv_scalar(2.0, x[0]); }});
    c.push_back({"neg", "neg", {plain(s)}, [](const In& x) { return tg::neg(x[0]); }});
    c.push_back({"exp", "exp", {plain(s)}, [](const In& x) { return tg::exp(x[0]); }});
    c.push_back({"log", "log", {positive(s)}, [](const In& x) { return tg::log(x[0]); }});
    c.push_back({"log1p", "log1p", {positive(s)}, [](const In& x) { return tg::log1p(x[0]); }});
    c.push_back({"sqrt", "sqrt", {positive(s)}, [](const In& x) { return tg::sqrt(x[0]); }});
    c.push_back({"pow", "pow", {positive(s)}, [](const In& x) { return tg::pow(x[0], 2.5); }});
    c.push_back({"abs", "abs", {plain(s)}, [](const In& x) { return tg::abs(x[0]); }});
    c.push_back({"tanh", "tanh", {plain(s)}, [](const In& x) { return tg::tanh(x[0]); }});
    c.push_back({"sigmoid", "sigmoid", {plain(s)}, [](const In& x) { return tg::sigmoid(x[0]); }});
    c.push_back({"relu", "relu", {plain(s)}, [](const In& x) { return tg::relu(x[0]); }});
    c.push_back({"clamp", "clamp", {plain(s)}, [](const In& x) { return tg::clamp(x[0], -0.5, 0.5); }});
    const auto where = [](const In& x) { return tg::where(x[0], x[1], x[2]); };
    c.push_back({"where", "where", {tgtest::m2({{1.0, 0.0, 2.0}, {0.0, 0.0, 1.0}}), plain(s), plain(s, 0.3)}, where});
    c.push_back({"where", "where", {tgtest::m2({{1.0, 0.0, 2.0}}), plain(s), plain({2, 1}, 0.3)}, where});
    // Masks are constants: run_case backpropagates around them.
    const Tens a = plain(s), b = plain({1, 3}, 0.3);
    c.push_back({"eq", "eq", {a, b}, [](const In& x) { return tg::eq(x[0], x[1]); }});
    c.push_back({"ne", "ne", {a}, [](const In& x) { return tg::ne(x[0], 0.5); }});
    c.push_back({"lt", "lt", {a, b}, [](const In& x) { return tg::lt(x[0], x[1]); }});
    c.push_back({"le", "le", {a}, [](const In& x) { return tg::le(x[0], 0.5); }});
    c.push_back({"gt", "gt", {a, b}, [](const In& x) { return tg::gt(x[0], x[1]); }});
    c.push_back({"ge", "ge", {a}, [](const In& x) { return tg::ge(x[0], 0.5); }});
    return c;
}

std::vector<OpCase> linalg_cases() {
    std::vector<OpCase> c;
    const auto matmul = [](const In& x) { return tg::matmul(x[0], x[1]); };
    c.push_back({"matmul", "matmul", {plain({2, 3}), plain({3, 4}, 0.3)}, matmul});
    c.push_back({"matmul", "matmul", {plain({2, 2, 3}), plain({3, 4}, 0.3)}, matmul});
    c.push_back({"matmul", "matmul", {plain({2, 2, 3}), plain({2, 3, 2}, 0.3)}, matmul});
    c.push_back({"matmul", "matmul", {plain({2, 3}), plain({2, 3, 1}, 0.3)}, matmul});
    const auto linear2 = [](const In& x) { return tg::linear(x[0], x[1]); };
    const auto linear3 = [](const In& x) { return tg::linear(x[0], x[1], x[2]); };
    c.push_back({"linear", "linear", {plain({2, 3}), plain({4, 3}, 0.3)}, linear2});
    c.push_back({"linear", "linear", {plain({2, 2, 3}), plain({4, 3}, 0.3)}, linear2});
    c.push_back({"linear", "linear", {plain({2, 3}), plain({4, 3}, 0.3), plain({4}, 0.6)}, linear3});
    c.push_back({"linear", "linear", {plain({2, 3}), plain({4, 3}, 0.3), plain({2, 4}, 0.6)}, linear3});
    c.push_back({"transpose", "permute", {plain({2, 3})}, [](const In& x) { return tg::transpose(x[0]); }});
    c.push_back({"permute", "permute", {plain({2, 3, 4})}, [](const In& x) { return tg::permute(x[0], {2, 0, 1}); }});
    return c;
}

std::vector<OpCase> shape_cases() {
    std::vector<OpCase> c;
    c.push_back({"reshape", "reshape", {plain({2, 3})}, [](const In& x) { return tg::reshape(x[0], {3, 2}); }});
    c.push_back({"narrow", "narrow", {plain({2, 5})}, [](const In& x) { return tg::narrow(x[0], 1, 1, 3); }});
    c.push_back({"slice", "narrow", {plain({4, 3})}, [](const In& x) { return tg::slice(x[0], 0, 1, 3); }});
    c.push_back({"select", "narrow", {plain({2, 3})}, [](const In& x) { return tg::select(x[0], 1, 2); }});
    c.push_back({"split", "narrow", {plain({2, 5})}, [](const In& x) { return tg::split(x[0], {2, 3}, 1)[1]; }});
    c.push_back({"chunk", "narrow", {plain({4, 3})}, [](const In& x) { return tg::chunk(x[0], 2, 0)[1]; }});
    c.push_back({"concat", "concat", {plain({2, 3}), plain({2, 1}, 0.3)}, [](const In& x) { return tg::concat({x[0], x[1]}, 1); }});
    c.push_back({"stack", "stack", {plain({2, 3}), plain({2, 3}, 0.3)}, [](const In& x) { return tg::stack({x[0], x[1]}, 1); }});
    c.push_back({"index_select", "index_select", {plain({3, 4})},
                 [](const In& x) { return tg::index_select(x[0], 0, {2, 0, 2}); }});
    c.push_back({"gather", "gather", {plain({2, 3})},
                 [](const In& x) { return tg::gather(x[0], 1, tgtest::i2({{2, 0, 2}, {1, 1, 0}})); }});
    return c;
}

std::vector<OpCase> reduce_and_nn_cases() {
    std::vector<OpCase> c;
    const tg::Shape s{2, 3};
    c.push_back({"sum", "sum", {plain(s)}, [](const In& x) { return tg::sum(x[0]); }});
    c.push_back({"sum", "sum", {plain(s)}, [](const In& x) { return tg::sum(x[0], 0); }});
    c.push_back({"sum", "sum", {plain({2, 3, 1})}, [](const In& x) { return tg::sum(x[0], -1, true); }});
    c.push_back({"mean", "mean", {plain(s)}, [](const In& x) { return tg::mean(x[0]); }});
    c.push_back({"mean", "mean", {plain(s)}, [](const In& x) { return tg::mean(x[0], 1, true); }});
    c.push_back({"max", "max", {plain(s)}, [](const In& x) { return tg::max(x[0]); }});
    c.push_back({"max", "max", {plain(s)}, [](const In& x) { return tg::max(x[0], 0); }});
    c.push_back({"min", "min", {plain(s)}, [](const In& x) { return tg::min(x[0]); }});
    c.push_back({"min", "min", {plain(s)}, [](const In& x) { return tg::min(x[0], 1, true); }});
    c.push_back({"logsumexp", "logsumexp", {plain(s)}, [](const In& x) { return tg::logsumexp(x[0]); }});
    c.push_back({"logsumexp", "logsumexp", {plain({2, 1, 3})}, [](const In& x) { return tg::logsumexp(x[0], -1); }});
    c.push_back({"softmax", "softmax", {plain(s)}, [](const In& x) { return tg::softmax(x[0]); }});
    c.push_back({"softmax", "softmax", {plain(s)}, [](const In& x) { return tg::softmax(x[0], 0); }});
    c.push_back({"log_softmax", "log_softmax", {plain(s)}, [](const In& x) { return tg::log_softmax(x[0]); }});
    c.push_back({"mse_loss", "mse_loss", {plain(s), plain(s, 0.3)}, [](const In& x) { return tg::mse_loss(x[0], x[1]); }});
    c.push_back({"cross_entropy", "cross_entropy", {plain({3, 4})},
                 [](const In& x) { return tg::cross_entropy(x[0], tg::Index{1, 0, 3}); }});
    c.push_back({"cross_entropy", "cross_entropy", {plain({3, 4})},
                 [](const In& x) { return tg::cross_entropy(x[0], tg::Index{1, 0, 3}, Tens{1.0, 0.0, 0.5}); }});
    const Tens targets = tgtest::m2({{0.0, 1.0, 0.25}, {1.0, 0.5, 0.0}});
    c.push_back({"binary_cross_entropy_with_logits", "binary_cross_entropy_with_logits", {plain(s), targets},
                 [](const In& x) { return tg::binary_cross_entropy_with_logits(x[0], x[1]); }});
    c.push_back({"binary_cross_entropy_with_logits", "binary_cross_entropy_with_logits", {plain(s), targets},
                 [](const In& x) {
                     return tg::binary_cross_entropy_with_logits(x[0], x[1], tgtest::m2({{1.0, 0.0, 2.0}, {0.5, 1.0, 1.0}}));
                 }});
    c.push_back({"detach", "detach", {plain(s)}, [](const In& x) { return tg::detach(x[0]); }});
    return c;
}

std::vector<OpCase> all_cases() {
    std::vector<OpCase> all;
    for (auto group : {elementwise_cases, linalg_cases, shape_cases, reduce_and_nn_cases})
        for (OpCase& c : group()) all.push_back(std::move(c));
    return all;
}

std::string shapes_of(const OpCase& c) {
    std::string s;
    for (const Tens& x : c.inputs) s += (s.empty() ? "" : ", ") + tg::shape_str(x.shape());
    return s;
}

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
    const tg::Node<double>& n = t.node(y.id());
    REQUIRE(n.op != nullptr);
    REQUIRE(std::string(n.op->name) == c.op);
    REQUIRE(n.parents_count == inputs.size());
    for (std::size_t k = 0; k < inputs.size(); ++k) REQUIRE(t.parent(n, k) == inputs[k].id());
    // A detached output needs no gradient: backpropagate around it.
    const V out = y.requires_grad() ? y : tg::add(y, inputs[0]);
    if (drop) {
        const std::uint32_t reads = n.op->backward_reads;
        for (const V& x : inputs) t.drop_value(x);
        t.drop_value(y);
        for (std::size_t k = 0; k < inputs.size(); ++k) {
            INFO("input " << k);
            REQUIRE(t.node(inputs[k].id()).value_dropped == !(n.requires_grad && (reads & tg::reads_input(unsigned(k)))));
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

/// The public functions ops.hpp declares (operators aside), read from the
/// source so that a new op without a case here fails the coverage test.
std::set<std::string> functions_in_ops_hpp() {
    std::ifstream in(TAPEGRAD_FIXTURES "/../../autodiff/ops.hpp");
    REQUIRE(in);
    std::stringstream text;
    text << in.rdbuf();
    const std::string src = text.str();
    const std::regex decl(R"(template <class T> (?:Var<T>|std::vector<Var<T>>) (\w+)\()");
    std::set<std::string> names;
    for (auto it = std::sregex_iterator(src.begin(), src.end(), decl); it != std::sregex_iterator(); ++it)
        names.insert((*it)[1].str());
    return names;
}

}  // namespace

TEST_CASE("every op of ops.hpp has a contract case", "[contracts]") {
    const std::set<std::string> declared = functions_in_ops_hpp();
    REQUIRE(declared.size() >= 40);  // the parse found the declarations (ops.hpp has 50)
    std::set<std::string> covered;
    for (const OpCase& c : all_cases()) covered.insert(c.fn);
    for (const std::string& fn : declared) {
        INFO("ops.hpp declares '" << fn << "' but tests/test_contracts.cpp has no case for it");
        CHECK(covered.count(fn) == 1);
    }
}

TEST_CASE("every op's gradients are bit-identical with its unread values dropped", "[contracts]") {
    for (const OpCase& c : all_cases()) {
        INFO("op '" << c.op << "' via " << c.fn << " on inputs " << shapes_of(c));
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
    static void forward(const tg::Tape<T>& t, const tg::Node<T>& n, tg::Tensor<T>& out) {
        const tg::Tensor<T>& x = t.parent_value(n, 0);
        tg::detail::resize_to(t, out, x.shape());
        xt::noalias(out) = x * x;
    }
    static void backward(tg::Tape<T>& t, const tg::Node<T>& n) {
        const NodeId p = t.parent(n, 0);
        if (t.needs_grad(p)) tg::detail::accumulate(t, n, p, T(2) * n.grad * t.parent_value(n, 0));
    }
    static constexpr tg::OpDef<T> def{"lying_square", forward, backward, tg::kReadsNothing};
};

template <class T>
struct LyingExp {
    static void forward(const tg::Tape<T>& t, const tg::Node<T>& n, tg::Tensor<T>& out) {
        const tg::Tensor<T>& x = t.parent_value(n, 0);
        tg::detail::resize_to(t, out, x.shape());
        xt::noalias(out) = xt::exp(x);
    }
    static void backward(tg::Tape<T>& t, const tg::Node<T>& n) {
        const NodeId p = t.parent(n, 0);
        if (t.needs_grad(p)) tg::detail::accumulate(t, n, p, n.grad * t.output_value(n));
    }
    static constexpr tg::OpDef<T> def{"lying_exp", forward, backward, tg::kReadsNothing};
};

template <class Op>
V record_lying(V x) {
    TapeD& t = tg::detail::tape_of<double>(Op::def.name, {x});
    return tg::detail::finish(t, t.record(&Op::def, {x}));
}

}  // namespace

TEST_CASE("a backward reading an input its contract does not declare throws ContractError naming the op", "[contracts]") {
    TapeD t;
    const V x = t.variable(plain({64, 32}));  // large enough that its storage goes back to the pool
    const V h = tg::mul_scalar(x, 1.0);
    const V y = record_lying<LyingSquare<double>>(h);
    const V loss = tg::sum(y);
    t.drop_value(h);  // the contract lets the tape take it
    REQUIRE(t.node(h.id()).value_dropped);
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
    REQUIRE(t.node(y.id()).value_dropped);
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
