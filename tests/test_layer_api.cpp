// The layers' everyday API: batch_first, Embedding over a handle, layers built
// from the default generator, Sequential, and parameter names from the start.

#include <cmath>
#include <thread>

#include "test_util.hpp"

namespace tg = tapegrad;
using Catch::Matchers::Contains;
using tgtest::In;
using tgtest::require_close;
using tgtest::smooth;

namespace {

// (T, B, F) → (B, T, F) as a plain tensor.
tg::Tensor<double> swap01(const tg::Tensor<double>& x) {
    tg::Tape<double> t;
    return tg::permute(t.constant(x), {1, 0, 2}).value();
}

}  // namespace

TEST_CASE("batch_first: same outputs, states and gradients as time-major, bidirectional with lengths", "[layers][recurrent][api]") {
    tg::RecurrentOptions o{.input_size = 3, .hidden_size = 4, .num_layers = 2, .bidirectional = true};
    tg::Generator g1(5), g2(5);
    tg::GRU<double> tm(o, g1);
    o.batch_first = true;
    tg::GRU<double> bf(o, g2);
    const tg::Tensor<double> x = smooth({5, 2, 3});  // (T, B, I)
    const std::vector<std::int64_t> lengths{5, 3};
    tg::Tape<double> ta, tb;
    auto xa = ta.variable(x);
    auto xb = tb.variable(swap01(x));  // (B, T, I)
    auto [ya, sa] = tm(xa, std::nullopt, lengths);
    auto [yb, sb] = bf(xb, std::nullopt, lengths);
    REQUIRE(yb.shape() == tg::Tensor<double>::shape_type{2, 5, 8});
    require_close(yb.value(), swap01(ya.value()), 0, 0);  // bit for bit: the same arithmetic
    require_close(sb.h.value(), sa.h.value(), 0, 0);      // states stay (L·D, B, H)
    ta.backward(tg::sum(ya * ya) + tg::sum(sa.h));
    tb.backward(tg::sum(yb * yb) + tg::sum(sb.h));
    require_close(xb.grad(), swap01(xa.grad()), 0, 0);
    require_close(bf.weights(1, 1).weight_hh.grad(), tm.weights(1, 1).weight_hh.grad(), 0, 0);
    CHECK_THROWS_WITH(bf(tb.variable(smooth({2, 5, 4}))), Contains("GRU: input of shape (2, 5, 4), expected (B, T, 3) (batch_first)"));
    CHECK_THROWS_WITH(bf(tb.variable(tg::Tensor<double>::from_shape({2, 0, 3}))), Contains("has T = 0 time steps"));
}

TEST_CASE("batch_first passes gradcheck", "[layers][recurrent][api]") {
    tg::Generator gen(2);
    tg::LSTM<double> lstm({.input_size = 2, .hidden_size = 3, .batch_first = true}, gen);
    tgtest::require_gradcheck([&](tg::Tape<double>&, const In& in) { return tg::sum(tg::tanh(lstm(in[0]).output)); },
                              {smooth({2, 4, 2})});
}

TEST_CASE("Embedding takes indices in a handle like any layer's input", "[layers][api]") {
    tg::Generator gen(3);
    tg::Embedding<float> emb(5, 2, gen);
    tg::Tape<float> t;
    auto by_index = emb(t, tg::Index{{4, 0}, {1, 4}});
    auto by_var = emb(t.constant(tg::Tensor<float>{{4, 0}, {1, 4}}));
    REQUIRE(by_var.shape() == tg::Tensor<float>::shape_type{2, 2, 2});
    require_close(by_var.value(), by_index.value(), 0, 0);
    t.backward(tg::sum(by_var));
    CHECK(emb.weight.grad()(4, 0) == 2.0f);  // row 4 looked up twice
    CHECK(emb.weight.grad()(2, 1) == 0.0f);
    CHECK_THROWS_WITH(emb(t.constant(tg::Tensor<float>{1, 2.5f})),
                      Contains("Embedding: index 1 of (2,) is 2.500000; indices must be whole numbers in [0, 5)"));
    CHECK_THROWS_AS(emb(t.constant(tg::Tensor<float>{5})), tg::ArgumentError);
    CHECK_THROWS_AS(emb(t.constant(tg::Tensor<float>{-1})), tg::ArgumentError);
    CHECK_THROWS_AS(emb(t.constant(tg::Tensor<float>{NAN})), tg::ArgumentError);
}

