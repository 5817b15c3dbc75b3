// Issue 10, section 1: checked shape and argument arithmetic. Every product
// and sum of sizes, strides, offsets and user integers is checked; a shape is
// valid iff the product of its nonzero dimensions is at most 2^60 - 1; a
// tensor that does not fit is a ShapeError naming the op and the shape; empty
// tensors with huge dimensions do no per-row work; only tapegrad::Error types
// leave the API for bad input. Each test is a regression test for a finding
// reproduced on the old code (heap overflow, wrapped sizes, hangs, std::
// exceptions).

#include <cstdint>
#include <limits>
#include <optional>
#include <string>
#include <vector>

#include "test_util.hpp"

namespace tg = tapegrad;
using Catch::Matchers::Contains;

namespace {

constexpr std::int64_t kI64Max = std::numeric_limits<std::int64_t>::max();
constexpr std::size_t kP62 = std::size_t(1) << 62;
constexpr std::size_t kP40 = std::size_t(1) << 40;
constexpr std::size_t kP59 = std::size_t(1) << 59;

// The sanitizers abort on an allocation larger than they support instead of
// throwing std::bad_alloc: tests of failed allocations run in plain builds.
#if defined(__SANITIZE_ADDRESS__) || defined(__SANITIZE_THREAD__)
constexpr bool kSanitized = true;
#elif defined(__has_feature)
#if __has_feature(address_sanitizer) || __has_feature(thread_sanitizer) || __has_feature(memory_sanitizer)
constexpr bool kSanitized = true;
#else
constexpr bool kSanitized = false;
#endif
#else
constexpr bool kSanitized = false;
#endif

std::vector<std::size_t> dims(const tg::Var<float>& v) { return {v.shape().begin(), v.shape().end()}; }

// A tensor whose shape's product wrapped around: xtensor allocates the
// wrapped count (here 2^62 · 4 = 2^64 = 0 elements). xtensor computes its
// strides with a signed overflow that UBSan reports, so the tests that make
// one (the library must still refuse it) run in plain builds only.
constexpr bool kCanMakeWrapped = !kSanitized;
tg::Tensor<float> wrapped_tensor() { return tg::Tensor<float>::from_shape({kP62, 4}); }

// --- A minimal zip writer (stored entries only) ---

using tgtest::crc32;
using tgtest::put16;
using tgtest::put32;

// One stored entry `name` holding `data`.
std::string zip_of(const std::string& name, const std::string& data) {
    std::string out, central;
    const std::uint32_t size = static_cast<std::uint32_t>(data.size()), crc = crc32(data);
    put32(out, 0x04034b50);
    put16(out, 20), put16(out, 0), put16(out, 0), put16(out, 0), put16(out, 0x21);
    put32(out, crc), put32(out, size), put32(out, size);
    put16(out, static_cast<std::uint32_t>(name.size())), put16(out, 0);
    out += name + data;
    put32(central, 0x02014b50);
    put16(central, 20), put16(central, 20), put16(central, 0), put16(central, 0), put16(central, 0), put16(central, 0x21);
    put32(central, crc), put32(central, size), put32(central, size);
    put16(central, static_cast<std::uint32_t>(name.size()));
    put16(central, 0), put16(central, 0), put16(central, 0), put16(central, 0);
    put32(central, 0), put32(central, 0);
    central += name;
    const std::uint32_t cd_offset = static_cast<std::uint32_t>(out.size());
    out += central;
    put32(out, 0x06054b50);
    put16(out, 0), put16(out, 0), put16(out, 1), put16(out, 1);
    put32(out, static_cast<std::uint32_t>(central.size())), put32(out, cd_offset);
    put16(out, 0);
    return out;
}

// A .npy v1.0 array of '<f4' with the given shape text and raw data bytes.
std::string npy(const std::string& shape, const std::string& data) {
    std::string header = "{'descr': '<f4', 'fortran_order': False, 'shape': " + shape + ", }";
    while ((10 + header.size() + 1) % 64) header += ' ';
    header += '\n';
    std::string out = "\x93NUMPY";
    out += '\x01';
    out += '\0';
    put16(out, static_cast<std::uint32_t>(header.size()));
    return out + header + data;
}

std::span<const std::byte> bytes_of(const std::string& s) { return std::as_bytes(std::span(s.data(), s.size())); }

}  // namespace

