// Writes the seed corpus of fuzz_npz into the folder given as its argument:
// real checkpoints saved through tapegrad (the fuzz target's module, in float32
// and float64, with an extra key, with a wrong shape, an optimizer's state, an
// empty archive), and hand-made variants of the module's archive that
// numpy.savez and numpy.savez_compressed also produce: deflated entries, .npy
// format 2.0 and 3.0, integer and bool dtypes, a 0-d and an empty array. The
// committed fixtures (tests/fixtures/npz, tests/fixtures/torch) are added by
// tools/fuzz.sh beside these.

#include <zip.h>

#include <cstdint>
#include <cstdio>
#include <filesystem>
#include <stdexcept>
#include <string>
#include <utility>
#include <vector>

#include <tapegrad/io/checkpoint.hpp>
#include <tapegrad/optim/sgd.hpp>

namespace tg = tapegrad;

namespace {

template <class T>
tg::Tensor<T> filled(const tg::Shape& shape, T start) {
    tg::Tensor<T> t = tg::Tensor<T>::from_shape(shape);
    for (std::size_t i = 0; i < t.size(); ++i) t.data()[i] = start + static_cast<T>(i) * T(0.25);
    return t;
}

// The fuzz target's module ("w" (3, 4), "b" (4,)), in either dtype.
template <class T>
struct Small : tg::Module<T> {
    tg::Parameter<T> w{filled<T>({3, 4}, T(-1.5))};
    tg::Parameter<T> b{filled<T>({4}, T(7))};
    void visit(tg::ModuleVisitor<T>& v) override {
        v.param("w", w);
        v.param("b", b);
    }
};

template <class T>
struct Extra : Small<T> {
    tg::Parameter<T> extra{filled<T>({2}, T(0))};
    void visit(tg::ModuleVisitor<T>& v) override {
        Small<T>::visit(v);
        v.param("extra", extra);
    }
};

struct WrongShape : tg::Module<float> {
    tg::Parameter<float> w{filled<float>({4, 3}, 0.5f)};
    tg::Parameter<float> b{filled<float>({4}, 1.0f)};
    void visit(tg::ModuleVisitor<float>& v) override {
        v.param("w", w);
        v.param("b", b);
    }
};

struct Empty : tg::Module<float> {
    void visit(tg::ModuleVisitor<float>&) override {}
};

// A .npy array as numpy writes it: header padded to a multiple of 64 bytes.
std::string npy(const std::string& descr, const std::string& shape, const std::string& data, int major = 1) {
    const std::size_t preamble = major == 1 ? 10 : 12;
    std::string header = "{'descr': '" + descr + "', 'fortran_order': False, 'shape': " + shape + ", }";
    while ((preamble + header.size() + 1) % 64) header += ' ';
    header += '\n';
    std::string out = "\x93NUMPY";
    out += static_cast<char>(major);
    out += '\0';
    for (std::size_t k = 0; k < preamble - 8; ++k) out += static_cast<char>((header.size() >> (8 * k)) & 0xFF);
    return out + header + data;
}

template <class S>
std::string raw(std::size_t n, double start) {
    std::string out;
    for (std::size_t i = 0; i < n; ++i) {
        const S v = static_cast<S>(start + 0.25 * static_cast<double>(i));
        out.append(reinterpret_cast<const char*>(&v), sizeof v);
    }
    return out;
}

// An archive of (entry name, bytes), each stored or deflated.
void write_zip(const std::string& path, const std::vector<std::pair<std::string, std::string>>& entries, bool deflate) {
    int err = 0;
    zip_t* z = zip_open(path.c_str(), ZIP_CREATE | ZIP_TRUNCATE, &err);
    if (!z) throw std::runtime_error("cannot create " + path);
    for (const auto& [name, bytes] : entries) {
        zip_source_t* src = zip_source_buffer(z, bytes.data(), bytes.size(), 0);
        const zip_int64_t i = src ? zip_file_add(z, name.c_str(), src, ZIP_FL_ENC_UTF_8) : -1;
        if (i < 0 || zip_set_file_compression(z, static_cast<zip_uint64_t>(i), deflate ? ZIP_CM_DEFLATE : ZIP_CM_STORE, 0) != 0)
            throw std::runtime_error("cannot add " + name + " to " + path);
    }
    if (zip_close(z) != 0) throw std::runtime_error("cannot write " + path);
}

}  // namespace

