// A complete small training program, as the README shows it: an LSTM learns
// the adding problem (Arjovsky et al. 2016) with T = 30. Each sequence holds
// random numbers in [0, 1) and marks two of them; the target is their sum.
// Predicting the mean, 1, scores MSE 1/6 ≈ 0.167.
#include <cstdio>

#include <tapegrad/tapegrad.hpp>

namespace tg = tapegrad;

struct Batch {
    tg::Tensor<float> x, y;  // (T, B, 2) and (B, 1)
};

Batch adding_batch(std::size_t T, std::size_t B, tg::Generator& gen) {
    Batch b{tg::zeros<float>({T, B, 2}), tg::zeros<float>({B, 1})};
    const tg::Tensor<float> values = tg::rand<float>({T, B}, gen);
    for (std::size_t n = 0; n < B; ++n) {
        const auto first = std::size_t(gen.below(T / 2)), second = T / 2 + std::size_t(gen.below(T / 2));
        for (std::size_t t = 0; t < T; ++t) b.x(t, n, 0) = values(t, n);
        b.x(first, n, 1) = b.x(second, n, 1) = 1;
        b.y(n, 0) = values(first, n) + values(second, n);
    }
    return b;
}

int main() {
    tg::manual_seed(1);  // the layers' initial weights
    tg::LSTM<float> lstm({.input_size = 2, .hidden_size = 64, .forget_bias = 1.0});
    tg::Linear<float> head(64, 1);
    tg::Adam<float> opt(tg::parameters(lstm, head), {.lr = 3e-3});
    tg::Generator data(2);

    tg::Tape<float> tape;  // one tape, cleared every step
    for (int step = 1; step <= 1500; ++step) {
        const Batch b = adding_batch(30, 32, data);
        auto [out, state] = lstm(tape.constant(b.x));  // out (T, B, 64); state.h (1, B, 64)
        auto loss = tg::mse_loss(head(tg::select(state.h, 0, 0)), tape.constant(b.y));
        tape.backward(loss);  // backpropagation through time falls out of the tape
        tg::clip_grad_norm(opt.params(), 1.0);
        opt.step();
        opt.zero_grad();
        if (step % 250 == 0) std::printf("step %4d  mse %.4f\n", step, loss.item());
        tape.clear();  // keeps every buffer: later steps allocate nothing
    }

    const Batch test = adding_batch(30, 4, data);
    tg::NoGradGuard no_grad;
    auto [out, state] = lstm(tape.constant(test.x));
    std::cout << "predicted " << head(tg::select(state.h, 0, 0)) << "\ntarget    " << test.y << '\n';
}
