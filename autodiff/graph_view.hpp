#pragma once
/// \file
/// `to_dot`: the recorded graph as Graphviz DOT text.
///
///     std::ofstream("model.dot") << tg::to_dot(tape, loss);
///     // dot -Tsvg model.dot -o model.svg
///
/// One node per recorded value that `output` depends on: ops as boxes (op
/// name, position, output shape), parameters by name, inputs and constants as
/// ellipses; edges run from inputs to the ops that read them. The time steps
/// of recurrent layers (the ranges `Tape::release_since` closed, see
/// `Tape::steps()`) are drawn as clusters, and a run of alike steps (the same
/// ops in the same order) shows its first and last step with one node
/// standing for the steps between, so a 100-step LSTM stays readable.

#include <string>

#include "profiler.hpp"
#include "tape.hpp"

namespace tapegrad {

struct DotOptions {
    /// Draw a run of three or more alike steps as its first step, one node
    /// for the steps between, and its last step.
    bool collapse_steps = true;
    /// Show each value's shape.
    bool shapes = true;
    /// Annotate each node with its latest forward + backward time from this
    /// profiler (attached to the same tape while the graph was recorded).
    const Profiler* profile = nullptr;
    /// Annotate each node whose gradient is still held (leaves after
    /// backward; nodes marked with `retain_grad`) with the gradient's L2 norm.
    bool grad_norms = false;
    /// Graph title (empty for none).
    std::string title;
};

/// DOT text of the part of `tape` that `output` depends on. `StaleVarError`
/// or `TapeMismatchError` for a handle not of this tape's current recording.
template <class T>
std::string to_dot(const Tape<T>& tape, Var<T> output, const DotOptions& options = {});

extern template std::string to_dot(const Tape<float>&, Var<float>, const DotOptions&);
extern template std::string to_dot(const Tape<double>&, Var<double>, const DotOptions&);

}  // namespace tapegrad
