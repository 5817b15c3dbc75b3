// Checkpoints: round trips, files written by numpy, key and shape errors, and
// damaged or hostile files, which must all end in CheckpointError with the
// module untouched. Hostile archives are assembled by a small zip writer of
// our own, so that every byte the reader sees is chosen here.

#include <catch2/catch.hpp>

#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <cstdint>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <limits>
#include <optional>
#include <random>
#include <span>
#include <string>
#include <vector>

#include <tapegrad/io/checkpoint.hpp>

namespace tg = tapegrad;
namespace fs = std::filesystem;
using Catch::Matchers::Contains;

namespace {

#ifdef TAPEGRAD_FIXTURES
const fs::path kFixtures = fs::path(TAPEGRAD_FIXTURES) / "npz";
#else
const fs::path kFixtures = fs::path(__FILE__).parent_path() / "fixtures" / "npz";
#endif

template <class T>
tg::Tensor<T> tensor(const tg::Shape& shape, std::vector<T> values) {
    tg::Tensor<T> t = tg::Tensor<T>::from_shape(shape);
    REQUIRE(values.size() == t.size());
    std::copy(values.begin(), values.end(), t.data());
    return t;
}

template <class T>
tg::Tensor<T> zeros(const tg::Shape& shape) {
    tg::Tensor<T> t = tg::Tensor<T>::from_shape(shape);
    t.fill(T(0));
    return t;
}

template <class T, class U>
bool bits_equal(const tg::Tensor<T>& a, const tg::Tensor<U>& b) {
    static_assert(sizeof(T) == sizeof(U));
    return std::vector<std::size_t>(a.shape().begin(), a.shape().end()) ==
               std::vector<std::size_t>(b.shape().begin(), b.shape().end()) &&
           (a.size() == 0 || std::memcmp(a.data(), b.data(), a.size() * sizeof(T)) == 0);  // no memcmp of null
}

template <class T>
struct Leaf : tg::Module<T> {
    tg::Parameter<T> w{zeros<T>({2})};
    void visit(tg::ModuleVisitor<T>& v) override { v.param("w", w); }
};

// Parameters "weight" (2, 3), "bias" (3,), "child.w" (2,).
template <class T>
struct Net : tg::Module<T> {
    tg::Parameter<T> weight{zeros<T>({2, 3})};
    tg::Parameter<T> bias{zeros<T>({3})};
    Leaf<T> child;
    void visit(tg::ModuleVisitor<T>& v) override {
        v.param("weight", weight);
        v.param("bias", bias);
        v.module("child", child);
    }
    // Values that expose any rounding or byte-order slip: tiny, huge, negative zero.
    void fill_distinct() {
        weight.set_value(tensor<T>({2, 3}, {T(0.1), T(-2.5), T(1e-30), T(-0.0), T(3.0) / T(7), T(1e30)}));
        bias.set_value(tensor<T>({3}, {T(1), std::numeric_limits<T>::denorm_min(), T(-1) / T(3)}));
        child.w.set_value(tensor<T>({2}, {std::numeric_limits<T>::max(), std::numeric_limits<T>::lowest()}));
    }
};

// A module that is only a "child" would be under a parent: for prefixed loads.
struct Head : tg::Module<float> {
    tg::Parameter<float> scale{zeros<float>({1})};
    void visit(tg::ModuleVisitor<float>& v) override { v.param("scale", scale); }
};
struct Model : tg::Module<float> {
    Net<float> net;
    Head head;
    void visit(tg::ModuleVisitor<float>& v) override {
        v.module("net", net);
        v.module("head", head);
    }
};

// Everything observable about a module's parameters, to prove a failed load changed nothing.
template <class T>
struct Snapshot {
    std::vector<tg::Tensor<T>> values;
    std::vector<std::uint64_t> versions;
    explicit Snapshot(tg::Module<T>& m) {
        for (tg::Parameter<T>* p : m.parameters()) {
            values.push_back(p->value());
            versions.push_back(p->version());
        }
    }
    bool same_as(tg::Module<T>& m) const {
        const auto ps = m.parameters();
        if (ps.size() != values.size()) return false;
        for (std::size_t i = 0; i < ps.size(); ++i)
            if (!bits_equal(ps[i]->value(), values[i]) || ps[i]->version() != versions[i]) return false;
        return true;
    }
};

// A fresh folder per test case, removed afterwards.
struct TempDir {
    fs::path path;
    TempDir() {
        static int counter = 0;
        path = fs::temp_directory_path() /
               ("tapegrad_checkpoint_" + std::to_string(::getpid()) + "_" + std::to_string(counter++));
        fs::remove_all(path);
        fs::create_directories(path);
    }
    ~TempDir() {
        std::error_code ec;
        fs::remove_all(path, ec);
    }
    std::string operator/(const std::string& name) const { return (path / name).string(); }
    std::vector<std::string> listing() const {
        std::vector<std::string> names;
        for (const auto& e : fs::directory_iterator(path)) names.push_back(e.path().filename().string());
        std::sort(names.begin(), names.end());
        return names;
    }
};

std::string read_file(const std::string& path) {
    std::ifstream in(path, std::ios::binary);
    return std::string(std::istreambuf_iterator<char>(in), {});
}

void write_file(const std::string& path, const std::string& bytes) {
    std::ofstream out(path, std::ios::binary | std::ios::trunc);
    out.write(bytes.data(), static_cast<std::streamsize>(bytes.size()));
    REQUIRE(out.good());
}

// --- A minimal zip writer (stored entries only) for hand-made archives. ---

std::uint32_t crc32(const std::string& s) {
    std::uint32_t c = 0xFFFFFFFFu;
    for (unsigned char b : s) {
        c ^= b;
        for (int k = 0; k < 8; ++k) c = (c >> 1) ^ (0xEDB88320u & (0u - (c & 1u)));
    }
    return ~c;
}

void put16(std::string& s, std::uint32_t v) {
    for (int k = 0; k < 2; ++k) s += static_cast<char>((v >> (8 * k)) & 0xFF);
}
void put32(std::string& s, std::uint32_t v) {
    for (int k = 0; k < 4; ++k) s += static_cast<char>((v >> (8 * k)) & 0xFF);
}

struct ZipEntry {
    std::string name;
    std::string data;
    // Sizes to claim in both headers instead of the true one (the uncompressed
    // one when deflated).
    std::optional<std::uint32_t> declared_size = std::nullopt;
    // Deflated (method 8) rather than stored: the reader must then inflate
    // the entry to learn its real size.
    bool deflate = false;
};

// A valid deflate stream of "stored" blocks (RFC 1951, BTYPE 00): no real
// compression, but the reader has to go through the inflater.
std::string deflate_stored(const std::string& data) {
    std::string out;
    std::size_t at = 0;
    do {
        const std::size_t n = std::min<std::size_t>(data.size() - at, 0xFFFF);
        out += static_cast<char>(at + n == data.size() ? 1 : 0);  // BFINAL on the last block
        put16(out, static_cast<std::uint32_t>(n));
        put16(out, static_cast<std::uint32_t>(~n & 0xFFFF));
        out.append(data, at, n);
        at += n;
    } while (at < data.size());
    return out;
}

std::string make_zip(const std::vector<ZipEntry>& entries) {
    std::string out, central;
    for (const ZipEntry& e : entries) {
        const std::uint32_t offset = static_cast<std::uint32_t>(out.size());
        const std::uint32_t size = e.declared_size.value_or(static_cast<std::uint32_t>(e.data.size()));
        const std::string body = e.deflate ? deflate_stored(e.data) : e.data;
        const std::uint32_t method = e.deflate ? 8 : 0;
        const std::uint32_t packed = e.deflate ? static_cast<std::uint32_t>(body.size()) : size;
        const std::uint32_t crc = crc32(e.data);
        put32(out, 0x04034b50);
        put16(out, 20), put16(out, 0), put16(out, method), put16(out, 0), put16(out, 0x21);
        put32(out, crc), put32(out, packed), put32(out, size);
        put16(out, static_cast<std::uint32_t>(e.name.size())), put16(out, 0);
        out += e.name;
        out += body;
        put32(central, 0x02014b50);
        put16(central, 20), put16(central, 20), put16(central, 0), put16(central, method), put16(central, 0), put16(central, 0x21);
        put32(central, crc), put32(central, packed), put32(central, size);
        put16(central, static_cast<std::uint32_t>(e.name.size()));
        put16(central, 0), put16(central, 0), put16(central, 0), put16(central, 0);
        put32(central, 0), put32(central, offset);
        central += e.name;
    }
    const std::uint32_t cd_offset = static_cast<std::uint32_t>(out.size());
    out += central;
    put32(out, 0x06054b50);
    put16(out, 0), put16(out, 0);
    put16(out, static_cast<std::uint32_t>(entries.size())), put16(out, static_cast<std::uint32_t>(entries.size()));
    put32(out, static_cast<std::uint32_t>(central.size())), put32(out, cd_offset);
    put16(out, 0);
    return out;
}

// A .npy entry with the given header dict (padded as numpy pads) and raw data.
std::string npy(const std::string& dict, const std::string& data, int major = 1) {
    const std::size_t preamble = major == 1 ? 10 : 12;
    std::string header = dict;
    while ((preamble + header.size() + 1) % 64) header += ' ';
    header += '\n';
    std::string out = "\x93NUMPY";
    out += static_cast<char>(major);
    out += '\0';
    if (major == 1)
        put16(out, static_cast<std::uint32_t>(header.size()));
    else
        put32(out, static_cast<std::uint32_t>(header.size()));
    return out + header + data;
}

template <class T>
std::string raw_bytes(const std::vector<T>& v) {
    return std::string(reinterpret_cast<const char*>(v.data()), v.size() * sizeof(T));
}

std::string dict(const std::string& descr, const std::string& shape, const std::string& fortran = "False") {
    return "{'descr': '" + descr + "', 'fortran_order': " + fortran + ", 'shape': " + shape + ", }";
}

// Valid entries for Net<float>'s bias and child.w.
std::vector<ZipEntry> good_rest() {
    return {{"bias.npy", npy(dict("<f4", "(3,)"), raw_bytes<float>({1, 2, 3}))},
            {"child.w.npy", npy(dict("<f4", "(2,)"), raw_bytes<float>({4, 5}))}};
}

std::span<const std::byte> bytes_of(const std::string& s) { return std::as_bytes(std::span(s.data(), s.size())); }

// Loads `bytes` (written to a file) into a filled Net<float>; requires a
// CheckpointError whose message contains every one of `needles`, and no change.
// Then the same bytes from memory, under the file's name: the same refusal.
void require_refused(const TempDir& dir, const std::string& bytes, const std::vector<std::string>& needles) {
    const std::string path = dir / "bad.npz";
    write_file(path, bytes);
    Net<float> net;
    net.fill_distinct();
    const Snapshot<float> before(net);
    std::string message;
    try {
        tg::load(net, path);
        FAIL("load accepted the file");
    } catch (const tg::CheckpointError& e) {
        message = e.what();
    }
    INFO(message);
    CHECK_THAT(message, Contains("bad.npz"));
    for (const std::string& n : needles) CHECK_THAT(message, Contains(n));
    CHECK(before.same_as(net));

    std::string from_memory;
    try {
        tg::NpzReader reader(bytes_of(bytes), path);
        tg::load(net, reader);
        FAIL("load accepted the bytes in memory");
    } catch (const tg::CheckpointError& e) {
        from_memory = e.what();
    }
    CHECK(from_memory == message);
    CHECK(before.same_as(net));
}

}  // namespace

