#pragma once
/// \file
/// Weight initialization.
///
/// Every initializer takes an explicit `Generator` (autodiff/random.hpp): the
/// same seed gives the same weights on every run and every platform.

#include "../autodiff/random.hpp"
#include "../autodiff/tensor.hpp"

namespace tapegrad {

/// Fans of a weight tensor as PyTorch computes them: for shape (out, in, k...),
/// fan_in = in·Πk and fan_out = out·Πk; a 1-D tensor has fan_in = fan_out = size.
struct Fans {
    double in, out;
};
Fans fans_of(const Shape& shape);

template <class T> void constant_(Tensor<T>& t, double value);
/// U(lo, hi).
template <class T> void uniform_(Tensor<T>& t, double lo, double hi, Generator& gen);
/// N(mean, std²).
template <class T> void normal_(Tensor<T>& t, double mean, double std, Generator& gen);
/// Glorot/Xavier uniform: U(±gain·√(6 / (fan_in + fan_out))).
template <class T> void xavier_uniform_(Tensor<T>& t, Generator& gen, double gain = 1.0);
/// Glorot/Xavier normal: N(0, gain²·2 / (fan_in + fan_out)).
template <class T> void xavier_normal_(Tensor<T>& t, Generator& gen, double gain = 1.0);
/// He/Kaiming uniform for a (leaky) ReLU with negative slope a, using fan_in:
/// U(±√(6 / ((1 + a²)·fan_in))).
template <class T> void kaiming_uniform_(Tensor<T>& t, Generator& gen, double a = 0.0);
/// He/Kaiming normal: N(0, 2 / ((1 + a²)·fan_in)).
template <class T> void kaiming_normal_(Tensor<T>& t, Generator& gen, double a = 0.0);
/// A (semi-)orthogonal matrix (rows or columns orthonormal, times gain), from the
/// QR decomposition of a Gaussian matrix with R's diagonal made positive (as in
/// PyTorch). Tensors of rank > 2 are treated as (shape[0], rest). `ArgumentError`
/// for rank < 2.
template <class T> void orthogonal_(Tensor<T>& t, Generator& gen, double gain = 1.0);

}  // namespace tapegrad
