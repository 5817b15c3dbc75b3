// The snippets of docs/pytorch.md (the PyTorch → tapegrad cheat sheet), one
// test case per section of the doc, with checks on what each snippet gives.
// When a snippet in the doc changes, change it here too: this file is what
// keeps the doc honest.

#include <cmath>
#include <filesystem>
#include <map>
#include <set>
#include <sstream>
#include <string>
#include <unistd.h>
#include <vector>

#include <xtensor/xmath.hpp>
#include <xtensor/xview.hpp>

#include "test_util.hpp"

namespace tg = tapegrad;
namespace fs = std::filesystem;
using Catch::Matchers::Contains;
using tgtest::require_close;

namespace {

template <class X>
std::string printed(const X& x) {
    std::ostringstream s;
    s << x;
    return s.str();
}

std::vector<std::int64_t> values(const tg::Index& x) { return std::vector<std::int64_t>(x.begin(), x.end()); }
template <class T>
std::vector<T> values(const tg::Tensor<T>& x) {
    return std::vector<T>(x.begin(), x.end());
}

// A file name in the temporary folder, removed at the end of the test.
struct TempFile {
    std::string path;
    explicit TempFile(const std::string& name)
        : path((fs::temp_directory_path() / ("tapegrad_cheatsheet_" + std::to_string(::getpid()) + "_" + name)).string()) {}
    ~TempFile() {
        std::error_code ec;
        fs::remove(path, ec);
    }
};

// doc: "Modules" — a module of your own, as a subclass of nn.Module.
struct Net : tg::Module<float> {
    tg::Embedding<float> embedding{10, 4};
    tg::LSTM<float> lstm{{.input_size = 4, .hidden_size = 8}};
    tg::Linear<float> head{8, 10};
    void visit(tg::ModuleVisitor<float>& v) override {
        v.module("embedding", embedding);
        v.module("lstm", lstm);
        v.module("head", head);
    }
    tg::Var<float> operator()(tg::Tape<float>& tape, const tg::Index& tokens) {  // (T, B) → (T, B, 10)
        auto [out, state] = lstm(embedding(tape, tokens));
        return head(out);
    }
};

// doc: "Loading PyTorch weights" — the module tools/make_fixtures.py exported
// as "embedding.*" and "linear.*" (double, as the fixtures are float64).
struct EmbedLinear : tg::Module<double> {
    tg::Embedding<double> embedding{7, 4};
    tg::Linear<double> linear{4, 3};
    void visit(tg::ModuleVisitor<double>& v) override {
        v.module("embedding", embedding);
        v.module("linear", linear);
    }
};

}  // namespace

// ---- tensors ---------------------------------------------------------------------------

TEST_CASE("cheat sheet: creating tensors", "[cheatsheet]") {
    tg::Generator gen(0);                                    // torch.Generator().manual_seed(0)
    tg::Tensor<float> z = tg::zeros({2, 3});                 // torch.zeros(2, 3)
    tg::Tensor<double> o = tg::ones<double>({2});            // torch.ones(2, dtype=torch.float64)
    tg::Tensor<float> f = tg::full({2, 2}, 7.0f);            // torch.full((2, 2), 7.)
    tg::Tensor<float> r = tg::arange(5);                     // torch.arange(5.)
    tg::Tensor<float> s = tg::arange(0, 1, 0.25);            // torch.arange(0, 1, 0.25)
    tg::Tensor<float> l = tg::linspace(0, 1, 5);             // torch.linspace(0, 1, 5)
    tg::Tensor<float> u = tg::rand({2, 3}, gen);             // torch.rand(2, 3, generator=gen)
    tg::Tensor<float> n = tg::randn({2, 3}, gen);            // torch.randn(2, 3, generator=gen)
    tg::Index k = tg::randint(0, 10, {4}, gen);              // torch.randint(0, 10, (4,), generator=gen)
    tg::Tensor<float> lit = {{1, 2, 3}, {4, 5, 6}};          // torch.tensor([[1., 2, 3], [4, 5, 6]])
    tg::Tensor<float> e = tg::Tensor<float>::from_shape({2, 3});  // torch.empty(2, 3)

    CHECK(z.shape() == tg::Tensor<float>::shape_type{2, 3});
    CHECK(values(z) == std::vector<float>(6, 0.0f));
    CHECK(values(o) == std::vector<double>{1, 1});
    CHECK(values(f) == std::vector<float>(4, 7.0f));
    CHECK(values(r) == std::vector<float>{0, 1, 2, 3, 4});
    CHECK(values(s) == std::vector<float>{0, 0.25f, 0.5f, 0.75f});
    CHECK(values(l) == std::vector<float>{0, 0.25f, 0.5f, 0.75f, 1});
    for (float x : u) CHECK((x >= 0 && x < 1));
    CHECK(n.size() == 6);
    CHECK(std::isfinite(n(1, 2)));
    for (std::int64_t x : k) CHECK((x >= 0 && x < 10));
    CHECK(lit(1, 2) == 6);
    CHECK(e.size() == 6);
    // The same seed gives the same numbers.
    tg::Generator again(0);
    CHECK(values(tg::rand({2, 3}, again)) == values(u));
}

