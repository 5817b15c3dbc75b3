// The matrix products of a recurrent step, one kernel library against
// another: what each reaches on this machine for the shapes the benchmark's
// configurations run, the best of them (the ceiling of issue 16), and what
// tapegrad's own gemm (autodiff/blas.cpp: libxsmm for small shapes, OpenBLAS
// for the rest) reaches. One thread; every candidate rotates through 64
// operand and result buffers, as a tape's values do; OpenBLAS is warmed up
// first (autodiff/blas.cpp says why). Candidates alternate within each round.
#include <cblas.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <fstream>
#include <functional>
#include <map>
#include <random>
#include <string>
#include <vector>

#include <CLI/CLI.hpp>
#include <libxsmm.h>
#include <nlohmann/json.hpp>
#include <tapegrad/autodiff/blas.hpp>
#include <tapegrad/autodiff/small_gemm.hpp>

#include "blis_side.hpp"

namespace {

struct Product {
    std::string name;
    bool ta, tb;
    int m, n, k;
};

// Per (B, I, H) configuration of bench_recurrent and gate count G (LSTM 4,
// GRU 3): the forward product h·Whᵀ, and backward's dh = dgates·Wh and
// dWh += dgatesᵀ·h, each once per time step.
std::vector<Product> products() {
    struct Config {
        const char* name;
        int B, H;
    };
    std::vector<Product> out;
    for (Config c : {Config{"small", 16, 64}, Config{"medium", 64, 256}, Config{"large", 64, 512}})
        for (int G : {4, 3}) {
            const std::string p = std::string(c.name) + (G == 4 ? " lstm " : " gru ");
            out.push_back({p + "forward h.W^T", false, true, c.B, G * c.H, c.H});
            out.push_back({p + "backward dh", false, false, c.B, c.H, G * c.H});
            out.push_back({p + "backward dW", true, false, G * c.H, c.H, c.B});
        }
    out.push_back({"reference 1024^3", false, false, 1024, 1024, 1024});
    return out;
}

using Call = std::function<void(const float*, const float*, float*)>;

// Median GFLOP/s of `rounds` samples of ≥ ~20 ms each, the operands rotating.
struct Bench {
    const Product& p;
    std::vector<float> a, b, c;
    std::size_t a_size, c_size;
    int buffers;
    explicit Bench(const Product& prod) : p(prod) {
        a_size = std::size_t(p.m) * p.k;
        c_size = std::size_t(p.m) * p.n;
        buffers = a_size * p.n < (std::size_t(1) << 22) ? 64 : 1;
        std::mt19937 rng(1);
        std::uniform_real_distribution<float> u(-1, 1);
        a.resize(a_size * buffers);
        b.resize(std::size_t(p.k) * p.n);
        c.resize(c_size * buffers);
        for (auto* v : {&a, &b, &c})
            for (float& x : *v) x = u(rng);
    }
    double sample(const Call& call, int reps) {
        const auto t0 = std::chrono::steady_clock::now();
        for (int r = 0; r < reps; ++r) {
            const int i = r % buffers;
            call(a.data() + a_size * i, b.data(), c.data() + c_size * i);
        }
        const double sec = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
        return 2.0 * p.m * p.n * p.k * reps / sec / 1e9;
    }
};

// The candidates for one product: OpenBLAS, tapegrad's gemm, libxsmm when
// it compiles a kernel for the layout, BLIS when the program has it.
std::vector<std::pair<std::string, Call>> candidates(const Product& p) {
    std::vector<std::pair<std::string, Call>> out = {
        {"openblas",
         [p](const float* a, const float* b, float* c) {
             cblas_sgemm(CblasRowMajor, p.ta ? CblasTrans : CblasNoTrans, p.tb ? CblasTrans : CblasNoTrans, p.m, p.n, p.k, 1.0f, a,
                         p.ta ? p.m : p.k, b, p.tb ? p.k : p.n, 1.0f, c, p.n);
         }},
        {"tapegrad", [p](const float* a, const float* b, float* c) { tapegrad::detail::gemm(p.ta, p.tb, p.m, p.n, p.k, a, b, 1.0f, c); }}};
    const float one = 1.0f;
    const int flags = (p.tb ? LIBXSMM_GEMM_FLAG_TRANS_A : 0) | (p.ta ? LIBXSMM_GEMM_FLAG_TRANS_B : 0);
    const libxsmm_blasint lda = p.tb ? p.k : p.n, ldb = p.ta ? p.m : p.k, ldc = p.n;
    // Column-major: Cᵀ = op(B)ᵀ·op(A)ᵀ, as in autodiff/small_gemm.cpp.
    if (const auto xsmm = libxsmm_smmdispatch(p.n, p.m, p.k, &lda, &ldb, &ldc, &one, &one, &flags, nullptr))
        out.push_back({"libxsmm", [xsmm](const float* a, const float* b, float* c) { xsmm(b, a, c); }});
    if (bench::blis_built())
        out.push_back({"blis", [p](const float* a, const float* b, float* c) { bench::blis_sgemm(p.ta, p.tb, p.m, p.n, p.k, a, b, 1.0f, c); }});
    return out;
}

// Median GFLOP/s of each candidate over `rounds` rounds, the candidates
// alternating within a round, and the best of the libraries.
nlohmann::json measure(const Product& p, int rounds) {
    Bench bench(p);
    auto calls = candidates(p);
    // Repetitions for about 20 ms a sample at 20 GFLOP/s.
    const int reps = std::max(1, int(0.02 * 20e9 / (2.0 * p.m * p.n * p.k)));
    std::map<std::string, std::vector<double>> rates;
    for (auto& [name, call] : calls) bench.sample(call, 1);  // JIT, packing buffers, caches
    for (int r = 0; r < rounds; ++r)
        for (auto& [name, call] : calls) rates[name].push_back(bench.sample(call, reps));
    nlohmann::json rec = {{"product", p.name}, {"ta", p.ta}, {"tb", p.tb}, {"m", p.m}, {"n", p.n}, {"k", p.k}};
    double best = 0;
    for (auto& [name, v] : rates) {
        std::sort(v.begin(), v.end());
        rec[name] = v[v.size() / 2];
        if (name != "tapegrad") best = std::max(best, v[v.size() / 2]);
    }
    rec["best"] = best;
    return rec;
}

void print_row(const nlohmann::json& rec) {
    auto cell = [&](const char* name) {
        char buf[32];
        if (!rec.contains(name)) return std::string("-");
        std::snprintf(buf, sizeof buf, "%.1f", rec[name].get<double>());
        return std::string(buf);
    };
    std::printf("%-28s %5d %5d %5d | %8s %8s %8s | %8.1f %8s %7.0f%%\n", rec["product"].get<std::string>().c_str(), rec["m"].get<int>(),
                rec["n"].get<int>(), rec["k"].get<int>(), cell("openblas").c_str(), cell("libxsmm").c_str(), cell("blis").c_str(),
                rec["best"].get<double>(), cell("tapegrad").c_str(), 100.0 * rec["tapegrad"].get<double>() / rec["best"].get<double>());
}

}  // namespace

