#include "gemm_gatherer.hpp"

#include <algorithm>
#include <cstring>

#include "blas.hpp"
#include "tape.hpp"

namespace tapegrad::detail {

namespace {
// Thin: fewer rows than this. Worth gathering: a target of at least this many
// elements (smaller weight gradients are quick either way). A gathered batch
// is flushed once its copies reach kBatchBytes, which bounds the extra memory.
constexpr std::size_t kThinRows = 256;
constexpr std::size_t kBatchMinTarget = std::size_t(1) << 16;
constexpr std::size_t kBatchBytes = std::size_t(4) << 20;
}  // namespace

template <class T>
void GemmGatherer<T>::end() {
    on_ = false;
    for (std::size_t k = 0; k < open_; ++k) batches_[k].rows = 0;
    open_ = 0;
}

template <class T>
void GemmGatherer<T>::accumulate(Tape<T>& tape, NodeId target, const T* a, const T* b, std::size_t rows, std::size_t m,
                                 std::size_t n) {
    if (rows == 0 || m == 0 || n == 0) return;
    if (!on_ || rows >= kThinRows || m * n < kBatchMinTarget || 2 * rows * (m + n) * sizeof(T) > kBatchBytes) {
        gemm(true, false, m, n, rows, a, b, T(1), TapeAccess<T>::grad_buffer(tape, target).data());
        return;
    }
    Batch* batch = nullptr;
    for (std::size_t k = 0; k < open_ && !batch; ++k)
        if (batches_[k].target == target) batch = &batches_[k];
    if (batch && (batch->rows + rows) * (m + n) * sizeof(T) > kBatchBytes) flush(tape, *batch);  // stays open, now empty
    if (!batch) {
        if (open_ == batches_.size()) batches_.emplace_back();
        batch = &batches_[open_++];
        batch->target = target;
        batch->m = m;
        batch->n = n;
        batch->rows = 0;
        max_target_ = open_ == 1 ? target : std::max(max_target_, target);
    }
    const std::size_t at = batch->rows;
    batch->rows += rows;
    if (batch->a.size() < batch->rows * m) batch->a.resize(batch->rows * m);
    if (batch->b.size() < batch->rows * n) batch->b.resize(batch->rows * n);
    std::memcpy(batch->a.data() + at * m, a, rows * m * sizeof(T));
    std::memcpy(batch->b.data() + at * n, b, rows * n * sizeof(T));
}

template <class T>
void GemmGatherer<T>::flush(Tape<T>& tape, Batch& batch) {
    if (batch.rows == 0) return;
    gemm(true, false, batch.m, batch.n, batch.rows, batch.a.data(), batch.b.data(), T(1), TapeAccess<T>::grad_buffer(tape, batch.target).data());
    batch.rows = 0;
}

template <class T>
void GemmGatherer<T>::flush_from(Tape<T>& tape, NodeId id) {
    std::size_t kept = 0;
    NodeId max_target = 0;
    for (std::size_t k = 0; k < open_; ++k) {
        if (batches_[k].target >= id) {
            flush(tape, batches_[k]);
        } else {
            if (kept != k) std::swap(batches_[kept], batches_[k]);
            max_target = std::max(max_target, batches_[kept].target);
            ++kept;
        }
    }
    open_ = kept;
    max_target_ = max_target;
}

template class GemmGatherer<float>;
template class GemmGatherer<double>;

}  // namespace tapegrad::detail
