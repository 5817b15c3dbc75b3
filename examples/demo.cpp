// Fits a small tanh network to y = sin(3x) with plain gradient descent, then
// verifies its gradients: gradcheck in double over every parameter, and the
// tape audit over every recorded op.

#include <cmath>
#include <cstdio>
#include <random>

#include <tapegrad/tapegrad.hpp>

namespace tg = tapegrad;

namespace {

template <class T>
struct Net {
    tg::Parameter<T> w1, b1, w2, b2;

    explicit Net(std::mt19937& rng, std::size_t hidden)
        : w1(init({1, hidden}, 1.0, rng), "w1"), b1(init({hidden}, 1.0, rng), "b1"),
          w2(init({hidden, 1}, 1.0 / std::sqrt(double(hidden)), rng), "w2"), b2(init({1}, 0.0, rng), "b2") {}

    static tg::Tensor<T> init(const tg::Shape& shape, double bound, std::mt19937& rng) {
        std::uniform_real_distribution<double> u(-bound, bound);
        tg::Tensor<T> t = tg::Tensor<T>::from_shape(shape);
        for (auto& v : t) v = static_cast<T>(u(rng));
        return t;
    }

    tg::Var<T> operator()(tg::Tape<T>& tape, tg::Var<T> x) {
        auto h = tg::tanh(tg::matmul(x, tape.param(w1)) + tape.param(b1));
        return tg::matmul(h, tape.param(w2)) + tape.param(b2);
    }

    std::vector<tg::Parameter<T>*> params() { return {&w1, &b1, &w2, &b2}; }
};

}  // namespace

int main() {
    std::mt19937 rng(7);
    const std::size_t n = 64, hidden = 16;
    tg::Tensor<float> x = tg::Tensor<float>::from_shape({n, 1}), y = tg::Tensor<float>::from_shape({n, 1});
    for (std::size_t i = 0; i < n; ++i) {
        x(i, 0) = -1.0f + 2.0f * float(i) / float(n - 1);
        y(i, 0) = std::sin(3.0f * x(i, 0));
    }

    std::printf("fitting y = sin(3x) with a 1-%zu-1 tanh network (float, full-batch gradient descent)\n", hidden);
    Net<float> net(rng, hidden);
    tg::Tape<float> tape;
    const int steps = 3000;
    float loss_value = 0;
    for (int step = 1; step <= steps; ++step) {
        auto loss = tg::mse_loss(net(tape, tape.constant(x)), tape.constant(y));
        tape.backward(loss);
        loss_value = loss.item();
        for (auto* p : net.params()) {
            p->mutable_value() -= 0.2f * p->grad();
            p->zero_grad();
        }
        tape.clear();
        if (step == 1 || step % 500 == 0) std::printf("  step %4d/%d  mse %.5f\n", step, steps, loss_value);
    }
    const float baseline = [&] {
        double mean = 0, var = 0;
        for (float v : y) mean += v / double(n);
        for (float v : y) var += (v - mean) * (v - mean) / double(n);
        return float(var);
    }();
    std::printf("final mse %.5f (predicting the mean: %.5f)\n\n", loss_value, baseline);

    // The same architecture in double, for numerical checks.
    std::mt19937 rng64(7);
    Net<double> net64(rng64, hidden);
    tg::Tensor<double> x64 = tg::Tensor<double>::from_shape({8, 1}), y64 = tg::Tensor<double>::from_shape({8, 1});
    for (std::size_t i = 0; i < 8; ++i) {
        x64(i, 0) = -0.9 + 0.25 * double(i);
        y64(i, 0) = std::sin(3.0 * x64(i, 0));
    }
    auto r = tg::gradcheck([&](tg::Tape<double>& t) { return tg::mse_loss(net64(t, t.constant(x64)), t.constant(y64)); },
                           net64.params());
    std::printf("gradcheck (double, central differences, eps 1e-6, atol 1e-5, rtol 1e-3) over w1 (1x%zu), b1 (%zu), "
                "w2 (%zux1), b2 (1):\n  %s\n",
                hidden, hidden, hidden, r.report().c_str());

    tg::Tape<double> t64;
    auto loss64 = tg::mse_loss(net64(t64, t64.constant(x64)), t64.constant(y64));
    auto a = tg::audit(t64, loss64);
    std::printf("tape audit of the %zu recorded nodes (each op's backward against finite differences of its forward):\n  %s\n",
                t64.size(), a.report().c_str());
    return (r.ok && a.ok && loss_value < 0.1f * baseline) ? 0 : 1;
}