TEST_CASE("a module round-trips through save and load bit for bit", "[checkpoint]") {
    TempDir dir;
    const std::string path = dir / "net.npz";
    Net<float> saved;
    saved.fill_distinct();
    tg::save(saved, path);

    tg::NpzReader reader(path);
    CHECK(reader.names() == std::vector<std::string>{"weight", "bias", "child.w"});
    CHECK(reader.info("weight").descr == "<f4");
    CHECK(reader.info("weight").shape == tg::Shape{2, 3});

    Net<float> loaded;
    const auto version = loaded.weight.version();
    tg::load(loaded, path);
    CHECK(bits_equal(loaded.weight.value(), saved.weight.value()));
    CHECK(bits_equal(loaded.bias.value(), saved.bias.value()));
    CHECK(bits_equal(loaded.child.w.value(), saved.child.w.value()));
    CHECK(loaded.weight.version() > version);  // through set_value, so a pending backward notices
    CHECK(dir.listing() == std::vector<std::string>{"net.npz"});

    SECTION("in double too") {
        Net<double> d, d2;
        d.fill_distinct();
        tg::save(d, dir / "net64.npz");
        CHECK(tg::NpzReader(dir / "net64.npz").info("bias").descr == "<f8");
        tg::load(d2, dir / "net64.npz");
        CHECK(bits_equal(d2.weight.value(), d.weight.value()));
        CHECK(bits_equal(d2.bias.value(), d.bias.value()));
        CHECK(bits_equal(d2.child.w.value(), d.child.w.value()));
    }
    SECTION("a float64 file loads into a float module, rounded") {
        Net<double> d;
        d.fill_distinct();
        tg::save(d, dir / "net64.npz");
        Net<float> f;
        tg::load(f, dir / "net64.npz");
        for (std::size_t i = 0; i < 6; ++i) CHECK(f.weight.value().data()[i] == static_cast<float>(d.weight.value().data()[i]));
    }
}

