// LibTorch's side of the benchmark: the same computation as tapegrad_side.cpp
// with torch::nn::LSTM / torch::nn::GRU (float32, input (T, B, I)), a
// torch::nn::Linear(H→I) head on the last hidden state, torch::mse_loss and
// torch::optim::Adam(lr 1e-3); forward-only under torch::NoGradGuard.
// Compiled only when CMake finds Torch; nothing else includes LibTorch.

// Only the headers needed: <torch/torch.h> as a whole costs much more to compile.
#include <ATen/Parallel.h>
#include <torch/nn/functional/loss.h>
#include <torch/nn/modules/linear.h>
#include <torch/nn/modules/rnn.h>
#include <torch/optim/adam.h>
#include <torch/utils.h>
#include <torch/version.h>

#include <memory>
#include <mutex>
#include <variant>

#include "side.hpp"

namespace bench {
namespace {

class TorchSide final : public Side {
public:
    TorchSide(const Shape& s, Cell cell) : lstm_(nullptr), gru_(nullptr), head_(nullptr) {
        torch::manual_seed(1);
        const auto B = static_cast<int64_t>(s.B), I = static_cast<int64_t>(s.I), H = static_cast<int64_t>(s.H),
                   T = static_cast<int64_t>(s.T);
        std::vector<torch::Tensor> params;
        if (cell == Cell::lstm) {
            lstm_ = torch::nn::LSTM(torch::nn::LSTMOptions(I, H));
            params = lstm_->parameters();
        } else {
            gru_ = torch::nn::GRU(torch::nn::GRUOptions(I, H));
            params = gru_->parameters();
        }
        head_ = torch::nn::Linear(H, I);
        for (auto& p : head_->parameters()) params.push_back(p);
        opt_ = std::make_unique<torch::optim::Adam>(params, torch::optim::AdamOptions(1e-3));
        x_ = torch::rand({T, B, I}) * 2 - 1;  // float32 by default
        y_ = torch::rand({B, I}) * 2 - 1;
    }

    float train_step() override {
        opt_->zero_grad();
        auto loss = torch::mse_loss(head_->forward(last_hidden()), y_);
        loss.backward();
        opt_->step();
        return loss.item<float>();
    }

    void forward() override {
        torch::NoGradGuard no_grad;
        (void)head_->forward(last_hidden());
    }

private:
    // h_n of the (single-layer) sequence layer: (1, B, H) → (B, H).
    torch::Tensor last_hidden() {
        if (lstm_) return std::get<0>(std::get<1>(lstm_->forward(x_))).select(0, -1);
        return std::get<1>(gru_->forward(x_)).select(0, -1);
    }

    torch::nn::LSTM lstm_;
    torch::nn::GRU gru_;
    torch::nn::Linear head_;
    std::unique_ptr<torch::optim::Adam> opt_;
    torch::Tensor x_, y_;
};

}  // namespace

void torch_init() {
    static std::once_flag once;
    std::call_once(once, [] {
        at::set_num_interop_threads(1);  // allowed once, before any inter-op work
        at::set_num_threads(1);
    });
}

std::unique_ptr<Side> make_torch_side(const Shape& s, Cell cell) {
    torch_init();
    return std::make_unique<TorchSide>(s, cell);
}

std::string torch_version() { return TORCH_VERSION; }

}  // namespace bench