TEST_CASE("shape_size refuses shapes whose nonzero product exceeds 2^60 - 1", "[safety][shapes]") {
    CHECK(tg::shape_size(tg::Shape{}) == 1);
    CHECK(tg::shape_size(tg::Shape{2, 3}) == 6);
    CHECK(tg::shape_size(tg::Shape{kP40, 0}) == 0);
    CHECK(tg::shape_size(tg::Shape{tg::kMaxElements}) == tg::kMaxElements);
    CHECK(tg::kMaxElements * sizeof(double) <= std::size_t(std::numeric_limits<std::ptrdiff_t>::max()));
    // (2^62, 4) wraps to 0 and (2^63 - 1)^2 to 1 in size_t arithmetic.
    REQUIRE_THROWS_AS(tg::shape_size(tg::Shape{kP62, 4}), tg::ShapeError);
    REQUIRE_THROWS_AS(tg::shape_size(tg::Shape{std::size_t(kI64Max), std::size_t(kI64Max)}), tg::ShapeError);
    REQUIRE_THROWS_AS(tg::shape_size(tg::Shape{kP62, 0, 4}), tg::ShapeError);
    REQUIRE_THROWS_AS(tg::shape_size(tg::Shape{tg::kMaxElements + 1}), tg::ShapeError);
    REQUIRE_THROWS_WITH(tg::shape_size("myop", tg::Shape{kP62, 4}),
                        Contains("myop: shape (4611686018427387904, 4) has more elements than a tensor can hold"));
}

TEST_CASE("narrow with start + length overflowing int64 is an ArgumentError and records nothing", "[safety][shapes]") {
    tg::Tape<float> tape;
    const tg::Var<float> x = tape.variable(tg::Tensor<float>::from_shape({2, 3}));
    const std::size_t before = tape.size();
    // Old code: start + length wrapped negative, passed the bounds check, and
    // forward read before the buffer while backward wrote there.
    REQUIRE_THROWS_AS(tg::narrow(x, 0, kI64Max, 2), tg::ArgumentError);
    REQUIRE_THROWS_WITH(tg::narrow(x, 0, kI64Max, 2), Contains("narrow") && Contains("(2, 3)") && Contains("9223372036854775807"));
    REQUIRE_THROWS_AS(tg::narrow(x, 1, 2, kI64Max), tg::ArgumentError);
    REQUIRE_THROWS_AS(tg::narrow(x, 1, kI64Max, kI64Max), tg::ArgumentError);
    REQUIRE_THROWS_AS(tg::narrow(x, 1, 4, 0), tg::ArgumentError);
    CHECK(tape.size() == before);
    CHECK(dims(tg::narrow(x, 1, 3, 0)) == std::vector<std::size_t>{2, 0});  // an empty slice at the end is fine
}

TEST_CASE("split sizes whose sum overflows int64 are a ShapeError and record nothing", "[safety][shapes]") {
    tg::Tape<float> tape;
    const tg::Var<float> x = tape.variable(tg::Tensor<float>::from_shape({2, 3}));
    const std::size_t before = tape.size();
    // 2 (2^63 - 1) + 5 = 2^64 + 3: wrapped, the sizes "summed" to the axis's 3.
    REQUIRE_THROWS_AS(tg::split(x, {kI64Max, kI64Max, 5}, 1), tg::ShapeError);
    REQUIRE_THROWS_WITH(tg::split(x, {kI64Max, kI64Max, 5}, 1), Contains("split") && Contains("(2, 3)"));
    REQUIRE_THROWS_AS(tg::split(x, {kI64Max, 1}, 1), tg::ShapeError);
    CHECK(tape.size() == before);
}