TEST_CASE("the files we write have numpy.savez's layout", "[checkpoint]") {
    // numpy itself is not needed: this checks the bytes numpy.load relies on.
    TempDir dir;
    Net<float> net;
    net.fill_distinct();
    tg::save(net, dir / "net.npz");
    const std::string bytes = read_file(dir / "net.npz");
    auto u16 = [&](std::size_t at) { return std::uint32_t(std::uint8_t(bytes[at])) | std::uint32_t(std::uint8_t(bytes[at + 1])) << 8; };
    REQUIRE(bytes.size() > 30);
    REQUIRE(bytes.compare(0, 4, "PK\x03\x04") == 0);
    CHECK(u16(8) == 0);  // stored, not deflated
    const std::size_t name_len = u16(26), extra_len = u16(28);
    CHECK(bytes.substr(30, name_len) == "weight.npy");
    const std::size_t npy_at = 30 + name_len + extra_len;
    REQUIRE(bytes.compare(npy_at, 8, std::string("\x93NUMPY\x01\x00", 8)) == 0);
    const std::size_t header_len = u16(npy_at + 8);
    CHECK((10 + header_len) % 64 == 0);
    const std::string dict_text = "{'descr': '<f4', 'fortran_order': False, 'shape': (2, 3), }";
    CHECK(bytes.compare(npy_at + 10, dict_text.size(), dict_text) == 0);
    CHECK(bytes[npy_at + 10 + header_len - 1] == '\n');
    CHECK(std::memcmp(bytes.data() + npy_at + 10 + header_len, net.weight.value().data(), 6 * sizeof(float)) == 0);
}

TEST_CASE("arrays written by numpy load with the right values", "[checkpoint]") {
    // tests/fixtures/npz/make_fixtures.py wrote these; its values are repeated here.
    for (const char* file : {"numpy_arrays.npz", "numpy_compressed.npz"}) {
        INFO(file);
        const std::string path = (kFixtures / file).string();
        const auto f = tg::load_npz<float>(path);
        const auto d = tg::load_npz<double>(path);
        REQUIRE(f.size() == 7);
        CHECK(bits_equal(f.at("f32"), tensor<float>({2, 3}, {-1.0f, -0.5f, 0.0f, 0.5f, 1.0f, 1.5f})));
        CHECK(bits_equal(d.at("f32"), tensor<double>({2, 3}, {-1.0, -0.5, 0.0, 0.5, 1.0, 1.5})));
        CHECK(bits_equal(d.at("f64"), tensor<double>({4}, {0.1, -2.5, 1e-300, 3.0})));
        CHECK(bits_equal(f.at("f64"), tensor<float>({4}, {0.1f, -2.5f, 0.0f, 3.0f})));
        CHECK(d.at("scalar").dimension() == 0);
        CHECK(d.at("scalar").data()[0] == 3.25);
        CHECK(bits_equal(f.at("row"), tensor<float>({1, 3}, {1.5f, -2.0f, 0.25f})));
        CHECK(f.at("empty").shape() == tg::Tensor<float>::shape_type{0, 2});
        CHECK(bits_equal(d.at("ints"), tensor<double>({3}, {7.0, -3.0, 1099511627776.0})));
        CHECK(bits_equal(f.at("flags"), tensor<float>({2}, {1.0f, 0.0f})));
    }
}

