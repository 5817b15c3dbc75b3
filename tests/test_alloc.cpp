// A steady training loop on a cleared tape allocates nothing: every heap
// allocation of the process is counted (bench/alloc_counter.cpp interposes
// malloc and friends, so this test has its own executable).

#include <malloc.h>

#include <cstdlib>
#include <cstring>
#include <memory>

#include "../bench/alloc_counter.hpp"
#include "peephole_lstm_cell.hpp"
#include "test_util.hpp"

namespace tg = tapegrad;

namespace {

struct Model {
    tg::Parameter<float> w_ih, w_hh, b, head;
    Model()
        : w_ih(tgtest::smooth({3, 16}, 0.3) * 1.0f, "w_ih"),
          w_hh(tg::Tensor<float>(tgtest::smooth({4, 16}, 0.2)), "w_hh"),
          b(tg::Tensor<float>(tgtest::smooth({16}, 0.1)), "b"),
          head(tg::Tensor<float>(tgtest::smooth({4, 1}, 0.5)), "head") {}
};

// A small LSTM-like recurrence from primitives: matmul, broadcasting add,
// narrow, sigmoid, tanh, mul, add, stack, select, reductions and a loss.
void train_step(tg::Tape<float>& t, Model& m, const tg::Tensor<float>& x, const tg::Tensor<float>& y, const tg::Tensor<float>& h0,
                std::vector<tg::Var<float>>& outputs) {
    auto xs = t.constant(x);  // (T, B, 3)
    const auto steps = static_cast<std::int64_t>(x.shape()[0]);
    auto h = t.constant(h0);
    auto c = h;
    outputs.clear();
    for (std::int64_t s = 0; s < steps; ++s) {
        auto gates = tg::matmul(tg::select(xs, 0, s), t.param(m.w_ih)) + tg::matmul(h, t.param(m.w_hh)) + t.param(m.b);
        auto i = tg::sigmoid(tg::narrow(gates, 1, 0, 4));
        auto f = tg::sigmoid(tg::narrow(gates, 1, 4, 4));
        auto g = tg::tanh(tg::narrow(gates, 1, 8, 4));
        auto o = tg::sigmoid(tg::narrow(gates, 1, 12, 4));
        c = f * c + i * g;
        h = o * tg::tanh(c);
        outputs.push_back(h);
    }
    auto all = tg::stack(outputs, 0);
    auto pred = tg::matmul(h, t.param(m.head));
    auto loss = tg::mse_loss(pred, t.constant(y)) + tg::mean(tg::max(all, 2)) * 0.01f + tg::sum(tg::log_softmax(pred, 0)) * 0.0f;
    t.backward(loss);
    for (tg::Parameter<float>* p : {&m.w_ih, &m.w_hh, &m.b, &m.head}) {
        float* v = p->mutable_value().data();
        float* g = p->mutable_grad().data();
        for (std::size_t k = 0; k < p->size(); ++k) v[k] -= 0.01f * g[k];
        p->zero_grad();
    }
    t.clear();
}

}  // namespace

TEST_CASE("a steady training loop allocates no heap memory", "[tape][alloc]") {
    Model m;
    tg::Tape<float> t;
    const tg::Tensor<float> x = tg::Tensor<float>(tgtest::smooth({6, 2, 3}));
    tg::Tensor<float> y = tg::Tensor<float>::from_shape({2, 1});
    y(0, 0) = 0.5f;
    y(1, 0) = -0.25f;
    tg::Tensor<float> h0 = tg::Tensor<float>::from_shape({2, 4});
    h0.fill(0.0f);
    std::vector<tg::Var<float>> outputs;
    outputs.reserve(6);
    for (int warm = 0; warm < 3; ++warm) train_step(t, m, x, y, h0, outputs);

    const long before = bench::heap_allocations();
    for (int step = 0; step < 5; ++step) train_step(t, m, x, y, h0, outputs);
    const long during = bench::heap_allocations() - before;

    REQUIRE(during == 0);
    // The counter is live: recording on a fresh tape does allocate.
    const long before_fresh = bench::heap_allocations();
    {
        tg::Tape<float> fresh;
        train_step(fresh, m, x, y, h0, outputs);
    }
    REQUIRE(bench::heap_allocations() - before_fresh > 0);
}

TEST_CASE("steady LSTM and GRU training steps with Adam allocate no heap memory", "[layers][alloc]") {
    // The benchmark's training step: zero_grad, a sequence layer, a Linear head
    // on the last hidden state, MSE, backward, clipping, Adam. The first steps
    // fill the tape, the buffer pool and the optimizer state; after that,
    // nothing may allocate (values, gradients, dropped temporaries and handle
    // lists all reuse their buffers).
    // OpenBLAS may allocate work arrays inside a GEMM call (its threaded
    // driver does per call); those are its allocations, not ours, and are
    // told apart by the caller's address.
    REQUIRE(bench::locate_openblas());
    auto own = [] { return bench::heap_allocations() - bench::openblas_heap_allocations(); };
    // Also with recompute checkpointing (segments of 2 of the 7 steps): the
    // segment list and the recompute plan keep their capacity across clears.
    for (bool lstm : {true, false}) for (bool clip : {false, true}) for (std::size_t every : {0, 2}) {
        INFO((lstm ? "LSTM" : "GRU") << (clip ? " clip" : "") << " checkpoint_every " << every);
        tg::Generator gen(7);
        const tg::RecurrentOptions o{.input_size = 5, .hidden_size = 8, .num_layers = 2, .checkpoint_every = every,
                                     .projection_steps = 2};
        std::unique_ptr<tg::RecurrentLayer<float>> rnn;
        if (lstm)
            rnn = std::make_unique<tg::LSTM<float>>(o, gen);
        else
            rnn = std::make_unique<tg::GRU<float>>(o, gen);
        tg::Linear<float> head(8, 5, gen);
        std::vector<tg::Parameter<float>*> params = rnn->parameters();
        for (auto* p : head.parameters()) params.push_back(p);
        tg::Adam<float> opt(params, tg::AdamOptions{.lr = 1e-3});
        tg::Tensor<float> x = tg::Tensor<float>::from_shape({7, 3, 5}), y = tg::Tensor<float>::from_shape({3, 5});
        tg::uniform_(x, -1, 1, gen);
        tg::uniform_(y, -1, 1, gen);
        tg::Tape<float> t;
        float first = 0, last = 0;
        auto step = [&] {
            opt.zero_grad();
            auto [out, state] = (*rnn)(t.constant(x));
            auto loss = tg::mse_loss(head(tg::select(state.h, 0, -1)), t.constant(y));
            last = loss.item();
            t.backward(loss);
            if (clip) tg::clip_grad_norm(opt.params(), 1.0);  // refreshed from the records in place
            opt.step();
            t.clear();
        };
        for (int warm = 0; warm < 3; ++warm) step();
        first = last;
        const long before = own();
        for (int s = 0; s < 5; ++s) step();
        REQUIRE(own() - before == 0);
        REQUIRE(last < first);  // and it trains
    }
}

