#pragma once
/// \file
/// Numerical verification of gradients: `gradcheck` for a function, `audit`
/// for every node of a recorded tape.

#include <cstdint>
#include <functional>
#include <string>
#include <vector>

#include "tape.hpp"

namespace tapegrad {

/// PyTorch's gradcheck defaults; they are meant for double precision.
struct GradcheckOptions {
    double eps = 1e-6;   ///< central-difference step
    double atol = 1e-5;  ///< pass when |analytic − numeric| ≤ atol + rtol·|numeric|
    double rtol = 1e-3;
    /// A non-scalar output y is checked through `projections` fixed random
    /// projections ⟨v, y⟩ (v ~ N(0,1), seeded), so real vector-Jacobian
    /// products are tested rather than one all-ones seed.
    int projections = 2;
    std::uint64_t seed = 0;
};

/// The worst element of one input that failed.
struct GradcheckFailure {
    std::string input;               ///< "input 1" or "parameter 'w'"
    std::vector<std::size_t> shape;  ///< that input's shape
    std::vector<std::size_t> index;  ///< the worst element
    int projection = 0;
    double analytic = 0, numeric = 0;
};

struct GradcheckResult {
    bool ok = true;
    std::size_t elements_checked = 0;
    double max_abs_error = 0;  ///< over all elements and projections
    std::vector<GradcheckFailure> failures;  ///< one per failing input
    explicit operator bool() const { return ok; }
    /// One line per failing input, or a one-line summary when everything passed.
    std::string report() const;
};

/// `fn(tape, inputs)` rebuilds the function on a cleared tape each time it is
/// called, reading its tensor inputs from `inputs` (as variables) and any
/// parameters directly. Gradients are compared for every input and parameter
/// element: analytic (one backward per projection) against central differences.
/// Parameters' values and gradients are restored bit-for-bit afterwards.
using GradcheckFn = std::function<Var<double>(Tape<double>&, const std::vector<Var<double>>&)>;
GradcheckResult gradcheck(const GradcheckFn& fn, const std::vector<Tensor<double>>& inputs,
                          const std::vector<Parameter<double>*>& params = {}, const GradcheckOptions& options = {});
/// For a function of parameters only, e.g. a whole model.
GradcheckResult gradcheck(const std::function<Var<double>(Tape<double>&)>& fn,
                          const std::vector<Parameter<double>*>& params, const GradcheckOptions& options = {});

/// Tolerances of `audit`. Left at 0, they take defaults for the tape's scalar
/// type: double eps 1e-6, atol 1e-5, rtol 1e-3; float eps 1e-3, atol 1e-3,
/// rtol 1e-2 (float finite differences are noise-limited: audit in double to
/// catch small errors).
struct AuditOptions {
    double eps = 0, atol = 0, rtol = 0;
    std::uint64_t seed = 0;
    /// Stop at the first failing node instead of checking the whole tape.
    bool stop_at_first = false;
};

/// One node whose backward disagrees with finite differences of its forward.
struct AuditFinding {
    NodeId node = 0;                              ///< position on the tape
    std::string op;                               ///< op name (user's name for custom ops)
    std::size_t input = 0;                        ///< which input's gradient is wrong
    std::vector<std::vector<std::size_t>> input_shapes;  ///< all inputs' shapes
    std::vector<std::size_t> index;               ///< the worst element of that input
    double analytic = 0, numeric = 0;
};

struct AuditResult {
    bool ok = true;
    std::size_t nodes_checked = 0;
    /// Values the tape had dropped to save memory (`Tape::drop_value`, the
    /// recurrent layers' step scopes) that the audit recomputed from their
    /// inputs to check the nodes reading them; dropped again afterwards.
    std::size_t nodes_regenerated = 0;
    std::vector<AuditFinding> failures;  ///< in tape order; the first is the earliest
    explicit operator bool() const { return ok; }
    /// e.g. "node 1184 'softsign' (input 0 of shapes (20, 128)): backward
    /// disagrees at [3, 17]: analytic 0.214, numeric 0.117".
    std::string report() const;
};

/// Checks, node by node, every op recorded on `tape` up to and including
/// `upto` (e.g. the loss): each node's backward alone, with a random output
/// gradient r, against central differences of its forward in a random
/// direction u of each input that needs a gradient (⟨Jᵀr, u⟩ vs
/// (⟨r, f(x+εu)⟩ − ⟨r, f(x−εu)⟩)/2ε: two forward calls per input). A failing
/// input is then checked element by element to name the worst element. Values
/// and gradients on the tape are left exactly as they were. Every node is
/// checked, also where memory saving dropped an input's value: the audit
/// recomputes dropped values in tape order and drops each again after its
/// last reader, so it holds about what the forward pass held.
template <class T>
AuditResult audit(Tape<T>& tape, Var<T> upto, const AuditOptions& options = {});

extern template AuditResult audit(Tape<float>&, Var<float>, const AuditOptions&);
extern template AuditResult audit(Tape<double>&, Var<double>, const AuditOptions&);

}  // namespace tapegrad
