#pragma once
/// \file
/// `pad_sequences`: variable-length sequences padded into one batch for the
/// recurrent layers, which are time-major: token ids (T, B) for an
/// `Embedding`, features (T, B, F) for a layer's input x, and the B lengths
/// that `Recurrent::operator()` takes so that padded steps change nothing.

#include <cstdint>
#include <type_traits>
#include <vector>

#include "../autodiff/tensor.hpp"

namespace tapegrad {

/// Token sequences padded to the longest one.
struct PaddedTokens {
    /// (T_max, B), or (B, T_max) with `batch_first`; column (row) b holds
    /// sequence b, then `pad_value` up to T_max.
    Index tokens;
    /// Sequence b's own length, B values in [0, T_max].
    std::vector<std::int64_t> lengths;
};

/// Feature sequences padded to the longest one.
template <class T>
struct PaddedSequences {
    /// (T_max, B, F), or (B, T_max, F) with `batch_first`.
    Tensor<T> values;
    std::vector<std::int64_t> lengths;
};

/// Pads B token sequences (lengths may differ, and may be 0) into
/// (T_max, B): `pad_sequences({{5, 6, 7}, {8}})` gives tokens
/// [[5, 8], [6, 0], [7, 0]] and lengths {3, 1}. `ArgumentError` for an empty
/// list.
PaddedTokens pad_sequences(const std::vector<std::vector<std::int64_t>>& seqs, std::int64_t pad_value = 0,
                           bool batch_first = false);

/// Pads B feature sequences, each of shape (T_b, F) with the same F (T_b may
/// be 0), into (T_max, B, F). `ArgumentError` for an empty list; `ShapeError`
/// naming the sequence for one that is not 2-D or whose F differs from
/// sequence 0's.
template <class T>
PaddedSequences<T> pad_sequences(const std::vector<Tensor<T>>& seqs, std::type_identity_t<T> pad_value = T(0),
                                 bool batch_first = false);

}  // namespace tapegrad
