// libFuzzer target for the ops: each input is decoded into a short program
// (up to 12 instructions) over a Tape<float> or Tape<double>. An instruction
// creates a leaf (tape.full with any shape, huge dimensions included;
// tape.variable/constant of a small tensor; a variable shaped like an earlier
// value) or applies one op of autodiff/ops.hpp to earlier values, with fuzzed
// int64 arguments (axes, bounds, sizes, indices, shapes) and scalars (inf, NaN,
// extremes). Then backward runs from the sum of the last value when it needs a
// gradient, every variable's gradient is read, and sometimes tg::audit checks
// the whole tape. The byte format is described in docs/fuzzing.md.
//
// A tapegrad::Error is the expected answer to bad arguments and is ignored,
// after checking that the throwing call recorded nothing. Anything else is a
// finding: a crash, a hang (libFuzzer's -timeout), a sanitizer report, any
// other exception (it leaves LLVMFuzzerTestOneInput and libFuzzer reports it),
// and two properties checked here, which abort:
//   - a call that threw tapegrad::Error changed the tape's size;
//   - after backward, a variable's gradient does not have its value's shape.
//
// Build and run with `tools/fuzz.sh ops`.

#include <cmath>
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <limits>
#include <new>
#include <optional>
#include <string>
#include <type_traits>
#include <vector>

#include <tapegrad/autodiff/errors.hpp>
#include <tapegrad/autodiff/gradcheck.hpp>
#include <tapegrad/autodiff/ops.hpp>

#include "ops_format.hpp"

namespace tg = tapegrad;
using namespace fuzz_ops;

// A huge but valid request (a (2^31, 2) tensor is 16 GB) must reach the library
// as std::bad_alloc, which it turns into a tapegrad::Error: so allocations over
// 24 MB return null (xsimd's allocator then throws bad_alloc) instead of
// aborting. 24 MB bounds the cost of a valid program in this instrumented -O1
// build, where xtensor's strided loops cost about 1 us per element: filling a
// 1.6 GB tensor took 17 s, a broadcast add of a scalar to 10.9 million floats
// (43 MB) and its backward 12.5 s of CPU; at 24 MB that program takes about
// 7 s, inside the 20 s timeout (fuzz.sh). Not less than 24 MB: libFuzzer
// itself allocates a 20 MB block through the same allocator. Shape arithmetic
// is checked before any allocation, so the cap costs no coverage of the
// overflow paths. libFuzzer's own -malloc_limit_mb stays above.
extern "C" const char* __asan_default_options() {
    return "allocator_may_return_null=1:max_allocation_size_mb=24:detect_leaks=1:"
           "detect_stack_use_after_return=1:allocator_release_to_os_interval_ms=500";
}

// The same for `new`: a production build's operator new throws std::bad_alloc
// when the system cannot satisfy it (e.g. chunk of an empty axis into 2^31
// pieces asks for 32 GB of handles), but ASan's reports a fatal out-of-memory
// even with allocator_may_return_null. This one takes its memory from ASan's
// malloc (still checked for overflows and leaks) and throws on null, as
// production does. Aligned new and delete stay ASan's.
void* operator new(std::size_t n) {
    if (void* p = std::malloc(n != 0 ? n : 1)) return p;
    throw std::bad_alloc();
}
void* operator new[](std::size_t n) { return ::operator new(n); }
void* operator new(std::size_t n, const std::nothrow_t&) noexcept { return std::malloc(n != 0 ? n : 1); }
void* operator new[](std::size_t n, const std::nothrow_t&) noexcept { return std::malloc(n != 0 ? n : 1); }
void operator delete(void* p, const std::nothrow_t&) noexcept { std::free(p); }
void operator delete[](void* p, const std::nothrow_t&) noexcept { std::free(p); }
void operator delete(void* p) noexcept { std::free(p); }
void operator delete[](void* p) noexcept { std::free(p); }
void operator delete(void* p, std::size_t) noexcept { std::free(p); }
void operator delete[](void* p, std::size_t) noexcept { std::free(p); }