TEST_CASE("chunk and split with extreme piece counts throw tapegrad errors, not std::length_error", "[safety][shapes]") {
    tg::Tape<float> tape;
    const tg::Var<float> empty = tape.variable(tg::Tensor<float>::from_shape({0, 3}));
    const std::size_t before = tape.size();
    // Old code built a vector of n sizes: std::length_error or std::bad_alloc.
    REQUIRE_THROWS_AS(tg::chunk(empty, kI64Max, 0), tg::ArgumentError);
    REQUIRE_THROWS_WITH(tg::chunk(empty, kI64Max, 0), Contains("chunk") && Contains("2^32 - 1 nodes"));
    REQUIRE_THROWS_AS(tg::chunk(empty, std::int64_t(1) << 40, 0), tg::ArgumentError);
    REQUIRE_THROWS_AS(tg::chunk(empty, std::numeric_limits<std::int64_t>::min(), 0), tg::ArgumentError);
    CHECK(tape.size() == before);
    CHECK(tg::chunk(empty, 3, 0).size() == 3);  // a few empty pieces are fine
}

TEST_CASE("Tape::full and leaves refuse shapes too large, naming the function and the shape", "[safety][shapes]") {
    tg::Tape<float> tape;
    const std::size_t before = tape.size();
    // Old code: a 0-element buffer for a (2^62, 4) tensor.
    REQUIRE_THROWS_AS(tape.full({kP62, 4}, 1.0f), tg::ShapeError);
    REQUIRE_THROWS_WITH(tape.full({kP62, 4}, 1.0f), Contains("Tape::full") && Contains("(4611686018427387904, 4)"));
    // A zero must not hide a huge dimension: sum over axis 1 of it segfaulted.
    REQUIRE_THROWS_AS(tape.full({kP62, 0, 4}, 1.0f), tg::ShapeError);
    REQUIRE_THROWS_WITH(tape.constant(tg::Tensor<float>::from_shape({kP62, 0, 4})),
                        Contains("Tape::constant") && Contains("(4611686018427387904, 0, 4)"));
    if (kCanMakeWrapped) {  // a tensor whose shape wrapped around holds the wrapped count of elements
        REQUIRE_THROWS_WITH(tape.constant(wrapped_tensor()), Contains("Tape::constant") && Contains("(4611686018427387904, 4)"));
        REQUIRE_THROWS_WITH(tape.variable(wrapped_tensor()), Contains("Tape::variable"));
        tg::Parameter<float> p(wrapped_tensor(), "w");
        REQUIRE_THROWS_WITH(tape.param(p), Contains("Tape::param") && Contains("(4611686018427387904, 4)"));
    }
    CHECK(tape.size() == before);
    CHECK(dims(tape.full({kP40, 0}, 1.0f)) == std::vector<std::size_t>{kP40, 0});  // empty and within the limit
}

TEST_CASE("reshape refuses targets whose element count wraps around", "[safety][shapes]") {
    tg::Tape<float> tape;
    const tg::Var<float> empty = tape.variable(tg::Tensor<float>::from_shape({0}));
    const tg::Var<float> scalar = tape.variable(tg::Tensor<float>(3.0f));
    const std::size_t before = tape.size();
    const auto p62 = static_cast<std::int64_t>(kP62);
    // (2^62, 4): 2^64 wraps to 0 = the size of `empty`.
    REQUIRE_THROWS_AS(tg::reshape(empty, {p62, 4}), tg::ShapeError);
    REQUIRE_THROWS_WITH(tg::reshape(empty, {p62, 4}), Contains("reshape") && Contains("4611686018427387904, 4"));
    // (2^63 - 1)^2 = 1 mod 2^64 = the size of a scalar.
    REQUIRE_THROWS_AS(tg::reshape(scalar, {kI64Max, kI64Max}), tg::ShapeError);
    // A zero hides a huge dimension, given or inferred.
    REQUIRE_THROWS_AS(tg::reshape(empty, {p62, 0, 4}), tg::ShapeError);
    REQUIRE_THROWS_WITH(tg::reshape(empty, {p62, -1}), Contains("reshape") && Contains("(4611686018427387904, 0)"));
    CHECK(tape.size() == before);
    CHECK(dims(tg::reshape(empty, {static_cast<std::int64_t>(kP40), 0})) == std::vector<std::size_t>{kP40, 0});
}

