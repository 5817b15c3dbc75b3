#pragma once
/// \file
/// `detail::GemmGatherer`: gathers thin weight-gradient products during
/// backward and runs each target's as one GEMM.
///
/// A recurrent layer's weight gradient is a sum over time steps of aᵀ·b with
/// few rows each (one step's batch). On one OpenBLAS thread the thin products
/// are as fast as one tall one and run at once; on several threads a thin
/// product cannot spread over them, so products aimed at the same large
/// target are copied side by side and run as one GEMM over all their rows,
/// before the target's own backward runs and before backward returns
/// (`Tape::accumulate_atb`). The copies are bounded: a target's gathered rows
/// are flushed once they reach 4 MB.

#include <cstddef>
#include <vector>

#include "tensor.hpp"
#include "var.hpp"

namespace tapegrad {
template <class T>
class Tape;
}

namespace tapegrad::detail {

template <class T>
class GemmGatherer {
public:
    /// Starts a backward: gather only when `on` (several BLAS threads, and
    /// not in anomaly mode, which checks each node's gradients as it goes).
    void begin(bool on) { on_ = on; }
    /// Ends a backward, also one that threw: nothing gathered outlives it.
    void end();
    /// Adds aᵀ·b (a: rows × m, b: rows × n, row-major) into node `target`'s
    /// gradient: now, or gathered (copied) for later when thin and large.
    void accumulate(Tape<T>& tape, NodeId target, const T* a, const T* b, std::size_t rows, std::size_t m, std::size_t n);
    /// Whether something gathered is still to be added.
    bool pending() const { return open_ != 0; }
    /// Whether something gathered aims at position `id` or after: it must be
    /// added before `id`'s own backward reads its gradient.
    bool pending_at(NodeId id) const { return open_ != 0 && id <= max_target_; }
    /// Adds every gathered product whose target is at or after `id`.
    void flush_from(Tape<T>& tape, NodeId id);

private:
    struct Batch {
        NodeId target = 0;
        std::size_t m = 0, n = 0, rows = 0;
        std::vector<T> a, b;  // rows × m and rows × n, row-major
    };
    void flush(Tape<T>& tape, Batch& batch);

    std::vector<Batch> batches_;  // the first open_ are open
    std::size_t open_ = 0;
    NodeId max_target_ = 0;  // meaningful while open_ > 0
    bool on_ = false;
};

extern template class GemmGatherer<float>;
extern template class GemmGatherer<double>;

}  // namespace tapegrad::detail