TEST_CASE("an archive in memory reads as the file it would be", "[checkpoint]") {
    TempDir dir;
    Net<float> saved;
    saved.fill_distinct();
    tg::save(saved, dir / "net.npz");
    const std::string bytes = read_file(dir / "net.npz");

    tg::NpzReader reader(bytes_of(bytes), "in memory");
    CHECK(reader.path() == "in memory");
    CHECK(reader.names() == std::vector<std::string>{"weight", "bias", "child.w"});
    CHECK(reader.info("weight").shape == tg::Shape{2, 3});
    CHECK(bits_equal(reader.read<float>("bias"), saved.bias.value()));

    Net<float> loaded;
    tg::load(loaded, reader);  // a reader already used for info and read
    CHECK(bits_equal(loaded.weight.value(), saved.weight.value()));
    CHECK(bits_equal(loaded.child.w.value(), saved.child.w.value()));

    // Deflated entries (numpy.savez_compressed), through load_npz.
    for (const char* file : {"numpy_arrays.npz", "numpy_compressed.npz"}) {
        INFO(file);
        const std::string npz = read_file((kFixtures / file).string());
        tg::NpzReader r(bytes_of(npz), file);
        const auto from_memory = tg::load_npz<double>(r);
        const auto from_file = tg::load_npz<double>((kFixtures / file).string());
        REQUIRE(from_memory.size() == from_file.size());
        for (const auto& [name, t] : from_file) CHECK(bits_equal(from_memory.at(name), t));
    }

    // Messages name the archive by the name it was given.
    struct Other : tg::Module<float> {
        tg::Parameter<float> weight{zeros<float>({3, 3})};
        void visit(tg::ModuleVisitor<float>& v) override { v.param("weight", weight); }
    } other;
    tg::LoadOptions lenient;
    lenient.strict = false;
    tg::NpzReader again(bytes_of(bytes), "in memory");
    REQUIRE_THROWS_MATCHES(tg::load(other, again, lenient), tg::CheckpointError,
                           Catch::Matchers::Message("in memory: weight: file has (2, 3), module expects (3, 3)"));
    REQUIRE_THROWS_MATCHES(tg::NpzReader(bytes_of(""), "nothing"), tg::CheckpointError,
                           Catch::Matchers::Message("nothing: is empty (0 bytes), not an .npz archive"));
    REQUIRE_THROWS_WITH(tg::NpzReader(bytes_of("PK\x05\x06 not quite"), "junk"), Contains("junk: is not a readable .npz"));
}

TEST_CASE("integer arrays read as int64 Index; float arrays and uint64 beyond int64 are refused by name", "[checkpoint]") {
    for (const char* file : {"numpy_arrays.npz", "numpy_compressed.npz"}) {
        INFO(file);
        const std::string path = (kFixtures / file).string();
        tg::NpzReader r(path);
        const tg::Index ints = r.read<std::int64_t>("ints");
        REQUIRE(ints.shape() == tg::Index::shape_type{3});
        CHECK(ints(0) == 7);
        CHECK(ints(1) == -3);
        CHECK(ints(2) == std::int64_t{1} << 40);  // beyond float's 24 bits: read exactly
        CHECK((r.read<std::int64_t>("flags") == tg::Index{1, 0}));
        CHECK_THROWS_WITH(r.read<std::int64_t>("f32"), Contains(path + ": entry 'f32.npy': dtype '<f4' is floating point"));
        CHECK_THROWS_AS(tg::load_npz<std::int64_t>(path), tg::CheckpointError);  // it holds float arrays too
    }
    SECTION("uint64") {
        const std::uint64_t big = (std::uint64_t{1} << 63) + 5;
        const std::string npz = make_zip({{"ok.npy", npy(dict("<u8", "(2,)"), raw_bytes<std::uint64_t>({0, (std::uint64_t{1} << 63) - 1}))},
                                          {"big.npy", npy(dict("<u8", "(3,)"), raw_bytes<std::uint64_t>({1, 2, big}))}});
        tg::NpzReader r(bytes_of(npz), "mem.npz");
        CHECK((r.read<std::int64_t>("ok") == tg::Index{0, INT64_MAX}));
        const std::string only_ok = make_zip({{"ok.npy", npy(dict("<i2", "(2, 1)"), raw_bytes<std::int16_t>({-7, 300}))}});
        tg::NpzReader r2(bytes_of(only_ok), "ok.npz");
        CHECK((tg::load_npz<std::int64_t>(r2).at("ok") == tg::Index(tgtest::i2({{-7}, {300}}))));
        CHECK_THROWS_WITH(r.read<std::int64_t>("big"),
                          Contains("mem.npz: entry 'big.npy': element 2 of the uint64 array is 9223372036854775813, beyond int64's range"));
    }
}

TEST_CASE("a float64 state_dict exported with numpy loads into a float module", "[checkpoint]") {
    Net<float> net;
    tg::load(net, (kFixtures / "numpy_net_f64.npz").string());
    CHECK(bits_equal(net.weight.value(), tensor<float>({2, 3}, {0.5f, -1.0f, 2.0f, 0.1f, 0.2f, 0.3f})));
    CHECK(bits_equal(net.bias.value(), tensor<float>({3}, {1.0f, 2.0f, -3.0f})));
    CHECK(bits_equal(net.child.w.value(), tensor<float>({2}, {0.125f, -0.75f})));
}

TEST_CASE("keys must match: missing, unexpected, wrong shape; nothing changes on error", "[checkpoint]") {
    TempDir dir;
    const std::string path = dir / "ckpt.npz";
    Net<float> net;
    net.fill_distinct();
    const Snapshot<float> before(net);
    tg::Tensor<float> w = zeros<float>({2, 3}), b = zeros<float>({3}), c = zeros<float>({2}), extra = zeros<float>({5});

    SECTION("missing key") {
        tg::save_npz<float>(path, {{"weight", &w}, {"bias", &b}});
        REQUIRE_THROWS_MATCHES(tg::load(net, path), tg::CheckpointError,
                               Catch::Matchers::Message(path + ": missing key 'child.w'"));
        tg::LoadOptions lenient;
        lenient.strict = false;
        REQUIRE_THROWS_WITH(tg::load(net, path, lenient), Contains("missing key 'child.w'"));
    }
    SECTION("unexpected key: an error when strict, ignored otherwise") {
        tg::save_npz<float>(path, {{"weight", &w}, {"bias", &b}, {"child.w", &c}, {"extra", &extra}});
        REQUIRE_THROWS_MATCHES(tg::load(net, path), tg::CheckpointError,
                               Catch::Matchers::Message(path + ": unexpected key 'extra'"));
        CHECK(before.same_as(net));
        tg::LoadOptions lenient;
        lenient.strict = false;
        tg::load(net, path, lenient);
        CHECK(bits_equal(net.weight.value(), w));
        CHECK(bits_equal(net.child.w.value(), c));
        return;
    }
    SECTION("wrong shape") {
        tg::Tensor<float> wt = zeros<float>({3, 2});
        tg::save_npz<float>(path, {{"weight", &wt}, {"bias", &b}, {"child.w", &c}});
        REQUIRE_THROWS_MATCHES(tg::load(net, path), tg::CheckpointError,
                               Catch::Matchers::Message(path + ": weight: file has (3, 2), module expects (2, 3)"));
    }
    SECTION("several problems are reported together") {
        tg::save_npz<float>(path, {{"bias", &b}, {"child.w", &c}, {"x", &w}, {"y", &w}});
        REQUIRE_THROWS_WITH(tg::load(net, path), Contains("missing key 'weight'") && Contains("2 unexpected keys: 'x', 'y'"));
    }
    SECTION("a file that is not there") {
        REQUIRE_THROWS_MATCHES(tg::load(net, dir / "nope.npz"), tg::CheckpointError,
                               Catch::Matchers::Message(dir / "nope.npz" + ": cannot open: No such file or directory"));
    }
    CHECK(before.same_as(net));
}

