#pragma once
/// \file
/// Every exception tapegrad throws. All derive from `tapegrad::Error`
/// (itself a `std::runtime_error`), and every message names the op or function
/// that refused and the shapes, indices or handles involved. A throwing op
/// records nothing: the tape is exactly as it was before the call.

#include <stdexcept>
#include <string>

namespace tapegrad {

/// Base of all tapegrad errors.
struct Error : std::runtime_error {
    using std::runtime_error::runtime_error;
};

/// Operand shapes do not fit the op, e.g.
/// "matmul: inner dimensions differ: (2, 3) @ (4, 5)".
struct ShapeError : Error {
    using Error::Error;
};

/// An argument other than a shape is invalid: an axis out of range, an index
/// outside its dimension, clamp bounds in the wrong order, a bad option.
struct ArgumentError : Error {
    using Error::Error;
};

/// A handle (`Var`) was recorded on a tape that has since been cleared, or is
/// empty (default-constructed).
struct StaleVarError : Error {
    using Error::Error;
};

/// Handles from two different tapes were combined, or a handle was passed to
/// a tape that did not record it.
struct TapeMismatchError : Error {
    using Error::Error;
};

/// `backward` on an output with more than one element and no seed gradient.
struct NonScalarError : Error {
    using Error::Error;
};

/// A parameter's value changed (optimizer step, load, manual edit) after the
/// forward pass that used it and before `backward`.
struct ParameterModifiedError : Error {
    using Error::Error;
};

/// A parameter was used after its lifetime ended: `backward` on a tape that
/// read a `Parameter` since destroyed, an optimizer's `step`/`zero_grad`/
/// `params` over a destroyed parameter, or any call on a moved-from
/// `Parameter`. The message names the parameter (name, shape, and for an
/// optimizer its position) and what still referred to it.
struct LifetimeError : Error {
    using Error::Error;
};

/// `backward` called a second time on a tape whose graph was consumed by the
/// first call (pass `retain_graph` to the first call to allow it).
struct TapeConsumedError : Error {
    using Error::Error;
};

/// Anomaly detection (`Tape::set_detect_anomaly`) found the first op whose
/// forward output, or whose backward gradient for one of its inputs, contains
/// NaN or infinity. The message names the op, its position on the tape, its
/// input shapes and the first bad element.
struct AnomalyError : Error {
    using Error::Error;
};

/// A tape was used from a second thread while the thread that recorded on it
/// since its last `clear()` still owns it (a tape is single-threaded: use one
/// tape per thread, or `clear()` it before handing it over). The message names
/// both thread ids.
struct ConcurrentUseError : Error {
    using Error::Error;
};

/// An op broke its own contract: its backward read a value that its
/// `OpDef::backward_reads` does not declare, and the tape had dropped it
/// (`Tape::drop_value`, `Tape::release_since`). A bug in the op's definition,
/// not in the caller's use of it: the message names the op, its node, which
/// value it read and that value's shape, e.g. "backward of 'tanh' (node #12)
/// read its input 0 (node #11, shape (2, 3)), which was dropped: ...".
struct ContractError : Error {
    using Error::Error;
};

/// A data file (a text, CSV or vocabulary file read by io/text.hpp or
/// io/csv.hpp) cannot be read or is malformed. The message names the function,
/// the file and, for content, the line (and column) or byte offset, e.g.
/// "read_csv: 'prices.csv', line 4, column 2: 'abc' is not a number".
struct DataError : Error {
    using Error::Error;
};

}  // namespace tapegrad