namespace {

[[noreturn]] void finding(const char* what, const std::string& detail) {
    std::fprintf(stderr, "fuzz_ops: FINDING: %s: %s\n", what, detail.c_str());
    std::abort();
}

// Set FUZZ_OPS_TRACE=1 to print each decoded instruction and its outcome
// (to turn a crashing input into a plain test).
const bool kTrace = std::getenv("FUZZ_OPS_TRACE") != nullptr;

// The input as a stream; past its end every byte reads as 0. When tracing,
// every decoded argument is appended to `log`.
class Bytes {
public:
    Bytes(const std::uint8_t* data, std::size_t size) : p_(data), n_(size) {}
    std::string log;
    bool empty() const { return n_ == 0; }
    std::uint8_t u8() {
        if (n_ == 0) return 0;
        --n_;
        return *p_++;
    }
    std::size_t pick(std::size_t count) { return count ? u8() % count : 0; }
    bool flag() { return u8() & 1; }
    std::uint64_t raw64() {
        std::uint64_t v = 0;
        for (int k = 0; k < 8; ++k) v |= std::uint64_t(u8()) << (8 * k);
        return v;
    }
    // A dimension: mostly small, sometimes huge.
    std::size_t dim() {
        const std::uint8_t b = u8();
        std::size_t d = b == 0xFF ? static_cast<std::size_t>(raw64())
                        : b >= 0xE0 ? static_cast<std::size_t>(kHugeDims[b % std::size(kHugeDims)])
                                    : kSmallDims[b % std::size(kSmallDims)];
        if (kTrace) log += " dim=" + std::to_string(d);
        return d;
    }
    // An int64 argument: axis, bound, size, index, shape entry.
    std::int64_t arg() {
        const std::uint8_t b = u8();
        const std::int64_t a = b == 0xFF ? static_cast<std::int64_t>(raw64()) : kArgs[b % std::size(kArgs)];
        if (kTrace) log += " " + std::to_string(a);
        return a;
    }
    template <class T>
    T scalar() {
        const std::uint8_t b = u8();
        double d = kScalars[b % std::size(kScalars)];
        if (b == 0xFF) {
            const std::uint64_t bits = raw64();
            std::memcpy(&d, &bits, sizeof d);
        }
        if (kTrace) {
            char buf[40];
            std::snprintf(buf, sizeof buf, " %.17g", d);
            log += buf;
        }
        return static_cast<T>(d);
    }

private:
    const std::uint8_t* p_;
    std::size_t n_;
};

constexpr std::size_t kMaxValues = 16;
constexpr std::size_t kMaterialized = 625;  // a harness-built tensor holds at most 5^4 elements

std::size_t checked_count(const std::vector<std::size_t>& shape) {
    std::size_t n = 1;
    for (std::size_t d : shape) {
        if (d != 0 && n > kMaterialized / d) return kMaterialized + 1;
        n *= d;
    }
    return n;
}

// A small shape for a tensor the harness builds itself (rank 0..4, dims 0..5).
std::vector<std::size_t> small_shape(Bytes& in) {
    std::vector<std::size_t> s(in.pick(5));
    for (std::size_t& d : s) d = kSmallDims[in.pick(std::size(kSmallDims))];
    return s;
}

template <class T>
tg::Tensor<T> small_tensor(Bytes& in, const std::vector<std::size_t>& shape) {
    tg::Tensor<T> t = tg::Tensor<T>::from_shape(shape);
    const std::uint8_t mode = in.u8() % 4;
    const T special = in.scalar<T>();
    for (std::size_t i = 0; i < t.size(); ++i) {
        if (mode == 0) t.data()[i] = static_cast<T>(static_cast<std::int8_t>(in.u8())) / T(16);
        else if (mode == 1) t.data()[i] = special;
        else t.data()[i] = static_cast<T>(static_cast<int>((i * 7 + mode) % 11) - 5) * T(0.375);
    }
    return t;
}

tg::Index small_index(Bytes& in, const std::vector<std::size_t>& shape) {
    tg::Index t = tg::Index::from_shape(shape);
    for (std::size_t i = 0; i < t.size(); ++i) t.data()[i] = in.arg();
    return t;
}

// One program being decoded and run on one tape.
template <class T>
class Program {
public:
    // A program may ask for a valid but long recording (chunk of an empty
    // axis into 2 million pieces: 2 million nodes, seconds of work and GBs
    // under ASan). The tape's own limit turns that into an ArgumentError.
    explicit Program(Bytes& in) : in_(in) { tape_.set_max_nodes(4096); }

