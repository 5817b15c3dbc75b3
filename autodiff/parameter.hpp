#pragma once
/// \file
/// `Parameter<T>`: a trainable tensor that lives outside any tape.

#include <cstdint>
#include <memory>
#include <string>
#include <utility>

#include "errors.hpp"
#include "tensor.hpp"

namespace tapegrad {

template <class T>
class Parameter;

/// The record behind a `Parameter`: its value, gradient, name and version.
///
/// A `Parameter` object is a handle to one record; tapes (`Tape::param`) and
/// optimizers hold the record too, through a `std::shared_ptr`, so a record is
/// never freed while something still refers to it. `owner()` is the
/// `Parameter` that holds the record now (a move updates it) and nullptr once
/// that object is destroyed or given another record: a tape's `backward` or an
/// optimizer's `step` then throws `LifetimeError` instead of updating a
/// parameter nobody can see. See docs/architecture.md, "Lifetimes".
///
/// The methods are those of `Parameter`, which forwards to them.
template <class T>
class ParameterState {
public:
    ParameterState() = default;
    ParameterState(Tensor<T> value, std::string name) : value_(std::move(value)), name_(std::move(name)) {}
    ParameterState(const ParameterState&) = delete;  // a copy is a new record: Parameter's copy constructor
    ParameterState& operator=(const ParameterState&) = delete;

    const Tensor<T>& value() const { return value_; }
    Tensor<T>& mutable_value() {
        ++version_;
        return value_;
    }
    void set_value(const Tensor<T>& v) {
        const bool reshaped = v.shape() != value_.shape();
        value_ = v;
        ++version_;
        if (reshaped) discard_grad();
    }

    /// Allocates zeros of the value's shape on first use. Throws `ShapeError`
    /// if an allocated gradient no longer has the value's shape.
    Tensor<T>& mutable_grad() {
        if (grad_stale()) throw ShapeError("Parameter::grad: " + grad_shape_problem());
        if (!has_grad_) {
            grad_ = Tensor<T>::from_shape(value_.shape());
            grad_.fill(T(0));
            has_grad_ = true;
        }
        return grad_;
    }
    bool has_grad() const { return has_grad_; }
    /// Zeroes the gradient; one whose shape no longer matches the value is
    /// discarded instead (reallocated at the value's shape on next use).
    void zero_grad() {
        if (grad_stale())
            discard_grad();
        else if (has_grad_)
            grad_.fill(T(0));
    }

    const std::string& name() const { return name_; }
    void set_name(std::string n) { name_ = std::move(n); }
    const typename Tensor<T>::shape_type& shape() const { return value_.shape(); }
    std::size_t size() const { return value_.size(); }
    std::uint64_t version() const { return version_; }

    /// The `Parameter` holding this record, or nullptr once it is gone.
    Parameter<T>* owner() const { return owner_; }
    bool alive() const { return owner_ != nullptr; }
    /// Whether an allocated gradient has another shape than the value (the
    /// value was reshaped through `mutable_value()`).
    bool grad_stale() const { return has_grad_ && grad_.shape() != value_.shape(); }
    /// "'w' of shape (3, 4)" ("<unnamed>" without a name), for messages.
    std::string describe() const {
        return "'" + (name_.empty() ? std::string("<unnamed>") : name_) + "' of shape " + shape_str(value_.shape());
    }
    /// What is wrong when `grad_stale()`, for messages.
    std::string grad_shape_problem() const {
        return "parameter '" + (name_.empty() ? std::string("<unnamed>") : name_) + "': value has shape " +
               shape_str(value_.shape()) + " but its gradient has shape " + shape_str(grad_.shape()) +
               "; reshape with set_value(), or zero_grad() to discard the gradient";
    }

private:
    friend class Parameter<T>;
    void discard_grad() {
        grad_ = Tensor<T>();
        has_grad_ = false;
    }
    // Copies first, so that a failed allocation changes nothing.
    void assign_from(const ParameterState& other) {
        Tensor<T> value = other.value_, grad = other.grad_;
        std::string name = other.name_;
        value_ = std::move(value);
        grad_ = std::move(grad);
        has_grad_ = other.has_grad_;
        name_ = std::move(name);
        ++version_;
    }

