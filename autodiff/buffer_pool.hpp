#pragma once
/// \file
/// `detail::BufferPool`: a tape's spare element buffers, for its values and
/// gradients alike.
///
/// Gradients that backward has finished with and values that were dropped
/// wait here for the next value or gradient of exactly their size: resizing
/// a buffer to another size would reallocate, so only exact sizes are reused.
/// A training loop that records the same shapes every step then allocates no
/// tensor storage once the pool holds a step's worth. Buffers of one element
/// or none are not worth keeping.

#include <cstddef>
#include <utility>
#include <vector>

namespace tapegrad::detail {

template <class Storage>
class BufferPool {
public:
    /// Swaps a pooled buffer of exactly `need` elements into `storage` (its
    /// old buffer takes the pool's slot), if `storage` has another size and
    /// one waits; otherwise leaves `storage` for the caller to resize.
    void take(Storage& storage, std::size_t need) {
        if (storage.size() == need) return;
        for (std::size_t k = size_; k-- > 0;) {
            if (buffers_[k].size() != need) continue;
            std::swap(storage, buffers_[k]);                                          // slot k now holds the old storage
            if (buffers_[k].size() <= 1) std::swap(buffers_[k], buffers_[--size_]);  // not worth keeping
            return;
        }
    }
    /// Takes `storage`'s buffer into the pool, leaving it empty.
    void give(Storage& storage) {
        if (storage.size() <= 1) return;  // not worth pooling
        if (size_ == buffers_.size()) buffers_.emplace_back();
        std::swap(buffers_[size_++], storage);
    }
    /// Frees every pooled buffer.
    void release() {
        buffers_.clear();
        buffers_.shrink_to_fit();
        size_ = 0;
    }

private:
    std::vector<Storage> buffers_;  // entries at and past size_ are empty
    std::size_t size_ = 0;
};

}  // namespace tapegrad::detail
