// LibTorch's side of bench_sampling: the char LM as a PyTorch user writes it
// in C++ (torch::nn::Embedding, LSTM or GRU, Linear; the state carried from
// one character to the next; torch::multinomial on the softmax), under
// torch::NoGradGuard. Compiled only when CMake finds Torch.
#include <torch/nn/modules/embedding.h>
#include <torch/nn/modules/linear.h>
#include <torch/nn/modules/rnn.h>
#include <torch/utils.h>

#include <stdexcept>
#include <tuple>

#include "sampling_side.hpp"
#include "side.hpp"

namespace bench {
namespace {

class TorchSampler final : public SamplingSide {
public:
    explicit TorchSampler(const SamplingConfig& c)
        : c_(c), embed_(nullptr), lstm_(nullptr), gru_(nullptr), head_(nullptr) {
        torch::manual_seed(1);
        const auto V = static_cast<int64_t>(c.vocab), E = static_cast<int64_t>(c.embed), H = static_cast<int64_t>(c.hidden);
        embed_ = torch::nn::Embedding(V, E);
        if (c.cell == "lstm")
            lstm_ = torch::nn::LSTM(torch::nn::LSTMOptions(E, H));
        else if (c.cell == "gru")
            gru_ = torch::nn::GRU(torch::nn::GRUOptions(E, H));
        else
            throw std::invalid_argument("bench_sampling: LibTorch side: unknown cell '" + c.cell + "'");
        head_ = torch::nn::Linear(H, V);
    }

    std::int64_t generate(std::size_t n) override {
        torch::NoGradGuard no_grad;
        std::int64_t id = 0, checksum = 0;
        torch::Tensor h, cell;  // undefined: zeros at the first step
        for (std::size_t i = 0; i < n; ++i) {
            const torch::Tensor x = embed_->forward(torch::full({1, 1}, id, torch::kLong));  // (1, 1, E)
            torch::Tensor out;
            if (lstm_) {
                auto r = h.defined() ? lstm_->forward(x, std::make_tuple(h, cell)) : lstm_->forward(x);
                out = std::get<0>(r);
                std::tie(h, cell) = std::get<1>(r);
            } else {
                auto r = h.defined() ? gru_->forward(x, h) : gru_->forward(x);
                out = std::get<0>(r);
                h = std::get<1>(r);
            }
            const torch::Tensor logits = head_->forward(out.view({1, -1}));  // (1, V)
            const torch::Tensor probs = torch::softmax(logits / c_.temperature, 1);
            id = torch::multinomial(probs, 1).item<int64_t>();
            checksum += id;
        }
        return checksum;
    }
    std::string name() const override { return "LibTorch"; }

private:
    SamplingConfig c_;
    torch::nn::Embedding embed_;
    torch::nn::LSTM lstm_;
    torch::nn::GRU gru_;
    torch::nn::Linear head_;
};

}  // namespace

std::unique_ptr<SamplingSide> make_torch_sampler(const SamplingConfig& c) {
    torch_init();  // one intra-op and one inter-op thread, as in bench_recurrent
    return std::make_unique<TorchSampler>(c);
}

}  // namespace bench