    Tensor<T> value_;
    Tensor<T> grad_;  // meaningful while has_grad_
    bool has_grad_ = false;
    std::string name_;
    std::uint64_t version_ = 0;
    Parameter<T>* owner_ = nullptr;
};

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
///
/// Lifetimes (docs/architecture.md): a `Parameter` is a handle to a shared
/// record (`ParameterState`) that tapes and optimizers also hold.
/// - Moving keeps the identity: the record goes to the new object, so tapes and
///   optimizers that recorded the parameter reach the live object. A moved-from
///   `Parameter` has no record; every call on it throws `LifetimeError` until
///   a `Parameter` is assigned to it.
/// - Copying makes an independent parameter (a new record with a copy of the
///   value, gradient and name). Copy assignment copies value, gradient and name
///   into the existing record (identity kept, version bumped); move assignment
///   takes the other's record and orphans the old one.
/// - Destroying orphans the record: a tape or optimizer still using it throws
///   `LifetimeError`, nothing is freed under it.
/// - Reshaping the value through `mutable_value()` leaves the gradient at the
///   old shape: `grad()`, `mutable_grad()`, optimizer steps, clipping and
///   `backward` then throw `ShapeError` (and change nothing) until `zero_grad()`
///   discards it. `set_value()` reshapes both.
template <class T>
class Parameter {
public:
    /// An empty (0-d) value.
    Parameter() : Parameter(Tensor<T>()) {}
    /// Takes the value. The gradient is zeros of the same shape, allocated on
    /// first use (a model used only for inference never holds gradients).
    explicit Parameter(Tensor<T> value, std::string name = {})
        : state_(std::make_shared<ParameterState<T>>(std::move(value), std::move(name))) {
        state_->owner_ = this;
    }
    /// An independent copy: a new record with the same value, gradient and name.
    Parameter(const Parameter& other) : state_(std::make_shared<ParameterState<T>>()) {
        state_->assign_from(other.checked("Parameter (copy)"));
        state_->version_ = 0;
        state_->owner_ = this;
    }
    /// Takes `other`'s record (and identity); `other` is left without one.
    Parameter(Parameter&& other) noexcept : state_(std::move(other.state_)) {
        if (state_) state_->owner_ = this;
    }
    /// Copies value, gradient and name into this parameter's record.
    Parameter& operator=(const Parameter& other) {
        if (this == &other) return *this;
        const ParameterState<T>& src = other.checked("Parameter::operator= (copy)");
        if (!state_) {
            auto fresh = std::make_shared<ParameterState<T>>();
            fresh->owner_ = this;
            state_ = std::move(fresh);
        }
        state_->assign_from(src);
        return *this;
    }
    /// Takes `other`'s record; this parameter's old record is orphaned (a tape
    /// or optimizer still holding it throws `LifetimeError`).
    Parameter& operator=(Parameter&& other) noexcept {
        if (this == &other) return *this;
        if (state_) state_->owner_ = nullptr;
        state_ = std::move(other.state_);
        if (state_) state_->owner_ = this;
        return *this;
    }
    ~Parameter() {
        if (state_) state_->owner_ = nullptr;
    }

    const Tensor<T>& value() const { return checked("Parameter::value").value(); }
    /// Write access to the value; counts as a modification (bumps the version).
    Tensor<T>& mutable_value() { return checked("Parameter::mutable_value").mutable_value(); }
    /// Replaces the value. The shape may change; the gradient is then reset to
    /// zeros of the new shape.
    void set_value(const Tensor<T>& v) { checked("Parameter::set_value").set_value(v); }

    /// The accumulated gradient (zeros until a backward adds into it). The
    /// first call allocates it, so do not make that first call from two
    /// threads at once. Throws `ShapeError` if the value was reshaped through
    /// `mutable_value()` after the gradient was allocated.
    const Tensor<T>& grad() const { return checked("Parameter::grad").mutable_grad(); }
    /// Write access to the gradient (optimizers, clipping, gradient surgery).
    Tensor<T>& mutable_grad() { return checked("Parameter::mutable_grad").mutable_grad(); }
    /// Whether the gradient has been allocated yet.
    bool has_grad() const { return checked("Parameter::has_grad").has_grad(); }
    /// Zeroes the gradient (discards it if the value was reshaped since).
    void zero_grad() { checked("Parameter::zero_grad").zero_grad(); }

    const std::string& name() const { return checked("Parameter::name").name(); }
    void set_name(std::string n) { checked("Parameter::set_name").set_name(std::move(n)); }
    const typename Tensor<T>::shape_type& shape() const { return checked("Parameter::shape").shape(); }
    std::size_t size() const { return checked("Parameter::size").size(); }

    std::uint64_t version() const { return checked("Parameter::version").version(); }

    /// The shared record, for tapes and optimizers (they keep it alive).
    const std::shared_ptr<ParameterState<T>>& state() const {
        checked("Parameter::state");
        return state_;
    }
    /// False for a moved-from parameter (no record).
    bool has_state() const noexcept { return state_ != nullptr; }

private:
    ParameterState<T>& checked(const char* who) const {
        if (!state_)
            throw LifetimeError(std::string(who) +
                                ": this Parameter was moved from and has no value; assign a Parameter to it before using it");
        return *state_;
    }

    std::shared_ptr<ParameterState<T>> state_;  // never null except after a move
};

}  // namespace tapegrad
