// Engine invariants: recording order, parameters as leaves, gradient
// accumulation, intermediate gradients, no_grad, detach, seeds, clear/reuse,
// long chains, several tapes and threads.

#include <memory>
#include <optional>
#include <thread>

#include "test_util.hpp"

namespace tg = tapegrad;
using tgtest::require_close;
using Catch::Matchers::Message;

TEST_CASE("every node's parents come before it on the tape", "[tape]") {
    tg::Tape<double> t;
    auto x = t.variable(tg::Tensor<double>{1.0, 2.0});
    auto y = tg::tanh(x * x + 1.0);
    auto z = tg::sum(tg::concat<double>({y, x}, 0));
    for (tg::NodeId id = 0; id < t.size(); ++id)
        for (tg::NodeId p : tg::detail::TapeAccess<double>::parents(t, tg::detail::TapeAccess<double>::node(t, id))) REQUIRE(p < id);
    REQUIRE(z.id() == t.size() - 1);
    REQUIRE(t.size() == 6);  // x, mul, add_scalar, tanh, concat, sum: nothing hidden
}

TEST_CASE("a parameter is one leaf per tape however often it is read", "[tape]") {
    tg::Parameter<double> w(tg::Tensor<double>{2.0, -1.0}, "w");
    tg::Tape<double> t;
    auto a = t.param(w);
    auto b = t.param(w);
    REQUIRE(a.id() == b.id());
    // L = sum(w*w) + sum(3w) → dL/dw = 2w + 3
    auto loss = tg::sum(a * b) + tg::sum(t.param(w) * 3.0);
    t.backward(loss);
    require_close(w.grad(), tg::Tensor<double>{7.0, 1.0});
}

TEST_CASE("parameter gradients accumulate over backward calls until zero_grad", "[tape]") {
    tg::Parameter<double> w(tg::Tensor<double>{1.5}, "w");
    tg::Tape<double> t;
    for (int i = 0; i < 3; ++i) {
        auto loss = tg::sum(t.param(w) * t.param(w));  // d/dw = 2w = 3
        t.backward(loss);
        t.clear();
    }
    require_close(w.grad(), tg::Tensor<double>{9.0});
    w.zero_grad();
    require_close(w.grad(), tg::Tensor<double>{0.0});
}

TEST_CASE("gradients of intermediate values are readable after backward when retained", "[tape]") {
    // h_{t+1} = 0.5 * h_t, L = h_3 → dL/dh_t = 0.5^(3-t)
    tg::Tape<double> t;
    std::vector<tg::Var<double>> h{t.variable(tg::Tensor<double>{1.0, 2.0})};
    for (int s = 0; s < 3; ++s) h.push_back(h.back() * 0.5);
    for (int s = 1; s <= 3; ++s) t.retain_grad(h[s]);
    t.backward(tg::sum(h.back()));
    for (int s = 0; s <= 3; ++s) require_close(t.grad(h[s]), tg::Tensor<double>{std::pow(0.5, 3 - s), std::pow(0.5, 3 - s)});
    // A value the loss does not depend on has a zero gradient.
    auto unused = t.variable(tg::Tensor<double>{4.0, 5.0});
    REQUIRE_FALSE(t.has_grad(unused));
    require_close(unused.grad(), tg::Tensor<double>{0.0, 0.0});
}

TEST_CASE("an intermediate gradient not retained is released, and reading it names the fix", "[tape]") {
    tg::Tape<double> t;
    auto x = t.variable(tg::Tensor<double>{1.0, 2.0});
    auto h = tg::tanh(x * 3.0);
    auto loss = tg::sum(h * h);
    t.backward(loss);
    REQUIRE(t.has_grad(h));  // backward reached it
    REQUIRE_THROWS_MATCHES(t.grad(h), tg::ArgumentError,
                           Message("Tape::grad: the gradient of node #2 ('tanh') was released once backward had passed it; "
                                   "call tape.retain_grad(v) before backward, or pass BackwardOptions{.retain_grads = true}"));
    // Leaves keep theirs: d/dx sum(tanh(3x)^2) = 6 tanh(3x) (1 - tanh(3x)^2)
    const double a = std::tanh(3.0), b = std::tanh(6.0);
    require_close(t.grad(x), tg::Tensor<double>{6 * a * (1 - a * a), 6 * b * (1 - b * b)});

    SECTION("retain_grads keeps every node's gradient") {
        tg::Tape<double> u;
        auto x2 = u.variable(tg::Tensor<double>{1.0, 2.0});
        auto h2 = tg::tanh(x2 * 3.0);
        u.backward(tg::sum(h2 * h2), tg::BackwardOptions{.retain_grads = true});
        require_close(u.grad(h2), tg::Tensor<double>{2 * a, 2 * b});
    }
}

