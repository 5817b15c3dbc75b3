// Writes the seed corpus of fuzz_ops into the folder given as its argument:
// small programs in the byte format of ops_format.hpp. One per op on operands
// that fit it (so that the fuzzer starts from the successful path of every op,
// forward and backward), then programs with the arguments of issue 10's
// findings: narrow/split past the end, shapes whose element count overflows,
// zero-element tensors with a huge dimension, masks and targets for the losses.
// tools/fuzz.sh adds the committed regression inputs (tests/fuzz/regressions/ops).

#include <cmath>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <string>
#include <vector>

#include "ops_format.hpp"

using namespace fuzz_ops;

namespace {

// Assembles one program, byte by byte, as fuzz_ops decodes it.
class Program {
public:
    Program(bool dbl, int steps, bool audit = false) {
        bytes_ = {std::uint8_t((dbl ? 1 : 0) | (audit ? 6 : 0)), std::uint8_t(steps - 1)};
    }
    Program& op(Op o) { return byte(o); }
    Program& operand(int k) { return byte(std::uint8_t(k)); }
    // A tensor the harness builds: shape, then a ramp (mode 2).
    Program& tensor(std::vector<std::size_t> shape) {
        byte(std::uint8_t(shape.size()));
        for (std::size_t d : shape) byte(small_index(d));
        return byte(2).byte(0);
    }
    Program& variable(std::vector<std::size_t> shape) { return op(kVariable).tensor(std::move(shape)); }
    Program& dim(std::uint64_t d) {
        for (std::size_t k = 0; k < std::size(kSmallDims); ++k)
            if (kSmallDims[k] == d) return byte(std::uint8_t(k));
        for (std::size_t k = 0; k < std::size(kHugeDims); ++k)
            if (kHugeDims[k] == d)
                for (int b = 0xE0; b < 0xFF; ++b)
                    if (std::size_t(b) % std::size(kHugeDims) == k) return byte(std::uint8_t(b));
        return byte(0xFF).raw(d);
    }
    Program& arg(std::int64_t a) {
        for (std::size_t k = 0; k < std::size(kArgs); ++k)
            if (kArgs[k] == a) return byte(std::uint8_t(k));
        return byte(0xFF).raw(static_cast<std::uint64_t>(a));
    }
    Program& args(const std::vector<std::int64_t>& list) {
        byte(std::uint8_t(list.size()));
        for (std::int64_t a : list) arg(a);
        return *this;
    }
    Program& scalar(double x) {
        for (std::size_t k = 0; k < std::size(kScalars); ++k)
            if (std::memcmp(&kScalars[k], &x, sizeof x) == 0) return byte(std::uint8_t(k));
        std::uint64_t bits;
        std::memcpy(&bits, &x, sizeof x);
        return byte(0xFF).raw(bits);
    }
    Program& index(std::vector<std::size_t> shape, const std::vector<std::int64_t>& values) {
        byte(std::uint8_t(shape.size()));
        for (std::size_t d : shape) byte(small_index(d));
        for (std::int64_t v : values) arg(v);
        return *this;
    }
    Program& byte(std::uint8_t b) {
        bytes_.push_back(b);
        return *this;
    }
    std::vector<std::uint8_t> end() const { return bytes_; }

private:
    std::vector<std::uint8_t> bytes_;
    Program& raw(std::uint64_t v) {
        for (int k = 0; k < 8; ++k) byte(std::uint8_t(v >> (8 * k)));
        return *this;
    }
    static std::uint8_t small_index(std::size_t d) {
        for (std::size_t k = 0; k < std::size(kSmallDims); ++k)
            if (kSmallDims[k] == d) return std::uint8_t(k);
        std::fprintf(stderr, "make_ops_seeds: %zu is not a small dimension\n", d);
        std::exit(1);
    }
};

// v0 = variable (2, 3), v1 = variable (2, 3), then `op` on them with all-zero
// arguments (axis 0, scalar 0, operand v0), and an audit.
std::vector<std::uint8_t> one_op(Op o, bool dbl) {
    Program p(dbl, 3, true);
    p.variable({2, 3}).variable({2, 3}).op(o);
    return p.end();
}

std::vector<std::pair<std::string, std::vector<std::uint8_t>>> programs() {
    std::vector<std::pair<std::string, std::vector<std::uint8_t>>> out;
    for (int o = kAdd; o < kOpCount; ++o) {
        out.emplace_back(std::string("op_") + kOpNames[o] + "_f64", one_op(Op(o), true));
        out.emplace_back(std::string("op_") + kOpNames[o] + "_f32", one_op(Op(o), false));
    }
    auto add = [&](const char* name, const Program& p) { out.emplace_back(name, p.end()); };
    {  // a small network: (2,3) @ (3,2) + bias, log_softmax, cross-entropy with a mask
        Program p(true, 4, true);
        p.variable({2, 3}).variable({2, 3}).variable({2}).op(kLinearBias).operand(0).operand(1).operand(2);
        add("linear_bias", p);
        Program q(true, 2, true);
        q.variable({2, 3}).op(kCrossEntropy).operand(0).index({2}, {0, 2}).byte(1).tensor({2});
        add("cross_entropy_mask", q);
        Program r(false, 3, true);
        r.variable({3, 2}).variable({3, 2}).op(kBce).operand(0).operand(1).byte(1).tensor({3, 2});
        add("bce_mask", r);
        Program s(true, 3, true);
        s.variable({2, 3}).variable({3, 2}).op(kMatmul).operand(0).operand(1);
        add("matmul", s);
    }
    {  // issue 10, section 1: narrow/split past the end, overflowing shapes
        Program p(true, 2);
        p.variable({2, 3}).op(kNarrow).operand(0).arg(0).arg(kInt64Max).arg(2);
        add("narrow_overflow", p);
        Program q(true, 2);
        q.variable({2, 3}).op(kSplit).operand(0).args({kInt64Max, 2}).arg(1);
        add("split_overflow", q);
        Program r(true, 1);
        r.op(kFull).byte(2).dim(std::uint64_t(1) << 62).dim(4).scalar(1.0);
        add("full_overflow", r);
        Program s(true, 2);
        s.op(kScalarConstant).scalar(2.0).op(kReshape).operand(0).args({kInt64Max, kInt64Max});
        add("reshape_overflow", s);
        Program t(true, 2);
        t.op(kFull).byte(3).dim(std::uint64_t(1) << 62).dim(0).dim(4).scalar(1.0).op(kSumAxis).operand(0).arg(1).byte(0);
        add("sum_empty_huge", t);
        Program u(true, 2);
        u.op(kFull).byte(2).dim(std::uint64_t(1) << 62).dim(0).scalar(1.0).op(kSoftmax).operand(0).arg(0);
        add("softmax_empty_huge", u);
        Program v(true, 3);
        v.op(kFull).byte(2).dim(std::uint64_t(1) << 62).dim(0).scalar(1.0)
            .op(kFull).byte(2).dim(0).dim(4).scalar(1.0).op(kMatmul).operand(0).operand(1);
        add("matmul_empty_huge", v);
        Program w(true, 2);
        w.variable({2, 3}).op(kChunk).operand(0).arg(kInt64Max).arg(1);
        add("chunk_huge", w);
        Program x(true, 4, true);
        x.variable({2, 3}).variable({2, 3}).variable({2, 3}).op(kConcat).byte(3).operand(0).operand(1).operand(2).arg(1);
        add("concat", x);
        Program y(true, 2, true);
        y.variable({3, 2}).op(kGather).operand(0).arg(0).index({2, 2}, {0, 2, 1, 0});
        add("gather", y);
        Program z(true, 3, true);
        z.variable({2, 3}).op(kPow).operand(0).scalar(0.0).op(kSum).operand(1);
        add("pow_zero", z);
    }
    return out;
}

}  // namespace

int main(int argc, char** argv) {
    if (argc != 2) {
        std::fprintf(stderr, "usage: make_ops_seeds FOLDER\n");
        return 2;
    }
    const std::filesystem::path dir = argv[1];
    std::filesystem::create_directories(dir);
    int written = 0;
    for (const auto& [name, bytes] : programs()) {
        const std::string path = (dir / (name + ".bin")).string();
        std::FILE* f = std::fopen(path.c_str(), "wb");
        if (!f || std::fwrite(bytes.data(), 1, bytes.size(), f) != bytes.size() || std::fclose(f) != 0) {
            std::fprintf(stderr, "make_ops_seeds: cannot write %s\n", path.c_str());
            return 1;
        }
        ++written;
    }
    std::printf("make_ops_seeds: %d programs in %s\n", written, argv[1]);
    return 0;
}
