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
#include <string>
#include <vector>

#include <xtensor/xarray.hpp>

namespace tapegrad {

/// A dense row-major tensor of scalar type T (float or double). Scalars are 0-d.
template <class T>
using Tensor = xt::xarray<T, xt::layout_type::row_major>;

/// Integer indices (class targets, gather indices).
using Index = xt::xarray<std::int64_t, xt::layout_type::row_major>;

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

/// Number of elements of a shape (1 for a scalar).
template <class S>
std::size_t shape_size(const S& shape) {
    std::size_t n = 1;
    for (auto d : shape) n *= static_cast<std::size_t>(d);
    return n;
}

}  // namespace tapegrad