TEST_CASE("released gradient buffers are reused without changing any gradient", "[tape]") {
    // The same two-layer computation, differentiated with every gradient kept
    // and with buffers recycled through the pool, over several steps on a
    // cleared tape: the leaf gradients must be bitwise equal.
    const tg::Tensor<double> x0{{0.3, -0.2, 0.5}, {0.1, 0.4, -0.6}};
    const tg::Tensor<double> w0{{0.2, -0.1}, {0.7, 0.3}, {-0.5, 0.9}};
    auto run = [&](bool keep) {
        tg::Tape<double> t;
        std::vector<tg::Tensor<double>> out;
        for (int step = 0; step < 3; ++step) {
            auto x = t.variable(x0 * double(step + 1));
            auto w = t.variable(w0);
            auto h = tg::tanh(tg::matmul(x, w));
            auto y = tg::sigmoid(tg::narrow(h, 1, 0, 1)) * tg::narrow(h, 1, 1, 1) + h;
            t.backward(tg::sum(y * y), tg::BackwardOptions{.retain_grads = keep});
            out.push_back(t.grad(x));
            out.push_back(t.grad(w));
            t.clear();
        }
        return out;
    };
    const auto kept = run(true), pooled = run(false);
    REQUIRE(kept.size() == pooled.size());
    for (std::size_t k = 0; k < kept.size(); ++k) require_close(pooled[k], kept[k], 0.0, 0.0);
}

TEST_CASE("no_grad records constants and restores the mode, also on exceptions", "[tape]") {
    tg::Tape<double> t;
    auto x = t.variable(tg::Tensor<double>{1.0});
    REQUIRE(tg::grad_enabled());
    {
        tg::NoGradGuard ng;
        REQUIRE_FALSE(tg::grad_enabled());
        auto y = x * 2.0;
        REQUIRE_FALSE(y.requires_grad());
        require_close(y.value(), tg::Tensor<double>{2.0});
        {
            tg::NoGradGuard nested;
            REQUIRE_FALSE(tg::grad_enabled());
        }
        REQUIRE_FALSE(tg::grad_enabled());
    }
    REQUIRE(tg::grad_enabled());
    try {
        tg::NoGradGuard ng;
        throw std::runtime_error("x");
    } catch (const std::runtime_error&) {
    }
    REQUIRE(tg::grad_enabled());
    REQUIRE((x * 2.0).requires_grad());
}

TEST_CASE("no_grad is per thread", "[tape]") {
    tg::NoGradGuard ng;
    bool other = false;
    std::thread th([&] { other = tg::grad_enabled(); });
    th.join();
    REQUIRE(other);
    REQUIRE_FALSE(tg::grad_enabled());
}

TEST_CASE("detach stops gradients", "[tape]") {
    tg::Tape<double> t;
    auto x = t.variable(tg::Tensor<double>{3.0});
    // L = x * detach(x) → dL/dx = detach(x) = 3 (not 2x = 6)
    auto loss = tg::sum(x * tg::detach(x));
    t.backward(loss);
    require_close(x.grad(), tg::Tensor<double>{3.0});
}

TEST_CASE("backward with an explicit seed on a non-scalar output", "[tape]") {
    tg::Tape<double> t;
    auto x = t.variable(tg::Tensor<double>{1.0, 2.0, 3.0});
    auto y = x * x;
    t.backward(y, tg::Tensor<double>{1.0, 0.5, -1.0});  // grad = seed * 2x
    require_close(x.grad(), tg::Tensor<double>{2.0, 2.0, -6.0});
}

TEST_CASE("retain_graph allows a second backward that adds again into parameters", "[tape]") {
    tg::Parameter<double> w(tg::Tensor<double>{2.0}, "w");
    tg::Tape<double> t;
    auto loss = tg::sum(t.param(w) * t.param(w));
    t.backward(loss, tg::BackwardOptions{.retain_graph = true});
    t.backward(loss);
    require_close(w.grad(), tg::Tensor<double>{8.0});
    REQUIRE(t.consumed());
}