    void run(bool audit) {
        const std::size_t steps = 1 + in_.pick(12);
        for (std::size_t k = 0; k < steps && !in_.empty(); ++k) step();
        finish(audit);
    }

private:
    Bytes& in_;
    tg::Tape<T> tape_;
    std::vector<tg::Var<T>> values_;
    std::vector<tg::Var<T>> variables_;

    void keep(tg::Var<T> v) {
        if (values_.size() == kMaxValues) values_.erase(values_.begin());
        values_.push_back(v);
    }

    // An operand: an earlier value, or a fresh small variable when there is none.
    tg::Var<T> operand() {
        if (values_.empty()) {
            tg::Var<T> v = tape_.variable(small_tensor<T>(in_, small_shape(in_)));
            variables_.push_back(v);
            keep(v);
            return v;
        }
        const std::size_t k = in_.pick(values_.size());
        if (kTrace) in_.log += " v" + std::to_string(values_[k].id()) + tg::shape_str(values_[k].shape());
        return values_[k];
    }

    std::vector<tg::Var<T>> operands(std::size_t count) {
        std::vector<tg::Var<T>> xs;
        for (std::size_t k = 0; k < count; ++k) xs.push_back(operand());
        return xs;
    }

    std::vector<std::int64_t> args(std::size_t max_count) {
        std::vector<std::int64_t> a(in_.pick(max_count + 1));
        for (std::int64_t& x : a) x = in_.arg();
        return a;
    }

    tg::Var<T> shaped_variable(const std::vector<std::size_t>& shape) {
        tg::Var<T> v = tape_.variable(small_tensor<T>(in_, shape));
        variables_.push_back(v);
        return v;
    }

    // Runs one call; a tapegrad::Error must leave the tape as it was.
    template <class F>
    void attempt(F&& call) {
        const std::size_t before = tape_.size();
        if (kTrace) std::fprintf(stderr, "fuzz_ops:%s\n", in_.log.c_str());
        in_.log.clear();
        try {
            call();
            if (kTrace && tape_.size() > before)
                std::fprintf(stderr, "  -> v%zu %s\n", tape_.size() - 1, tg::shape_str(tg::detail::TapeAccess<T>::node(tape_, tg::NodeId(tape_.size() - 1)).value.shape()).c_str());
        } catch (const tg::Error& e) {
            if (kTrace) std::fprintf(stderr, "  threw: %s\n", e.what());
            if (tape_.size() != before)
                finding("a call that threw recorded nodes",
                        std::to_string(before) + " -> " + std::to_string(tape_.size()) + " nodes: " + e.what());
        }
    }

    void step() {
        const Op op = static_cast<Op>(in_.pick(kOpCount));
        if (kTrace) in_.log = std::string(" ") + (std::is_same_v<T, float> ? "f32 " : "f64 ") + kOpNames[op];
        if (op <= kVariableLike) leaf(op);
        else if (op <= kWhere) elementwise(op);
        else if (op <= kGather) shape_op(op);
        else other(op);
    }

    void leaf(Op op) {
        switch (op) {
            case kFull: {  // any shape: the library must refuse what does not fit
                std::vector<std::size_t> shape(in_.pick(5));
                for (std::size_t& d : shape) d = in_.dim();
                const T fill = in_.scalar<T>();
                attempt([&] { keep(tape_.full(shape, fill)); });
                break;
            }
            case kVariable: {
                const auto shape = small_shape(in_);
                attempt([&] { keep(shaped_variable(shape)); });
                break;
            }
            case kConstant: {
                const tg::Tensor<T> t = small_tensor<T>(in_, small_shape(in_));
                attempt([&] { keep(tape_.constant(t)); });
                break;
            }
            case kScalarConstant: {
                const T s = in_.scalar<T>();
                attempt([&] { keep(tape_.constant(s)); });
                break;
            }
            default: {  // kVariableLike: a variable of an earlier value's shape, so binary ops fit
                const tg::Var<T> x = operand();
                const std::vector<std::size_t> shape(x.shape().begin(), x.shape().end());
                if (checked_count(shape) <= kMaterialized) attempt([&] { keep(shaped_variable(shape)); });
                else attempt([&] { keep(tape_.full(shape, in_.scalar<T>())); });
            }
        }
    }