TEST_CASE("cheat sheet: dtype, printing, element access", "[cheatsheet]") {
    tg::Tensor<float> x = {{1, 2.5}, {3, 4}};
    tg::Tensor<double> xd = tg::cast<double>(x);                // x.double()
    tg::Index xi = tg::cast<std::int64_t>(tg::Tensor<float>{1, 2, 3});  // x.long() (whole numbers only)
    tg::Tensor<float> back = tg::cast<float>(xi);               // x.float()
    CHECK(xd(0, 1) == 2.5);
    CHECK(values(xi) == std::vector<std::int64_t>{1, 2, 3});
    CHECK(values(back) == std::vector<float>{1, 2, 3});
    CHECK_THROWS_AS(tg::cast<std::int64_t>(x), tg::ArgumentError);  // 2.5 is not a whole number

    // print(x)
    CHECK(printed(x) == "tensor([[1.0000, 2.5000],\n        [3.0000, 4.0000]])");
    CHECK(tg::to_string(x, {.precision = 2}) == "tensor([[1.00, 2.50],\n        [3.00, 4.00]])");

    // x[1, 0], x[1, 0] = 5, x.view(-1)[3], x.shape, x.numel(), x.dim()
    CHECK(x(1, 0) == 3);
    x(1, 0) = 5;
    CHECK(x.data()[3] == 4);
    CHECK(x.shape()[1] == 2);
    CHECK(x.size() == 4);
    CHECK(x.dimension() == 2);
    tg::Tensor<float> y = 2.0f * x + 1.0f;               // arithmetic off the tape: xtensor expressions
    tg::Tensor<float> row = xt::view(x, 1, xt::all());   // x[1]
    CHECK(values(y) == std::vector<float>{3, 6, 11, 9});
    CHECK(values(row) == std::vector<float>{5, 4});

    // On the tape: v[1], v[:, 0:1], v.item()
    tg::Tape<float> tape;
    auto v = tape.variable(x);
    CHECK(printed(tg::tanh(v)).find("grad_fn=tanh") != std::string::npos);
    CHECK(values(tg::select(v, 0, 1).value()) == std::vector<float>{5, 4});   // v[1]
    CHECK(values(tg::slice(v, 1, 0, 1).value()) == std::vector<float>{1, 5}); // v[:, 0:1]
    CHECK(tg::sum(v).item() == 12.5f);                                         // v.sum().item()
}

TEST_CASE("cheat sheet: argmax, topk, sampling with temperature", "[cheatsheet]") {
    tg::Tensor<float> logits = {{0, 3, 1}, {2, 0, 5}};
    CHECK(tg::argmax(logits) == 5);                                   // logits.argmax()
    CHECK(values(tg::argmax(logits, 1)) == std::vector<std::int64_t>{1, 2});  // logits.argmax(1)
    CHECK(tg::shape_str(tg::argmin(logits, 1, true).shape()) == "(2, 1)");      // logits.argmin(1, keepdim=True)
    auto [top, idx] = tg::topk(logits, 2);                            // logits.topk(2)
    CHECK(values(top) == std::vector<float>{3, 1, 5, 2});
    CHECK(values(idx) == std::vector<std::int64_t>{1, 2, 2, 0});

    tg::Generator gen(1);
    tg::Tensor<float> probs = {0.0f, 0.2f, 0.8f};
    tg::Index draws = tg::multinomial(probs, 5, gen);                 // torch.multinomial(probs, 5, True)
    tg::Index distinct = tg::multinomial(probs, 2, gen, false);       // torch.multinomial(probs, 2)
    for (std::int64_t d : draws) CHECK(d != 0);                       // weight 0 is never drawn
    CHECK(std::set<std::int64_t>(distinct.begin(), distinct.end()) == std::set<std::int64_t>{1, 2});

    // torch.multinomial(torch.softmax(logits / 0.8, -1), 1): one token per row
    tg::Index next = tg::sample_logits(logits, gen, 0.8);
    CHECK(next.shape() == tg::Index::shape_type{2});
    CHECK(values(tg::sample_logits(logits, gen, 0.0)) == std::vector<std::int64_t>{1, 2});  // greedy

    const std::vector<std::int64_t> labels{1, 2};
    tg::Index y = tg::tensor(labels);                                 // torch.tensor(labels)
    CHECK(tg::count_equal(tg::argmax(logits, 1), y) == 2);            // (pred == y).sum().item()
    CHECK(tg::tensor(std::vector<float>{1, 2, 3, 4, 5, 6}, {2, 3})(1, 0) == 4.0f);  // torch.tensor(v).view(2, 3)
}

// ---- autograd --------------------------------------------------------------------------

