#include "minibatch.hpp"

#include <algorithm>
#include <numeric>
#include <stdexcept>
#include <string>
#include <utility>

#include "data_support.hpp"

namespace tapegrad {

namespace {

/// 0, ..., n−1 for `fn`: a count too large for the memory is an
/// `ArgumentError` naming it, not a `std::length_error` or `bad_alloc`.
std::vector<std::int64_t> identity_indices(const char* fn, std::size_t n) {
    std::vector<std::int64_t> p;
    try {
        p.resize(n);
    } catch (const std::exception&) {  // length_error (above max_size) or bad_alloc
        throw ArgumentError(std::string(fn) + ": cannot hold " + std::to_string(n) + " example indices in memory");
    }
    std::iota(p.begin(), p.end(), std::int64_t{0});
    return p;
}

}  // namespace

std::vector<std::int64_t> permutation(std::int64_t n, Generator& gen) {
    if (n < 0) throw ArgumentError("permutation: n must be >= 0, got " + std::to_string(n));
    std::vector<std::int64_t> p = identity_indices("permutation", static_cast<std::size_t>(n));
    for (std::size_t i = p.size(); i > 1; --i) {  // i - 1 is the position being fixed
        const auto j = static_cast<std::size_t>(gen.below(i));
        std::swap(p[i - 1], p[j]);
    }
    return p;
}

MinibatchSampler::MinibatchSampler(std::int64_t n, std::int64_t batch_size, Generator& gen, bool drop_last,
                                   bool shuffle)
    : MinibatchSampler(n, batch_size, &gen, drop_last, shuffle) {}

MinibatchSampler::MinibatchSampler(std::int64_t n, std::int64_t batch_size, Generator* gen, bool drop_last,
                                   bool shuffle)
    : n_(detail::positive_count("MinibatchSampler", "n", n)),
      batch_size_(detail::positive_count("MinibatchSampler", "batch_size", batch_size)),
      gen_(gen),
      drop_last_(drop_last),
      shuffle_(shuffle) {
    if (drop_last_ && batch_size_ > n_)
        throw ArgumentError("MinibatchSampler: drop_last with batch_size " + std::to_string(batch_size_) +
                            " and only " + std::to_string(n_) + " examples leaves no batch");
}

std::size_t MinibatchSampler::batches_per_epoch() const {
    return n_ / batch_size_ + (!drop_last_ && n_ % batch_size_ != 0);
}

std::vector<std::vector<std::int64_t>> MinibatchSampler::epoch() {
    const std::vector<std::int64_t> order = shuffle_ ? permutation(static_cast<std::int64_t>(n_), *gen_)
                                                     : identity_indices("MinibatchSampler::epoch", n_);
    std::vector<std::vector<std::int64_t>> batches(batches_per_epoch());
    for (std::size_t k = 0; k < batches.size(); ++k) {
        const std::size_t begin = k * batch_size_, end = std::min(n_, begin + batch_size_);
        batches[k].assign(order.begin() + std::ptrdiff_t(begin), order.begin() + std::ptrdiff_t(end));
    }
    return batches;
}

template <class E>
Tensor<E> take(const Tensor<E>& t, std::int64_t axis, std::span<const std::int64_t> indices) {
    const auto rank = static_cast<std::int64_t>(t.dimension());
    if (rank == 0) throw ArgumentError("take: a 0-d tensor has no axis to take along");
    if (axis < -rank || axis >= rank)
        throw ArgumentError("take: axis " + std::to_string(axis) + " is out of range for a tensor of shape " +
                            shape_str(t.shape()));
    const auto ax = static_cast<std::size_t>(axis < 0 ? axis + rank : axis);
    const std::size_t extent = t.shape()[ax];
    for (std::size_t i = 0; i < indices.size(); ++i)
        if (indices[i] < 0 || static_cast<std::uint64_t>(indices[i]) >= extent)
            throw ArgumentError("take: index " + std::to_string(indices[i]) + " at position " + std::to_string(i) +
                                " is outside [0, " + std::to_string(extent) + ") along axis " + std::to_string(ax) +
                                " of a tensor of shape " + shape_str(t.shape()));
    Shape shape(t.shape().begin(), t.shape().end());
    shape[ax] = indices.size();
    Tensor<E> out = detail::new_tensor<E>("take", shape);
    // Row-major: an outer loop over the axes before `ax`, contiguous blocks of `inner` elements after it.
    std::size_t outer = 1, inner = 1;
    for (std::size_t d = 0; d < ax; ++d) outer *= t.shape()[d];
    for (std::size_t d = ax + 1; d < t.dimension(); ++d) inner *= t.shape()[d];
    E* dst = out.data();
    for (std::size_t o = 0; o < outer; ++o)
        for (const std::int64_t index : indices) {
            const E* src = t.data() + (o * extent + static_cast<std::size_t>(index)) * inner;
            dst = std::copy(src, src + inner, dst);
        }
    return out;
}

template Tensor<float> take(const Tensor<float>&, std::int64_t, std::span<const std::int64_t>);
template Tensor<double> take(const Tensor<double>&, std::int64_t, std::span<const std::int64_t>);
template Index take(const Index&, std::int64_t, std::span<const std::int64_t>);

}  // namespace tapegrad