TEST_CASE("a cleared tape reuses its buffers for repeated shapes", "[tape]") {
    tg::Parameter<float> w(tg::Tensor<float>::from_shape({4, 3}), "w");
    w.mutable_value().fill(0.1f);
    tg::Tape<float> t;
    std::vector<const float*> first;
    for (int step = 0; step < 3; ++step) {
        auto x = t.constant(tg::Tensor<float>::from_shape({2, 4}));
        auto loss = tg::mean(tg::tanh(tg::matmul(x, t.param(w))));
        t.backward(loss);
        std::vector<const float*> now;
        for (tg::NodeId id = 0; id < t.size(); ++id) now.push_back(tg::detail::TapeAccess<float>::node(t, id).value.data());
        if (step == 0)
            first = now;
        else
            REQUIRE(now == first);
        t.clear();
        REQUIRE(t.size() == 0);
    }
}

TEST_CASE("a chain of one million ops backpropagates without recursion", "[tape]") {
    tg::Tape<float> t;
    auto x = t.variable(tg::Tensor<float>{1.0f});
    auto y = x;
    const int n = 1'000'000;
    for (int i = 0; i < n; ++i) y = y + 1e-6f;
    REQUIRE(t.size() == n + 1);
    t.backward(tg::sum(y));
    require_close(x.grad(), tg::Tensor<float>{1.0f});
    t.shrink();
    REQUIRE(t.size() == 0);
}

TEST_CASE("several tapes coexist and threads with their own tapes agree with a sequential run", "[tape]") {
    auto train = [](double scale) {
        tg::Parameter<double> w(tg::Tensor<double>{{0.5, -0.25}, {0.125, 1.0}}, "w");
        tg::Tape<double> t;
        for (int step = 0; step < 50; ++step) {
            auto x = t.constant(tg::Tensor<double>{{scale, 1.0}});
            auto loss = tg::sum(tg::tanh(tg::matmul(x, t.param(w))));
            t.backward(loss);
            w.mutable_value() -= 0.1 * w.grad();
            w.zero_grad();
            t.clear();
        }
        return tg::Tensor<double>(w.value());
    };
    const auto seq_a = train(1.0), seq_b = train(-2.0);
    tg::Tensor<double> par_a, par_b;
    std::thread ta([&] { par_a = train(1.0); });
    std::thread tb([&] { par_b = train(-2.0); });
    ta.join();
    tb.join();
    require_close(par_a, seq_a, 0.0, 0.0);
    require_close(par_b, seq_b, 0.0, 0.0);
    REQUIRE_FALSE(std::equal(seq_a.begin(), seq_a.end(), seq_b.begin()));
}

// ---- drop_value ---------------------------------------------------------------

TEST_CASE("drop_value frees what no backward reads and keeps the rest", "[tape]") {
    tg::Tape<double> t;
    auto x = t.variable(tg::Tensor<double>{{0.5, -1.0, 2.0}, {1.5, 0.25, -0.75}});
    auto w = t.variable(tg::Tensor<double>{{1.0, 0.5, -0.5}, {0.0, 2.0, 1.0}});
    auto pre = tg::narrow(x, 1, 0, 2);  // narrow's backward reads nothing
    auto s = tg::sigmoid(pre);          // sigmoid's reads its own output
    auto p = s * tg::narrow(w, 1, 1, 2);  // mul's reads both inputs
    auto loss = tg::sum(p + pre);       // add's reads nothing
    t.drop_value(pre);
    t.drop_value(s);
    REQUIRE_THROWS_MATCHES(pre.value(), tg::ArgumentError,
                           Message("Tape::value: the value of node #2 ('narrow', shape (2, 2)) was dropped to save memory (drop_value, release_since or recompute_since); "
                                   "use set_keep_values(true) to keep it"));
    REQUIRE(pre.shape() == std::vector<std::size_t>{2, 2});  // the shape stays
    REQUIRE(pre.size() == 4);
    REQUIRE_NOTHROW(s.value());  // kept: its own backward and mul's read it
    REQUIRE_THROWS_MATCHES(tg::tanh(pre), tg::ArgumentError,
                           Message("tanh: input node #2 of shape (2, 2) had its value dropped (Tape::drop_value); "
                                   "it can no longer be used by new ops"));
    // Backward is unchanged by the drop: compare with a tape that keeps everything.
    t.backward(loss);
    tg::Tape<double> k;
    k.set_keep_values(true);
    auto kx = k.variable(x.value()), kw = k.variable(w.value());
    auto kpre = tg::narrow(kx, 1, 0, 2);
    auto kloss = tg::sum(tg::sigmoid(kpre) * tg::narrow(kw, 1, 1, 2) + kpre);
    k.drop_value(kpre);  // a no-op while keep_values is on
    REQUIRE_NOTHROW(kpre.value());
    k.backward(kloss);
    require_close(x.grad(), kx.grad(), 0.0, 0.0);
    require_close(w.grad(), kw.grad(), 0.0, 0.0);
}