TEST_CASE("cheat sheet: requires_grad, backward, grad, retain_grad", "[cheatsheet]") {
    tg::Tape<float> tape;
    auto x = tape.variable(tg::Tensor<float>{1, 2, 3});   // torch.tensor([1., 2, 3], requires_grad=True)
    auto c = tape.constant(tg::Tensor<float>{1, 1, 1});   // torch.tensor([1., 1, 1])
    auto h = x * x + c;
    tape.retain_grad(h);                                    // h.retain_grad()
    auto loss = tg::sum(h);
    tape.backward(loss);                                    // loss.backward()
    CHECK(values(x.grad()) == std::vector<float>{2, 4, 6});    // x.grad
    CHECK(values(tape.grad(h)) == std::vector<float>{1, 1, 1}); // h.grad
    CHECK(x.requires_grad());
    CHECK(!c.requires_grad());
    CHECK_THROWS_AS(tape.backward(loss), tg::TapeConsumedError);  // a second backward needs retain_graph
    tape.clear();

    // y.backward(gradient=seed, retain_graph=True), twice: gradients add up
    auto w = tape.variable(tg::Tensor<float>{1, 2});
    auto y = w * 3.0f;
    tape.backward(y, tg::Tensor<float>{1, 10}, tg::BackwardOptions{.retain_graph = true});
    tape.backward(y, tg::Tensor<float>{1, 10});
    CHECK(values(w.grad()) == std::vector<float>{3, 30});  // each backward recomputes the tape's gradients
    tape.clear();
    CHECK_THROWS_AS(w.value(), tg::StaleVarError);  // handles die with clear()
}

TEST_CASE("cheat sheet: parameters accumulate across backward calls until zero_grad", "[cheatsheet]") {
    tg::Parameter<float> p(tg::Tensor<float>{2}, "p");  // nn.Parameter(torch.tensor([2.]))
    tg::Tape<float> tape;
    for (int i = 0; i < 2; ++i) {
        tape.backward(tg::sum(tape.param(p) * tape.param(p)));  // d(p²)/dp = 4
        tape.clear();
    }
    CHECK(p.grad()(0) == 8);  // accumulated, as .grad in PyTorch
    p.zero_grad();
    CHECK(p.grad()(0) == 0);
}

TEST_CASE("cheat sheet: no_grad, detach, anomaly mode", "[cheatsheet]") {
    tg::Tape<float> tape;
    auto x = tape.variable(tg::Tensor<float>{1, 2});
    {
        tg::NoGradGuard no_grad;  // with torch.no_grad():
        auto y = x * 2.0f;
        CHECK(!y.requires_grad());
        CHECK(!tg::grad_enabled());  // torch.is_grad_enabled()
    }
    CHECK(tg::grad_enabled());
    auto d = tg::detach(x);  // x.detach()
    CHECK(!d.requires_grad());
    tape.backward(tg::sum(x * d));  // d is a constant: the gradient is d
    CHECK(values(x.grad()) == std::vector<float>{1, 2});
    tape.clear();

    tape.set_detect_anomaly(true);  // torch.autograd.set_detect_anomaly(True)
    auto neg = tape.constant(tg::Tensor<float>{-1});
    CHECK_THROWS_AS(tg::log(neg), tg::AnomalyError);  // NaN: names the op and its position
}

TEST_CASE("cheat sheet: gradcheck and custom ops", "[cheatsheet]") {
    // torch.autograd.gradcheck(lambda x: torch.tanh(x).sum(), (x,)), double precision
    tg::GradcheckResult r = tg::gradcheck(
        [](tg::Tape<double>&, const std::vector<tg::Var<double>>& in) { return tg::sum(tg::tanh(in[0])); },
        {tg::Tensor<double>{0.1, -0.5, 2.0}});
    CHECK(r.ok);
    CHECK(r.elements_checked == 3);

    // No PyTorch counterpart: check every recorded node's backward against finite differences.
    tg::Tape<double> recorded;
    auto loss = tg::sum(tg::tanh(recorded.variable(tg::Tensor<double>{0.1, -0.5})));
    CHECK(tg::audit(recorded, loss).ok);

    // torch.autograd.Function with forward and backward
    auto softsign = [](tg::Var<double> x) {
        return tg::custom_op(
            "softsign", {x}, [](const auto& in) { return in[0] / (1.0 + xt::abs(in[0])); },
            [](const auto& in, const auto& /*out*/, const auto& g) {
                return std::vector{tg::Tensor<double>(g / xt::square(1.0 + xt::abs(in[0])))};
            });
    };
    tg::Tape<double> tape;
    auto x = tape.variable(tg::Tensor<double>{1, -3});
    tape.backward(tg::sum(softsign(x)));
    require_close(x.grad(), tg::Tensor<double>{0.25, 0.0625});  // 1/(1+|x|)²
    CHECK(tg::gradcheck([&](tg::Tape<double>&, const std::vector<tg::Var<double>>& in) { return tg::sum(softsign(in[0])); },
                        {tg::Tensor<double>{0.3, -0.7}})
              .ok);
}

// ---- ops -------------------------------------------------------------------------------

