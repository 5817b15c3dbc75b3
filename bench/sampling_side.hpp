#pragma once
// One side of bench_sampling: a character language model (Embedding →
// one-layer LSTM or GRU → Linear over the vocabulary) that generates text one
// character at a time, batch 1, without gradients, each character drawn from
// softmax(logits / temperature). This header includes neither tapegrad nor
// LibTorch, so that each side compiles alone.
#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>

namespace bench {

struct SamplingConfig {
    std::string cell = "lstm";  // lstm or gru
    std::size_t vocab = 96, embed = 64, hidden = 256;
    double temperature = 0.8;
};

class SamplingSide {
public:
    virtual ~SamplingSide() = default;
    /// Generates `n` characters after a one-character prime and returns a
    /// checksum of their ids (so the work cannot be optimized away).
    virtual std::int64_t generate(std::size_t n) = 0;
    virtual std::string name() const = 0;
};

/// LibTorch's side (torch_sampling.cpp), when the benchmark is built with it.
std::unique_ptr<SamplingSide> make_torch_sampler(const SamplingConfig& c);

}  // namespace bench
