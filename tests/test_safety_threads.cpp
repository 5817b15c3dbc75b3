// Issue 10 §3: modules are reentrant (one model, several threads, one tape
// each) and a tape used from two threads at once says so. Also §4's T = 0.
// These also run under ThreadSanitizer (tapegrad_thread_tests in a
// -DTAPEGRAD_SANITIZE=thread build; see docs/architecture.md, "Threads").

#include <functional>
#include <future>
#include <memory>
#include <mutex>
#include <thread>

#include "test_util.hpp"

namespace tg = tapegrad;

namespace {

constexpr int kThreads = 4;
constexpr int kIterations = 12;

// Runs `work(thread_index)` on kThreads threads at once.
void on_threads(const std::function<void(int)>& work) {
    std::vector<std::thread> threads;
    for (int k = 0; k < kThreads; ++k) threads.emplace_back(work, k);
    for (std::thread& th : threads) th.join();
}

// An input per thread and iteration, all different.
tg::Tensor<float> input_for(int thread, int iteration, std::size_t steps = 5, std::size_t batch = 3, std::size_t in = 4) {
    tg::Generator gen(1000 * static_cast<std::uint64_t>(thread) + static_cast<std::uint64_t>(iteration));
    tg::Tensor<float> x = tg::Tensor<float>::from_shape({steps, batch, in});
    tg::uniform_(x, -1.0, 1.0, gen);
    return x;
}

// Everything one forward (and optional backward) produces, flattened, so two
// runs compare with ==, bit for bit.
struct Result {
    std::vector<float> values;
    bool operator==(const Result&) const = default;
};

void append(Result& r, const tg::Tensor<float>& t) { r.values.insert(r.values.end(), t.begin(), t.end()); }

std::unique_ptr<tg::RecurrentLayer<float>> make_layer(const std::string& kind, const tg::RecurrentOptions& o, tg::Generator& gen) {
    if (kind == "lstm") return std::make_unique<tg::LSTM<float>>(o, gen);
    if (kind == "gru") return std::make_unique<tg::GRU<float>>(o, gen);
    return std::make_unique<tg::RNN<float>>(o, gen);
}

// One call: output, final state, every step's hidden state and, with
// `backward`, the gradient of the input. `serialize` guards the backward,
// which adds into the shared parameters' gradients (the user's job to
// serialize; the forward passes run concurrently).
Result run_once(tg::RecurrentLayer<float>& layer, tg::Tape<float>& t, const tg::Tensor<float>& xv, bool backward,
                std::mutex* serialize, tg::Generator* dropout_gen) {
    Result r;
    const tg::Var<float> x = backward ? t.variable(xv) : t.constant(xv);
    const std::vector<std::int64_t> lengths{5, 3, 4};
    const tg::RecurrentOutput<float> out = layer(x, std::nullopt, lengths, dropout_gen);
    append(r, out.output.value());
    append(r, out.state.h.value());
    for (std::size_t row = 0; row < out.step_hidden.size(); ++row)
        for (const tg::Var<float>& h : out.step_hidden[row]) append(r, h.value());
    if (backward) {
        const tg::Var<float> loss = tg::sum(out.output * out.output) + tg::sum(out.state.h);
        if (serialize) {
            const std::lock_guard<std::mutex> lock(*serialize);
            t.backward(loss);
        } else {
            t.backward(loss);
        }
        append(r, t.grad(x));
    }
    t.clear();
    return r;
}

}  // namespace

TEST_CASE("one RNN, LSTM or GRU serves four threads at once, bit-identical to a single thread", "[threads][layers]") {
    for (const std::string kind : {"rnn", "lstm", "gru"}) {
        for (const bool backward : {false, true}) {
            INFO(kind << (backward ? " forward+backward" : " forward only"));
            tg::Generator gen(3);
            const tg::RecurrentOptions o{.input_size = 4, .hidden_size = 6, .num_layers = 2, .bidirectional = true};
            auto layer = make_layer(kind, o, gen);
            std::vector<std::vector<Result>> reference(kThreads), parallel(kThreads);
            for (int k = 0; k < kThreads; ++k) {
                tg::Tape<float> t;
                for (int i = 0; i < kIterations; ++i) reference[k].push_back(run_once(*layer, t, input_for(k, i), backward, nullptr, nullptr));
            }
            std::mutex serialize;
            on_threads([&](int k) {
                tg::Tape<float> t;
                for (int i = 0; i < kIterations; ++i) parallel[k].push_back(run_once(*layer, t, input_for(k, i), backward, &serialize, nullptr));
            });
            for (int k = 0; k < kThreads; ++k) REQUIRE(parallel[k] == reference[k]);
            REQUIRE(reference[0] != reference[1]);
        }
    }
}