TEST_CASE("steady steps with variable lengths, inter-layer dropout and step_hidden allocate no heap memory", "[layers][alloc]") {
    // The layer keeps no per-call members: its handle lists, the length mask
    // and the dropout masks live on the tape, which hands the same storage
    // back after clear().
    REQUIRE(bench::locate_openblas());
    auto own = [] { return bench::heap_allocations() - bench::openblas_heap_allocations(); };
    tg::Generator gen(3);
    tg::LSTM<float> lstm({.input_size = 4, .hidden_size = 6, .num_layers = 2, .bidirectional = true, .dropout = 0.3}, gen);
    tg::Generator masks(8);
    tg::Tensor<float> x = tg::Tensor<float>::from_shape({5, 3, 4});
    tg::uniform_(x, -1, 1, gen);
    const std::vector<std::int64_t> lengths{5, 2, 4};
    tg::Tape<float> t;
    const std::vector<tg::Parameter<float>*> params = lstm.parameters();
    auto step = [&](bool own_generator) {
        const auto r = lstm(t.constant(x), std::nullopt, lengths, own_generator ? nullptr : &masks);
        auto loss = tg::sum(r.output) + tg::sum(r.state.h * r.state.c);
        t.backward(loss, tg::BackwardOptions{.retain_grads = true});
        float g = 0;
        for (const tg::Var<float>& h : r.step_hidden.back()) g += t.grad(h).data()[0];
        for (tg::Parameter<float>* p : params) p->zero_grad();  // (Module::zero_grad builds names: it allocates)
        t.clear();
        return g;
    };
    for (bool own_generator : {false, true}) {
        for (int warm = 0; warm < 3; ++warm) step(own_generator);
        const long before = own();
        for (int s = 0; s < 5; ++s) step(own_generator);
        REQUIRE(own() - before == 0);
    }
}

TEST_CASE("a user-defined cell's steady bidirectional steps with lengths and dropout allocate no heap memory", "[layers][cells][alloc]") {
    // The cell's per-sequence context lives on the call's stack, its step is
    // called through a function reference, and the step scope's release
    // scans the tape in place: nothing per step needs the heap.
    REQUIRE(bench::locate_openblas());
    auto own = [] { return bench::heap_allocations() - bench::openblas_heap_allocations(); };
    tg::Generator gen(4);
    tg::Recurrent<tgtest::PeepholeLSTMCell<float>> layer(
        {.input_size = 4, .hidden_size = 6, .num_layers = 2, .bidirectional = true, .dropout = 0.3}, gen);
    tg::Tensor<float> x = tg::Tensor<float>::from_shape({5, 3, 4});
    tg::uniform_(x, -1, 1, gen);
    const std::vector<std::int64_t> lengths{5, 2, 4};
    tg::Tape<float> t;
    const std::vector<tg::Parameter<float>*> params = layer.parameters();
    auto step = [&] {
        const auto r = layer(t.constant(x), std::nullopt, lengths);
        t.backward(tg::sum(r.output) + tg::sum(r.state.h * r.state.c));
        for (tg::Parameter<float>* p : params) p->zero_grad();
        t.clear();
    };
    for (int warm = 0; warm < 3; ++warm) step();
    const long before = own();
    for (int s = 0; s < 5; ++s) step();
    REQUIRE(own() - before == 0);
}

TEST_CASE("a parameter leaf allocates no copy of its parameter, even on a fresh tape", "[tape][alloc]") {
    tg::Parameter<float> big(tg::Tensor<float>::from_shape({512, 512}), "big");
    big.mutable_value().fill(0.5f);
    tg::Parameter<float> small(tg::Tensor<float>::from_shape({2}), "small");
    tg::Tape<float> t;
    (void)t.param(small);  // the tape's first chunk of nodes and its list of parameters
    const long before = bench::heap_allocations();
    const tg::Var<float> w = t.param(big);
    REQUIRE(bench::heap_allocations() - before == 0);
    REQUIRE(t.value(w).data() == big.value().data());
    // A slot that held another shape gets a husk of the new one, still without elements.
    t.clear();
    (void)t.param(small);
    tg::Parameter<float> wide(tg::Tensor<float>::from_shape({3, 1000}), "wide");
    wide.mutable_value().fill(1.0f);
    const long again = bench::heap_allocations();
    REQUIRE(t.value(t.param(wide)).size() == 3000);
    REQUIRE(bench::heap_allocations() - again == 0);
}