TEST_CASE("a prefix reads one module out of a whole model's file", "[checkpoint]") {
    TempDir dir;
    const std::string path = dir / "model.npz";
    Model model;
    model.net.fill_distinct();
    model.head.scale.set_value(tensor<float>({1}, {42.0f}));
    tg::save(model, path);
    CHECK(tg::NpzReader(path).names() == std::vector<std::string>{"net.weight", "net.bias", "net.child.w", "head.scale"});

    Net<float> net;
    tg::LoadOptions opts;
    opts.prefix = "net";
    tg::load(net, path, opts);  // strict, yet "head.scale" is not under "net." and so not unexpected
    CHECK(bits_equal(net.weight.value(), model.net.weight.value()));
    CHECK(bits_equal(net.child.w.value(), model.net.child.w.value()));

    Head head;
    opts.prefix = "head";
    tg::load(head, path, opts);
    CHECK(head.scale.value().data()[0] == 42.0f);

    // A key under the prefix that the module lacks is unexpected; a missing one names the full key.
    tg::Tensor<float> z = zeros<float>({1});
    tg::save_npz<float>(path, {{"head.scale", &z}, {"head.extra", &z}});
    REQUIRE_THROWS_WITH(tg::load(head, path, opts), Contains("unexpected key 'head.extra'"));
    opts.prefix = "net";
    REQUIRE_THROWS_WITH(tg::load(net, path, opts), Contains("3 missing keys: 'net.weight', 'net.bias', 'net.child.w'"));
}

TEST_CASE("damaged files are refused with CheckpointError and the module is unchanged", "[checkpoint]") {
    TempDir dir;
    Net<float> good;
    good.fill_distinct();
    tg::save(good, dir / "good.npz");
    const std::string bytes = read_file(dir / "good.npz");

    SECTION("every truncation") {
        for (std::size_t n = 0; n < bytes.size(); ++n) {
            INFO("truncated to " << n << " of " << bytes.size() << " bytes");
            require_refused(dir, bytes.substr(0, n), {});
        }
    }
    SECTION("random bytes") {
        std::mt19937 rng(7);
        for (std::size_t size : {1, 22, 100, 4096}) {
            std::string junk(size, '\0');
            for (char& ch : junk) ch = static_cast<char>(rng());
            require_refused(dir, junk, {});
            // Still junk behind an end-of-central-directory record that points into it.
            std::string tail = junk + make_zip({}).substr(0, 10);
            put16(tail, 3), put32(tail, 40), put32(tail, 0), put16(tail, 0);
            require_refused(dir, tail, {});
        }
    }
    SECTION("a single .npy file") {
        require_refused(dir, npy(dict("<f4", "(2, 3)"), raw_bytes<float>({1, 2, 3, 4, 5, 6})), {"single .npy array"});
    }
    SECTION("every single-byte corruption is refused or harmless, never a crash") {
        // Flipped bits in data are caught by the CRC; in headers, by the checks.
        for (std::size_t at = 0; at < bytes.size(); ++at)
            for (const unsigned char mask : {0x01, 0xFF}) {
                std::string bad = bytes;
                bad[at] = static_cast<char>(bad[at] ^ mask);
                write_file(dir / "flip.npz", bad);
                INFO("byte " << at << " xor " << int(mask));
                try {
                    (void)tg::load_npz<float>(dir / "flip.npz");
                } catch (const tg::CheckpointError&) {
                }
            }
    }
}

