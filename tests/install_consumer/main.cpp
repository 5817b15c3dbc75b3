// A project outside the tree, built against the installed package with its
// own compiler flags (run.cmake): train a small LSTM with the documented
// idioms, exchange tensors with the library, print them.
#include <cmath>
#include <iostream>

#include <tapegrad/tapegrad.hpp>
#include <tapegrad/autodiff/op_support.hpp>  // writing a built-in-style op

namespace tg = tapegrad;

// An op written as the library's own are (docs/architecture.md, "Where an op
// lives"), against the installed headers: it sees only its OpContext.
template <class T>
struct Square {
    static void forward(const tg::OpContext<T>& c, tg::Tensor<T>& out) {
        c.fit(out, c.input(0).shape());
        const T* x = c.input(0).data();
        for (std::size_t i = 0; i < out.size(); ++i) out.data()[i] = x[i] * x[i];
    }
    static void backward(tg::OpContext<T>& c) {
        const T *g = c.grad().data(), *x = c.input(0).data();
        if (c.needs_grad(0)) c.accumulate_each(0, [=](std::size_t i) { return T(2) * x[i] * g[i]; });
    }
    static constexpr tg::OpDef<T> def{"square", forward, backward, tg::reads_input(0)};
};

int main() {
    // Designated initializers leave fields out: clean under -Wall -Wextra -Werror.
    tg::RecurrentOptions ro{.input_size = 2, .hidden_size = 4};
    tg::LoadOptions lo{.strict = true};
    tg::AdamOptions ao{.lr = 1e-2};
    tg::SGDOptions so{.lr = 0.1};
    tg::RMSpropOptions rmo{.lr = 1e-3};
    tg::AdagradOptions ago{.lr = 1e-2};
    tg::AdamWOptions awo{.lr = 1e-3};
    tg::BackwardOptions bo{.retain_grads = false};
    tg::GradcheckOptions go{.eps = 1e-6};
    tg::AuditOptions auo{.stop_at_first = true};
    tg::PrintOptions po{.precision = 2};
    tg::CsvOptions co{.header = false};
    (void)lo, (void)so, (void)rmo, (void)ago, (void)awo, (void)go, (void)auo, (void)co;

    tg::manual_seed(1);
    tg::LSTM<float> lstm(ro);
    tg::Linear<float> head(4, 1);
    tg::Adam<float> opt(tg::parameters(lstm, head), ao);
    tg::Generator gen(2);
    const tg::Tensor<float> x = tg::randn<float>({5, 3, 2}, gen);  // made here, read by the library
    const tg::Tensor<float> y = tg::zeros<float>({3, 1});
    float first = 0, last = 0;
    tg::Tape<float> tape;
    for (int step = 0; step < 30; ++step) {
        auto [out, state] = lstm(tape.constant(x));
        auto loss = tg::mse_loss(head(tg::select(out, 0, -1)), tape.constant(y));
        tape.backward(loss, bo);
        opt.step();
        opt.zero_grad();
        (step == 0 ? first : last) = loss.item();
        tape.clear();
    }
    std::cout << tg::to_string(tg::Tensor<float>{0.5f, 1.25f}, po) << '\n';
    std::cout << "loss " << first << " -> " << last << '\n';
    tg::Tape<double> t2;
    auto v = t2.variable(tg::Tensor<double>(3.0));
    t2.backward(v * v);  // dy/dx = 2x = 6
    std::cout << "grad " << v.grad()() << '\n';
    t2.clear();
    auto u = t2.variable(tg::Tensor<double>{1.0, -2.0});
    const std::size_t two[] = {2};
    auto half = t2.constant_from(two, [](std::span<double> m) { m[0] = m[1] = 0.5; });
    auto sq = tg::detail::record<Square<double>>({u});
    t2.backward(tg::sum(sq * half));  // d/du Σ u²/2 = u
    std::cout << t2.op_name(sq) << " grad " << tg::to_string(u.grad(), po) << '\n';
    const bool op_ok = u.grad()(0) == 1.0 && u.grad()(1) == -2.0 && !t2.value_dropped(sq);

    // Recompute checkpointing: a function and a layer option, gradients as without.
    t2.clear();
    auto w = t2.variable(tg::Tensor<double>{0.5, -1.5});
    auto cube = tg::checkpoint([](tg::Var<double> a) { return tg::tanh(a) * a * a; }, w);
    t2.backward(tg::sum(cube));
    const double th = std::tanh(0.5), d0 = (1 - th * th) * 0.25 + th * 2 * 0.5;  // d/da tanh(a)·a²
    const bool ckpt_ok = std::abs(w.grad()(0) - d0) < 1e-12 && t2.recompute_segments().size() == 1;
    tg::LSTM<float> long_lstm({.input_size = 2, .hidden_size = 4, .checkpoint_every = tg::checkpoint_auto});
    tg::Tape<float> t3;
    auto [long_out, long_state] = long_lstm(t3.constant(tg::randn<float>({50, 3, 2}, gen)));
    t3.backward(tg::sum(long_out));
    std::cout << "checkpointed: " << t3.recompute_segments().size() << " segment(s)\n";
    return last < first && op_ok && ckpt_ok && !t3.recompute_segments().empty() ? 0 : 1;
}