TEST_CASE("under no_grad every dropped value is freed, and the buffers are reused", "[tape]") {
    tg::Tape<float> t;
    tg::Tensor<float> xv = tg::Tensor<float>::from_shape({64, 32});
    xv.fill(0.5f);
    auto x = t.variable(xv);
    const float* first = nullptr;
    {
        tg::NoGradGuard ng;
        auto a = tg::sigmoid(x * 2.0f);
        first = a.value().data();
        auto b = a * a;  // mul would read a, but never runs backward here
        t.drop_value(a);
        auto c = tg::tanh(b);  // same size as a: takes a's buffer
        REQUIRE(c.value().data() == first);
    }
}

TEST_CASE("a dropped value's buffer serves a later gradient, and gradients stay exact", "[tape][layers]") {
    // Dropping inside an LSTM and a GRU (as the layers do) against the same
    // layers on a tape that keeps every value: identical gradients, bit for bit.
    for (bool lstm : {true, false}) {
        INFO((lstm ? "LSTM" : "GRU"));
        auto grads = [&](bool keep) {
            tg::Generator gen(3);
            const tg::RecurrentOptions o{.input_size = 3, .hidden_size = 5, .num_layers = 2, .bidirectional = true};
            std::unique_ptr<tg::RecurrentLayer<double>> rnn;
            if (lstm)
                rnn = std::make_unique<tg::LSTM<double>>(o, gen);
            else
                rnn = std::make_unique<tg::GRU<double>>(o, gen);
            tg::Tensor<double> xv = tg::Tensor<double>::from_shape({6, 2, 3});
            tg::uniform_(xv, -1, 1, gen);
            tg::Tape<double> t;
            t.set_keep_values(keep);
            std::vector<tg::Tensor<double>> out;
            for (int step = 0; step < 2; ++step) {  // the second step runs on pooled buffers
                rnn->zero_grad();
                auto x = t.variable(xv);
                auto [y, state] = (*rnn)(x, std::nullopt, {6, 4});
                t.backward(tg::sum(y * y) + tg::sum(state.h));
                out.push_back(x.grad());
                for (auto* p : rnn->parameters()) out.push_back(p->grad());
                t.clear();
            }
            return out;
        };
        const auto kept = grads(true), dropped = grads(false);
        REQUIRE(kept.size() == dropped.size());
        for (std::size_t k = 0; k < kept.size(); ++k) require_close(dropped[k], kept[k], 0.0, 0.0);
    }
}

TEST_CASE("a slot whose value was dropped in an earlier epoch is refilled safely by any op", "[tape]") {
    // Epoch 1 drops a (2, 2) value in slot 1; epoch 2 puts a leaf, a filled
    // constant and a reduction of that same shape into slot 1 in turn. Each
    // must get real storage (the slot's shape matches, its elements are gone).
    tg::Tape<double> t;
    auto record_and_drop = [&] {
        auto x = t.variable(tg::Tensor<double>{{1.0, 2.0, 3.0}, {4.0, 5.0, 6.0}});
        t.drop_value(tg::narrow(x, 1, 0, 2));
        t.clear();
    };
    const tg::Tensor<double> c{{7.0, 8.0}, {9.0, 10.0}};
    // Slot 0 takes the pooled 4-element buffer first, so slot 1 finds none.
    const tg::Tensor<double> four{0.0, 0.0, 0.0, 0.0};
    record_and_drop();
    t.variable(four);
    require_close(t.constant(c).value(), c, 0.0, 0.0);
    t.clear();
    record_and_drop();
    t.variable(four);
    auto f = t.full({2, 2}, 3.5);
    require_close(f.value(), tg::Tensor<double>{{3.5, 3.5}, {3.5, 3.5}}, 0.0, 0.0);
    t.clear();
    record_and_drop();
    auto x3 = t.variable(tg::Tensor<double>{{{1.0, 2.0}, {3.0, 4.0}}, {{5.0, 6.0}, {7.0, 8.0}}});
    auto s = tg::sum(x3, 2);  // (2, 2), through the reduction's own resize
    require_close(s.value(), tg::Tensor<double>{{3.0, 7.0}, {11.0, 15.0}}, 0.0, 0.0);
}