TEST_CASE("matmul, concat, stack and broadcasting refuse outputs too large, naming the op", "[safety][shapes]") {
    tg::Tape<float> tape;
    const tg::Var<float> a = tape.variable(tg::Tensor<float>::from_shape({kP40, 0}));
    const tg::Var<float> b = tape.variable(tg::Tensor<float>::from_shape({0, std::size_t(1) << 30}));
    const tg::Var<float> h = tape.variable(tg::Tensor<float>::from_shape({kP59, 0}));
    // Broadcast (2^40, 1, 0) with (1, 2^40, 0): no elements in either operand
    // (so the test costs no memory), but 2^80 in the output's nonzero dims.
    const tg::Var<float> col = tape.variable(tg::Tensor<float>::from_shape({kP40, 1, 0}));
    const tg::Var<float> row = tape.variable(tg::Tensor<float>::from_shape({1, kP40, 0}));
    const std::size_t before = tape.size();
    // (2^40, 0) @ (0, 2^30) = (2^40, 2^30): 2^70 elements. (The issue's
    // (2^62, 0) operand can no longer be made at all.)
    REQUIRE_THROWS_AS(tg::matmul(a, b), tg::ShapeError);
    REQUIRE_THROWS_WITH(tg::matmul(a, b), Contains("matmul: shape (1099511627776, 1073741824) has more elements"));
    // 2 · 2^59 = 2^60 rows with a zero: over the limit; 32 of them wrap to 0.
    REQUIRE_THROWS_WITH(tg::concat({h, h}, 0), Contains("concat") && Contains("(1152921504606846976, 0)"));
    REQUIRE_THROWS_WITH(tg::concat(std::vector<tg::Var<float>>(32, h), 0), Contains("concat") && Contains("2^64"));
    REQUIRE_THROWS_WITH(tg::stack({h, h}, 0), Contains("stack: shape (2, 576460752303423488, 0)"));
    REQUIRE_THROWS_WITH(tg::add(col, row), Contains("add: shape (1099511627776, 1099511627776, 0)"));
    REQUIRE_THROWS_WITH(tg::mul(col, row), Contains("mul"));
    CHECK(tape.size() == before);
    CHECK(dims(tg::matmul(a, tape.variable(tg::Tensor<float>::from_shape({0, 0})))) == std::vector<std::size_t>{kP40, 0});
}

