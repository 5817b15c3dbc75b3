#include "sequences.hpp"

#include <algorithm>
#include <string>

namespace tapegrad {

namespace {

void require_sequences(std::size_t count) {
    if (count == 0) throw ArgumentError("pad_sequences: no sequences (an empty list has no batch to pad)");
}

}  // namespace

PaddedTokens pad_sequences(const std::vector<std::vector<std::int64_t>>& seqs, std::int64_t pad_value,
                           bool batch_first) {
    require_sequences(seqs.size());
    const std::size_t batch = seqs.size();
    std::size_t t_max = 0;
    for (const auto& s : seqs) t_max = std::max(t_max, s.size());
    PaddedTokens out;
    out.tokens = detail::new_tensor<std::int64_t>("pad_sequences",
                                                  batch_first ? Shape{batch, t_max} : Shape{t_max, batch});
    std::fill(out.tokens.begin(), out.tokens.end(), pad_value);
    out.lengths.reserve(batch);
    std::int64_t* dst = out.tokens.data();
    for (std::size_t b = 0; b < batch; ++b) {
        const auto& s = seqs[b];
        for (std::size_t t = 0; t < s.size(); ++t) dst[batch_first ? b * t_max + t : t * batch + b] = s[t];
        out.lengths.push_back(static_cast<std::int64_t>(s.size()));
    }
    return out;
}

template <class T>
PaddedSequences<T> pad_sequences(const std::vector<Tensor<T>>& seqs, std::type_identity_t<T> pad_value,
                                 bool batch_first) {
    require_sequences(seqs.size());
    const std::size_t batch = seqs.size();
    for (std::size_t b = 0; b < batch; ++b) {
        const auto& shape = seqs[b].shape();
        if (shape.size() != 2)
            throw ShapeError("pad_sequences: sequence " + std::to_string(b) + " has shape " + shape_str(shape) +
                             ", expected a 2-D (T, F) tensor");
        if (shape[1] != seqs[0].shape()[1])
            throw ShapeError("pad_sequences: sequence " + std::to_string(b) + " has shape " + shape_str(shape) +
                             " but sequence 0 has " + shape_str(seqs[0].shape()) + " (feature sizes differ)");
    }
    const std::size_t features = seqs[0].shape()[1];
    std::size_t t_max = 0;
    for (const auto& s : seqs) t_max = std::max(t_max, s.shape()[0]);
    PaddedSequences<T> out;
    out.values = detail::new_tensor<T>("pad_sequences", batch_first ? Shape{batch, t_max, features}
                                                                    : Shape{t_max, batch, features});
    std::fill(out.values.begin(), out.values.end(), pad_value);
    out.lengths.reserve(batch);
    T* dst = out.values.data();
    for (std::size_t b = 0; b < batch; ++b) {
        const std::size_t steps = seqs[b].shape()[0];
        const T* src = seqs[b].data();
        for (std::size_t t = 0; t < steps; ++t) {
            const std::size_t row = batch_first ? b * t_max + t : t * batch + b;
            std::copy(src + t * features, src + (t + 1) * features, dst + row * features);
        }
        out.lengths.push_back(static_cast<std::int64_t>(steps));
    }
    return out;
}

#define TAPEGRAD_INSTANTIATE(T) \
    template PaddedSequences<T> pad_sequences(const std::vector<Tensor<T>>&, std::type_identity_t<T>, bool);
TAPEGRAD_INSTANTIATE(float)
TAPEGRAD_INSTANTIATE(double)

}  // namespace tapegrad