int main(int argc, char** argv) {
    int rounds = 7;
    std::string json_path;
    CLI::App app{"The matrix products of a recurrent step: OpenBLAS, libxsmm, BLIS and tapegrad's gemm, one thread."};
    app.add_option("--rounds", rounds, "samples per candidate and product (median)")->check(CLI::Range(1, 1000));
    app.add_option("--json", json_path, "also write the table as JSON");
    CLI11_PARSE(app, argc, argv);
    openblas_set_num_threads(1);
    tapegrad::detail::warm_blas();  // the plain OpenBLAS candidate runs warm, as the library does
    std::printf("GFLOP/s, one thread, median of %d; beta = 1 (accumulating, as the tape does)\n", rounds);
    std::printf("%-28s %5s %5s %5s | %8s %8s %8s | %8s %8s %8s\n", "product", "m", "n", "k", "OpenBLAS", "libxsmm", "BLIS", "best",
                "tapegrad", "% best");
    nlohmann::json records = nlohmann::json::array();
    for (const Product& p : products()) {
        records.push_back(measure(p, rounds));
        print_row(records.back());
    }
    std::printf("libxsmm '-': no kernel for the layout (1.17 compiles none for a transposed first operand, column-major);"
                " BLIS '-': built without it\n");
    if (!json_path.empty()) std::ofstream(json_path) << nlohmann::json{{"records", records}}.dump(2) << "\n";
    return 0;
}
