#pragma once
// The op table: every public function of ops.hpp, described once by the
// sample inputs it is called on (with broadcasting, size-1 and zero-size
// dims, and edge values where the op has them), how to call it (for float and
// double alike), and its reference forward in double (op_reference.hpp).
// One table drives five checks: forward against the reference, gradcheck in
// double, the tape audit, float against double (test_op_table.cpp), and the
// `backward_reads` contract (test_contracts.cpp). A new op is one row here
// plus its code; a function of ops.hpp without a row fails the coverage test.

#include <functional>
#include <string>
#include <vector>

#include <tapegrad/tapegrad.hpp>

namespace optable {

using Tens = tapegrad::Tensor<double>;
template <class T>
using In = std::vector<tapegrad::Var<T>>;

struct OpCase {
    std::string fn;  ///< the function's name in ops.hpp
    std::string op;  ///< the OpDef its last node records (transpose records "permute")
    std::vector<Tens> inputs;
    /// Records the call on handles of its inputs, in double or float.
    std::function<tapegrad::Var<double>(const In<double>&)> record;
    std::function<tapegrad::Var<float>(const In<float>&)> record_float;
    /// The expected output, computed in double by plain loops.
    std::function<Tens(const std::vector<Tens>&)> reference;
    /// Inputs that enter as constants in the gradient checks: a condition or
    /// a comparison's operands, where a perturbation would flip the result.
    std::vector<std::size_t> constants;
    /// What the row covers beyond the plain case ("broadcast", "zero-size", "edge").
    std::string note;
};

/// "add via add on (2, 3), (1, 3) [broadcast]", for messages.
std::string describe(const OpCase& c);

/// Every row, grouped by op family.
const std::vector<OpCase>& all_cases();

}  // namespace optable
