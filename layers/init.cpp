#include "init.hpp"

#include <cmath>
#include <vector>

#include "../autodiff/errors.hpp"

namespace tapegrad {

Fans fans_of(const Shape& shape) {
    if (shape.empty()) return {1, 1};
    if (shape.size() == 1) return {double(shape[0]), double(shape[0])};
    double receptive = 1;
    for (std::size_t k = 2; k < shape.size(); ++k) receptive *= double(shape[k]);
    return {double(shape[1]) * receptive, double(shape[0]) * receptive};
}

namespace {
Shape shape_of(const Tensor<float>& t) { return Shape(t.shape().begin(), t.shape().end()); }
Shape shape_of(const Tensor<double>& t) { return Shape(t.shape().begin(), t.shape().end()); }
}  // namespace

template <class T>
void constant_(Tensor<T>& t, double value) {
    t.fill(static_cast<T>(value));
}

template <class T>
void uniform_(Tensor<T>& t, double lo, double hi, Generator& gen) {
    for (auto& v : t) v = static_cast<T>(gen.uniform(lo, hi));
}

template <class T>
void normal_(Tensor<T>& t, double mean, double std, Generator& gen) {
    for (auto& v : t) v = static_cast<T>(mean + std * gen.normal());
}

template <class T>
void xavier_uniform_(Tensor<T>& t, Generator& gen, double gain) {
    const Fans f = fans_of(shape_of(t));
    const double bound = gain * std::sqrt(6.0 / (f.in + f.out));
    uniform_(t, -bound, bound, gen);
}

template <class T>
void xavier_normal_(Tensor<T>& t, Generator& gen, double gain) {
    const Fans f = fans_of(shape_of(t));
    normal_(t, 0.0, gain * std::sqrt(2.0 / (f.in + f.out)), gen);
}

template <class T>
void kaiming_uniform_(Tensor<T>& t, Generator& gen, double a) {
    const Fans f = fans_of(shape_of(t));
    const double bound = std::sqrt(6.0 / ((1.0 + a * a) * f.in));
    uniform_(t, -bound, bound, gen);
}

template <class T>
void kaiming_normal_(Tensor<T>& t, Generator& gen, double a) {
    const Fans f = fans_of(shape_of(t));
    normal_(t, 0.0, std::sqrt(2.0 / ((1.0 + a * a) * f.in)), gen);
}

template <class T>
void orthogonal_(Tensor<T>& t, Generator& gen, double gain) {
    if (t.dimension() < 2) throw ArgumentError("orthogonal_: needs a tensor of rank >= 2, got " + shape_str(t.shape()));
    const std::size_t rows = t.shape()[0], cols = t.size() / rows;
    // Orthonormalize the columns of a tall (m × k) Gaussian matrix by modified
    // Gram–Schmidt (in double); a wide target is filled by its transpose.
    const bool wide = rows < cols;
    const std::size_t m = wide ? cols : rows, k = wide ? rows : cols;
    std::vector<double> q(m * k);
    for (auto& v : q) v = gen.normal();
    for (std::size_t j = 0; j < k; ++j) {
        for (std::size_t p = 0; p < j; ++p) {
            double d = 0;
            for (std::size_t i = 0; i < m; ++i) d += q[i * k + p] * q[i * k + j];
            for (std::size_t i = 0; i < m; ++i) q[i * k + j] -= d * q[i * k + p];
        }
        double norm = 0;
        for (std::size_t i = 0; i < m; ++i) norm += q[i * k + j] * q[i * k + j];
        norm = std::sqrt(norm);
        // Gram–Schmidt's R has a positive diagonal by construction: the sign
        // convention PyTorch applies to its QR.
        for (std::size_t i = 0; i < m; ++i) q[i * k + j] /= norm;
    }
    T* out = t.data();
    for (std::size_t r = 0; r < rows; ++r)
        for (std::size_t c = 0; c < cols; ++c) out[r * cols + c] = static_cast<T>(gain * (wide ? q[c * k + r] : q[r * k + c]));
}

#define TAPEGRAD_INSTANTIATE(T)                                              \
    template void constant_(Tensor<T>&, double);                             \
    template void uniform_(Tensor<T>&, double, double, Generator&);          \
    template void normal_(Tensor<T>&, double, double, Generator&);           \
    template void xavier_uniform_(Tensor<T>&, Generator&, double);           \
    template void xavier_normal_(Tensor<T>&, Generator&, double);            \
    template void kaiming_uniform_(Tensor<T>&, Generator&, double);          \
    template void kaiming_normal_(Tensor<T>&, Generator&, double);           \
    template void orthogonal_(Tensor<T>&, Generator&, double);
TAPEGRAD_INSTANTIATE(float)
TAPEGRAD_INSTANTIATE(double)

}  // namespace tapegrad