TEST_CASE("cheat sheet: the ops with their torch names", "[cheatsheet]") {
    tg::Tape<double> t;
    auto a = t.constant(tg::Tensor<double>{{1, -2, 3}, {-4, 5, 0.5}});  // (2, 3)
    auto b = t.constant(tg::Tensor<double>{2, 2, 2});                 // (3), broadcast
    const auto v = [](tg::Var<double> x) { return values(x.value()); };
    using V = std::vector<double>;

    CHECK(v(a + b) == V{3, 0, 5, -2, 7, 2.5});
    CHECK(v(a - b) == V{-1, -4, 1, -6, 3, -1.5});
    CHECK(v(a * b) == V{2, -4, 6, -8, 10, 1});
    CHECK(v(a / b) == V{0.5, -1, 1.5, -2, 2.5, 0.25});
    CHECK(v(1.0 / b) == V{0.5, 0.5, 0.5});
    CHECK(v(-b) == V{-2, -2, -2});
    CHECK(v(tg::abs(a)) == V{1, 2, 3, 4, 5, 0.5});
    CHECK(v(tg::pow(b, 3.0)) == V{8, 8, 8});
    CHECK(v(tg::sqrt(t.constant(tg::Tensor<double>{4, 9}))) == V{2, 3});
    CHECK(v(tg::exp(t.constant(0.0))) == V{1});
    CHECK(v(tg::log(t.constant(1.0))) == V{0});
    CHECK(tg::log1p(t.constant(1e-10)).item() == Approx(1e-10 - 0.5e-20).epsilon(1e-12));  // x − x²/2; log(1 + x) is off by 8e-18
    CHECK(v(tg::relu(a)) == V{1, 0, 3, 0, 5, 0.5});
    CHECK(v(tg::clamp(a, -1.0, 1.0)) == V{1, -1, 1, -1, 1, 0.5});
    CHECK(tg::sigmoid(t.constant(0.0)).item() == 0.5);
    CHECK(tg::tanh(t.constant(0.0)).item() == 0);

    CHECK(v(tg::gt(a, 0.0)) == V{1, 0, 1, 0, 1, 1});   // (a > 0).double()
    CHECK(v(tg::eq(a, b)) == V{0, 0, 0, 0, 0, 0});
    CHECK(v(tg::le(a, b)) == V{1, 1, 0, 1, 0, 1});
    CHECK(v(tg::ne(a, -2.0)) == V{1, 0, 1, 1, 1, 1});
    CHECK(v(tg::lt(a, b)) == V{1, 1, 0, 1, 0, 1});
    CHECK(v(tg::ge(a, 3.0)) == V{0, 0, 1, 0, 1, 0});
    CHECK(v(tg::where(tg::gt(a, 0.0), a, -a)) == V{1, 2, 3, 4, 5, 0.5});  // torch.where(a > 0, a, -a)

    CHECK(tg::sum(a).item() == 3.5);
    CHECK(v(tg::sum(a, 1)) == V{2, 1.5});
    CHECK(tg::mean(b).item() == 2);
    CHECK(v(tg::mean(a, 0, true)) == V{-1.5, 1.5, 1.75});
    CHECK(tg::shape_str(tg::mean(a, 0, true).shape()) == "(1, 3)");
    CHECK(tg::max(a).item() == 5);
    CHECK(v(tg::max(a, 1)) == V{3, 5});
    CHECK(tg::min(a).item() == -4);
    CHECK(v(tg::min(a, -1)) == V{-2, -4});
    CHECK(tg::logsumexp(t.constant(tg::Tensor<double>{0, 0})).item() == Approx(std::log(2.0)));
    CHECK(v(tg::logsumexp(a, 1))[0] == Approx(std::log(std::exp(1.0) + std::exp(-2.0) + std::exp(3.0))));

    auto m = t.constant(tg::Tensor<double>{{1, 2}, {3, 4}});
    CHECK(v(tg::matmul(m, m)) == V{7, 10, 15, 22});                     // m @ m
    CHECK(v(tg::linear(m, m, t.constant(tg::Tensor<double>{1, 1}))) == V{6, 12, 12, 26});  // F.linear(m, w, b)
    CHECK(v(tg::transpose(m)) == V{1, 3, 2, 4});                         // m.transpose(-2, -1) / m.T
    CHECK(v(tg::permute(m, {1, 0})) == V{1, 3, 2, 4});
    CHECK(tg::shape_str(tg::reshape(a, {3, -1}).shape()) == "(3, 2)");  // a.reshape(3, -1)
    CHECK(v(tg::narrow(a, 1, 1, 2)) == V{-2, 3, 5, 0.5});                // a.narrow(1, 1, 2)
    CHECK(v(tg::slice(a, 1, -2, 3)) == V{-2, 3, 5, 0.5});                // a[:, -2:]
    CHECK(v(tg::select(a, 0, -1)) == V{-4, 5, 0.5});                     // a[-1]
    CHECK(tg::split(a, {1, 2}, 1).size() == 2);                          // a.split([1, 2], 1)
    CHECK(v(tg::chunk(a, 2, 0)[1]) == V{-4, 5, 0.5});                    // a.chunk(2, 0)
    CHECK(tg::shape_str(tg::concat({a, a}, 0).shape()) == "(4, 3)");     // torch.cat([a, a], 0)
    CHECK(tg::shape_str(tg::stack({a, a}, 0).shape()) == "(2, 2, 3)");   // torch.stack([a, a])
    CHECK(v(tg::index_select(a, 1, {2, 0})) == V{3, 1, 0.5, -4});        // a.index_select(1, idx)
    const tg::Index idx = {{2, 0}, {1, 1}};
    CHECK(v(tg::gather(a, 1, idx)) == V{3, 1, 5, 5});                    // a.gather(1, idx)

    auto logits = t.constant(tg::Tensor<double>{{0, 0}, {0, 0}});
    CHECK(v(tg::softmax(logits, -1)) == V{0.5, 0.5, 0.5, 0.5});          // F.softmax(x, -1)
    CHECK(v(tg::log_softmax(logits))[0] == Approx(std::log(0.5)));       // F.log_softmax(x, -1)
    CHECK(tg::cross_entropy(logits, tg::Index{0, 1}).item() == Approx(std::log(2.0)));   // F.cross_entropy
    CHECK(tg::mse_loss(b, t.constant(tg::Tensor<double>{0, 0, 0})).item() == 4);        // F.mse_loss
    // F.cross_entropy(..., reduction='none') weighted by a mask: row 1 left out
    auto skewed = t.constant(tg::Tensor<double>{{0, 0}, {100, 0}});
    CHECK(tg::cross_entropy(skewed, tg::Index{0, 1}, tg::Tensor<double>{1, 0}).item() == Approx(std::log(2.0)));
    CHECK(tg::binary_cross_entropy_with_logits(t.constant(0.0), t.constant(1.0)).item() == Approx(std::log(2.0)));
}

