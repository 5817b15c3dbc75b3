#pragma once
// One side of the comparison: a model (LSTM or GRU, then a Linear(H→I) head on
// the last hidden state) that can take one training step (zero_grad, forward
// over T steps, MSE, backward, Adam(lr 1e-3) step) or one forward-only pass.
// This header names neither tapegrad nor LibTorch, so that each side is its
// own translation unit and LibTorch's headers stay in torch_side.cpp.

#include <cstddef>
#include <memory>
#include <string>

namespace bench {

struct Shape {
    std::size_t B, I, H, T;  // batch, input, hidden, steps; input is (T, B, I)
};

// `peephole`: a user's cell written against the Cell interface
// (tests/peephole_lstm_cell.hpp), tapegrad only; LibTorch has no equivalent,
// so its "theirs" side is tapegrad's built-in LSTM (issue 11: the cost of a
// cell from outside the library).
enum class Cell { lstm, gru, peephole };

class Side {
public:
    virtual ~Side() = default;
    /// One training step; returns the loss (checked to be finite).
    virtual float train_step() = 0;
    /// One forward pass without gradient (sequence layer, then the head).
    virtual void forward() = 0;
};

/// tapegrad's side (tapegrad_side.cpp).
std::unique_ptr<Side> make_tapegrad_side(const Shape& s, Cell cell, bool anomaly);

/// --profile: `warmup` untimed steps (training or forward-only) of tapegrad's
/// side, then `steps` more under a tg::Profiler; returns its op table.
std::string profile_tapegrad(const Shape& s, Cell cell, bool train, int warmup, int steps);

/// LibTorch's side (torch_side.cpp, compiled only when CMake found Torch).
/// torch_init() fixes LibTorch's own threads (intra-op and inter-op) to 1, the
/// best 2-core setting in PERF.md: the cores belong to OpenBLAS.
void torch_init();
std::unique_ptr<Side> make_torch_side(const Shape& s, Cell cell);
std::string torch_version();

}  // namespace bench