    void elementwise(Op op) {
        if (op <= kDiv) {
            const tg::Var<T> a = operand(), b = operand();
            attempt([&] {
                keep(op == kAdd ? tg::add(a, b) : op == kSub ? tg::sub(a, b) : op == kMul ? tg::mul(a, b) : tg::div(a, b));
            });
            return;
        }
        const tg::Var<T> x = operand();
        switch (op) {
            case kAddScalar: { const T s = in_.scalar<T>(); attempt([&] { keep(tg::add_scalar(x, s)); }); break; }
            case kMulScalar: { const T s = in_.scalar<T>(); attempt([&] { keep(tg::mul_scalar(x, s)); }); break; }
            case kDivScalar: { const T s = in_.scalar<T>(); attempt([&] { keep(tg::div_scalar(x, s)); }); break; }
            case kRdivScalar: { const T s = in_.scalar<T>(); attempt([&] { keep(tg::rdiv_scalar(s, x)); }); break; }
            case kNeg: attempt([&] { keep(tg::neg(x)); }); break;
            case kExp: attempt([&] { keep(tg::exp(x)); }); break;
            case kLog: attempt([&] { keep(tg::log(x)); }); break;
            case kSqrt: attempt([&] { keep(tg::sqrt(x)); }); break;
            case kPow: { const T p = in_.scalar<T>(); attempt([&] { keep(tg::pow(x, p)); }); break; }
            case kAbs: attempt([&] { keep(tg::abs(x)); }); break;
            case kTanh: attempt([&] { keep(tg::tanh(x)); }); break;
            case kSigmoid: attempt([&] { keep(tg::sigmoid(x)); }); break;
            case kRelu: attempt([&] { keep(tg::relu(x)); }); break;
            case kClamp: {
                const T lo = in_.scalar<T>(), hi = in_.scalar<T>();
                attempt([&] { keep(tg::clamp(x, lo, hi)); });
                break;
            }
            default: {  // kWhere
                const tg::Var<T> a = operand(), b = operand();
                attempt([&] { keep(tg::where(x, a, b)); });
            }
        }
    }

    void keep_all(const std::vector<tg::Var<T>>& pieces) {
        for (const tg::Var<T>& p : pieces) keep(p);
    }

    void shape_op(Op op) {
        if (op == kConcat || op == kStack) {
            const auto xs = operands(in_.pick(5));  // 0..4 operands
            const std::int64_t axis = in_.arg();
            attempt([&] { keep(op == kConcat ? tg::concat(xs, axis) : tg::stack(xs, axis)); });
            return;
        }
        const tg::Var<T> x = operand();
        switch (op) {
            case kMatmul: case kLinear: {
                const tg::Var<T> w = operand();
                attempt([&] { keep(op == kMatmul ? tg::matmul(x, w) : tg::linear(x, w)); });
                break;
            }
            case kLinearBias: {
                const tg::Var<T> w = operand(), b = operand();
                attempt([&] { keep(tg::linear(x, w, b)); });
                break;
            }
            case kTranspose: attempt([&] { keep(tg::transpose(x)); }); break;
            case kPermute: { const auto axes = args(5); attempt([&] { keep(tg::permute(x, axes)); }); break; }
            case kReshape: { const auto shape = args(5); attempt([&] { keep(tg::reshape(x, shape)); }); break; }
            case kNarrow: case kSlice: {
                const std::int64_t axis = in_.arg(), a = in_.arg(), b = in_.arg();
                attempt([&] { keep(op == kNarrow ? tg::narrow(x, axis, a, b) : tg::slice(x, axis, a, b)); });
                break;
            }
            case kSelect: {
                const std::int64_t axis = in_.arg(), index = in_.arg();
                attempt([&] { keep(tg::select(x, axis, index)); });
                break;
            }
            case kSplit: {
                const auto sizes = args(4);
                const std::int64_t axis = in_.arg();
                attempt([&] { keep_all(tg::split(x, sizes, axis)); });
                break;
            }
            case kChunk: {
                const std::int64_t n = in_.arg(), axis = in_.arg();
                attempt([&] { keep_all(tg::chunk(x, n, axis)); });
                break;
            }
            case kIndexSelect: {
                const std::int64_t axis = in_.arg();
                const auto index = args(5);
                attempt([&] { keep(tg::index_select(x, axis, index)); });
                break;
            }
            default: {  // kGather
                const std::int64_t axis = in_.arg();
                const tg::Index index = small_index(in_, small_shape(in_));
                attempt([&] { keep(tg::gather(x, axis, index)); });
            }
        }
    }