TEST_CASE("hostile .npy headers are refused before anything is allocated", "[checkpoint]") {
    TempDir dir;
    const std::string w6 = raw_bytes<float>({1, 2, 3, 4, 5, 6});
    auto with_weight = [](std::string weight_entry) {
        std::vector<ZipEntry> entries{{"weight.npy", std::move(weight_entry)}};
        for (ZipEntry& e : good_rest()) entries.push_back(e);
        return make_zip(entries);
    };

    SECTION("a correct hand-made archive loads") {
        const std::string path = dir / "ok.npz";
        write_file(path, with_weight(npy(dict("<f4", "(2, 3)"), w6)));
        Net<float> net;
        tg::load(net, path);
        CHECK(bits_equal(net.weight.value(), tensor<float>({2, 3}, {1, 2, 3, 4, 5, 6})));
        CHECK(bits_equal(net.bias.value(), tensor<float>({3}, {1, 2, 3})));
    }
    SECTION("format versions 2.0 and 3.0, and Python 2's long integers") {
        for (const int major : {2, 3}) {
            write_file(dir / "v.npz", with_weight(npy(dict("<f4", "(2, 3)"), w6, major)));
            Net<float> net;
            tg::load(net, dir / "v.npz");
            CHECK(net.weight.value().data()[5] == 6.0f);
        }
        write_file(dir / "v.npz", with_weight(npy("{\"shape\": (2L, 3L), \"fortran_order\": False, \"descr\": \"<f4\"}", w6)));
        Net<float> net;
        tg::load(net, dir / "v.npz");
        CHECK(net.weight.value().data()[5] == 6.0f);
    }
    SECTION("a huge declared shape over a few bytes") {
        require_refused(dir, with_weight(npy(dict("<f4", "(4096, 4096)"), std::string(128, '\0'))),
                        {"entry 'weight.npy'", "header declares shape (4096, 4096) of '<f4' = 67108864 bytes",
                         "the entry holds 128 after its header"});
    }
    SECTION("a shape whose byte count overflows 64 bits") {
        // Refused by the rule every tensor obeys (issue 10): the product of the
        // nonzero dimensions is at most 2^60 - 1, also when a zero makes it empty.
        require_refused(dir, with_weight(npy(dict("<f4", "(4294967296, 4294967296, 16)"), w6)),
                        {"shape (4294967296, 4294967296, 16) has more elements than a tensor can hold"});
        require_refused(dir, with_weight(npy(dict("<f4", "(0, 4294967296, 4294967296, 16)"), w6)),
                        {"shape (0, 4294967296, 4294967296, 16) has more elements than a tensor can hold"});
        require_refused(dir, with_weight(npy(dict("<f4", "(0, 4294967296)"), w6)), {"= 0 bytes", "holds 24"});
        require_refused(dir, with_weight(npy(dict("<f4", "(123456789012345678901234567890,)"), w6)), {"too large"});
    }
    SECTION("more dimensions than numpy allows") {
        std::string ones = "(1";
        for (int k = 1; k < 33; ++k) ones += ", 1";
        require_refused(dir, with_weight(npy(dict("<f4", ones + ")"), raw_bytes<float>({1}))),
                        {"its shape has 33 dimensions, more than numpy's 32"});
        require_refused(dir, with_weight(npy(dict("<f4", ones + ", 1, 1)"), raw_bytes<float>({1}))), {"too many dimensions"});
    }
    SECTION("unsupported layouts and dtypes") {
        require_refused(dir, with_weight(npy(dict("<f4", "(2, 3)", "True"), w6)), {"fortran_order is True"});
        require_refused(dir, with_weight(npy(dict(">f4", "(2, 3)"), w6)), {"'>f4' is big-endian"});
        require_refused(dir, with_weight(npy(dict("<c8", "(3,)"), w6)), {"'<c8' is not supported"});
        require_refused(dir, with_weight(npy(dict("<U2", "(3,)"), w6)), {"'<U2' is not supported"});
        require_refused(dir, with_weight(npy("{'descr': [('a', '<f4')], 'fortran_order': False, 'shape': (6,), }", w6)),
                        {"structured"});
    }
    SECTION("malformed headers") {
        require_refused(dir, with_weight(npy("{'descr': '<f4', 'fortran_order': False, }", w6)), {"no 'shape' key"});
        require_refused(dir, with_weight(npy("{'descr': '<f4', 'descr': '<f4', 'fortran_order': False, 'shape': (6,)}", w6)),
                        {"appears twice"});
        require_refused(dir, with_weight(npy("{'descr': '<f4', 'fortran_order': False, 'shape': (6,), 'x': 1}", w6)),
                        {"unexpected key 'x'"});
        require_refused(dir, with_weight(npy("{'descr': '<f4', 'fortran_order': Maybe, 'shape': (6,)}", w6)),
                        {"True or False"});
        require_refused(dir, with_weight(npy("{'descr': '<f4', 'fortran_order': False, 'shape': (-6,)}", w6)),
                        {"non-negative integer"});
        require_refused(dir, with_weight(npy("{'descr': '<f4', 'fortran_order': False, 'shape': (6,)} junk", w6)),
                        {"after the closing"});
        require_refused(dir, with_weight(npy("print('hello')", w6)), {"malformed .npy header"});
        require_refused(dir, with_weight(npy("{'descr: '<f4'", w6)), {"malformed .npy header"});
    }
    SECTION("bad preambles") {
        std::string v4 = npy(dict("<f4", "(2, 3)"), w6);
        v4[6] = 4;
        require_refused(dir, with_weight(v4), {"version 4.0"});
        std::string magic = npy(dict("<f4", "(2, 3)"), w6);
        magic[1] = 'X';
        require_refused(dir, with_weight(magic), {"magic"});
        std::string long_header = npy(dict("<f4", "(2, 3)"), w6);
        long_header[8] = '\xFF', long_header[9] = '\x7F';
        require_refused(dir, with_weight(long_header), {"header length is 32767 bytes"});
        require_refused(dir, with_weight("\x93NUM"), {"too few"});
    }
    SECTION("bad archives") {
        std::vector<ZipEntry> entries = good_rest();
        entries.push_back({"weight.txt", npy(dict("<f4", "(2, 3)"), w6)});
        require_refused(dir, make_zip(entries), {"entry 'weight.txt'", "not a .npy array"});
        entries.back() = {"bias.npy", npy(dict("<f4", "(3,)"), raw_bytes<float>({1, 2, 3}))};
        require_refused(dir, make_zip(entries), {"appears twice"});
        // An entry claiming 2 GB in a file of a few hundred bytes.
        entries = good_rest();
        entries.push_back({"weight.npy", npy(dict("<f4", "(2, 3)"), w6), 0x7FFF0000u});
        require_refused(dir, make_zip(entries), {"entry 'weight.npy'", "declares 2147418112 bytes"});
        // One byte more than it has: the read runs into the central directory and the CRC fails.
        entries.back().declared_size = static_cast<std::uint32_t>(entries.back().data.size() + 1);
        require_refused(dir, make_zip(entries), {"entry 'weight.npy'"});
        require_refused(dir, "", {"empty"});
    }
}

