// The rows of the op table (op_table.hpp). Each row: the function and the
// OpDef it records, sample inputs, the call (a generic lambda, so the same
// row runs in float and double), and the reference forward (op_reference.hpp).

#include "op_table.hpp"

#include <cmath>
#include <functional>

#include "op_reference.hpp"
#include "test_util.hpp"

namespace optable {

namespace tg = tapegrad;
using Ref = std::function<Tens(const std::vector<Tens>&)>;
using Xs = std::vector<Tens>;

namespace {

Tens plain(const tg::Shape& s, double offset = 0.0) { return tgtest::smooth(s, 1.0, offset); }  // values in [-1, 1] + offset
Tens positive(const tg::Shape& s) { return tgtest::smooth(s, 1.0, 2.0); }                       // values in [1, 3]
Tens values(std::initializer_list<double> v) { return Tens(v); }

// The scalar type of a row's handles, inside a generic lambda.
template <class V>
using scalar_of = typename std::decay_t<decltype(std::declval<V>()[0])>::value_type;

template <class F>
OpCase row(std::string fn, std::string op, Xs inputs, F call, Ref reference, std::string note = {},
           std::vector<std::size_t> constants = {}) {
    return OpCase{std::move(fn), std::move(op), std::move(inputs), [call](const In<double>& x) { return call(x); },
                  [call](const In<float>& x) { return call(x); }, std::move(reference), std::move(constants), std::move(note)};
}

Ref unary(std::function<double(double)> f) {
    return [f](const Xs& x) { return ref::map(x[0], f); };
}
Ref binary(std::function<double(double, double)> f) {
    return [f](const Xs& x) { return ref::zip(x[0], x[1], f); };
}

void binary_rows(std::vector<OpCase>& c) {
    const std::vector<std::tuple<tg::Shape, tg::Shape, std::string>> shapes{
        {{2, 3}, {2, 3}, ""}, {{2, 3}, {1, 3}, "broadcast"}, {{2, 1}, {3}, "broadcast both"},
        {{1, 1}, {2, 3}, "size-1"}, {{0, 3}, {1, 3}, "zero-size"}, {{}, {2, 2}, "0-d with (2, 2)"}};
    for (const auto& [a, b, note] : shapes) {
        c.push_back(row("add", "add", {plain(a), plain(b, 0.3)}, [](const auto& x) { return tg::add(x[0], x[1]); },
                        binary(std::plus<>()), note));
        c.push_back(row("sub", "sub", {plain(a), plain(b, 0.3)}, [](const auto& x) { return tg::sub(x[0], x[1]); },
                        binary(std::minus<>()), note));
        c.push_back(row("mul", "mul", {plain(a), plain(b, 0.3)}, [](const auto& x) { return tg::mul(x[0], x[1]); },
                        binary(std::multiplies<>()), note));
        c.push_back(row("div", "div", {plain(a), positive(b)}, [](const auto& x) { return tg::div(x[0], x[1]); },
                        binary(std::divides<>()), note));
    }
}

void scalar_rows(std::vector<OpCase>& c) {
    const tg::Shape s{2, 3};
    c.push_back(row("add_scalar", "add_scalar", {plain(s)}, [](const auto& x) { return tg::add_scalar(x[0], 1.5); },
                    unary([](double v) { return v + 1.5; })));
    c.push_back(row("add_scalar", "add_scalar", {plain({0, 2})}, [](const auto& x) { return tg::add_scalar(x[0], 1.5); },
                    unary([](double v) { return v + 1.5; }), "zero-size"));
    c.push_back(row("mul_scalar", "mul_scalar", {plain(s)}, [](const auto& x) { return tg::mul_scalar(x[0], -1.5); },
                    unary([](double v) { return v * -1.5; })));
    c.push_back(row("mul_scalar", "mul_scalar", {plain({})}, [](const auto& x) { return tg::mul_scalar(x[0], -1.5); },
                    unary([](double v) { return v * -1.5; }), "0-d"));
    c.push_back(row("div_scalar", "div_scalar", {plain(s)}, [](const auto& x) { return tg::div_scalar(x[0], 3.0); },
                    unary([](double v) { return v / 3.0; })));
    c.push_back(row("rdiv_scalar", "rdiv_scalar", {positive(s)}, [](const auto& x) { return tg::rdiv_scalar(2.0, x[0]); },
                    unary([](double v) { return 2.0 / v; })));
}

void unary_rows(std::vector<OpCase>& c) {
    const tg::Shape s{2, 3};
    const auto sigmoid = [](double v) { return 1 / (1 + std::exp(-v)); };
    c.push_back(row("neg", "neg", {plain(s)}, [](const auto& x) { return tg::neg(x[0]); }, unary([](double v) { return -v; })));
    c.push_back(row("exp", "exp", {plain(s)}, [](const auto& x) { return tg::exp(x[0]); }, unary([](double v) { return std::exp(v); })));
    c.push_back(row("exp", "exp", {values({-50, -20, 20, 30})}, [](const auto& x) { return tg::exp(x[0]); }, unary([](double v) { return std::exp(v); }),
                    "edge: large |x|"));
    c.push_back(row("exp", "exp", {plain({0, 2})}, [](const auto& x) { return tg::exp(x[0]); }, unary([](double v) { return std::exp(v); }), "zero-size"));
    c.push_back(row("log", "log", {positive(s)}, [](const auto& x) { return tg::log(x[0]); }, unary([](double v) { return std::log(v); })));
    c.push_back(row("log", "log", {values({1e-4, 1e-3, 1e10})}, [](const auto& x) { return tg::log(x[0]); }, unary([](double v) { return std::log(v); }),
                    "edge: tiny and huge"));
    c.push_back(row("log1p", "log1p", {positive(s)}, [](const auto& x) { return tg::log1p(x[0]); }, unary([](double v) { return std::log1p(v); })));
    c.push_back(row("log1p", "log1p", {values({-0.9, 1e-8, 100})}, [](const auto& x) { return tg::log1p(x[0]); },
                    unary([](double v) { return std::log1p(v); }), "edge: near -1 and near 0"));
    c.push_back(row("sqrt", "sqrt", {positive(s)}, [](const auto& x) { return tg::sqrt(x[0]); }, unary([](double v) { return std::sqrt(v); })));
    c.push_back(row("sqrt", "sqrt", {values({1e-4, 4, 1e8})}, [](const auto& x) { return tg::sqrt(x[0]); }, unary([](double v) { return std::sqrt(v); }),
                    "edge: small and large"));
    c.push_back(row("pow", "pow", {positive(s)}, [](const auto& x) { return tg::pow(x[0], 2.5); },
                    unary([](double v) { return std::pow(v, 2.5); })));
    c.push_back(row("pow", "pow", {plain(s)}, [](const auto& x) { return tg::pow(x[0], 3.0); },
                    unary([](double v) { return v * v * v; }), "negative base, integer exponent"));
    c.push_back(row("abs", "abs", {plain(s)}, [](const auto& x) { return tg::abs(x[0]); }, unary([](double v) { return std::fabs(v); })));
    c.push_back(row("tanh", "tanh", {plain(s)}, [](const auto& x) { return tg::tanh(x[0]); }, unary([](double v) { return std::tanh(v); })));
    c.push_back(row("tanh", "tanh", {values({-20, -0.3, 0.2, 20})}, [](const auto& x) { return tg::tanh(x[0]); },
                    unary([](double v) { return std::tanh(v); }), "edge: saturated"));
    c.push_back(row("tanh", "tanh", {plain({})}, [](const auto& x) { return tg::tanh(x[0]); }, unary([](double v) { return std::tanh(v); }), "0-d"));
    c.push_back(row("sigmoid", "sigmoid", {plain(s)}, [](const auto& x) { return tg::sigmoid(x[0]); }, unary(sigmoid)));
    c.push_back(row("sigmoid", "sigmoid", {values({-40, -5, 0.5, 5, 40})}, [](const auto& x) { return tg::sigmoid(x[0]); },
                    unary(sigmoid), "edge: saturated"));
    c.push_back(row("relu", "relu", {plain(s)}, [](const auto& x) { return tg::relu(x[0]); },
                    unary([](double v) { return v > 0 ? v : 0.0; })));
    c.push_back(row("clamp", "clamp", {plain(s)}, [](const auto& x) { return tg::clamp(x[0], -0.5, 0.5); },
                    unary([](double v) { return std::min(0.5, std::max(-0.5, v)); })));
}

void compare_rows(std::vector<OpCase>& c) {
    const Tens a = plain({2, 3}), b = plain({1, 3}, 0.3);
    const auto as_double = [](bool v) { return v ? 1.0 : 0.0; };
    auto both = [&](std::string fn, auto tensor_call, auto scalar_call, std::function<bool(double, double)> f) {
        c.push_back(row(fn, fn, {a, b}, tensor_call, binary([=](double x, double y) { return as_double(f(x, y)); }), "broadcast",
                        {0, 1}));
        c.push_back(row(fn, fn, {a}, scalar_call, unary([=](double x) { return as_double(f(x, 0.5)); }), "with a scalar", {0}));
    };
    both("eq", [](const auto& x) { return tg::eq(x[0], x[1]); }, [](const auto& x) { return tg::eq(x[0], 0.5); }, std::equal_to<>());
    both("ne", [](const auto& x) { return tg::ne(x[0], x[1]); }, [](const auto& x) { return tg::ne(x[0], 0.5); },
         std::not_equal_to<>());
    both("lt", [](const auto& x) { return tg::lt(x[0], x[1]); }, [](const auto& x) { return tg::lt(x[0], 0.5); }, std::less<>());
    both("le", [](const auto& x) { return tg::le(x[0], x[1]); }, [](const auto& x) { return tg::le(x[0], 0.5); },
         std::less_equal<>());
    both("gt", [](const auto& x) { return tg::gt(x[0], x[1]); }, [](const auto& x) { return tg::gt(x[0], 0.5); }, std::greater<>());
    both("ge", [](const auto& x) { return tg::ge(x[0], x[1]); }, [](const auto& x) { return tg::ge(x[0], 0.5); },
         std::greater_equal<>());
    const auto where = [](const auto& x) { return tg::where(x[0], x[1], x[2]); };
    const Ref where_ref = [](const Xs& x) { return ref::where(x[0], x[1], x[2]); };
    c.push_back(row("where", "where", {tgtest::m2({{1.0, 0.0, 2.0}, {0.0, 0.0, 1.0}}), plain({2, 3}), plain({2, 3}, 0.3)}, where,
                    where_ref, "", {0}));
    c.push_back(row("where", "where", {tgtest::m2({{1.0, 0.0, 2.0}}), plain({2, 3}), plain({2, 1}, 0.3)}, where, where_ref,
                    "broadcast", {0}));
    c.push_back(row("where", "where", {ref::make({0, 3}), plain({0, 3}), plain({1, 3}, 0.3)}, where, where_ref, "zero-size", {0}));
}

void linalg_rows(std::vector<OpCase>& c) {
    const auto matmul = [](const auto& x) { return tg::matmul(x[0], x[1]); };
    const Ref matmul_ref = [](const Xs& x) { return ref::matmul(x[0], x[1]); };
    c.push_back(row("matmul", "matmul", {plain({2, 3}), plain({3, 4}, 0.3)}, matmul, matmul_ref));
    c.push_back(row("matmul", "matmul", {plain({2, 2, 3}), plain({3, 4}, 0.3)}, matmul, matmul_ref, "batch, shared right"));
    c.push_back(row("matmul", "matmul", {plain({2, 2, 3}), plain({2, 3, 2}, 0.3)}, matmul, matmul_ref, "batch"));
    c.push_back(row("matmul", "matmul", {plain({2, 3}), plain({2, 3, 1}, 0.3)}, matmul, matmul_ref, "batch, shared left"));
    c.push_back(row("matmul", "matmul", {plain({1, 1}), plain({1, 1}, 0.3)}, matmul, matmul_ref, "size-1"));
    c.push_back(row("matmul", "matmul", {plain({2, 0}), plain({0, 3})}, matmul, matmul_ref, "zero-size inner (K = 0)"));
    c.push_back(row("matmul", "matmul", {plain({0, 3}), plain({3, 2})}, matmul, matmul_ref, "zero-size rows"));
    const auto linear2 = [](const auto& x) { return tg::linear(x[0], x[1]); };
    const auto linear3 = [](const auto& x) { return tg::linear(x[0], x[1], x[2]); };
    const Ref linear_ref = [](const Xs& x) { return ref::linear(x[0], x[1], x.size() > 2 ? std::optional<Tens>(x[2]) : std::nullopt); };
    c.push_back(row("linear", "linear", {plain({2, 3}), plain({4, 3}, 0.3)}, linear2, linear_ref));
    c.push_back(row("linear", "linear", {plain({2, 2, 3}), plain({4, 3}, 0.3)}, linear2, linear_ref, "leading axes"));
    c.push_back(row("linear", "linear", {plain({2, 3}), plain({4, 3}, 0.3), plain({4}, 0.6)}, linear3, linear_ref, "bias"));
    c.push_back(row("linear", "linear", {plain({2, 3}), plain({4, 3}, 0.3), plain({2, 4}, 0.6)}, linear3, linear_ref,
                    "full-shape bias"));
    c.push_back(row("linear", "linear", {plain({2, 3}), plain({1, 3}, 0.3), plain({1}, 0.6)}, linear3, linear_ref, "size-1"));
    c.push_back(row("linear", "linear", {plain({0, 3}), plain({4, 3}, 0.3), plain({4}, 0.6)}, linear3, linear_ref, "zero-size"));
    c.push_back(row("transpose", "permute", {plain({2, 3})}, [](const auto& x) { return tg::transpose(x[0]); },
                    [](const Xs& x) { return ref::permute(x[0], {1, 0}); }));
    c.push_back(row("transpose", "permute", {plain({0, 2})}, [](const auto& x) { return tg::transpose(x[0]); },
                    [](const Xs& x) { return ref::permute(x[0], {1, 0}); }, "zero-size"));
    c.push_back(row("permute", "permute", {plain({2, 3, 4})}, [](const auto& x) { return tg::permute(x[0], {2, 0, 1}); },
                    [](const Xs& x) { return ref::permute(x[0], {2, 0, 1}); }));
    // Rank 17: the axes live in the node's indices, so no rank is too large.
    tg::Shape deep(17, 1);
    deep.front() = 2;
    deep.back() = 3;
    std::vector<std::int64_t> reversed(17);
    for (std::size_t k = 0; k < 17; ++k) reversed[k] = std::int64_t(16 - k);
    c.push_back(row("permute", "permute", {plain(deep)}, [reversed](const auto& x) { return tg::permute(x[0], reversed); },
                    [reversed](const Xs& x) { return ref::permute(x[0], reversed); }, "rank 17"));
}

void shape_rows(std::vector<OpCase>& c) {
    c.push_back(row("reshape", "reshape", {plain({2, 3})}, [](const auto& x) { return tg::reshape(x[0], {3, 2}); },
                    [](const Xs& x) { return ref::reshape(x[0], {3, 2}); }));
    c.push_back(row("reshape", "reshape", {plain({2, 3})}, [](const auto& x) { return tg::reshape(x[0], {-1}); },
                    [](const Xs& x) { return ref::reshape(x[0], {6}); }, "inferred size"));
    c.push_back(row("reshape", "reshape", {plain({0, 3})}, [](const auto& x) { return tg::reshape(x[0], {3, 0}); },
                    [](const Xs& x) { return ref::reshape(x[0], {3, 0}); }, "zero-size"));
    c.push_back(row("narrow", "narrow", {plain({2, 5})}, [](const auto& x) { return tg::narrow(x[0], 1, 1, 3); },
                    [](const Xs& x) { return ref::narrow(x[0], 1, 1, 3); }));
    c.push_back(row("narrow", "narrow", {plain({2, 5})}, [](const auto& x) { return tg::narrow(x[0], 1, 2, 0); },
                    [](const Xs& x) { return ref::narrow(x[0], 1, 2, 0); }, "zero length"));
    c.push_back(row("slice", "narrow", {plain({4, 3})}, [](const auto& x) { return tg::slice(x[0], 0, 1, 3); },
                    [](const Xs& x) { return ref::narrow(x[0], 0, 1, 2); }));
    c.push_back(row("slice", "narrow", {plain({4, 3})}, [](const auto& x) { return tg::slice(x[0], 0, -3, -1); },
                    [](const Xs& x) { return ref::narrow(x[0], 0, 1, 2); }, "negative bounds"));
    c.push_back(row("select", "narrow", {plain({2, 3})}, [](const auto& x) { return tg::select(x[0], 1, 2); },
                    [](const Xs& x) { return ref::select(x[0], 1, 2); }));
    c.push_back(row("select", "narrow", {plain({1, 3})}, [](const auto& x) { return tg::select(x[0], 0, -1); },
                    [](const Xs& x) { return ref::select(x[0], 0, 0); }, "size-1 axis, negative index"));
    c.push_back(row("split", "narrow", {plain({2, 5})}, [](const auto& x) { return tg::split(x[0], {2, 3}, 1)[1]; },
                    [](const Xs& x) { return ref::narrow(x[0], 1, 2, 3); }));
    c.push_back(row("chunk", "narrow", {plain({4, 3})}, [](const auto& x) { return tg::chunk(x[0], 2, 0)[1]; },
                    [](const Xs& x) { return ref::narrow(x[0], 0, 2, 2); }));
    const Ref concat_ref = [](const Xs& x) { return ref::concat(x, 1); };
    c.push_back(row("concat", "concat", {plain({2, 3}), plain({2, 1}, 0.3)}, [](const auto& x) { return tg::concat({x[0], x[1]}, 1); },
                    concat_ref));
    c.push_back(row("concat", "concat", {plain({2, 0}), plain({2, 3}, 0.3)}, [](const auto& x) { return tg::concat({x[0], x[1]}, 1); },
                    concat_ref, "zero-size piece"));
    c.push_back(row("stack", "stack", {plain({2, 3}), plain({2, 3}, 0.3)}, [](const auto& x) { return tg::stack({x[0], x[1]}, 1); },
                    [](const Xs& x) { return ref::stack(x, 1); }));
    c.push_back(row("stack", "stack", {plain({2}), plain({2}, 0.3)}, [](const auto& x) { return tg::stack({x[0], x[1]}, -1); },
                    [](const Xs& x) { return ref::stack(x, 1); }, "negative axis"));
    c.push_back(row("index_select", "index_select", {plain({3, 4})}, [](const auto& x) { return tg::index_select(x[0], 0, {2, 0, 2}); },
                    [](const Xs& x) { return ref::index_select(x[0], 0, {2, 0, 2}); }, "repeated index"));
    c.push_back(row("index_select", "index_select", {plain({3, 4})}, [](const auto& x) { return tg::index_select(x[0], 1, {}); },
                    [](const Xs& x) { return ref::index_select(x[0], 1, {}); }, "empty index"));
    const tg::Index g = tgtest::i2({{2, 0, 2}, {1, 1, 0}});
    c.push_back(row("gather", "gather", {plain({2, 3})}, [g](const auto& x) { return tg::gather(x[0], 1, g); },
                    [g](const Xs& x) { return ref::gather(x[0], 1, g); }));
}

void reduce_rows(std::vector<OpCase>& c) {
    using ref::Reduce;
    const tg::Shape s{2, 3};
    auto red = [](Reduce how, std::optional<std::int64_t> axis = std::nullopt, bool keep = false) -> Ref {
        return [=](const Xs& x) { return ref::reduce(x[0], how, axis, keep); };
    };
    c.push_back(row("sum", "sum", {plain(s)}, [](const auto& x) { return tg::sum(x[0]); }, red(Reduce::sum), "all"));
    c.push_back(row("sum", "sum", {plain(s)}, [](const auto& x) { return tg::sum(x[0], 0); }, red(Reduce::sum, 0), "axis 0"));
    c.push_back(row("sum", "sum", {plain({2, 3, 1})}, [](const auto& x) { return tg::sum(x[0], -1, true); },
                    red(Reduce::sum, -1, true), "size-1 axis, keepdims"));
    c.push_back(row("sum", "sum", {plain({0, 3})}, [](const auto& x) { return tg::sum(x[0]); }, red(Reduce::sum), "zero-size"));
    c.push_back(row("sum", "sum", {plain({0, 3})}, [](const auto& x) { return tg::sum(x[0], 0); }, red(Reduce::sum, 0),
                    "zero-size axis"));
    c.push_back(row("mean", "mean", {plain(s)}, [](const auto& x) { return tg::mean(x[0]); }, red(Reduce::mean), "all"));
    c.push_back(row("mean", "mean", {plain(s)}, [](const auto& x) { return tg::mean(x[0], 1, true); }, red(Reduce::mean, 1, true), "axis 1, keepdims"));
    c.push_back(row("max", "max", {plain(s)}, [](const auto& x) { return tg::max(x[0]); }, red(Reduce::max), "all"));
    c.push_back(row("max", "max", {plain(s)}, [](const auto& x) { return tg::max(x[0], 0); }, red(Reduce::max, 0), "axis 0"));
    c.push_back(row("min", "min", {plain(s)}, [](const auto& x) { return tg::min(x[0]); }, red(Reduce::min), "all"));
    c.push_back(row("min", "min", {plain(s)}, [](const auto& x) { return tg::min(x[0], 1, true); }, red(Reduce::min, 1, true), "axis 1, keepdims"));
    c.push_back(row("logsumexp", "logsumexp", {plain(s)}, [](const auto& x) { return tg::logsumexp(x[0]); }, red(Reduce::logsumexp), "all"));
    c.push_back(row("logsumexp", "logsumexp", {plain({2, 1, 3})}, [](const auto& x) { return tg::logsumexp(x[0], -1); },
                    red(Reduce::logsumexp, -1), "axis -1"));
    c.push_back(row("logsumexp", "logsumexp", {tgtest::m2({{1000, 999, -1000}, {-1000, -999.5, -1001}})},
                    [](const auto& x) { return tg::logsumexp(x[0], 1); }, red(Reduce::logsumexp, 1), "edge: ±1000"));
    c.push_back(row("logsumexp", "logsumexp", {plain({2, 0})}, [](const auto& x) { return tg::logsumexp(x[0], 1); },
                    red(Reduce::logsumexp, 1), "empty lines: -inf"));
}

void nn_rows(std::vector<OpCase>& c) {
    const tg::Shape s{2, 3};
    const Tens big = tgtest::m2({{1000, 999, -1000}, {-1000, -999.5, -1001}});
    c.push_back(row("softmax", "softmax", {plain(s)}, [](const auto& x) { return tg::softmax(x[0]); },
                    [](const Xs& x) { return ref::softmax(x[0], -1, false); }, "last axis"));
    c.push_back(row("softmax", "softmax", {plain(s)}, [](const auto& x) { return tg::softmax(x[0], 0); },
                    [](const Xs& x) { return ref::softmax(x[0], 0, false); }, "axis 0"));
    c.push_back(row("softmax", "softmax", {plain({3, 1})}, [](const auto& x) { return tg::softmax(x[0], 1); },
                    [](const Xs& x) { return ref::softmax(x[0], 1, false); }, "size-1 axis"));
    c.push_back(row("softmax", "softmax", {big}, [](const auto& x) { return tg::softmax(x[0]); },
                    [](const Xs& x) { return ref::softmax(x[0], -1, false); }, "edge: ±1000"));
    c.push_back(row("log_softmax", "log_softmax", {plain(s)}, [](const auto& x) { return tg::log_softmax(x[0]); },
                    [](const Xs& x) { return ref::softmax(x[0], -1, true); }));
    c.push_back(row("log_softmax", "log_softmax", {big}, [](const auto& x) { return tg::log_softmax(x[0]); },
                    [](const Xs& x) { return ref::softmax(x[0], -1, true); }, "edge: ±1000"));
    c.push_back(row("mse_loss", "mse_loss", {plain(s), plain(s, 0.3)}, [](const auto& x) { return tg::mse_loss(x[0], x[1]); },
                    [](const Xs& x) { return ref::mse(x[0], x[1]); }));
    c.push_back(row("mse_loss", "mse_loss", {plain({1, 1}), plain({1, 1}, 0.3)}, [](const auto& x) { return tg::mse_loss(x[0], x[1]); },
                    [](const Xs& x) { return ref::mse(x[0], x[1]); }, "size-1"));
    const tg::Index t{1, 0, 3};
    const Tens w{1.0, 0.0, 0.5};
    c.push_back(row("cross_entropy", "cross_entropy", {plain({3, 4})}, [t](const auto& x) { return tg::cross_entropy(x[0], t); },
                    [t](const Xs& x) { return ref::cross_entropy(x[0], t); }));
    c.push_back(row(
        "cross_entropy", "cross_entropy", {plain({3, 4})},
        [t, w](const auto& x) { return tg::cross_entropy(x[0], t, tgtest::as<scalar_of<decltype(x)>>(w)); },
        [t, w](const Xs& x) { return ref::cross_entropy(x[0], t, w); }, "weighted rows"));
    c.push_back(row("cross_entropy", "cross_entropy", {tgtest::m2({{100, -100, 0, 5}, {-100, 100, 3, 0}, {0, 0, -100, 100}})},
                    [t](const auto& x) { return tg::cross_entropy(x[0], t); }, [t](const Xs& x) { return ref::cross_entropy(x[0], t); },
                    "edge: ±100 logits"));
    const Tens z = tgtest::m2({{0.0, 1.0, 0.25}, {1.0, 0.5, 0.0}}), m = tgtest::m2({{1.0, 0.0, 2.0}, {0.5, 1.0, 1.0}});
    c.push_back(row("binary_cross_entropy_with_logits", "binary_cross_entropy_with_logits", {plain(s), z},
                    [](const auto& x) { return tg::binary_cross_entropy_with_logits(x[0], x[1]); },
                    [](const Xs& x) { return ref::bce_with_logits(x[0], x[1]); }));
    c.push_back(row(
        "binary_cross_entropy_with_logits", "binary_cross_entropy_with_logits", {plain(s), z},
        [m](const auto& x) { return tg::binary_cross_entropy_with_logits(x[0], x[1], tgtest::as<scalar_of<decltype(x)>>(m)); },
        [m](const Xs& x) { return ref::bce_with_logits(x[0], x[1], m); }, "weighted"));
    c.push_back(row("binary_cross_entropy_with_logits", "binary_cross_entropy_with_logits",
                    {tgtest::m2({{50, -50, 0.5}, {-50, 50, 2}}), z},
                    [](const auto& x) { return tg::binary_cross_entropy_with_logits(x[0], x[1]); },
                    [](const Xs& x) { return ref::bce_with_logits(x[0], x[1]); }, "edge: ±50 logits"));
    c.push_back(row("detach", "detach", {plain(s)}, [](const auto& x) { return tg::detach(x[0]); }, [](const Xs& x) { return x[0]; }));
}

}  // namespace

std::string describe(const OpCase& c) {
    std::string s = "'" + c.op + "' via " + c.fn + " on ";
    for (std::size_t k = 0; k < c.inputs.size(); ++k) s += (k ? ", " : "") + tg::shape_str(c.inputs[k].shape());
    return c.note.empty() ? s : s + " [" + c.note + "]";
}

const std::vector<OpCase>& all_cases() {
    static const std::vector<OpCase> all = [] {
        std::vector<OpCase> c;
        for (auto rows : {binary_rows, scalar_rows, unary_rows, compare_rows, linalg_rows, shape_rows, reduce_rows, nn_rows}) rows(c);
        return c;
    }();
    return all;
}

}  // namespace optable
