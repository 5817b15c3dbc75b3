// Drawing categories: multinomial (weights) and sample_logits (softmax with a
// temperature), declared in tensor_utils.hpp.

#include <algorithm>
#include <cmath>
#include <limits>
#include <string>
#include <vector>

#include "tensor_utils.hpp"

namespace tapegrad {

namespace {

// The rows of a (C) or (N, C) tensor as (rows, C); the output shape for
// `per_row` draws from each row.
template <class T>
void rows_of(const char* fn, const Tensor<T>& x, std::size_t& rows, std::size_t& categories) {
    if (x.dimension() != 1 && x.dimension() != 2)
        throw ShapeError(std::string(fn) + ": expected shape (C) or (N, C), got " + shape_str(x.shape()));
    rows = x.dimension() == 2 ? x.shape()[0] : 1;
    categories = x.shape()[x.dimension() - 1];
}

// Prefix sums of one row's weights, checked: finite, >= 0, positive total.
template <class T>
void cumulative(const char* fn, const T* w, std::size_t n, std::size_t row, std::vector<double>& cum) {
    cum.resize(n);
    double total = 0;
    for (std::size_t c = 0; c < n; ++c) {
        if (!(w[c] >= T(0)) || !std::isfinite(w[c]))
            throw ArgumentError(std::string(fn) + ": weight " + std::to_string(c) + " of row " + std::to_string(row) + " is " +
                                std::to_string(static_cast<double>(w[c])) + "; weights must be finite and >= 0");
        total += static_cast<double>(w[c]);
        cum[c] = total;
    }
    if (!(total > 0) || !std::isfinite(total))
        throw ArgumentError(std::string(fn) + ": the weights of row " + std::to_string(row) + " sum to " + std::to_string(total) +
                            "; they must sum to a finite number above 0");
}

// One draw from prefix sums: the first category whose prefix sum exceeds
// u·total. Never a zero-weight category (its prefix sum equals the one
// before); if rounding puts u·total at the total, the last positive category.
std::size_t draw(const std::vector<double>& cum, Generator& gen) {
    const double u = gen.uniform() * cum.back();
    auto it = std::upper_bound(cum.begin(), cum.end(), u);
    if (it == cum.end()) it = std::lower_bound(cum.begin(), cum.end(), cum.back());
    return static_cast<std::size_t>(it - cum.begin());
}

template <class T>
void draw_row(const T* w, std::size_t n, std::size_t row, std::size_t k, bool replacement, Generator& gen, std::int64_t* out) {
    std::vector<double> cum;
    cumulative("multinomial", w, n, row, cum);
    if (replacement) {
        for (std::size_t s = 0; s < k; ++s) out[s] = static_cast<std::int64_t>(draw(cum, gen));
        return;
    }
    const auto positive = static_cast<std::size_t>(std::count_if(w, w + n, [](T v) { return v > T(0); }));
    if (k > positive)
        throw ArgumentError("multinomial: " + std::to_string(k) + " draws without replacement from row " + std::to_string(row) +
                            ", which has only " + std::to_string(positive) + " categories of nonzero weight");
    std::vector<double> left(w, w + n);
    for (std::size_t s = 0; s < k; ++s) {
        const std::size_t c = draw(cum, gen);
        out[s] = static_cast<std::int64_t>(c);
        left[c] = 0;  // drawn: out of the running for this row
        double total = 0;
        for (std::size_t j = 0; j < n; ++j) cum[j] = total += left[j];
    }
}

}  // namespace

template <class T>
Index multinomial(const Tensor<T>& weights, std::size_t num_samples, Generator& gen, bool replacement) {
    std::size_t rows = 0, categories = 0;
    rows_of("multinomial", weights, rows, categories);
    Shape shape{num_samples};
    if (weights.dimension() == 2) shape.insert(shape.begin(), rows);
    shape_size("multinomial", shape);
    Index out = Index::from_shape(shape);
    for (std::size_t r = 0; r < rows && num_samples != 0; ++r)
        draw_row(weights.data() + r * categories, categories, r, num_samples, replacement, gen, out.data() + r * num_samples);
    return out;
}

template <class T>
Index sample_logits(const Tensor<T>& logits, Generator& gen, double temperature) {
    if (!(temperature >= 0))
        throw ArgumentError("sample_logits: temperature " + std::to_string(temperature) + " must be >= 0");
    std::size_t rows = 0, categories = 0;
    rows_of("sample_logits", logits, rows, categories);
    if (categories == 0) throw ArgumentError("sample_logits: no categories in logits of shape " + shape_str(logits.shape()));
    Index out = logits.dimension() == 2 ? Index::from_shape({rows}) : Index(std::int64_t{0});
    std::vector<double> p(categories);
    for (std::size_t r = 0; r < rows; ++r) {
        const T* x = logits.data() + r * categories;
        const T m = *std::max_element(x, x + categories);
        for (std::size_t c = 0; c < categories; ++c) {
            if (std::isnan(x[c]))
                throw ArgumentError("sample_logits: logit " + std::to_string(c) + " of row " + std::to_string(r) + " is NaN");
            // exp((x − m)/t), with the maximal logits (also +inf ones) at exactly 1;
            // t = 0 keeps only the maximum: greedy decoding.
            const double d = x[c] == m ? 0.0 : static_cast<double>(x[c]) - static_cast<double>(m);
            p[c] = temperature == 0 ? (d == 0 ? 1.0 : 0.0) : std::exp(d / temperature);
        }
        std::int64_t drawn = 0;
        // With temperature 0 only the maxima have weight; the first is the argmax.
        if (temperature == 0)
            drawn = std::find(p.begin(), p.end(), 1.0) - p.begin();
        else
            draw_row(p.data(), categories, r, 1, true, gen, &drawn);
        out.data()[r] = drawn;
    }
    return out;
}

template Index multinomial(const Tensor<float>&, std::size_t, Generator&, bool);
template Index multinomial(const Tensor<double>&, std::size_t, Generator&, bool);
template Index sample_logits(const Tensor<float>&, Generator&, double);
template Index sample_logits(const Tensor<double>&, Generator&, double);

}  // namespace tapegrad
