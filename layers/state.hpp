#pragma once
/// \file
/// Carrying a recurrent state from one truncated-BPTT chunk to the next.
///
/// Two ways to cut the graph at a chunk boundary (docs/data.md shows both in
/// a training loop):
/// - on one tape: `detach(state)`, the same values as constants;
/// - across `tape.clear()` (the usual loop: the tape's memory is reused every
///   chunk): copy the values out with `state_values(state)` before clearing,
///   and put them on the cleared tape with `constant_state(tape, values)`.
/// Both work for any cell: h, c and extra states alike.

#include <array>
#include <optional>

#include "../autodiff/tape.hpp"
#include "cell.hpp"

namespace tapegrad {

/// Each non-empty handle of `s` detached (`tg::detach`): the same values,
/// through which no gradient flows. Empty handles stay empty.
template <class T>
RecurrentState<T> detach(const RecurrentState<T>& s);

/// The values of a recurrent state, off the tape: state k is `values[k]`
/// (0 = h, 1 = c), empty for a state the cell does not have.
template <class T>
struct RecurrentStateValues {
    std::array<std::optional<Tensor<T>>, RecurrentState<T>::capacity> values;
};

/// Copies of the values of `s`'s non-empty handles (`StaleVarError` for a
/// handle whose tape was cleared: copy before `clear()`).
template <class T>
RecurrentStateValues<T> state_values(const RecurrentState<T>& s);

/// The values as constants on `tape`, to pass as a sequence layer's initial
/// state; `std::nullopt` when `v` holds no value (a default-constructed
/// `RecurrentStateValues`, as before the first chunk), so that the layer
/// starts from zeros: `lstm(x, tg::constant_state(tape, carried))`.
template <class T>
std::optional<RecurrentState<T>> constant_state(Tape<T>& tape, const RecurrentStateValues<T>& v);

}  // namespace tapegrad
