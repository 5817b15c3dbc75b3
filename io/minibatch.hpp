#pragma once
/// \file
/// Seeded minibatches over a dataset of N examples: `permutation` (a
/// Fisher–Yates shuffle drawn from a `Generator`, bit-reproducible),
/// `MinibatchSampler` (the index lists of one epoch after another), and
/// `take` (the rows of a tensor at those indices along an axis).

#include <cstddef>
#include <cstdint>
#include <span>
#include <vector>

#include "../autodiff/tensor.hpp"
#include "../layers/init.hpp"

namespace tapegrad {

/// A uniformly random permutation of 0, ..., n−1: the Fisher–Yates shuffle
/// of the identity, for i = n−1 down to 1 swapping element i with element
/// `gen.below(i + 1)`. The same seed gives the same permutation everywhere.
/// `ArgumentError` for n < 0.
std::vector<std::int64_t> permutation(std::int64_t n, Generator& gen);

/// The minibatches of one epoch after another, over examples 0..n−1:
///
///     tg::MinibatchSampler sampler(n, 32, gen);
///     for (int epoch = 0; epoch < 10; ++epoch)
///         for (const std::vector<std::int64_t>& rows : sampler.epoch()) {
///             tg::Tensor<float> x = tg::take(inputs, 0, rows);   // (batch, ...)
///             ...
///         }
///
/// Each `epoch()` draws a new permutation from the generator (with
/// `shuffle`; without it, examples stay in order) and cuts it into batches of
/// `batch_size`; the last one is smaller when batch_size does not divide n,
/// or dropped with `drop_last`. The generator is referred to, not copied: it
/// must outlive the sampler.
class MinibatchSampler {
public:
    /// `ArgumentError` for n <= 0, batch_size <= 0, or `drop_last` with
    /// batch_size > n (an epoch of no batch).
    MinibatchSampler(std::int64_t n, std::int64_t batch_size, Generator& gen, bool drop_last = false,
                     bool shuffle = true);
    /// Batches in example order, the same every epoch (for evaluation): no
    /// generator needed. The same checks.
    static MinibatchSampler in_order(std::int64_t n, std::int64_t batch_size, bool drop_last = false) {
        return MinibatchSampler(n, batch_size, nullptr, drop_last, false);
    }

    /// The next epoch's batches of example indices.
    std::vector<std::vector<std::int64_t>> epoch();
    /// Batches per epoch: ceil(n / batch_size), or floor with drop_last.
    std::size_t batches_per_epoch() const;
    std::size_t num_examples() const { return n_; }
    std::size_t batch_size() const { return batch_size_; }

private:
    MinibatchSampler(std::int64_t n, std::int64_t batch_size, Generator* gen, bool drop_last, bool shuffle);

    std::size_t n_, batch_size_;
    Generator* gen_;  // null for in_order
    bool drop_last_, shuffle_;
};

/// The slices of `t` at `indices` along `axis` (negative counts from the
/// end), in that order, repeats allowed: for `axis` 0 and t (N, F), rows
/// (indices.size(), F). Defined for float, double and int64 (`Index`)
/// tensors. `ArgumentError` for a 0-d tensor, an axis out of range or an
/// index outside [0, t.shape(axis)), naming its position.
template <class E>
Tensor<E> take(const Tensor<E>& t, std::int64_t axis, std::span<const std::int64_t> indices);

}  // namespace tapegrad
