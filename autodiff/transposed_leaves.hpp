#pragma once
/// \file
/// `detail::TransposedLeaves`: a tape's transposed copies of the parameters
/// that a product reads transposed again and again.
///
/// A recurrent layer computes h·Wᵀ at every time step with the same weight W.
/// libxsmm 1.17 has no kernel for that layout (autodiff/small_gemm.cpp), so
/// the product went to OpenBLAS at about a third of what libxsmm's kernel for
/// h·(Wᵀ) reaches (docs/performance.md). Transposing W at every product did
/// not pay; transposing it once per tape does: the copy is made for the
/// second node that reads a leaf (a leaf read once, as in a tape per
/// character, is never copied), or for the first when its product has many
/// rows (the copy is then small against it), and kept until the tape is
/// cleared. A copy is only valid
/// for the version the leaf recorded, which every read checks first
/// (`Tape::borrowed_value`), so a modified parameter can never be read stale.

#include <algorithm>
#include <cstddef>
#include <utility>
#include <vector>

#include "tensor.hpp"
#include "var.hpp"

namespace tapegrad::detail {

template <class T>
class TransposedLeaves {
public:
    /// Wᵀ (cols × rows, row-major) of `w` (rows × cols), the value of leaf
    /// `leaf`, for node `reader`: nullptr for the leaf's first reader unless
    /// `first_too`, the copy for every other (made at the first that takes
    /// it). The first reader gets the same answer when its forward is re-run
    /// (recompute, the audit) with the same `first_too`, so that every node
    /// computes with the same kernel each time and a recomputed value is
    /// bit-identical. Buffers are reused from one epoch to the next.
    const T* get(NodeId leaf, NodeId reader, const Tensor<T>& w, bool first_too) {
        Entry& e = entry(leaf, reader);
        if (e.first_reader == reader && !first_too) return nullptr;
        if (!e.ready) {
            const std::size_t rows = w.shape()[0], cols = w.shape()[1];
            if (e.value.storage().size() != rows * cols) e.value = Tensor<T>::from_shape({cols, rows});
            transpose(w.data(), rows, cols, e.value.data());
            e.ready = true;
        }
        return e.value.data();
    }
    /// How many copies this epoch holds (for tests).
    std::size_t copies() const {
        std::size_t n = 0;
        for (std::size_t k = 0; k < used_; ++k) n += entries_[k].ready;
        return n;
    }
    /// Forgets every copy (a new epoch): the buffers stay for the next one.
    void clear() { used_ = 0; }
    /// Forgets the copies of leaves, and the first readers, at `id` and
    /// after (removed nodes).
    void forget_from(NodeId id) {
        for (std::size_t k = 0; k < used_;)
            if (entries_[k].leaf >= id || entries_[k].first_reader >= id)
                std::swap(entries_[k], entries_[--used_]);
            else
                ++k;
    }
    /// Frees the buffers too.
    void release() {
        entries_.clear();
        entries_.shrink_to_fit();
        used_ = 0;
    }

private:
    struct Entry {
        NodeId leaf = 0, first_reader = 0;
        bool ready = false;
        Tensor<T> value;
    };
    Entry& entry(NodeId leaf, NodeId reader) {
        for (std::size_t k = 0; k < used_; ++k)
            if (entries_[k].leaf == leaf) return entries_[k];
        if (used_ == entries_.size()) entries_.emplace_back();
        Entry& e = entries_[used_++];
        e.leaf = leaf;
        e.first_reader = reader;
        e.ready = false;
        return e;
    }
    // In tiles of 32×32, so that both sides stay in cache.
    static void transpose(const T* w, std::size_t rows, std::size_t cols, T* out) {
        constexpr std::size_t tile = 32;
        for (std::size_t i0 = 0; i0 < rows; i0 += tile)
            for (std::size_t j0 = 0; j0 < cols; j0 += tile)
                for (std::size_t i = i0; i < std::min(rows, i0 + tile); ++i)
                    for (std::size_t j = j0; j < std::min(cols, j0 + tile); ++j) out[j * rows + i] = w[i * cols + j];
    }

    std::vector<Entry> entries_;  // the first used_ are this epoch's
    std::size_t used_ = 0;
};

}  // namespace tapegrad::detail
