#pragma once
/// \file
/// `Var<T>`: a 16-byte handle to a value recorded on a tape.

#include <cstddef>
#include <cstdint>

#include "tensor.hpp"

namespace tapegrad {

template <class T>
class Tape;

/// Position of a node on its tape.
using NodeId = std::uint32_t;

/// A cheap, trivially copyable handle to one recorded value: (tape, position,
/// epoch). The value itself lives once, in the tape, and never changes after it
/// is recorded. A handle is valid until its tape is cleared or destroyed; using
/// it after `clear()` throws `StaleVarError`, using it with another tape's
/// handles throws `TapeMismatchError`.
///
/// A `Var` must not outlive its tape: using one after its tape is destroyed
/// is undefined behaviour, as with any dangling reference. This
/// is the one lifetime rule tapegrad does not check (parameters, modules and
/// optimizers are checked: see docs/architecture.md, "Lifetimes").
template <class T>
class Var {
public:
    using value_type = T;

    Var() = default;
    Var(Tape<T>* tape, NodeId id, std::uint32_t epoch) : tape_(tape), id_(id), epoch_(epoch) {}

    /// The recorded value. Throws `StaleVarError` if the tape was cleared.
    const Tensor<T>& value() const;
    /// The gradient of the last `backward` with respect to this value (zeros
    /// if no gradient reached it): see `Tape::grad` for intermediate values.
    /// Throws `StaleVarError` if the tape was cleared.
    const Tensor<T>& grad() const;
    /// The single element of a one-element value; `ShapeError` otherwise.
    T item() const;

    const typename Tensor<T>::shape_type& shape() const;
    std::size_t size() const;
    std::size_t dim() const { return shape().size(); }
    /// Whether gradients flow into this value in `backward`.
    bool requires_grad() const;

    Tape<T>* tape() const { return tape_; }
    NodeId id() const { return id_; }
    std::uint32_t epoch() const { return epoch_; }
    /// False for a default-constructed handle.
    explicit operator bool() const { return tape_ != nullptr; }

private:
    Tape<T>* tape_ = nullptr;
    NodeId id_ = 0;
    std::uint32_t epoch_ = 0;
};

static_assert(sizeof(Var<float>) == 16, "Var is meant to be a 16-byte handle");

}  // namespace tapegrad