// ---- modules ---------------------------------------------------------------------------

TEST_CASE("cheat sheet: Linear, Embedding, Sequential, named_parameters, train/eval", "[cheatsheet]") {
    tg::manual_seed(0);                       // torch.manual_seed(0)
    tg::Linear<float> fc(4, 3);               // nn.Linear(4, 3)
    tg::Linear<float> no_bias(4, 3, false);   // nn.Linear(4, 3, bias=False)
    tg::Embedding<float> emb(10, 4);          // nn.Embedding(10, 4)
    tg::Sequential<float> mlp(tg::Linear<float>(4, 32), tg::relu<float>, tg::Linear<float>(32, 2));  // nn.Sequential

    tg::Tape<float> tape;
    auto x = tape.constant(tg::ones({5, 4}));
    CHECK(tg::shape_str(fc(x).shape()) == "(5, 3)");
    CHECK(tg::shape_str(mlp(x).shape()) == "(5, 2)");
    auto e1 = emb(tape, tg::Index{{1, 2, 3}});                         // emb(torch.tensor([[1, 2, 3]]))
    auto e2 = emb(tape.constant(tg::Tensor<float>{{1, 2, 3}}));        // indices held in a handle
    CHECK(tg::shape_str(e1.shape()) == "(1, 3, 4)");
    require_close(e1.value(), e2.value(), 0, 0);
    CHECK(!no_bias.has_bias());

    std::vector<std::string> names;
    for (auto& [name, p] : mlp.named_parameters()) names.push_back(name);  // mlp.named_parameters()
    CHECK(names == std::vector<std::string>{"0.weight", "0.bias", "2.weight", "2.bias"});
    CHECK(mlp.parameters().size() == 4);                                  // list(mlp.parameters())
    CHECK(mlp.at<tg::Linear<float>>(2).out_features() == 2);              // mlp[2].out_features

    tg::LayerNorm<float> norm(8);                                         // nn.LayerNorm(8)
    tg::Dropout<float> dropout(0.1);                                      // nn.Dropout(0.1)
    CHECK(norm.parameters().size() == 2);
    CHECK(dropout.p() == 0.1);
    mlp.zero_grad();                                                      // mlp.zero_grad()
    mlp.eval();                                                           // mlp.eval()
    CHECK(!mlp.training());
    mlp.train();                                                          // mlp.train()
    CHECK(mlp.training());

    // The same seed gives the same weights.
    tg::manual_seed(0);
    tg::Linear<float> same(4, 3);
    require_close(same.weight.value(), fc.weight.value(), 0, 0);
}

