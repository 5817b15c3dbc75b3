#pragma once
// The byte format of fuzz_ops' programs, shared by the target (fuzz_ops.cpp)
// and its seed writer (make_ops_seeds.cpp). See docs/fuzzing.md.
//
// Input: a header byte whose bit 0 picks the scalar type (1 double, 0 float)
// and whose bits 1 and 2, both set, ask for a tg::audit of the tape at the end
// (when every value is small); one byte for the number of instructions (1 + b % 12), then the instructions: an
// op byte (b % kOpCount) followed by that op's operands and arguments, each
// read as below. Past the end of the input every byte reads as 0.
//   operand   1 byte: an earlier value, b % (number of values kept, ≤ 16)
//   dim       1 byte: b < 0xE0 → kSmallDims[b % 5]; 0xE0..0xFE → kHugeDims[b % 6];
//             0xFF → the next 8 bytes, little-endian
//   arg       1 byte: b < 0xFF → kArgs[b % size]; 0xFF → 8 raw bytes (int64)
//   scalar    1 byte: b < 0xFF → kScalars[b % size]; 0xFF → 8 raw bytes (a double)
//   shape     (of a tensor the harness builds) rank byte (b % 5), then a byte
//             per dimension: kSmallDims[b % 5]
//   tensor    mode byte (b % 4), a scalar, then for mode 0 one byte per element
//             (int8 / 16); mode 1 fills with the scalar, modes 2-3 a fixed ramp
//   list      count byte (b % (max + 1)), then that many args

#include <cstddef>
#include <cstdint>
#include <limits>

namespace fuzz_ops {

inline constexpr std::uint64_t kHugeDims[] = {
    std::uint64_t(1) << 31, std::uint64_t(1) << 32, std::uint64_t(1) << 40, std::uint64_t(1) << 62,
    std::uint64_t(std::numeric_limits<std::int64_t>::max()), std::numeric_limits<std::uint64_t>::max()};
inline constexpr std::size_t kSmallDims[] = {0, 1, 2, 3, 5};
inline constexpr std::int64_t kInt64Max = std::numeric_limits<std::int64_t>::max();
inline constexpr std::int64_t kInt64Min = std::numeric_limits<std::int64_t>::min();
// Small values come twice as often as extreme ones.
inline constexpr std::int64_t kArgs[] = {
    0, 1, 2, 3, 4, 5, -1, -2, -3, -4, -5, 6, 0, 1, 2, -1,
    kInt64Max, kInt64Min, kInt64Max - 1, kInt64Min + 1, std::int64_t(1) << 31, (std::int64_t(1) << 31) - 1, -(std::int64_t(1) << 31),
    std::int64_t(1) << 32, std::int64_t(1) << 40, std::int64_t(1) << 62, -(std::int64_t(1) << 62), kInt64Max / 2 + 1};
inline constexpr double kInf = std::numeric_limits<double>::infinity();
inline constexpr double kScalars[] = {0.0,  1.0,    -1.0,  2.0,  0.5,   -0.5, 3.0,  -2.0,
                                      1e-3, 100.0,  1e30,  -1e30, kInf, -kInf, std::numeric_limits<double>::quiet_NaN(),
                                      -0.0, 1e300,  -1e300, std::numeric_limits<double>::denorm_min(), 0.25, 4.0};

enum Op : std::uint8_t {
    // leaves
    kFull, kVariable, kConstant, kScalarConstant, kVariableLike,
    // elementwise
    kAdd, kSub, kMul, kDiv, kAddScalar, kMulScalar, kDivScalar, kRdivScalar,
    kNeg, kExp, kLog, kSqrt, kPow, kAbs, kTanh, kSigmoid, kRelu, kClamp, kWhere,
    // linear algebra and shape
    kMatmul, kLinear, kLinearBias, kTranspose, kPermute,
    kReshape, kNarrow, kSlice, kSelect, kSplit, kChunk, kConcat, kStack, kIndexSelect, kGather,
    // reductions, neural, graph
    kSum, kSumAxis, kMean, kMeanAxis, kMax, kMaxAxis,
    kSoftmax, kLogSoftmax, kMseLoss, kCrossEntropy, kBce, kDetach,
    kOpCount
};

inline constexpr const char* kOpNames[kOpCount] = {
    "full", "variable", "constant", "scalar_constant", "variable_like",
    "add", "sub", "mul", "div", "add_scalar", "mul_scalar", "div_scalar", "rdiv_scalar",
    "neg", "exp", "log", "sqrt", "pow", "abs", "tanh", "sigmoid", "relu", "clamp", "where",
    "matmul", "linear", "linear_bias", "transpose", "permute",
    "reshape", "narrow", "slice", "select", "split", "chunk", "concat", "stack", "index_select", "gather",
    "sum", "sum_axis", "mean", "mean_axis", "max", "max_axis",
    "softmax", "log_softmax", "mse_loss", "cross_entropy", "bce_with_logits", "detach"};

}  // namespace fuzz_ops
