#include "data.hpp"

#include <cmath>
#include <stdexcept>
#include <string>

namespace tapegrad::tasks {

Batch adding_batch(std::size_t T, std::size_t B, Generator& gen) {
    Batch b;
    b.x = Tensor<float>::from_shape({T, B, std::size_t(2)});
    b.y = Tensor<float>::from_shape({B, std::size_t(1)});
    b.x.fill(0.0f);
    for (std::size_t k = 0; k < B; ++k) {
        for (std::size_t t = 0; t < T; ++t) b.x(t, k, 0) = static_cast<float>(gen.uniform());
        const std::size_t half = T / 2;
        const std::size_t first = static_cast<std::size_t>(gen.below(half));
        const std::size_t second = half + static_cast<std::size_t>(gen.below(T - half));
        b.x(first, k, 1) = 1.0f;
        b.x(second, k, 1) = 1.0f;
        b.y(k, 0) = b.x(first, k, 0) + b.x(second, k, 0);
    }
    return b;
}

double adding_baseline() { return 1.0 / 6.0; }

Batch copy_batch(std::size_t T, std::size_t B, Generator& gen) {
    constexpr std::size_t kSymbols = 10, kClasses = 10, kBlank = 8, kDelimiter = 9;
    const std::size_t steps = T + 20;
    Batch b;
    b.x = Tensor<float>::from_shape({steps, B, kClasses});
    b.x.fill(0.0f);
    b.targets = Index::from_shape({steps * B});
    for (std::size_t k = 0; k < B; ++k) {
        for (std::size_t t = 0; t < steps; ++t) {
            std::size_t in = kBlank;
            if (t < kSymbols) in = static_cast<std::size_t>(gen.below(8));
            if (t == T + kSymbols - 1) in = kDelimiter;
            b.x(t, k, in) = 1.0f;
            b.targets(t * B + k) = kBlank;
        }
        for (std::size_t j = 0; j < kSymbols; ++j) {
            // The symbol at input step j is recalled at step T + 10 + j.
            std::size_t symbol = 0;
            while (b.x(j, k, symbol) == 0.0f) ++symbol;
            b.targets((T + kSymbols + j) * B + k) = static_cast<std::int64_t>(symbol);
        }
    }
    return b;
}

double copy_baseline(std::size_t T) { return 10.0 * std::log(8.0) / double(T + 20); }

Batch ntm_batch(std::size_t max_len, std::size_t B, Generator& gen) {
    const std::size_t steps = 2 * max_len + 1;
    Batch b;
    b.x = Tensor<float>::from_shape({steps, B, std::size_t(9)});
    b.y = Tensor<float>::from_shape({steps, B, std::size_t(8)});
    b.mask = Tensor<float>::from_shape({steps, B, std::size_t(8)});
    b.x.fill(0.0f);
    b.y.fill(0.0f);
    b.mask.fill(0.0f);
    b.lengths.resize(B);
    for (std::size_t k = 0; k < B; ++k) {
        const std::size_t L = 1 + static_cast<std::size_t>(gen.below(max_len));
        b.lengths[k] = static_cast<std::int64_t>(L);
        for (std::size_t t = 0; t < L; ++t)
            for (std::size_t bit = 0; bit < 8; ++bit) {
                const float v = gen.bernoulli(0.5) ? 1.0f : 0.0f;
                b.x(t, k, bit) = v;
                b.y(L + 1 + t, k, bit) = v;
                b.mask(L + 1 + t, k, bit) = 1.0f;
            }
        b.x(L, k, 8) = 1.0f;
    }
    return b;
}

double ntm_baseline(std::size_t max_len) { return 4.0 * double(max_len + 1); }

Tensor<float> rows_along(const Tensor<float>& t, std::size_t axis, std::size_t begin, std::size_t end) {
    if (t.dimension() < 2) return t;  // a part the task does not use (default-constructed, 0-d)
    auto shape = t.shape();
    const std::size_t B = shape[axis], C = shape.back(), outer = axis == 0 ? 1 : shape[0], rows = end - begin;
    shape[axis] = rows;
    Tensor<float> out = Tensor<float>::from_shape(shape);
    for (std::size_t s = 0; s < outer; ++s)
        for (std::size_t r = 0; r < rows; ++r)
            for (std::size_t c = 0; c < C; ++c) out.data()[(s * rows + r) * C + c] = t.data()[(s * B + begin + r) * C + c];
    return out;
}

Batch rows_of(const Batch& b, std::size_t begin, std::size_t end) {
    const std::size_t B = b.x.shape()[1];
    if (!(begin < end && end <= B))
        throw std::invalid_argument("rows_of: rows [" + std::to_string(begin) + ", " + std::to_string(end) +
                                    ") of a batch of " + std::to_string(B));
    Batch out;
    out.x = rows_along(b.x, 1, begin, end);
    out.y = rows_along(b.y, b.y.dimension() == 3 ? 1 : 0, begin, end);
    out.mask = rows_along(b.mask, 1, begin, end);
    if (b.targets.dimension() == 1) {  // copy only
        const std::size_t steps = b.targets.size() / B, rows = end - begin;
        out.targets = Index::from_shape({steps * rows});
        for (std::size_t t = 0; t < steps; ++t)
            for (std::size_t r = 0; r < rows; ++r) out.targets(t * rows + r) = b.targets(t * B + begin + r);
    }
    if (!b.lengths.empty()) out.lengths.assign(b.lengths.begin() + long(begin), b.lengths.begin() + long(end));
    return out;
}

}  // namespace tapegrad::tasks
