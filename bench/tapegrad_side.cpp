// tapegrad's side of the benchmark: the model of side.hpp built from
// tapegrad's LSTM/GRU, Linear, mse_loss and Adam, on one reused tape.

#include <memory>

#include <tapegrad/tapegrad.hpp>

#include "../tests/peephole_lstm_cell.hpp"  // the user-written cell the tests run
#include "side.hpp"

namespace tg = tapegrad;

namespace bench {
namespace {

class TapegradSide final : public Side {
public:
    TapegradSide(const Shape& s, Cell cell, bool anomaly)
        : gen_(1), head_(s.H, s.I, gen_), x_(tg::Tensor<float>::from_shape({s.T, s.B, s.I})), y_(tg::Tensor<float>::from_shape({s.B, s.I})) {
        const tg::RecurrentOptions o{.input_size = s.I, .hidden_size = s.H};
        if (cell == Cell::lstm)
            rnn_ = std::make_unique<tg::LSTM<float>>(o, gen_);
        else if (cell == Cell::gru)
            rnn_ = std::make_unique<tg::GRU<float>>(o, gen_);
        else
            rnn_ = std::make_unique<tg::Recurrent<tgtest::PeepholeLSTMCell<float>>>(o, gen_);
        std::vector<tg::Parameter<float>*> params = rnn_->parameters();
        for (auto* p : head_.parameters()) params.push_back(p);
        opt_ = std::make_unique<tg::Adam<float>>(params, tg::AdamOptions{.lr = 1e-3});
        tg::uniform_(x_, -1, 1, gen_);
        tg::uniform_(y_, -1, 1, gen_);
        tape_.set_detect_anomaly(anomaly);
    }

    float train_step() override {
        opt_->zero_grad();
        auto [out, state] = (*rnn_)(tape_.constant(x_));
        auto loss = tg::mse_loss(head_(tg::select(state.h, 0, -1)), tape_.constant(y_));
        const float value = loss.item();
        tape_.backward(loss);
        opt_->step();
        tape_.clear();
        return value;
    }

    void forward() override {
        {
            tg::NoGradGuard no_grad;
            auto [out, state] = (*rnn_)(tape_.constant(x_));
            (void)head_(tg::select(state.h, 0, -1));
        }
        tape_.clear();
    }

    tg::Tape<float>& tape() { return tape_; }

private:
    tg::Generator gen_;
    std::unique_ptr<tg::RecurrentLayer<float>> rnn_;
    tg::Linear<float> head_;
    std::unique_ptr<tg::Adam<float>> opt_;
    tg::Tensor<float> x_, y_;
    tg::Tape<float> tape_;
};

}  // namespace

std::string profile_tapegrad(const Shape& s, Cell cell, bool train, int warmup, int steps) {
    TapegradSide side(s, cell, false);
    auto run = [&] { train ? (void)side.train_step() : side.forward(); };
    for (int k = 0; k < warmup; ++k) run();
    tg::Profiler profiler(side.tape(), {.trace = false});
    for (int k = 0; k < steps; ++k) run();
    return profiler.table();
}

std::unique_ptr<Side> make_tapegrad_side(const Shape& s, Cell cell, bool anomaly) {
    return std::make_unique<TapegradSide>(s, cell, anomaly);
}

}  // namespace bench