TEST_CASE("inter-layer dropout in training mode with a generator per thread is reproducible across threads", "[threads][layers]") {
    tg::Generator gen(5);
    const tg::RecurrentOptions o{.input_size = 4, .hidden_size = 6, .num_layers = 3, .dropout = 0.4};
    tg::LSTM<float> lstm(o, gen);
    REQUIRE(lstm.training());
    std::vector<std::vector<Result>> reference(kThreads), parallel(kThreads);
    for (int k = 0; k < kThreads; ++k) {
        tg::Generator masks(77 + static_cast<std::uint64_t>(k));
        tg::Tape<float> t;
        for (int i = 0; i < kIterations; ++i) reference[k].push_back(run_once(lstm, t, input_for(k, i), false, nullptr, &masks));
    }
    on_threads([&](int k) {
        tg::Generator masks(77 + static_cast<std::uint64_t>(k));
        tg::Tape<float> t;
        for (int i = 0; i < kIterations; ++i) parallel[k].push_back(run_once(lstm, t, input_for(k, i), false, nullptr, &masks));
    });
    for (int k = 0; k < kThreads; ++k) REQUIRE(parallel[k] == reference[k]);

    // The layer's own generator is shared under a lock: safe (no data race,
    // which ThreadSanitizer checks), though the masks depend on timing.
    // (Catch's assertions are not thread-safe: results are checked after join.)
    std::vector<std::size_t> sizes(kThreads);
    std::mutex serialize;
    on_threads([&](int k) {
        tg::Tape<float> t;
        for (int i = 0; i < kIterations; ++i) sizes[k] += run_once(lstm, t, input_for(k, i), true, &serialize, nullptr).values.size();
    });
    for (int k = 0; k < kThreads; ++k) REQUIRE(sizes[k] == sizes[0]);
    REQUIRE(sizes[0] > 0);
}

TEST_CASE("a Dropout module called from several threads keeps no mask of its own", "[threads][layers]") {
    tg::Dropout<float> drop(0.5, 11);
    auto masked = [&](int k, tg::Generator* gen) {
        tg::Tape<float> t;
        const tg::Var<float> x = t.constant(input_for(k, 0, 8, 4, 4));
        const tg::Var<float> y = gen ? drop(x, *gen) : drop(x);
        tg::Tensor<float> v = y.value();
        t.clear();
        return v;
    };
    std::vector<tg::Tensor<float>> reference(kThreads), parallel(kThreads);
    for (int k = 0; k < kThreads; ++k) {
        tg::Generator gen(k);
        reference[k] = masked(k, &gen);
    }
    on_threads([&](int k) {
        tg::Generator gen(k);
        parallel[k] = masked(k, &gen);
        masked(k, nullptr);  // the module's own generator, under its lock
    });
    for (int k = 0; k < kThreads; ++k) REQUIRE((parallel[k] == reference[k]));
}

TEST_CASE("step_hidden comes back with each call's output", "[threads][layers]") {
    tg::Generator gen(9);
    tg::LSTM<float> lstm({.input_size = 4, .hidden_size = 5, .num_layers = 2}, gen);
    tg::Tape<float> t;
    // Two calls on one tape: each output keeps its own hidden states (with a
    // per-layer member, the first call's would now be the second's).
    const tg::RecurrentOutput<float> first = lstm(t.variable(input_for(0, 0, 6)));
    const tg::RecurrentOutput<float> second = lstm(t.constant(input_for(1, 0, 3)));
    REQUIRE(first.step_hidden.size() == 2);
    REQUIRE(first.step_hidden[1].size() == 6);
    REQUIRE(second.step_hidden.back().size() == 3);
    for (std::int64_t s = 0; s < 6; ++s)
        REQUIRE((first.step_hidden.back()[static_cast<std::size_t>(s)].value() == tg::select(first.output, 0, s).value()));
    for (std::int64_t s = 0; s < 3; ++s)
        REQUIRE((second.step_hidden[1][static_cast<std::size_t>(s)].value() == tg::select(second.output, 0, s).value()));
    REQUIRE_THROWS_AS(first.step_hidden[2], tg::ArgumentError);

    // ∂L/∂h_t through the returned handles; L reads only the last step's output.
    auto [out, state] = first;  // structured bindings still see (output, state)
    t.backward(tg::sum(tg::select(out, 0, -1)), tg::BackwardOptions{.retain_grads = true});
    const tg::Tensor<float>& g_last = t.grad(first.step_hidden[1][5]);
    REQUIRE((g_last == tg::Tensor<float>(xt::ones<float>({3, 5}))));
    REQUIRE(t.has_grad(first.step_hidden[0][0]));
    REQUIRE(state.h.shape()[0] == 2);
}

