#pragma once
/// \file
/// A token stream as a language model trains on it with truncated
/// backpropagation through time (TBPTT), with the semantics of PyTorch's
/// word_language_model example: `batchify` cuts the stream into B
/// contiguous columns, `BpttChunks` walks them `bptt` rows at a time with
/// targets shifted by one, and `split_stream` cuts train/valid/test parts.
/// docs/data.md shows the training loop that carries the recurrent state
/// from chunk to chunk.

#include <cstddef>
#include <cstdint>
#include <iterator>
#include <span>
#include <vector>

#include "../autodiff/tensor.hpp"

namespace tapegrad {

/// The stream as (N, B) with N = len / B: column b is the b-th contiguous
/// slice stream[b·N, (b+1)·N), and the last len − N·B tokens are dropped.
/// `batchify({0, 1, ..., 9}, 3)` gives [[0, 3, 6], [1, 4, 7], [2, 5, 8]].
/// `ArgumentError` for batch_size <= 0 or a stream shorter than batch_size
/// (no full row).
Index batchify(std::span<const std::int64_t> stream, std::int64_t batch_size);
/// The same for a 1-D `Index` (`ShapeError` for another rank).
Index batchify(const Index& stream, std::int64_t batch_size);

/// One TBPTT step: rows [start, start + L) of the batched data and the rows
/// after them.
struct BpttChunk {
    Index input;   ///< (L, B): data[start + t]
    Index target;  ///< (L, B): data[start + t + 1], the token to predict
    std::size_t start = 0;
    /// `target` as (L·B), row-major: the class indices `cross_entropy` takes
    /// for logits (L·B, V).
    Index flat_target() const;
};

/// The TBPTT chunks of batched data (N, B): chunk k starts at row k·bptt and
/// has L = min(bptt, N − 1 − k·bptt) rows, so the last one may be shorter,
/// and there are ceil((N − 1) / bptt) of them; every row but the last is an
/// input once, every row but the first a target once. Holds its own copy of
/// the data. Range-for: `for (const tg::BpttChunk& c : tg::BpttChunks(data, 35))`.
class BpttChunks {
public:
    /// `ArgumentError` for bptt <= 0 or fewer than 2 rows (no target);
    /// `ShapeError` unless `batched` is 2-D.
    BpttChunks(Index batched, std::int64_t bptt);

    std::size_t size() const { return chunks_; }
    /// Chunk k < size() (`ArgumentError` otherwise).
    BpttChunk operator[](std::size_t k) const;

    class iterator {
    public:
        using iterator_category = std::input_iterator_tag;
        using value_type = BpttChunk;
        using difference_type = std::ptrdiff_t;
        using pointer = void;
        using reference = BpttChunk;

        iterator() = default;
        iterator(const BpttChunks* owner, std::size_t k) : owner_(owner), k_(k) {}
        BpttChunk operator*() const { return (*owner_)[k_]; }
        iterator& operator++() { ++k_; return *this; }
        iterator operator++(int) { iterator old = *this; ++k_; return old; }
        friend bool operator==(const iterator& a, const iterator& b) { return a.k_ == b.k_; }

    private:
        const BpttChunks* owner_ = nullptr;
        std::size_t k_ = 0;
    };
    iterator begin() const { return {this, 0}; }
    iterator end() const { return {this, chunks_}; }

private:
    Index data_;
    std::size_t bptt_ = 0, chunks_ = 0;
};

/// Three contiguous parts of a stream, in order.
struct StreamSplit {
    std::vector<std::int64_t> train, valid, test;
};

/// Splits `stream` by a fixed rule: train gets the first floor(n · train_fraction)
/// tokens, valid the next floor(n · valid_fraction), test the rest (products
/// computed in double). `ArgumentError` for a fraction that is not finite, is
/// negative, a train fraction of 0, fractions summing above 1, or an empty
/// train part.
StreamSplit split_stream(std::span<const std::int64_t> stream, double train_fraction, double valid_fraction);

}  // namespace tapegrad
