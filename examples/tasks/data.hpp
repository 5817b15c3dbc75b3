#pragma once
/// \file
/// The example tasks' data, exactly as defined in the papers (see
/// docs/tasks.md): the adding problem, the copying-memory task and the NTM copy
/// task. Every batch is a pure function of a `Generator`, so a (seed, step)
/// pair always gives the same batch.

#include <cstdint>
#include <string>

#include <tapegrad/autodiff/tensor.hpp>
#include <tapegrad/layers/init.hpp>

namespace tapegrad::tasks {

struct Batch {
    Tensor<float> x;      ///< inputs, (steps, B, channels)
    Tensor<float> y;      ///< adding: targets (B, 1); ntm: target bits (steps, B, 8)
    Index targets;        ///< copy: class per (step, sequence), flattened as step·B + b
    Tensor<float> mask;   ///< ntm: 1 where an output is scored, (steps, B, 8)
    std::vector<std::int64_t> lengths;  ///< ntm: L per sequence
};

/// Arjovsky et al. 2016: x (T, B, 2); channel 0 ~ U[0, 1), channel 1 a marker
/// with exactly two ones, one at a uniform position in [0, T/2) and one in
/// [T/2, T); y (B, 1) is the sum of the two marked values. T ≥ 2.
Batch adding_batch(std::size_t T, std::size_t B, Generator& gen);
/// Predicting 1 always: Var(U + U) = 1/6.
double adding_baseline();

/// Copying memory (Arjovsky et al. 2016), 10 classes: 0–7 symbols, 8 blank,
/// 9 delimiter. x (T+20, B, 10) one-hot: 10 symbols from the 8, T−1 blanks, the
/// delimiter, 10 blanks. Targets: blank for T+10 steps, then the 10 symbols.
/// T ≥ 1.
Batch copy_batch(std::size_t T, std::size_t B, Generator& gen);
/// Blanks, then a uniform guess over 8 symbols: 10·ln 8 / (T + 20) nats per step.
double copy_baseline(std::size_t T);

/// NTM copy (Graves et al. 2014): per sequence L ~ U{1..max_len} random 8-bit
/// vectors, then a delimiter on a 9th channel, then L blank steps during which
/// the 8 bits are to be output. Padded to 2·max_len + 1 steps: x (2·max_len+1,
/// B, 9), y and mask (2·max_len+1, B, 8) with the mask 1 on the L output steps.
Batch ntm_batch(std::size_t max_len, std::size_t B, Generator& gen);
/// Bits per sequence when every bit is guessed with p = 1/2: 8·E[L] = 4·(max_len + 1).
double ntm_baseline(std::size_t max_len);

/// Rows [begin, end) along `axis` of a (steps, B, C) tensor (axis 1) or a
/// (B, C) one (axis 0); a 0-d or 1-d tensor comes back as it is.
Tensor<float> rows_along(const Tensor<float>& t, std::size_t axis, std::size_t begin, std::size_t end);

/// Sequences [begin, end) of a batch (a rank's shard of a global batch,
/// `dist::shard_of`): every part of it, the flattened copy targets
/// re-indexed for the smaller batch. Throws std::invalid_argument unless
/// begin < end ≤ the batch's size.
Batch rows_of(const Batch& b, std::size_t begin, std::size_t end);

}  // namespace tapegrad::tasks
