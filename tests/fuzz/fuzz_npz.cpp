// libFuzzer target for the checkpoint (.npz) reader. Each input is taken as an
// archive in memory and loaded three ways:
//   (a) load_npz<float>, (b) load_npz<double>,
//   (c) tg::load into a fixed module ("w" (3, 4), "b" (4,)), strict options.
// A tapegrad::Error (CheckpointError above all) is the expected answer to a bad
// input and is ignored. Anything else is a finding: a crash, a sanitizer
// report, any other exception (libFuzzer reports it as a crash, through
// std::terminate), and two properties checked here, which abort:
//   - a load into the module that throws leaves every parameter exactly as it
//     was, value bits and version ("never a partly loaded model");
//   - a load that succeeds agrees with load_npz<float> of the same bytes.
//
// Build and run with tools/fuzz.sh. Compile with -DTAPEGRAD_FUZZ_VIA_FILE to
// read each input from a temporary file instead (NpzReader(path), the file
// code path), e.g. to replay a corpus through it; with
// -DTAPEGRAD_FUZZ_CHECKPOINT_ERROR_ONLY, a tapegrad::Error other than
// CheckpointError is a finding too (the reader documents CheckpointError).

#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <map>
#include <optional>
#include <span>
#include <string>
#include <vector>

#ifdef TAPEGRAD_FUZZ_VIA_FILE
#include <unistd.h>
#endif

#include <tapegrad/io/checkpoint.hpp>

namespace tg = tapegrad;

namespace {

template <class T>
tg::Tensor<T> filled(const tg::Shape& shape, T start) {
    tg::Tensor<T> t = tg::Tensor<T>::from_shape(shape);
    for (std::size_t i = 0; i < t.size(); ++i) t.data()[i] = start + static_cast<T>(i) * T(0.25);
    return t;
}

// The fixed target of (c).
struct Small : tg::Module<float> {
    tg::Parameter<float> w{filled<float>({3, 4}, -1.5f)};
    tg::Parameter<float> b{filled<float>({4}, 7.0f)};
    void visit(tg::ModuleVisitor<float>& v) override {
        v.param("w", w);
        v.param("b", b);
    }
};

bool same_bits(const tg::Tensor<float>& a, const tg::Tensor<float>& b) {
    return a.shape() == b.shape() && (a.size() == 0 || std::memcmp(a.data(), b.data(), a.size() * sizeof(float)) == 0);
}

// Every observable thing about a parameter that a load could change.
struct Saved {
    tg::Tensor<float> value, grad;
    std::uint64_t version;
    explicit Saved(const tg::Parameter<float>& p) : value(p.value()), grad(p.grad()), version(p.version()) {}
    bool same_as(const tg::Parameter<float>& p) const {
        return same_bits(value, p.value()) && same_bits(grad, p.grad()) && version == p.version();
    }
};

[[noreturn]] void finding(const char* what, const char* detail) {
    std::fprintf(stderr, "fuzz_npz: FINDING: %s%s%s\n", what, detail ? ": " : "", detail ? detail : "");
    std::abort();
}

// Where the input is read from: memory (the default) or a temporary file.
class Input {
public:
    Input(const std::uint8_t* data, std::size_t size) : bytes_(std::as_bytes(std::span(data, size))) {
#ifdef TAPEGRAD_FUZZ_VIA_FILE
        static const std::string path = [] {
            const char* dir = std::getenv("TMPDIR");
            return std::string(dir && *dir ? dir : "/tmp") + "/fuzz_npz_" + std::to_string(::getpid()) + ".npz";
        }();
        path_ = path;
        std::FILE* f = std::fopen(path_.c_str(), "wb");
        if (!f || (size && std::fwrite(data, 1, size, f) != size) || std::fclose(f) != 0) finding("cannot write", path_.c_str());
#endif
    }
    // A fresh reader per use, as a caller opening the file three times would have.
    tg::NpzReader open() const {
#ifdef TAPEGRAD_FUZZ_VIA_FILE
        return tg::NpzReader(path_);
#else
        return tg::NpzReader(bytes_, "fuzz-input.npz");
#endif
    }

private:
    std::span<const std::byte> bytes_;
#ifdef TAPEGRAD_FUZZ_VIA_FILE
    std::string path_;
#endif
};

// Runs `f`; true if it returned, false if it threw an expected error.
template <class F>
bool attempt(F&& f) {
    try {
        f();
        return true;
    } catch (const tg::CheckpointError&) {
        return false;
    } catch (const tg::Error& e) {
#ifdef TAPEGRAD_FUZZ_CHECKPOINT_ERROR_ONLY
        finding("a tapegrad::Error that is not a CheckpointError", e.what());
#else
        (void)e;
        return false;
#endif
    }
    // Anything else propagates out of LLVMFuzzerTestOneInput: libFuzzer reports it.
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    const Input input(data, size);

    // (a) and (b)
    std::optional<std::map<std::string, tg::Tensor<float>>> as_float;
    attempt([&] {
        tg::NpzReader r = input.open();
        as_float = tg::load_npz<float>(r);
    });
    attempt([&] {
        tg::NpzReader r = input.open();
        (void)tg::load_npz<double>(r);
    });

    // (c)
    Small module;
    const Saved w0(module.w), b0(module.b);
    const bool loaded = attempt([&] {
        tg::NpzReader r = input.open();
        tg::load(module, r);  // default LoadOptions: strict, no prefix
    });
    if (!loaded) {
        if (!w0.same_as(module.w) || !b0.same_as(module.b)) finding("a load that threw changed the module", nullptr);
    } else {
        // Strict: the archive holds exactly "w" and "b", of the module's shapes.
        if (!as_float) finding("load into the module succeeded, load_npz<float> of the same bytes threw", nullptr);
        if (as_float->size() != 2 || !as_float->count("w") || !as_float->count("b"))
            finding("load into the module succeeded on an archive that is not exactly {w, b}", nullptr);
        if (!same_bits(module.w.value(), as_float->at("w")) || !same_bits(module.b.value(), as_float->at("b")))
            finding("the module's values differ from load_npz<float> of the same bytes", nullptr);
    }
    return 0;
}
