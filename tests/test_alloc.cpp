// A steady training loop on a cleared tape allocates nothing: every heap
// allocation of the process is counted (malloc and friends are interposed
// here, so this test has its own executable).

#include <malloc.h>

#include <atomic>
#include <cstdlib>
#include <cstring>

#include "test_util.hpp"

extern "C" {
void* __libc_malloc(size_t);
void* __libc_calloc(size_t, size_t);
void* __libc_realloc(void*, size_t);
void* __libc_memalign(size_t, size_t);
void __libc_free(void*);
}

namespace {
std::atomic<long> g_allocations{0};
}

extern "C" {
void* malloc(size_t n) {
    g_allocations.fetch_add(1, std::memory_order_relaxed);
    return __libc_malloc(n);
}
void* calloc(size_t n, size_t m) {
    g_allocations.fetch_add(1, std::memory_order_relaxed);
    return __libc_calloc(n, m);
}
void* realloc(void* p, size_t n) {
    g_allocations.fetch_add(1, std::memory_order_relaxed);
    return __libc_realloc(p, n);
}
void* memalign(size_t a, size_t n) {
    g_allocations.fetch_add(1, std::memory_order_relaxed);
    return __libc_memalign(a, n);
}
void* aligned_alloc(size_t a, size_t n) { return memalign(a, n); }
int posix_memalign(void** out, size_t a, size_t n) {
    void* p = memalign(a, n);
    if (!p) return ENOMEM;
    *out = p;
    return 0;
}
void free(void* p) { __libc_free(p); }
}

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

    const long before = g_allocations.load();
    for (int step = 0; step < 5; ++step) train_step(t, m, x, y, h0, outputs);
    const long during = g_allocations.load() - before;

    REQUIRE(during == 0);
    // The counter is live: recording on a fresh tape does allocate.
    const long before_fresh = g_allocations.load();
    {
        tg::Tape<float> fresh;
        train_step(fresh, m, x, y, h0, outputs);
    }
    REQUIRE(g_allocations.load() - before_fresh > 0);
}