TEST_CASE("a tape used from a second thread without clear() throws ConcurrentUseError", "[threads][tape]") {
    tg::Tape<float> t;
    tg::Parameter<float> w(tg::Tensor<float>({1.0f, 2.0f}), "w");
    tg::Var<float> loss;
    // Thread A records, then stays alive (still owning the tape) until B has
    // tried: a thread that has ended may pass its id on to a new thread, and
    // sequential use is not what the check is for.
    std::promise<void> recorded_by_a, b_done;
    std::thread a([&] {
        loss = tg::sum(t.param(w) * 3.0f);
        recorded_by_a.set_value();
        b_done.get_future().wait();
    });
    recorded_by_a.get_future().wait();
    const std::size_t recorded = t.size();
    // Catch's assertions are not thread-safe: thread B only keeps what happened.
    auto refused = [](const std::function<void()>& f) {
        try {
            f();
        } catch (const tg::ConcurrentUseError& e) {
            return std::string(e.what());
        }
        return std::string("no ConcurrentUseError");
    };
    std::string on_record, on_backward, on_op, on_main;
    std::thread b([&] {
        on_record = refused([&] { t.constant(1.0f); });
        on_backward = refused([&] { t.backward(loss); });
        on_op = refused([&] { tg::exp(loss); });
    });
    b.join();
    on_main = refused([&] { t.constant(1.0f); });  // the main thread is not the owner either
    b_done.set_value();
    a.join();
    REQUIRE_THAT(on_record, Catch::StartsWith("Tape::record: tape used from two threads at once (owner thread ") &&
                                Catch::Contains("use one tape per thread"));
    REQUIRE_THAT(on_backward, Catch::StartsWith("backward: tape used from two threads at once"));
    REQUIRE_THAT(on_op, Catch::Contains("two threads at once"));
    REQUIRE_THAT(on_main, Catch::Contains("two threads at once"));
    REQUIRE(t.size() == recorded);  // the refused calls recorded nothing
    REQUIRE_FALSE(w.has_grad());

    // Handed over after clear(): thread B records and backpropagates.
    t.clear();
    std::thread c([&] {
        const tg::Var<float> l = tg::sum(t.param(w) * 3.0f);
        t.backward(l);
        t.clear();
    });
    c.join();
    REQUIRE((w.grad() == tg::Tensor<float>({3.0f, 3.0f})));
    REQUIRE_NOTHROW(t.constant(1.0f));  // cleared by B: the main thread may take it
}

TEST_CASE("RNN, LSTM and GRU refuse a sequence of T = 0 steps by name", "[layers][errors]") {
    tg::Generator gen(1);
    for (const std::string kind : {"rnn", "lstm", "gru"}) {
        auto layer = make_layer(kind, {.input_size = 3, .hidden_size = 2}, gen);
        tg::Tape<float> t;
        const tg::Var<float> x = t.constant(tg::Tensor<float>::from_shape({0, 4, 3}));
        const std::size_t before = t.size();
        const std::string name = kind == "rnn" ? "RNN" : kind == "lstm" ? "LSTM" : "GRU";
        REQUIRE_THROWS_MATCHES((*layer)(x), tg::ShapeError,
                               Catch::Message(name + ": input of shape (0, 4, 3) has T = 0 time steps; need at least one"));
        REQUIRE(t.size() == before);
        // An empty batch of 2^40 steps: refused before any per-step work.
        const tg::Var<float> huge = t.constant(tg::Tensor<float>::from_shape({std::size_t(1) << 40, 0, 3}));
        REQUIRE_THROWS_MATCHES((*layer)(huge), tg::ShapeError, Catch::Message(name + ": input of shape (1099511627776, 0, 3) has more time steps than one tape can record"));
    }
}