TEST_CASE("saving is atomic: it replaces the file whole, or leaves everything as it was", "[checkpoint]") {
    TempDir dir;
    const std::string path = dir / "ckpt.npz";
    Net<float> a, b;
    a.fill_distinct();
    tg::save(a, path);
    ::chmod(path.c_str(), 0640);

    b.bias.set_value(tensor<float>({3}, {7, 8, 9}));
    tg::save(b, path);
    Net<float> c;
    tg::load(c, path);
    CHECK(bits_equal(c.bias.value(), b.bias.value()));
    CHECK(dir.listing() == std::vector<std::string>{"ckpt.npz"});
    struct stat st {};
    REQUIRE(::stat(path.c_str(), &st) == 0);
    CHECK((st.st_mode & 07777) == 0640);  // the replaced file's permissions are kept

    SECTION("into a folder that does not exist") {
        REQUIRE_THROWS_MATCHES(tg::save(a, dir / "missing/ckpt.npz"), tg::CheckpointError,
                               Catch::Matchers::Message(dir / "missing/ckpt.npz" + ": cannot create a temporary file in '" +
                                                        dir / "missing" + "': No such file or directory"));
    }
    SECTION("over a folder: fails at the rename, and the temporary file is removed") {
        fs::create_directory(dir / "folder.npz");
        fs::create_directory(dir / "folder.npz/inside");
        REQUIRE_THROWS_WITH(tg::save(a, dir / "folder.npz"), Contains("cannot replace it with the new file"));
        CHECK(dir.listing() == std::vector<std::string>{"ckpt.npz", "folder.npz"});
    }
    SECTION("two parameters of one name") {
        struct Twice : tg::Module<float> {
            tg::Parameter<float> p{zeros<float>({1})}, q{zeros<float>({1})};
            void visit(tg::ModuleVisitor<float>& v) override {
                v.param("p", p);
                v.param("p", q);
            }
        } twice;
        REQUIRE_THROWS_WITH(tg::save(twice, path), Contains("two parameters of the module are named 'p'"));
    }
    // Whatever failed, the old checkpoint is intact and nothing else is left over.
    Net<float> d;
    tg::load(d, path);
    CHECK(bits_equal(d.bias.value(), b.bias.value()));
    for (const std::string& name : dir.listing()) CHECK(name.find(".tmp") == std::string::npos);
}

TEST_CASE("a module without parameters saves an empty archive", "[checkpoint]") {
    TempDir dir;
    struct Empty : tg::Module<float> {
        void visit(tg::ModuleVisitor<float>&) override {}
    } empty;
    tg::save(empty, dir / "empty.npz");
    CHECK(read_file(dir / "empty.npz").size() == 22);  // what numpy.savez writes for no arrays
    CHECK(tg::load_npz<float>(dir / "empty.npz").empty());
    tg::load(empty, dir / "empty.npz");
}

namespace {

// Momentum SGD with its state kept in double, standing in for the real optimizers.
struct FakeMomentum final : tg::Optimizer<float> {
    std::vector<tg::Tensor<double>> velocity;

    explicit FakeMomentum(std::vector<tg::Parameter<float>*> ps) : Optimizer(std::move(ps), 0.1) {
        for (const auto& p : params_) velocity.push_back(zeros<double>(tg::Shape(p->shape().begin(), p->shape().end())));
    }
    void step() override {
        const std::vector<tg::Parameter<float>*>& ps = prepare_step();  // the live parameters (params_ holds records)
        for (std::size_t i = 0; i < ps.size(); ++i)
            for (std::size_t k = 0; k < velocity[i].size(); ++k) {
                velocity[i].data()[k] = 0.9 * velocity[i].data()[k] + ps[i]->grad().data()[k];
                ps[i]->mutable_value().data()[k] -= static_cast<float>(lr() * velocity[i].data()[k]);
            }
        ++steps_;
    }
    tg::StateDict state_dict() const override {
        tg::StateDict s;
        s["lr"] = tensor<double>({}, {lr()});
        s["step"] = tensor<double>({}, {double(steps_)});
        for (std::size_t i = 0; i < velocity.size(); ++i) s[std::to_string(i) + ".velocity"] = velocity[i];
        return s;
    }
    void load_state_dict(const tg::StateDict& s) override {
        std::vector<std::string> keys{"lr", "step"};
        for (std::size_t i = 0; i < velocity.size(); ++i) keys.push_back(std::to_string(i) + ".velocity");
        for (const auto& k : keys)
            if (!s.count(k)) throw tg::ArgumentError("FakeMomentum::load_state_dict: missing key '" + k + "'");
        if (s.size() != keys.size()) throw tg::ArgumentError("FakeMomentum::load_state_dict: unexpected keys");
        set_lr(s.at("lr").data()[0]);
        steps_ = static_cast<long>(s.at("step").data()[0]);
        for (std::size_t i = 0; i < velocity.size(); ++i) velocity[i] = s.at(std::to_string(i) + ".velocity");
    }
};

}  // namespace