int main(int argc, char** argv) {
    if (argc != 2) {
        std::fprintf(stderr, "usage: %s OUTPUT_FOLDER\n", argv[0]);
        return 2;
    }
    const std::filesystem::path out(argv[1]);
    std::filesystem::create_directories(out);
    auto at = [&](const char* name) { return (out / name).string(); };

    Small<float> f;
    tg::save(f, at("small_f32.npz"));
    Small<double> d;
    tg::save(d, at("small_f64.npz"));
    Extra<float> extra;
    tg::save(extra, at("small_extra_key.npz"));
    WrongShape wrong;
    tg::save(wrong, at("small_wrong_shape.npz"));
    Empty empty;
    tg::save(empty, at("empty.npz"));

    // An optimizer's state after two steps (float64 arrays, 0-d scalars among them).
    tg::SGD<float> sgd(f.parameters(), {.lr = 0.1, .momentum = 0.9});
    for (int k = 0; k < 2; ++k) {
        for (auto* p : f.parameters()) p->mutable_grad().fill(0.5f);
        sgd.step();
    }
    tg::save(sgd, at("optimizer_sgd.npz"));

    const std::string w = raw<float>(12, -1.5), b = raw<float>(4, 7);
    write_zip(at("small_deflated.npz"), {{"w.npy", npy("<f4", "(3, 4)", w)}, {"b.npy", npy("<f4", "(4,)", b)}}, true);
    write_zip(at("small_v2_v3.npz"), {{"w.npy", npy("<f4", "(3, 4)", w, 2)}, {"b.npy", npy("<f4", "(4,)", b, 3)}}, false);
    write_zip(at("small_ints.npz"),
              {{"w.npy", npy("<i8", "(3, 4)", raw<std::int64_t>(12, -3))}, {"b.npy", npy("|u1", "(4,)", raw<std::uint8_t>(4, 200))}},
              false);
    write_zip(at("dtypes.npz"),
              {{"i1.npy", npy("|i1", "(2,)", raw<std::int8_t>(2, -5))},
               {"i2.npy", npy("<i2", "(2,)", raw<std::int16_t>(2, -300))},
               {"u2.npy", npy("<u2", "(2,)", raw<std::uint16_t>(2, 60000))},
               {"i4.npy", npy("<i4", "(2,)", raw<std::int32_t>(2, -70000))},
               {"u4.npy", npy("<u4", "(2,)", raw<std::uint32_t>(2, 4e9))},
               {"u8.npy", npy("<u8", "(2,)", raw<std::uint64_t>(2, 1e19))},
               {"b1.npy", npy("|b1", "(3,)", std::string("\x01\x00\x01", 3))},
               {"f8.npy", npy("<f8", "()", raw<double>(1, 3.25))},
               {"empty.npy", npy("<f4", "(0, 2)", "")}},
              false);
    write_zip(at("dtypes_deflated.npz"),
              {{"f8.npy", npy("<f8", "(2, 2)", raw<double>(4, 0.1))}, {"b1.npy", npy("|b1", "(2,)", std::string("\x00\x01", 2))}},
              true);

    // The seeds must reach both ends of the target's load into the module.
    int bad = 0;
    for (const char* name : {"small_f32.npz", "small_f64.npz", "small_deflated.npz", "small_v2_v3.npz", "small_ints.npz",
                             "small_extra_key.npz", "small_wrong_shape.npz", "empty.npz", "optimizer_sgd.npz"}) {
        const bool should_load = std::string(name).find("extra") == std::string::npos &&
                                 std::string(name).find("wrong") == std::string::npos && std::string(name).rfind("small", 0) == 0;
        Small<float> m;
        bool loaded = true;
        try {
            tg::load(m, at(name));
        } catch (const tg::CheckpointError&) {
            loaded = false;
        }
        if (loaded != should_load) {
            std::fprintf(stderr, "make_seeds: %s %s\n", name, loaded ? "loads, but should not" : "does not load, but should");
            ++bad;
        }
    }
    if (bad) return 1;
    std::printf("seeds written to %s\n", out.c_str());
    return 0;
}