TEST_CASE("empty tensors with a huge dimension take no per-row loop, forward and backward", "[safety][shapes]") {
    // Old code: softmax looped 2^40 times here (and at -O1 also sum, mean,
    // concat, narrow, stack and broadcasting add); a hang would time out.
    tg::Tape<float> tape;
    const tg::Var<float> x = tape.variable(tg::Tensor<float>::from_shape({kP40, 0}));
    const tg::Var<float> y = tape.variable(tg::Tensor<float>::from_shape({1, 0}));
    const tg::Var<float> z = tape.variable(tg::Tensor<float>::from_shape({std::size_t(1) << 20, std::size_t(1) << 20, 0}));
    using V = std::vector<std::size_t>;
    std::vector<tg::Var<float>> outs;
    auto keep = [&](tg::Var<float> v, const V& shape) {
        CHECK(dims(v) == shape);
        outs.push_back(v);
    };
    keep(tg::softmax(x, 0), V{kP40, 0});
    keep(tg::softmax(x, 1), V{kP40, 0});
    keep(tg::log_softmax(x, 0), V{kP40, 0});
    keep(tg::log_softmax(x, 1), V{kP40, 0});
    keep(tg::sum(x, 0), V{0});
    keep(tg::mean(x, 0, true), V{1, 0});
    keep(tg::max(x, 0), V{0});
    keep(tg::concat({x, x}, 0), V{2 * kP40, 0});
    keep(tg::concat({x, x}, 1), V{kP40, 0});
    keep(tg::narrow(x, 0, 5, std::int64_t(1) << 39), V{kP40 / 2, 0});
    keep(tg::select(x, 0, 7), V{0});
    keep(tg::stack({x, x}, 1), V{kP40, 2, 0});
    keep(tg::add(x, y), V{kP40, 0});
    keep(tg::sub(y, x), V{kP40, 0});
    keep(tg::mul(x, y), V{kP40, 0});
    keep(tg::div(x, y), V{kP40, 0});
    keep(tg::where(y, x, y), V{kP40, 0});
    keep(x + x, V{kP40, 0});
    keep(tg::exp(x), V{kP40, 0});
    keep(tg::relu(x), V{kP40, 0});
    keep(tg::transpose(x), V{0, kP40});
    keep(tg::reshape(x, {0, static_cast<std::int64_t>(kP40)}), V{0, kP40});
    keep(tg::index_select(z, 1, {0, 5, 5}), V{std::size_t(1) << 20, 3, 0});
    keep(tg::chunk(x, 4, 0)[3], V{kP40 / 4, 0});
    keep(tg::sum(x), V{});
    keep(tg::mean(x), V{});
    keep(tg::narrow(x, 1, 0, 0), V{kP40, 0});  // the first backward to reach x's gradient: 2^40 empty rows
    // Broadcasts that xtensor's strided assignment runs as 2^20 outer rows.
    const tg::Var<float> w = tape.variable(tg::Tensor<float>::from_shape({std::size_t(1) << 20, 1, 0}));
    keep(tg::add(z, w), V{std::size_t(1) << 20, std::size_t(1) << 20, 0});
    keep(tg::mul(w, z), V{std::size_t(1) << 20, std::size_t(1) << 20, 0});
    keep(tg::div(z, w), V{std::size_t(1) << 20, std::size_t(1) << 20, 0});
    keep(tg::where(w, z, w), V{std::size_t(1) << 20, std::size_t(1) << 20, 0});
    keep(tg::permute(z, {2, 0, 1}), V{0, std::size_t(1) << 20, std::size_t(1) << 20});
    tg::Var<float> loss = tg::sum(outs[0]);
    for (std::size_t k = 1; k < outs.size(); ++k) loss = loss + tg::sum(outs[k]);
    tape.backward(loss);
    CHECK(V(tape.grad(x).shape().begin(), tape.grad(x).shape().end()) == V{kP40, 0});
    CHECK(tape.grad(x).size() == 0);
    CHECK(tape.grad(y).size() == 0);
    CHECK(tape.grad(z).size() == 0);
    CHECK(tape.grad(w).size() == 0);
}

TEST_CASE(".npy header of a shape too large is refused with a CheckpointError naming file, entry and shape",
          "[safety][shapes][checkpoint]") {
    // 0 data bytes for (2^62, 0, 4): the old reader loaded it, and a sum over
    // axis 1 then segfaulted.
    const std::string archive = zip_of("w.npy", npy("(4611686018427387904, 0, 4)", ""));
    tg::NpzReader reader(bytes_of(archive), "hostile.npz");
    REQUIRE_THROWS_AS(reader.read<float>("w"), tg::CheckpointError);
    REQUIRE_THROWS_WITH(reader.read<float>("w"), Contains("hostile.npz") && Contains("'w.npy'") &&
                                                     Contains("(4611686018427387904, 0, 4)") &&
                                                     Contains("more elements than a tensor can hold"));
    REQUIRE_THROWS_AS(reader.info("w"), tg::CheckpointError);
    // Within the limit, an empty array with a large dimension still loads.
    const std::string fine = zip_of("e.npy", npy("(1099511627776, 0)", ""));
    tg::NpzReader ok(bytes_of(fine), "fine.npz");
    const tg::Tensor<float> e = ok.read<float>("e");
    CHECK(std::vector<std::size_t>(e.shape().begin(), e.shape().end()) == std::vector<std::size_t>{kP40, 0});
}

TEST_CASE("layers refuse weight shapes whose size wraps around", "[safety][shapes][layers]") {
    tg::Generator gen(1);
    // Old code: from_shape({2^40, 2^40}) allocated 2^80 mod 2^64 = 0 elements.
    REQUIRE_THROWS_WITH(tg::Linear<float>(kP40, kP40, gen), Contains("Linear") && Contains("(1099511627776, 1099511627776)"));
    REQUIRE_THROWS_WITH(tg::Embedding<float>(kP40, kP40, gen), Contains("Embedding"));
    tg::RecurrentOptions o;
    o.input_size = 4;
    o.hidden_size = kP62;  // 4 gates · 2^62 = 2^64 rows
    REQUIRE_THROWS_AS(tg::LSTM<float>(o, gen), tg::ShapeError);
    REQUIRE_THROWS_WITH(tg::LSTM<float>(o, gen), Contains("LSTM"));
}