TEST_CASE("cheat sheet: LSTM, GRU, RNN with batch_first, bidirectional, dropout, lengths", "[cheatsheet]") {
    tg::manual_seed(0);
    // nn.LSTM(4, 8, num_layers=2, bidirectional=True, dropout=0.1, batch_first=True)
    tg::LSTM<float> lstm({.input_size = 4, .hidden_size = 8, .num_layers = 2, .bidirectional = true,
                          .dropout = 0.1, .batch_first = true});
    tg::GRU<float> gru({.input_size = 4, .hidden_size = 8});                                     // nn.GRU(4, 8)
    tg::RNN<float> rnn({.input_size = 4, .hidden_size = 8, .nonlinearity = tg::RNNNonlinearity::relu});  // nn.RNN(4, 8, nonlinearity='relu')

    tg::Generator gen(1);
    tg::Tape<float> tape;
    auto x = tape.constant(tg::randn({3, 5, 4}, gen));         // (B, T, I): batch_first
    auto [out, state] = lstm(x);                                // out, (h_n, c_n) = lstm(x)
    CHECK(tg::shape_str(out.shape()) == "(3, 5, 16)");          // (B, T, D·H)
    CHECK(tg::shape_str(state.h.shape()) == "(4, 3, 8)");       // (L·D, B, H)
    CHECK(tg::shape_str(state.c.shape()) == "(4, 3, 8)");

    // pack_padded_sequence(x, lengths, enforce_sorted=False) → the lengths argument
    const std::vector<std::int64_t> lengths{5, 2, 3};
    auto packed = lstm(x, std::nullopt, lengths);
    CHECK(tg::sum(tg::abs(tg::slice(tg::select(packed.output, 0, 1), 0, 2, 5))).item() == 0);  // zeros past length 2

    auto x_tm = tape.constant(tg::randn({5, 3, 4}, gen));       // (T, B, I): time-major, the default
    auto h0 = tape.constant(tg::zeros({1, 3, 8}));
    auto [gout, h_n] = gru(x_tm, tg::RecurrentState<float>{.h = h0});  // gru(x, h0)
    CHECK(tg::shape_str(gout.shape()) == "(5, 3, 8)");
    CHECK(tg::shape_str(h_n.h.shape()) == "(1, 3, 8)");
    // out, (h_n, c_n) = lstm(x, (h0, c0)) with a one-layer LSTM
    tg::LSTM<float> small({.input_size = 4, .hidden_size = 8});
    auto [sout, sstate] = small(x_tm, tg::RecurrentState<float>{.h = h0, .c = h0});
    CHECK(tg::shape_str(sstate.c.shape()) == "(1, 3, 8)");
    auto [rout, rstate] = rnn(x_tm);
    CHECK(tg::min(rout).item() >= 0);  // relu

    std::vector<std::string> names;
    for (auto& [name, p] : lstm.named_parameters()) names.push_back(name);
    CHECK(names.size() == 16);  // 2 layers × 2 directions × (weight_ih, weight_hh, bias_ih, bias_hh)
    CHECK(names.front() == "weight_ih_l0");
    CHECK(names.back() == "bias_hh_l1_reverse");
}

TEST_CASE("cheat sheet: a module of your own, state_dict to .npz and back", "[cheatsheet]") {
    tg::manual_seed(0);
    Net net;
    std::vector<std::string> names;
    for (auto& [name, p] : net.named_parameters()) names.push_back(name);
    CHECK(names.front() == "embedding.weight");
    CHECK(names[1] == "lstm.weight_ih_l0");
    CHECK(names.back() == "head.bias");
    tg::Tape<float> tape;
    CHECK(tg::shape_str(net(tape, tg::Index{{1, 2}, {3, 4}}).shape()) == "(2, 2, 10)");

    TempFile file("net.npz");
    tg::save(net, file.path);              // torch.save(net.state_dict(), path)
    Net other;                             // different weights (the generator moved on)
    CHECK(other.head.weight.value() != net.head.weight.value());
    tg::load(other, file.path);            // net.load_state_dict(torch.load(path))
    CHECK(other.head.weight.value() == net.head.weight.value());
    tg::load(other.lstm, file.path, {.prefix = "lstm"});  // a sub-module out of a bigger state_dict
    CHECK_THROWS_AS(tg::load(other.head, file.path), tg::CheckpointError);  // strict: unexpected keys
}

// ---- optimizers ------------------------------------------------------------------------