TEST_CASE("layers without a generator draw from the default one, reseeded by manual_seed", "[layers][api]") {
    tg::manual_seed(42);
    tg::Linear<float> a(3, 2);
    tg::LSTM<float> la({.input_size = 2, .hidden_size = 3});
    tg::Embedding<float> ea(4, 2);
    tg::manual_seed(42);
    tg::Linear<float> b(3, 2);
    tg::LSTM<float> lb({.input_size = 2, .hidden_size = 3});
    tg::Embedding<float> eb(4, 2);
    tg::Linear<float> c(3, 2);  // the next draws: different weights
    require_close(a.weight.value(), b.weight.value(), 0, 0);
    require_close(la.weights(0, 0).weight_hh.value(), lb.weights(0, 0).weight_hh.value(), 0, 0);
    require_close(ea.weight.value(), eb.weight.value(), 0, 0);
    CHECK(a.weight.value() != c.weight.value());
    // The same draws as an explicit generator with that seed.
    tg::Generator g(42);
    tg::Linear<float> d(3, 2, g);
    require_close(a.weight.value(), d.weight.value(), 0, 0);
    // Built on several threads at once: each layer gets whole draws (no torn state).
    std::vector<tg::Linear<float>> built(4, tg::Linear<float>(1, 1, g));
    std::vector<std::thread> threads;
    for (auto& l : built) threads.emplace_back([&l] { l = tg::Linear<float>(8, 8); });
    for (auto& th : threads) th.join();
    for (std::size_t i = 1; i < built.size(); ++i) CHECK(built[i].weight.value() != built[0].weight.value());
}

TEST_CASE("Sequential runs modules and functions in order, names stages by position", "[layers][api]") {
    tg::Generator gen(7);
    tg::Linear<double> l1(3, 4, gen), l2(4, 2, gen);
    const tg::Linear<double> c1 = l1, c2 = l2;  // copies to compute the expected output by hand
    tg::Sequential<double> mlp(std::move(l1), tg::tanh<double>, std::move(l2));
    REQUIRE(mlp.size() == 3);
    tg::Tape<double> t;
    const tg::Tensor<double> x = smooth({5, 3});
    auto y = mlp(t.constant(x));
    tg::Linear<double> e1 = c1, e2 = c2;
    require_close(y.value(), e2(tg::tanh(e1(t.constant(x)))).value(), 0, 0);
    const auto names = mlp.named_parameters();
    REQUIRE(names.size() == 4);
    CHECK(names[0].first == "0.weight");
    CHECK(names[3].first == "2.bias");
    CHECK(mlp.at<tg::Linear<double>>(2).out_features() == 2);
    CHECK_THROWS_WITH(mlp.at<tg::Linear<double>>(1), Contains("Sequential::at: stage 1 of 3 is not a module"));
    CHECK(tg::gradcheck([&](tg::Tape<double>& tape) { return tg::sum(mlp(tape.constant(x))); }, mlp.parameters()));
    CHECK_THROWS_WITH(mlp(t.constant(smooth({5, 2}))), Contains("Sequential stage 0: linear: "));
}

TEST_CASE("Sequential copies deeply, moves, propagates train/eval, takes lambdas", "[layers][api]") {
    tg::Generator gen(1);
    tg::Sequential<float> s(tg::Linear<float>(2, 2, gen), tg::Dropout<float>(0.5), [](tg::Var<float> v) { return v * 2.0f; });
    tg::Sequential<float> copy(s);
    copy.at<tg::Linear<float>>(0).weight.mutable_value()(0, 0) += 1.0f;
    CHECK(copy.at<tg::Linear<float>>(0).weight.value()(0, 0) != s.at<tg::Linear<float>>(0).weight.value()(0, 0));
    s.eval();
    CHECK_FALSE(s.at<tg::Dropout<float>>(1).training());
    tg::Tape<float> t;
    const tg::Tensor<float> x = {{1, 2}};
    auto& lin = s.at<tg::Linear<float>>(0);
    auto expected = lin(t.constant(x)) * 2.0f;  // eval: dropout is the identity
    require_close(s(t.constant(x)).value(), expected.value(), 0, 0);
    tg::Sequential<float> moved(std::move(s));
    CHECK(moved.size() == 3);
    tg::Sequential<float> empty;
    auto v = t.constant(x);
    CHECK(empty(v).id() == v.id());  // no stages: the input itself
}

TEST_CASE("parameters are named from construction, and by parameters() after their place in a model", "[layers][api]") {
    tg::Generator gen(1);
    tg::LSTM<float> lstm({.input_size = 2, .hidden_size = 3, .num_layers = 2}, gen);
    CHECK(lstm.weights(1, 0).weight_ih.name() == "weight_ih_l1");  // no save or listing needed
    struct Model : tg::Module<float> {
        tg::Linear<float> encoder, head;
        explicit Model(tg::Generator& g) : encoder(2, 3, g), head(3, 1, g) {}
        void visit(tg::ModuleVisitor<float>& v) override {
            v.module("encoder", encoder);
            v.module("head", head);
        }
    } model(gen);
    CHECK(model.encoder.weight.name() == "weight");
    tg::Adam<float> opt(model.parameters());
    CHECK(model.encoder.weight.name() == "encoder.weight");
    model.encoder.zero_grad();  // zeroing renames nothing
    CHECK(model.encoder.weight.name() == "encoder.weight");
    // An error names the parameter by its path: here, one modified between forward and backward.
    tg::Tape<float> t;
    auto loss = tg::sum(model.head(model.encoder(t.constant(tg::ones<float>({1, 2})))));
    model.head.weight.set_value(tg::zeros<float>({1, 3}));
    CHECK_THROWS_WITH(t.backward(loss), Contains("'head.weight'"));
}