TEST_CASE("a custom op returning a tensor whose shape wrapped around is a ShapeError naming it", "[safety][shapes]") {
    if (!kCanMakeWrapped) return;
    tg::Tape<float> tape;
    const tg::Var<float> x = tape.variable(tg::Tensor<float>::from_shape({2}));
    const std::size_t before = tape.size();
    auto forward = [](const auto&) { return wrapped_tensor(); };
    auto backward = [](const auto&, const auto&, const auto& g) { return std::vector{tg::Tensor<float>(g)}; };
    REQUIRE_THROWS_AS(tg::custom_op<float>("wrapper", {x}, forward, backward), tg::ShapeError);
    REQUIRE_THROWS_WITH(tg::custom_op<float>("wrapper", {x}, forward, backward),
                        Contains("wrapper") && Contains("(4611686018427387904, 4)"));
    CHECK(tape.size() == before);
}

TEST_CASE("gather refuses an index whose shape wrapped around", "[safety][shapes]") {
    if (!kCanMakeWrapped) return;
    tg::Tape<float> tape;
    const tg::Var<float> x = tape.variable(tg::Tensor<float>::from_shape({2, 4}));
    const tg::Index index = tg::Index::from_shape({kP62, 4});  // 0 elements; the old output had 0 too
    REQUIRE_THROWS_AS(tg::gather(x, 0, tg::Index::from_shape({kP62, 4})), tg::ShapeError);
    REQUIRE_THROWS_WITH(tg::gather(x, 0, index), Contains("gather"));
}

TEST_CASE("an output too large to allocate is a ShapeError naming the op; the tape is unchanged", "[safety][shapes]") {
    if (kSanitized) {
        WARN("skipped under a sanitizer, which aborts on huge allocations instead of throwing");
        return;
    }
    tg::Tape<float> tape;
    // Within the element limit, beyond any address space: 2^52 floats.
    const tg::Var<float> x = tape.variable(tg::Tensor<float>::from_shape({std::size_t(1) << 50, 0, 4}));
    const std::size_t before = tape.size();
    REQUIRE_THROWS_WITH(tg::sum(x, 1), Contains("sum: cannot allocate") && Contains("(1125899906842624, 4)"));
    REQUIRE_THROWS_WITH(tape.full({std::size_t(1) << 59}, 0.0f), Contains("Tape::full: cannot allocate"));
    CHECK(tape.size() == before);
}

TEST_CASE("a tape's node limit can be lowered: record and split/chunk refuse past it, the tape unchanged", "[safety][shapes]") {
    tg::Tape<float> tape;
    REQUIRE_THROWS_AS(tape.set_max_nodes(0), tg::ArgumentError);
    REQUIRE_THROWS_AS(tape.set_max_nodes(tg::kMaxTapeNodes + 1), tg::ArgumentError);
    tape.set_max_nodes(4);
    const tg::Var<float> empty = tape.variable(tg::Tensor<float>::from_shape({0, 3}));
    // Found by the op fuzzer: chunk of an empty axis into 2,162,755 pieces
    // recorded 2 million nodes; with a limit it is refused before recording.
    REQUIRE_THROWS_WITH(tg::chunk(empty, 2162755, 0), Contains("chunk: 2162755 pieces would exceed the tape's limit of 4 nodes (1 recorded)"));
    CHECK(tape.size() == 1);
    CHECK(tg::chunk(empty, 3, 0).size() == 3);
    REQUIRE_THROWS_WITH(tg::neg(empty), Contains("more than 4 nodes"));
    CHECK(tape.size() == 4);
    tape.clear();
    CHECK(tape.max_nodes() == 4);  // a setting of the tape, kept across clears
}