TEST_CASE("cheat sheet: optimizers, param groups, schedules, clipping", "[cheatsheet]") {
    tg::Parameter<float> w(tg::Tensor<float>{1, 2}, "w");
    tg::SGD<float> sgd({&w}, {.lr = 0.1, .momentum = 0.9});  // optim.SGD([w], lr=0.1, momentum=0.9)
    w.mutable_grad() = tg::Tensor<float>{1, -1};
    sgd.step();                                                // opt.step()
    require_close(w.value(), tg::Tensor<float>{0.9f, 2.1f}, 1e-6);
    sgd.zero_grad();                                           // opt.zero_grad()
    CHECK(values(w.grad()) == std::vector<float>{0, 0});

    tg::manual_seed(0);
    tg::Linear<float> enc(4, 8), head(8, 2);
    tg::Adam<float> adam(tg::parameters(enc, head), {.lr = 1e-3});  // optim.Adam(chain(...), lr=1e-3)
    // optim.Adam([{'params': enc.parameters()}, {'params': head.parameters(), 'lr': 1e-2, 'weight_decay': 0}], lr=1e-3)
    tg::Adam<float> grouped({{enc.parameters(), {.lr = 1e-3}}, {head.parameters(), {.lr = 1e-2, .weight_decay = 0}}});
    CHECK(grouped.num_groups() == 2);
    CHECK(grouped.lr(1) == 1e-2);                    // opt.param_groups[1]['lr']
    grouped.set_lr(1, 5e-3);                         // opt.param_groups[1]['lr'] = 5e-3
    CHECK(grouped.options(1).lr == 5e-3);
    tg::AdamOptions options = grouped.options(1);   // opt.param_groups[1]
    options.weight_decay = 0.01;
    grouped.set_options(1, options);
    CHECK(grouped.options(1).weight_decay == 0.01);
    tg::AdamW<float> adamw(enc.parameters());       // optim.AdamW(enc.parameters())
    tg::RMSprop<float> rmsprop(enc.parameters());   // optim.RMSprop(enc.parameters())
    tg::Adagrad<float> adagrad(enc.parameters());   // optim.Adagrad(enc.parameters())
    CHECK(rmsprop.lr() == 1e-2);

    tg::StepLR<float> sched(grouped, 10, 0.5);       // lr_scheduler.StepLR(opt, 10, gamma=0.5)
    for (int epoch = 0; epoch < 10; ++epoch) sched.step();
    CHECK(grouped.lr(0) == Approx(5e-4));
    CHECK(grouped.lr(1) == Approx(2.5e-3));
    tg::CosineAnnealingLR<float> cosine(adam, 100);  // lr_scheduler.CosineAnnealingLR(opt, 100)
    CHECK(cosine.lr_at(100) == Approx(0).margin(1e-12));
    tg::ExponentialLR<float> exponential(adamw, 0.9);  // lr_scheduler.ExponentialLR(opt, 0.9)
    exponential.step();
    CHECK(adamw.lr() == Approx(0.9e-3));

    tg::Parameter<float> g(tg::Tensor<float>{0, 0}, "g");
    g.mutable_grad() = tg::Tensor<float>{3, 4};
    const double norm = tg::clip_grad_norm<float>({&g}, 1.0);   // nn.utils.clip_grad_norm_([g], 1.0)
    CHECK(norm == 5);
    CHECK(g.grad()(0) == Approx(0.6f).epsilon(1e-5));
    tg::clip_grad_value<float>({&g}, 0.5);                       // nn.utils.clip_grad_value_([g], 0.5)
    CHECK(g.grad()(1) == 0.5f);
    tg::clip_grad_value(sgd.params(), 0.5);                      // the optimizer's parameters

    tg::StateDict state = adam.state_dict();                     // opt.state_dict()
    adam.load_state_dict(state);                                 // opt.load_state_dict(...)
    CHECK(state.count("step") == 1);
    TempFile file("adam.npz");
    tg::save(adam, file.path);                                   // torch.save(opt.state_dict(), path)
    adam.set_lr(2e-3);                                           // every group's lr
    tg::load(adam, file.path);                                   // restores the lr too
    CHECK(adam.lr() == 1e-3);
}

TEST_CASE("cheat sheet: the training loop", "[cheatsheet]") {
    tg::manual_seed(0);
    tg::Sequential<float> model(tg::Linear<float>(2, 16), tg::tanh<float>, tg::Linear<float>(16, 1));
    tg::Adam<float> opt(model.parameters(), {.lr = 1e-2});
    const tg::Tensor<float> X = {{0, 0}, {0, 1}, {1, 0}, {1, 1}};
    tg::Tensor<float> Y = {0, 1, 1, 0};
    Y.reshape({4, 1});
    tg::Tape<float> tape;
    double first = 0, last = 0;
    for (int step = 0; step < 300; ++step) {
        auto loss = tg::mse_loss(model(tape.constant(X)), tape.constant(Y));  // loss = F.mse_loss(model(X), Y)
        tape.backward(loss);                                                  // loss.backward()
        tg::clip_grad_norm(opt.params(), 1.0);
        opt.step();
        opt.zero_grad();
        (step == 0 ? first : last) = loss.item();
        tape.clear();                                                         // every step: forget the graph
    }
    CHECK(first > 0.2);
    CHECK(last < 0.05);  // XOR learnt
}

// ---- data ------------------------------------------------------------------------------

TEST_CASE("cheat sheet: pad_sequence, shuffled minibatches, batchify and get_batch", "[cheatsheet]") {
    // pad_sequence([tensor([5, 6, 7]), tensor([8])]) and the lengths for the recurrent layer
    tg::PaddedTokens p = tg::pad_sequences({{5, 6, 7}, {8}});
    CHECK(values(p.tokens) == std::vector<std::int64_t>{5, 8, 6, 0, 7, 0});  // (T, B) = (3, 2)
    CHECK(p.lengths == std::vector<std::int64_t>{3, 1});

    // DataLoader(dataset, batch_size=2, shuffle=True)
    const tg::Tensor<float> inputs = {{0, 0}, {1, 1}, {2, 2}, {3, 3}, {4, 4}};
    tg::Generator gen(0);
    tg::MinibatchSampler sampler(5, 2, gen);
    std::vector<std::int64_t> seen;
    for (const std::vector<std::int64_t>& rows : sampler.epoch()) {
        tg::Tensor<float> batch = tg::take(inputs, 0, rows);  // inputs[rows]
        CHECK(batch.shape()[0] == rows.size());
        CHECK(batch(0, 0) == float(rows[0]));
        seen.insert(seen.end(), rows.begin(), rows.end());
    }
    CHECK(std::set<std::int64_t>(seen.begin(), seen.end()).size() == 5);  // every example once per epoch
    CHECK(sampler.batches_per_epoch() == 3);
    std::vector<std::int64_t> perm = tg::permutation(5, gen);   // torch.randperm(5, generator=g)
    CHECK(std::set<std::int64_t>(perm.begin(), perm.end()) == std::set<std::int64_t>{0, 1, 2, 3, 4});

    // word_language_model: batchify(data, 3), then get_batch(source, i) for i in range(0, N - 1, bptt)
    std::vector<std::int64_t> stream{0, 1, 2, 3, 4, 5, 6, 7, 8, 9};
    tg::Index data = tg::batchify(stream, 3);
    CHECK(values(data) == std::vector<std::int64_t>{0, 3, 6, 1, 4, 7, 2, 5, 8});
    tg::BpttChunks chunks(data, 2);
    CHECK(chunks.size() == 1);
    for (const tg::BpttChunk& c : chunks) {
        CHECK(values(c.input) == std::vector<std::int64_t>{0, 3, 6, 1, 4, 7});
        CHECK(values(c.target) == std::vector<std::int64_t>{1, 4, 7, 2, 5, 8});
        CHECK(c.flat_target().shape() == tg::Index::shape_type{6});  // target.view(-1)
    }
}

