#pragma once
/// \file
/// `Parameter<T>`: a trainable tensor that lives outside any tape.

#include <cstdint>
#include <string>
#include <utility>

#include "tensor.hpp"

namespace tapegrad {

/// A value and its accumulated gradient, owned by a model rather than a tape.
///
/// `tape.param(p)` puts it on a tape as one leaf per tape epoch, however many
/// ops read it (an LSTM weight used at 100 time steps is one leaf). `backward`
/// adds the leaf's gradient into `grad()`; gradients keep accumulating over
/// several backward calls until `zero_grad()`.
///
/// Every mutation through `mutable_value()` or `set_value()` bumps `version()`.
/// `backward` compares it with the version seen by the forward pass and throws
/// `ParameterModifiedError` if they differ (e.g. an optimizer step taken between
/// forward and backward).
template <class T>
class Parameter {
public:
    Parameter() = default;
    /// Takes the value. The gradient is zeros of the same shape, allocated on
    /// first use (a model used only for inference never holds gradients).
    explicit Parameter(Tensor<T> value, std::string name = {}) : value_(std::move(value)), name_(std::move(name)) {}

    const Tensor<T>& value() const { return value_; }
    /// Write access to the value; counts as a modification (bumps the version).
    Tensor<T>& mutable_value() {
        ++version_;
        return value_;
    }
    /// Replaces the value. The shape may change; the gradient is then reset to
    /// zeros of the new shape.
    void set_value(const Tensor<T>& v) {
        ++version_;
        const bool reshaped = v.shape() != value_.shape();
        value_ = v;
        if (reshaped) {
            grad_ = Tensor<T>();
            has_grad_ = false;
        }
    }

    /// The accumulated gradient (zeros until a backward adds into it). The
    /// first call allocates it, so do not make that first call from two
    /// threads at once.
    const Tensor<T>& grad() const {
        if (!has_grad_) {
            grad_ = Tensor<T>::from_shape(value_.shape());
            grad_.fill(T(0));
            has_grad_ = true;
        }
        return grad_;
    }
    /// Write access to the gradient (optimizers, clipping, gradient surgery).
    Tensor<T>& mutable_grad() {
        grad();
        return grad_;
    }
    /// Whether the gradient has been allocated yet.
    bool has_grad() const { return has_grad_; }
    void zero_grad() {
        if (has_grad_) grad_.fill(T(0));
    }

    const std::string& name() const { return name_; }
    void set_name(std::string n) { name_ = std::move(n); }
    const typename Tensor<T>::shape_type& shape() const { return value_.shape(); }
    std::size_t size() const { return value_.size(); }

    std::uint64_t version() const { return version_; }

private:
    Tensor<T> value_;
    mutable Tensor<T> grad_;  // allocated by the first grad()
    mutable bool has_grad_ = false;
    std::string name_;
    std::uint64_t version_ = 0;
};

}  // namespace tapegrad
