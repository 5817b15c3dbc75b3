#include "batching.hpp"

#include <algorithm>
#include <cmath>
#include <string>

#include "data_support.hpp"

namespace tapegrad {

Index batchify(std::span<const std::int64_t> stream, std::int64_t batch_size) {
    const std::size_t columns = detail::positive_count("batchify", "batch_size", batch_size);
    if (stream.size() < columns)
        throw ArgumentError("batchify: a stream of " + std::to_string(stream.size()) + " tokens cannot fill " +
                            std::to_string(columns) + " columns (batch_size is larger than the stream)");
    const std::size_t rows = stream.size() / columns;  // the tail of stream.size() % columns tokens is dropped
    Index out = detail::new_tensor<std::int64_t>("batchify", Shape{rows, columns});
    std::int64_t* dst = out.data();
    for (std::size_t b = 0; b < columns; ++b)
        for (std::size_t i = 0; i < rows; ++i) dst[i * columns + b] = stream[b * rows + i];
    return out;
}

Index batchify(const Index& stream, std::int64_t batch_size) {
    if (stream.dimension() != 1)
        throw ShapeError("batchify: the stream has shape " + shape_str(stream.shape()) + ", expected 1-D");
    return batchify(std::span<const std::int64_t>(stream.data(), stream.size()), batch_size);
}

BpttChunks::BpttChunks(Index batched, std::int64_t bptt)
    : data_(std::move(batched)), bptt_(detail::positive_count("BpttChunks", "bptt", bptt)) {
    if (data_.dimension() != 2)
        throw ShapeError("BpttChunks: batched data has shape " + shape_str(data_.shape()) +
                         ", expected 2-D (N, B) (see batchify)");
    const std::size_t rows = data_.shape()[0];
    if (rows < 2)
        throw ArgumentError("BpttChunks: batched data of shape " + shape_str(data_.shape()) +
                            " has fewer than 2 rows, so no row has a target");
    chunks_ = (rows - 1) / bptt_ + ((rows - 1) % bptt_ != 0);  // ceil without overflow
}

BpttChunk BpttChunks::operator[](std::size_t k) const {
    if (k >= chunks_)
        throw ArgumentError("BpttChunks: chunk " + std::to_string(k) + " of " + std::to_string(chunks_));
    const std::size_t rows = data_.shape()[0], columns = data_.shape()[1];
    const std::size_t start = k * bptt_;  // < rows - 1: no overflow
    const std::size_t length = std::min(bptt_, rows - 1 - start);
    BpttChunk chunk;
    chunk.start = start;
    chunk.input = detail::new_tensor<std::int64_t>("BpttChunks", Shape{length, columns});
    chunk.target = detail::new_tensor<std::int64_t>("BpttChunks", Shape{length, columns});
    const std::int64_t* src = data_.data() + start * columns;  // rows are contiguous (row-major)
    std::copy(src, src + length * columns, chunk.input.data());
    std::copy(src + columns, src + (length + 1) * columns, chunk.target.data());
    return chunk;
}

Index BpttChunk::flat_target() const {
    Index flat = target;
    flat.reshape({target.size()});
    return flat;
}

namespace {

void check_fraction(const char* name, double fraction) {
    if (!std::isfinite(fraction) || fraction < 0 || fraction > 1)
        throw ArgumentError(std::string("split_stream: ") + name + " " + std::to_string(fraction) +
                            " is not a number in [0, 1]");
}

}  // namespace

StreamSplit split_stream(std::span<const std::int64_t> stream, double train_fraction, double valid_fraction) {
    check_fraction("train_fraction", train_fraction);
    check_fraction("valid_fraction", valid_fraction);
    if (train_fraction == 0) throw ArgumentError("split_stream: train_fraction 0 leaves nothing to train on");
    if (train_fraction + valid_fraction > 1)
        throw ArgumentError("split_stream: train_fraction " + std::to_string(train_fraction) + " + valid_fraction " +
                            std::to_string(valid_fraction) + " exceeds 1");
    const double n = static_cast<double>(stream.size());
    // Both floors are at most n (fractions <= 1, sum <= 1), so the casts and the sum are in range.
    const auto n_train = std::min(static_cast<std::size_t>(std::floor(n * train_fraction)), stream.size());
    const auto n_valid = std::min(static_cast<std::size_t>(std::floor(n * valid_fraction)), stream.size() - n_train);
    if (n_train == 0)
        throw ArgumentError("split_stream: train_fraction " + std::to_string(train_fraction) + " of " +
                            std::to_string(stream.size()) + " tokens is an empty train part");
    StreamSplit out;
    out.train.assign(stream.begin(), stream.begin() + std::ptrdiff_t(n_train));
    out.valid.assign(stream.begin() + std::ptrdiff_t(n_train), stream.begin() + std::ptrdiff_t(n_train + n_valid));
    out.test.assign(stream.begin() + std::ptrdiff_t(n_train + n_valid), stream.end());
    return out;
}

}  // namespace tapegrad