TEST_CASE("cheat sheet: truncated BPTT carries the state across tape.clear()", "[cheatsheet]") {
    tg::manual_seed(0);
    tg::Embedding<float> embed(10, 4);
    tg::LSTM<float> lstm({.input_size = 4, .hidden_size = 8});
    tg::Linear<float> head(8, 10);
    tg::Adam<float> opt(tg::parameters(embed, lstm, head), {.lr = 1e-2});
    std::vector<std::int64_t> stream;
    for (int i = 0; i < 60; ++i) stream.push_back(i % 10);
    tg::Tape<float> tape;
    double first = 0, last = 0;
    int steps = 0;
    for (int epoch = 0; epoch < 20; ++epoch) {
        tg::RecurrentStateValues<float> carried;  // hidden = model.init_hidden(bsz): empty means zeros
        for (const tg::BpttChunk& c : tg::BpttChunks(tg::batchify(stream, 2), 5)) {
            auto [out, state] = lstm(embed(tape, c.input), tg::constant_state(tape, carried));
            auto loss = tg::cross_entropy(head(tg::reshape(out, {-1, 8})), c.flat_target());
            tape.backward(loss);
            opt.step();
            opt.zero_grad();
            carried = tg::state_values(state);  // hidden = repackage_hidden(hidden)
            (steps++ == 0 ? first : last) = loss.item();
            tape.clear();
        }
    }
    CHECK(first > 2.0);  // about log 10 at the start
    CHECK(last < 0.5);   // the stream 0, 1, ..., 9, 0, ... is learnt
}

// ---- loading PyTorch weights -----------------------------------------------------------

TEST_CASE("cheat sheet: load a PyTorch state_dict exported with numpy", "[cheatsheet]") {
    const std::string dir = TAPEGRAD_FIXTURES "/torch/";
    // tools/make_fixtures.py: np.savez(path, **{k: v.numpy() for k, v in lstm.state_dict().items()}, x=..., output=...)
    tg::LSTM<double> lstm({.input_size = 4, .hidden_size = 6});
    tg::load(lstm, dir + "lstm.npz", {.strict = false});  // strict = false: the file also holds x, output, ...
    tg::NpzReader file(dir + "lstm.npz");
    tg::Tape<double> tape;
    auto [out, state] = lstm(tape.constant(file.read<double>("x")));
    require_close(out.value(), file.read<double>("output"), 1e-10, 1e-12);
    require_close(state.h.value(), file.read<double>("h_n"), 1e-10, 1e-12);

    // Two modules saved as "embedding.*" and "linear.*": a module with those children.
    EmbedLinear model;
    tg::load(model, dir + "linear_embedding.npz", {.strict = false});
    std::map<std::string, tg::Tensor<double>> arrays = tg::load_npz<double>(dir + "linear_embedding.npz");
    tg::Index idx = tg::cast<std::int64_t>(arrays.at("indices"));
    auto y = model.linear(model.embedding(tape, idx));
    require_close(y.value(), arrays.at("output"), 1e-10, 1e-12);
}

// ---- what is different -----------------------------------------------------------------

TEST_CASE("cheat sheet: typed errors", "[cheatsheet]") {
    tg::Tape<float> tape;
    auto a = tape.constant(tg::ones({2, 3}));
    CHECK_THROWS_AS(tg::matmul(a, a), tg::ShapeError);
    CHECK_THROWS_WITH(tg::matmul(a, a), Contains("(2, 3)"));
    CHECK_THROWS_AS(tg::select(a, 0, 5), tg::ArgumentError);
    CHECK_THROWS_AS(tape.backward(tg::sum(a)), tg::ArgumentError);  // nothing needs a gradient
    tg::Tape<float> other;
    CHECK_THROWS_AS(a + other.constant(1.0f), tg::TapeMismatchError);
    try {
        tape.backward(a);
        FAIL("backward of a (2, 3) value must throw");
    } catch (const tg::Error& e) {  // every library error derives from tg::Error (a std::runtime_error)
        CHECK(dynamic_cast<const tg::NonScalarError*>(&e) != nullptr);
    }
}