TEST_CASE("drop_value frees an input past the 30th of an op whose backward reads no input", "[tape][memory]") {
    // Bit 30 of backward_reads covers inputs 30 and later: concat (reads
    // nothing) lets all 40 go, mul-style readers of many inputs keep them all.
    tg::Tape<double> t;
    auto x = t.variable(tgtest::smooth({2, 2}));
    std::vector<tg::Var<double>> parts;
    for (int k = 0; k < 40; ++k) parts.push_back(x * double(k + 1));
    const auto all = tg::concat(parts, 0);
    for (const auto& p : parts) t.drop_value(p);
    for (std::size_t k = 0; k < parts.size(); ++k) {
        INFO("input " << k);
        REQUIRE(t.value_dropped(parts[k]));
    }
    t.backward(tg::sum(all));
    REQUIRE(x.grad().data()[0] == 820.0);  // 1 + 2 + ... + 40
    REQUIRE(tg::reads_input(35) == tg::reads_input(30));
}

TEST_CASE("error messages name runs of equal input shapes once, with a count", "[tape]") {
    // A checkpointed layer concatenates one output per segment: hundreds of
    // inputs of one shape must not make a message hundreds of shapes long.
    tg::Tape<double> t;
    auto x = t.variable(tgtest::smooth({2, 2}));
    auto y = t.variable(tgtest::smooth({1, 2}));
    const auto all = tg::concat(std::vector<tg::Var<double>>{x, x, x, y, x}, 0);
    using Access = tg::detail::TapeAccess<double>;
    REQUIRE(Access::describe_inputs(t, Access::node(t, all.id())) == "inputs of shapes (2, 2) ×3, (1, 2), (2, 2)");
    const auto z = tg::tanh(all);  // its backward reads its output, not its input
    t.drop_value(all);
    REQUIRE(t.value_dropped(all));
    REQUIRE(Access::describe_inputs(t, Access::node(t, z.id())) == "inputs of shapes (9, 2)");  // also for a dropped input
    REQUIRE(Access::describe_inputs(t, Access::node(t, x.id())) == "no inputs");
}

TEST_CASE("the grad-ready hook sees each reached parameter's final gradient once, in reverse order of first use", "[tape]") {
    tg::Generator gen(3);
    tg::Parameter<double> first(tg::rand<double>({2, 2}, gen), "first"), second(tg::rand<double>({2, 2}, gen), "second"),
        unused(tg::rand<double>({2}, gen), "unused");
    tg::Tape<double> tape;
    std::vector<std::string> order;
    std::vector<tg::Tensor<double>> seen;
    tape.set_grad_ready_hook([&](tg::ParameterState<double>& p, const tg::Tensor<double>& g) {
        order.push_back(p.name());
        seen.push_back(g);
    });
    first.mutable_grad().fill(10.0);  // accumulated before: the hook gets this backward's part only
    const tg::Var<double> x = tape.variable(tg::rand<double>({3, 2}, gen));
    tg::Var<double> a = tg::matmul(x, tape.param(first));      // first is read first ...
    tg::Var<double> b = tg::matmul(a, tape.param(second));
    b = tg::tanh(tg::matmul(b, tape.param(first)));             // ... and again after second
    (void)tape.param(unused);                                   // on the tape, never read by the loss
    tape.backward(tg::sum(b));
    REQUIRE(order == std::vector<std::string>{"second", "first"});
    tg::Tensor<double> expected_first = first.grad() - 10.0;
    tgtest::require_close(seen[1], expected_first, 1e-15, 0.0);
    tgtest::require_close(seen[0], second.grad(), 0.0, 0.0);
    REQUIRE_FALSE(unused.has_grad());
    // clear() keeps it; an empty function removes it.
    tape.clear();
    tape.backward(tg::sum(tg::matmul(tape.variable(tg::rand<double>({1, 2}, gen)), tape.param(second))));
    REQUIRE(order.size() == 3);
    tape.clear();
    tape.set_grad_ready_hook({});
    tape.backward(tg::sum(tg::matmul(tape.variable(tg::rand<double>({1, 2}, gen)), tape.param(second))));
    REQUIRE(order.size() == 3);
}
