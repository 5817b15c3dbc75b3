#pragma once
/// \file
/// The container every value and gradient lives in, and small shape helpers.
///
/// Values are xtensor containers (`xt::xarray`, row-major, dynamic rank). Only
/// `<xtensor/xarray.hpp>` is included here; the heavier xtensor headers (math,
/// views, BLAS) stay inside the library's .cpp files so that a user translation
/// unit pays for the container and nothing else.

#ifndef XTENSOR_USE_XSIMD
#error "tapegrad must be built with XTENSOR_USE_XSIMD defined in every translation unit (link tapegrad::tapegrad, which sets it)"
#endif

#include <cstddef>
#include <cstdint>
#include <new>
#include <stdexcept>
#include <string>
#include <vector>

#include <xtensor/xarray.hpp>

#include "errors.hpp"

namespace tapegrad {

/// Every tensor's storage is 64-byte aligned, whatever instruction set a
/// translation unit is compiled for. xtensor's default allocator aligns to
/// the compiling CPU's vector width (16, 32 or 64 bytes), which is part of
/// the type: a program built with -march=native and a library built without
/// it would disagree on what `Tensor<float>` is. Fixing it at 64 (AVX-512's
/// width, enough for every instruction set) lets each side choose its flags.
template <class T>
using TensorAllocator = xsimd::aligned_allocator<T, 64>;

/// A dense row-major tensor of scalar type T (float or double). Scalars are 0-d.
template <class T>
using Tensor = xt::xarray<T, xt::layout_type::row_major, TensorAllocator<T>>;

/// Integer indices (class targets, gather indices).
using Index = xt::xarray<std::int64_t, xt::layout_type::row_major, TensorAllocator<std::int64_t>>;

/// A shape argument: `{2, 3}`.
using Shape = std::vector<std::size_t>;

/// "(2, 3)" for any shape-like range; "()" for a scalar.
template <class S>
std::string shape_str(const S& shape) {
    std::string s = "(";
    bool first = true;
    for (auto d : shape) {
        if (!first) s += ", ";
        s += std::to_string(d);
        first = false;
    }
    if (shape.size() == 1) s += ",";
    return s + ")";
}

/// The most elements a tensor may have: 2^60 - 1, so that its size in bytes
/// (even as doubles) fits in a `std::ptrdiff_t`.
inline constexpr std::size_t kMaxElements = static_cast<std::size_t>(PTRDIFF_MAX) / sizeof(double);

/// a + b and a · b for sizes, offsets and user integers: false on overflow
/// (then `out` is unspecified), the checked arithmetic every shape computation
/// that could overflow goes through.
template <class I>
[[nodiscard]] constexpr bool checked_add(I a, I b, I& out) {
    return !__builtin_add_overflow(a, b, &out);
}
template <class I>
[[nodiscard]] constexpr bool checked_mul(I a, I b, I& out) {
    return !__builtin_mul_overflow(a, b, &out);
}

namespace detail {

/// A shape too large for a tensor (or for the memory), thrown where the op's
/// name is not at hand; `detail::finish` and the tape's leaf constructors
/// rethrow it as a `ShapeError` prefixed with the op's or function's name.
struct TensorTooLarge : ShapeError {
    using ShapeError::ShapeError;
};

/// Whether a shape is valid: the product of its NONZERO dimensions is at most
/// `kMaxElements`. Then every partial product of its dimensions (the outer and
/// inner extents around an axis, strides, offsets) fits in `size_t` too, also
/// for an empty tensor with a huge dimension like (2^40, 0), which holds no
/// elements but still sizes loops; (2^62, 0, 4) is refused.
template <class S>
bool shape_fits(const S& shape, std::size_t& elements) {
    std::size_t nonzero = 1;
    bool empty = false, ok = true;
    for (auto d : shape) {
        const auto u = static_cast<std::size_t>(d);
        if (u == 0)
            empty = true;
        else
            ok = ok && checked_mul(nonzero, u, nonzero);
    }
    elements = empty ? 0 : nonzero;
    return ok && nonzero <= kMaxElements;
}

inline std::string too_large_message(const std::string& shape) {
    return "shape " + shape + " has more elements than a tensor can hold (the limit is 2^60 - 1, counting only nonzero dimensions)";
}

}  // namespace detail

/// Number of elements of a shape (1 for a scalar). Throws a `ShapeError` if
/// the shape is not valid (see `detail::shape_fits`): every tensor the library
/// sizes goes through here, so none is ever allocated from a wrapped product.
template <class S>
std::size_t shape_size(const S& shape) {
    std::size_t n = 0;
    if (!detail::shape_fits(shape, n)) [[unlikely]]
        throw detail::TensorTooLarge(detail::too_large_message(shape_str(shape)));
    return n;
}
/// The same, naming `op` in the error: "reshape: shape (2^62, 4) has more ...".
template <class S>
std::size_t shape_size(const char* op, const S& shape) {
    std::size_t n = 0;
    if (!detail::shape_fits(shape, n)) [[unlikely]]
        throw ShapeError(std::string(op) + ": " + detail::too_large_message(shape_str(shape)));
    return n;
}

namespace detail {

/// `out.resize(shape)` (forced: a dropped value keeps its shape but not its
/// storage), with a shape checked by `shape_size` and a failed allocation
/// reported as a `TensorTooLarge` naming the bytes and the shape.
template <class T, class S>
void resize_tensor(Tensor<T>& out, const S& shape) {
    const std::size_t n = shape_size(shape);
    const auto fail = [&] {  // n * sizeof(T) fits: n <= kMaxElements
        out = Tensor<T>();    // not a new shape over the old storage
        return TensorTooLarge("cannot allocate " + std::to_string(n * sizeof(T)) + " bytes for a tensor of shape " +
                              shape_str(shape));
    };
    try {
        out.resize(typename Tensor<T>::shape_type(shape.begin(), shape.end()), true);
    } catch (const std::bad_alloc&) {
        throw fail();
    } catch (const std::length_error&) {
        throw fail();
    }
}

/// A new tensor of `shape` (elements uninitialized) for `who`, e.g. a layer's
/// constructor sizing a weight from user integers: a shape too large, or an
/// allocation that fails, is a `ShapeError` naming `who` and the shape
/// (`Tensor::from_shape` would allocate a wrapped-around count).
template <class T, class S>
Tensor<T> new_tensor(const char* who, const S& shape) {
    Tensor<T> t;
    try {
        resize_tensor(t, shape);
    } catch (const TensorTooLarge& e) {
        throw ShapeError(std::string(who) + ": " + e.what());
    }
    return t;
}

}  // namespace detail

}  // namespace tapegrad