    std::optional<tg::Tensor<T>> mask() {
        if (!in_.flag()) return std::nullopt;
        return small_tensor<T>(in_, small_shape(in_));
    }

    void other(Op op) {
        const tg::Var<T> x = operand();
        switch (op) {
            case kSum: attempt([&] { keep(tg::sum(x)); }); break;
            case kMean: attempt([&] { keep(tg::mean(x)); }); break;
            case kMax: attempt([&] { keep(tg::max(x)); }); break;
            case kSumAxis: case kMeanAxis: case kMaxAxis: {
                const std::int64_t axis = in_.arg();
                const bool keepdims = in_.flag();
                attempt([&] {
                    keep(op == kSumAxis ? tg::sum(x, axis, keepdims) : op == kMeanAxis ? tg::mean(x, axis, keepdims) : tg::max(x, axis, keepdims));
                });
                break;
            }
            case kSoftmax: case kLogSoftmax: {
                const std::int64_t axis = in_.arg();
                attempt([&] { keep(op == kSoftmax ? tg::softmax(x, axis) : tg::log_softmax(x, axis)); });
                break;
            }
            case kMseLoss: { const tg::Var<T> y = operand(); attempt([&] { keep(tg::mse_loss(x, y)); }); break; }
            case kCrossEntropy: {
                const tg::Index targets = small_index(in_, small_shape(in_));
                const auto m = mask();
                attempt([&] { keep(tg::cross_entropy(x, targets, m)); });
                break;
            }
            case kBce: {
                const tg::Var<T> y = operand();
                const auto m = mask();
                attempt([&] { keep(tg::binary_cross_entropy_with_logits(x, y, m)); });
                break;
            }
            default: attempt([&] { keep(tg::detach(x)); });  // kDetach
        }
    }

    // Backward from the sum of the last value, then every variable's gradient;
    // optionally an audit of the whole tape when every value is small.
    void finish(bool audit) {
        if (values_.empty()) return;
        const tg::Var<T> last = values_.back();
        if (!last.requires_grad()) return;
        std::optional<tg::Var<T>> loss;
        if (kTrace) in_.log = " backward from sum(v" + std::to_string(last.id()) + ")";
        attempt([&] { loss = tg::sum(last); });
        if (!loss) return;
        if (kTrace) in_.log = " backward";
        attempt([&] {
            tape_.backward(*loss);
            for (const tg::Var<T>& v : variables_) {
                const tg::Tensor<T>& g = tape_.grad(v);
                if (g.shape() != v.shape())
                    finding("a gradient's shape differs from its value's", tg::shape_str(g.shape()) + " vs " + tg::shape_str(v.shape()));
            }
        });
        if (audit && small_tape()) {
            if (kTrace) in_.log = " audit";
            attempt([&] { (void)tg::audit(tape_, last); });
        }
    }

    bool small_tape() const {
        std::size_t total = 0;
        for (tg::NodeId id = 0; id < tape_.size(); ++id) {
            const auto& s = tg::detail::TapeAccess<T>::node(tape_, id).value.shape();
            const std::size_t n = checked_count(std::vector<std::size_t>(s.begin(), s.end()));
            if (n > 64) return false;
            total += n;
        }
        return total <= 256;
    }
};

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    Bytes in(data, size);
    const std::uint8_t header = in.u8();
    const bool audit = (header & 6) == 6;
    if (header & 1) {
        Program<double> program(in);
        program.run(audit);
    } else {
        Program<float> program(in);
        program.run(audit);
    }
    return 0;
}