TEST_CASE("an optimizer's state round-trips; a refused state names the file", "[checkpoint]") {
    TempDir dir;
    const std::string path = dir / "opt.npz";
    Net<float> net;
    net.fill_distinct();
    FakeMomentum opt(net.parameters());
    for (auto* p : net.parameters()) p->mutable_grad().fill(0.3f);
    opt.step();
    opt.step();
    opt.set_lr(0.05);
    tg::save(opt, path);
    CHECK(tg::NpzReader(path).info("0.velocity").descr == "<f8");

    Net<float> other;
    FakeMomentum restored(other.parameters());
    tg::load(restored, path);
    CHECK(restored.lr() == 0.05);
    CHECK(restored.steps() == 2);
    for (std::size_t i = 0; i < opt.velocity.size(); ++i) CHECK(bits_equal(restored.velocity[i], opt.velocity[i]));

    const std::string state = read_file(path);
    FakeMomentum from_memory(other.parameters());
    tg::NpzReader reader(bytes_of(state), "opt in memory");
    tg::load(from_memory, reader);
    CHECK(from_memory.steps() == 2);
    CHECK(bits_equal(from_memory.velocity[1], opt.velocity[1]));

    tg::Tensor<double> lr = tensor<double>({}, {1.0});
    tg::save_npz<double>(path, {{"lr", &lr}, {"step", &lr}, {"0.velocity", &opt.velocity[0]}});
    REQUIRE_THROWS_MATCHES(tg::load(restored, path), tg::CheckpointError,
                           Catch::Matchers::Message(path + ": FakeMomentum::load_state_dict: missing key '1.velocity'"));
    write_file(path, "not a zip");
    REQUIRE_THROWS_AS(tg::load(restored, path), tg::CheckpointError);
    CHECK(restored.lr() == 0.05);
    CHECK(restored.steps() == 2);
}

// ---- issue 10: files that are not regular, oversized .npy headers, long names ----

namespace {

// A .npy entry whose header (dict, space padding, newline) is exactly
// `header_len` bytes, format 2.0 so that any length fits the preamble.
std::string npy_with_header_len(const std::string& dict, const std::string& data, std::size_t header_len) {
    REQUIRE(header_len > dict.size());
    std::string out = "\x93NUMPY";
    out += '\x02';
    out += '\0';
    put32(out, static_cast<std::uint32_t>(header_len));
    out += dict;
    out.append(header_len - dict.size() - 1, ' ');
    return out + "\n" + data;
}

}  // namespace

TEST_CASE("a path that is a FIFO or a folder is refused at once, not read", "[checkpoint]") {
    TempDir dir;
    const std::string fifo = dir / "pipe.npz";
    REQUIRE(::mkfifo(fifo.c_str(), 0600) == 0);
    Net<float> net;
    net.fill_distinct();
    const Snapshot<float> before(net);
    // Opening a FIFO for reading used to wait for a writer forever.
    REQUIRE_THROWS_MATCHES(tg::load(net, fifo), tg::CheckpointError,
                           Catch::Matchers::Message(fifo + ": is not a regular file (a FIFO)"));
    REQUIRE_THROWS_WITH(tg::NpzReader(fifo), Contains("a FIFO"));
    fs::create_directory(dir / "folder.npz");
    REQUIRE_THROWS_WITH(tg::load(net, dir / "folder.npz"), Contains("folder.npz") && Contains("a directory"));
    CHECK(before.same_as(net));
}

TEST_CASE(".npy headers longer than numpy's 10000 bytes are refused by name, before inflating", "[checkpoint]") {
    TempDir dir;
    const std::string w6 = raw_bytes<float>({1, 2, 3, 4, 5, 6});
    const std::string d = dict("<f4", "(2, 3)");
    for (const bool deflate : {false, true}) {
        INFO((deflate ? "deflated" : "stored"));
        // 10000 bytes: what numpy still accepts loads.
        std::vector<ZipEntry> entries = good_rest();
        entries.push_back({"weight.npy", npy_with_header_len(d, w6, 10000), std::nullopt, deflate});
        write_file(dir / "ok.npz", make_zip(entries));
        Net<float> net;
        tg::load(net, dir / "ok.npz");
        CHECK(net.weight.value().data()[5] == 6.0f);
        // One byte more is refused, naming the entry and both numbers.
        entries.back().data = npy_with_header_len(d, w6, 10001);
        require_refused(dir, make_zip(entries),
                        {"entry 'weight.npy'", "header length is 10001 bytes, more than the 10000 numpy accepts"});
        // A 1 GiB header claim is refused from the 12-byte preamble.
        std::string huge = npy_with_header_len(d, w6, 10001);
        huge[8] = 0, huge[9] = 0, huge[10] = 0, huge[11] = 0x40;
        entries.back().data = huge;
        require_refused(dir, make_zip(entries), {"header length is 1073741824 bytes"});
    }
    // The header length is checked before a deflated entry is inflated whole
    // to verify its declared size: here that size is a lie, and the message
    // is about the header, not about the size.
    std::vector<ZipEntry> entries = good_rest();
    const std::string big = npy_with_header_len(d, w6, 20000);
    entries.push_back({"weight.npy", big, static_cast<std::uint32_t>(big.size() + 100000), true});
    require_refused(dir, make_zip(entries), {"header length is 20000 bytes"});
}

TEST_CASE("checkpoints of 255-character names save and load; failed saves leave no temporary file", "[checkpoint]") {
    TempDir dir;
    // 255 is NAME_MAX on ext4 and tmpfs: the temporary name must not be longer than the target's.
    const std::string name = std::string(251, 'c') + ".npz";
    Net<float> a, b;
    a.fill_distinct();
    tg::save(a, dir / name);
    tg::load(b, dir / name);
    CHECK(bits_equal(b.weight.value(), a.weight.value()));
    CHECK(bits_equal(b.child.w.value(), a.child.w.value()));
    tg::save(a, dir / name);  // replacing it works too
    CHECK(dir.listing() == std::vector<std::string>{name});

    // Failures: the rename onto a non-empty folder of a long name, and a
    // target whose folder is not there. Nothing is left behind either way.
    const std::string folder = std::string(255, 'f');
    fs::create_directories(fs::path(dir / folder) / "inside");
    REQUIRE_THROWS_WITH(tg::save(a, dir / folder), Contains("cannot replace it with the new file"));
    tg::Tensor<double> t = zeros<double>({2});
    REQUIRE_THROWS_AS(tg::save_npz<double>(dir / folder, {{"t", &t}}), tg::CheckpointError);
    REQUIRE_THROWS_AS(tg::save(a, dir / ("missing/" + name)), tg::CheckpointError);
    CHECK(dir.listing() == std::vector<std::string>{name, folder});
}
