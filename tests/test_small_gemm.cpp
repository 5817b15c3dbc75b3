// detail::gemm hands small products to libxsmm (autodiff/small_gemm.hpp),
// one-row and one-column products to OpenBLAS's gemv and the rest to its
// gemm: all must give the product to rounding, in every layout, at size-1
// and odd shapes, with beta 0 and 1, and libxsmm must really be the one
// called where the build has it.
#include <chrono>
#include <random>
#include <thread>
#include <tuple>
#include <vector>

#include <tapegrad/autodiff/blas.hpp>
#include <tapegrad/autodiff/small_gemm.hpp>

#include "test_util.hpp"

extern "C" void openblas_set_num_threads(int);

namespace detail = tapegrad::detail;

namespace {

// op(A)·op(B) + beta·C, row-major, in long double.
template <class T>
std::vector<T> reference(bool ta, bool tb, std::size_t m, std::size_t n, std::size_t k, const std::vector<T>& a,
                         const std::vector<T>& b, T beta, std::vector<T> c) {
    for (std::size_t i = 0; i < m; ++i)
        for (std::size_t j = 0; j < n; ++j) {
            long double s = 0;
            for (std::size_t p = 0; p < k; ++p)
                s += (long double)(ta ? a[p * m + i] : a[i * k + p]) * (long double)(tb ? b[j * k + p] : b[p * n + j]);
            c[i * n + j] = T(s + (long double)beta * c[i * n + j]);
        }
    return c;
}

template <class T>
std::vector<T> random_values(std::size_t count, std::mt19937& rng) {
    std::uniform_real_distribution<double> u(-1, 1);
    std::vector<T> v(count);
    for (auto& x : v) x = T(u(rng));
    return v;
}

// Runs one product both ways and compares each with the reference.
template <class T>
void check_shape(bool ta, bool tb, std::size_t m, std::size_t n, std::size_t k, T beta, double tolerance) {
    std::mt19937 rng(unsigned(m * 1000003 + n * 1009 + k * 7 + ta * 2 + tb));
    const auto a = random_values<T>(m * k, rng), b = random_values<T>(k * n, rng), c0 = random_values<T>(m * n, rng);
    const auto want = reference(ta, tb, m, n, k, a, b, beta, c0);
    for (bool small : {true, false}) {
        detail::set_small_gemm_enabled(small);
        auto c = c0;
        detail::gemm(ta, tb, m, n, k, a.data(), b.data(), beta, c.data());
        double worst = 0;
        for (std::size_t i = 0; i < c.size(); ++i) worst = std::max(worst, double(std::abs(c[i] - want[i])));
        INFO("ta " << ta << " tb " << tb << " m " << m << " n " << n << " k " << k << " beta " << beta << " small " << small);
        CHECK(worst <= tolerance * double(k + 1));
    }
    detail::set_small_gemm_enabled(true);
}

}  // namespace

TEST_CASE("gemm: libxsmm's small products and OpenBLAS's agree with the product, every layout", "[blas][small_gemm]") {
    const std::vector<std::tuple<std::size_t, std::size_t, std::size_t>> shapes = {
        {1, 1, 1}, {1, 7, 3}, {5, 1, 9}, {3, 4, 1}, {16, 256, 64}, {16, 64, 256}, {256, 64, 16}, {13, 17, 19}, {64, 64, 64},
        {70, 70, 70},  // above 2^18: a medium product (libxsmm where its kernels are wider, else OpenBLAS)
        {1, 1024, 300}, {600, 1, 500}};  // one row, one column, above the limit: OpenBLAS's gemv
    for (auto [m, n, k] : shapes)
        for (bool ta : {false, true})
            for (bool tb : {false, true})
                for (double beta : {0.0, 1.0}) {
                    check_shape<float>(ta, tb, m, n, k, float(beta), 2e-7);
                    check_shape<double>(ta, tb, m, n, k, beta, 4e-16);
                }
}

TEST_CASE("gemm: small products go to libxsmm where the build has it, large ones and other betas to OpenBLAS",
          "[blas][small_gemm]") {
    REQUIRE(detail::small_gemm_built() == bool(TAPEGRAD_TEST_EXPECT_LIBXSMM));
    std::vector<float> a(300 * 300, 0.5f), b(300 * 300, 0.25f), c(300 * 300, 1.0f);
    std::vector<double> ad(a.begin(), a.end()), bd(b.begin(), b.end()), cd(c.begin(), c.end());
    const bool built = detail::small_gemm_built();
    // A recurrent step's backward products: dh = dgates·W (NN), dW += dgatesᵀ·h (TN).
    CHECK(detail::small_gemm(false, false, 16, 64, 256, a.data(), b.data(), 1.0f, c.data()) == built);
    CHECK(detail::small_gemm(true, false, 256, 64, 16, a.data(), b.data(), 0.0f, c.data()) == built);
    CHECK(detail::small_gemm(false, false, 16, 64, 256, ad.data(), bd.data(), 1.0, cd.data()) == built);
    CHECK(c[0] == (built ? 0.5f * 0.25f * 16 : 1.0f));  // the TN product above wrote C (beta 0) only when libxsmm ran
    // Not small: above 2^18 multiply-adds and not thin (tiles of 2 rows), on
    // three threads (where medium products stay with OpenBLAS), a beta other
    // than 0 or 1, an empty product.
    const int threads = detail::blas_threads();
    openblas_set_num_threads(3);
    CHECK_FALSE(detail::small_gemm(false, false, 300, 300, 300, a.data(), b.data(), 1.0f, c.data()));
    openblas_set_num_threads(threads);
    CHECK_FALSE(detail::small_gemm(false, false, 16, 64, 64, a.data(), b.data(), 0.5f, c.data()));
    CHECK_FALSE(detail::small_gemm(false, false, 0, 64, 64, a.data(), b.data(), 1.0f, c.data()));
    // Sizes whose product would wrap are refused before it is formed.
    CHECK_FALSE(detail::small_gemm(false, false, std::size_t(1) << 40, std::size_t(1) << 40, 1, a.data(), b.data(), 1.0f,
                                   c.data()));
    // Turned off, nothing is small.
    detail::set_small_gemm_enabled(false);
    CHECK_FALSE(detail::small_gemm(false, false, 16, 64, 256, a.data(), b.data(), 1.0f, c.data()));
    detail::set_small_gemm_enabled(true);
}

// A Linear layer's x·Wᵀ has no libxsmm kernel; a weight read at many time
// steps, or once by a product of 32 rows or more, is transposed once per tape
// and read by the x·(Wᵀ) kernel instead (autodiff/transposed_leaves.hpp).
TEST_CASE("linear: a weight read by several steps goes through one transposed copy per tape, same values",
          "[blas][small_gemm]") {
    namespace tg = tapegrad;
    using Access = tg::detail::TapeAccess<double>;
    tg::Parameter<double> w(tgtest::smooth({5, 3}), "w");
    const tg::Tensor<double> x = tgtest::smooth({4, 3});
    tg::Tape<double> t;
    const auto wv = t.param(w);
    std::vector<tg::Var<double>> ys;
    for (int step = 0; step < 3; ++step) ys.push_back(tg::linear(t.constant(x), wv));
    // The first reader reads W as it is, the others the copy: one copy where libxsmm is built.
    REQUIRE(Access::transposed_copies(t) == (detail::small_gemm_built() ? 1u : 0u));
    const std::vector<double> xs(x.begin(), x.end()), ws(w.value().begin(), w.value().end());
    const std::vector<double> want = reference(false, true, 4, 5, 3, xs, ws, 0.0, std::vector<double>(20, 0.0));
    for (const auto& y : ys)
        for (std::size_t i = 0; i < 20; ++i) REQUIRE(std::abs(y.value().data()[i] - want[i]) <= 1e-14 * (1 + std::abs(want[i])));
    // Read once: copied for a product of 32 rows, not of 31 (each on a fresh
    // epoch), and the same values either way.
    for (std::size_t rows : {32, 31}) {
        t.clear();
        const tg::Tensor<double> xr = tgtest::smooth({rows, 3});
        const auto y = tg::linear(t.constant(xr), t.param(w));
        INFO("rows " << rows);
        REQUIRE(Access::transposed_copies(t) == (detail::small_gemm_built() && rows == 32 ? 1u : 0u));
        const std::vector<double> xrs(xr.begin(), xr.end());
        const auto want_r = reference(false, true, rows, 5, 3, xrs, ws, 0.0, std::vector<double>(rows * 5, 0.0));
        for (std::size_t i = 0; i < rows * 5; ++i)
            REQUIRE(std::abs(y.value().data()[i] - want_r[i]) <= 1e-14 * (1 + std::abs(want_r[i])));
    }
    // One row goes to gemv with W as it is: no copy on a fresh epoch.
    t.clear();
    const auto w1 = t.param(w);
    for (int step = 0; step < 3; ++step) (void)tg::linear(t.constant(tgtest::smooth({1, 3})), w1);
    REQUIRE(Access::transposed_copies(t) == 0);
    // Gradients through several readers agree with finite differences.
    auto r = tg::gradcheck(
        [&](tg::Tape<double>& tape, const std::vector<tg::Var<double>>& in) {
            const auto p = tape.param(w);
            return tg::tanh(tg::linear(in[0], p)) * tg::linear(tg::tanh(in[0]), p) + tg::linear(in[0] * 2.0, p);
        },
        {tgtest::smooth({4, 3})}, {&w});
    INFO(r.report());
    REQUIRE(r.ok);
    // A weight modified after its copy was made is refused, never read stale.
    t.clear();
    const auto w2 = t.param(w);
    (void)tg::linear(t.constant(x), w2);
    (void)tg::linear(t.constant(x), w2);
    w.mutable_value().data()[0] += 1.0;
    REQUIRE_THROWS_AS(tg::linear(t.constant(x), w2), tg::ParameterModifiedError);
}

// Above 2^18 multiply-adds, a thin product (many rows, or for Aᵀ·B a long
// inner dimension, against a small rest) is cut into small products: tiles
// of rows for A·B and A·Bᵀ (Bᵀ copied first), of the inner dimension for
// Aᵀ·B (the first with beta, the others adding). Full tiles, a remainder,
// beta 0 and 1, in float and double.
TEST_CASE("gemm: thin products above the limit go to libxsmm in small tiles, and agree with the product",
          "[blas][small_gemm]") {
    // m·n·k: 600·64·8 (tiles of 512 rows and a remainder of 88), 1024·64·8
    // (two full tiles), 100·40·70 (tiles of 93 rows and a remainder of 7).
    const std::vector<std::tuple<std::size_t, std::size_t, std::size_t>> row_shapes = {{600, 64, 8}, {1024, 64, 8}, {100, 40, 70}};
    for (auto [m, n, k] : row_shapes)
        for (bool tb : {false, true})
            for (double beta : {0.0, 1.0}) {
                check_shape<float>(false, tb, m, n, k, float(beta), 2e-7);
                check_shape<double>(false, tb, m, n, k, beta, 4e-16);
            }
    const std::vector<std::tuple<std::size_t, std::size_t, std::size_t>> depth_shapes = {{64, 8, 600}, {64, 8, 1024}, {40, 70, 100}};
    for (auto [m, n, k] : depth_shapes)
        for (double beta : {0.0, 1.0}) {
            check_shape<float>(true, false, m, n, k, float(beta), 2e-7);
            check_shape<double>(true, false, m, n, k, beta, 4e-16);
        }
}

TEST_CASE("gemm: thin products are tiled on one or two OpenBLAS threads, left to OpenBLAS on more", "[blas][small_gemm]") {
    const bool built = detail::small_gemm_built();
    const int before = detail::blas_threads();
    std::vector<float> a(600 * 64, 0.5f), b(600 * 64, 0.25f), c(600 * 64, 1.0f);
    struct Case {
        bool ta, tb;
        std::size_t m, n, k;
        bool on_two;  // tiled on two threads too
    };
    // A·Bᵀ in tiles of 16 rows (150·64·256) stays with OpenBLAS on two
    // threads, where its threads win.
    const Case cases[] = {{false, false, 600, 64, 8, true}, {false, true, 600, 64, 8, true}, {true, false, 64, 8, 600, true},
                          {false, true, 150, 64, 256, false}};
    for (const Case& x : cases) {
        INFO("ta " << x.ta << " tb " << x.tb << " m " << x.m << " n " << x.n << " k " << x.k);
        openblas_set_num_threads(1);
        CHECK(detail::small_gemm(x.ta, x.tb, x.m, x.n, x.k, a.data(), b.data(), 1.0f, c.data()) == built);
        openblas_set_num_threads(2);
        CHECK(detail::small_gemm(x.ta, x.tb, x.m, x.n, x.k, a.data(), b.data(), 1.0f, c.data()) == (built && x.on_two));
        openblas_set_num_threads(3);
        CHECK_FALSE(detail::small_gemm(x.ta, x.tb, x.m, x.n, x.k, a.data(), b.data(), 1.0f, c.data()));
    }
    // One row or one column stays with gemv, tiles or not.
    openblas_set_num_threads(1);
    CHECK_FALSE(detail::small_gemm(false, false, 600, 1, 500, a.data(), b.data(), 1.0f, c.data()));
    CHECK_FALSE(detail::small_gemm(true, false, 1, 600, 500, a.data(), b.data(), 1.0f, c.data()));
    openblas_set_num_threads(before);
}

// Where libxsmm's kernels are AVX-512 and OpenBLAS's AVX2 (this project's
// EPYC), libxsmm takes medium products too: whole on one OpenBLAS thread, in
// pieces on two (C's columns, or its rows when it has fewer than 32 columns;
// this thread and autodiff/helper_thread.hpp's take them in turn); OpenBLAS
// keeps them elsewhere and on more threads. Values agree with the product
// either way, with and without a narrower last piece.
TEST_CASE("gemm: medium products go to libxsmm on one or two threads where its kernels are wider, and agree with the product",
          "[blas][small_gemm]") {
    const int before = detail::blas_threads();
    const std::vector<std::tuple<std::size_t, std::size_t, std::size_t>> shapes = {
        // Columns split, even and odd; rows split for A·B (100·20·2000, 101·19·2001)
        // and for Aᵀ·B (2000·20·100, 2001·19·101): the other layouts of these
        // are thin and go in tiles.
        {96, 200, 300}, {97, 33, 250}, {100, 20, 2000}, {101, 19, 2001}, {2000, 20, 100}, {2001, 19, 101}};
    for (int threads : {1, 2}) {
        openblas_set_num_threads(threads);
        for (auto [m, n, k] : shapes)
            for (bool ta : {false, true})
                for (bool tb : {false, true})
                    for (double beta : {0.0, 1.0}) {
                        INFO("threads " << threads);
                        check_shape<float>(ta, tb, m, n, k, float(beta), 2e-7);
                        check_shape<double>(ta, tb, m, n, k, beta, 4e-16);
                    }
    }
    const bool medium = detail::small_gemm_built() && detail::small_gemm_medium();
    std::vector<float> a(64 * 4096, 0.5f), b(4096 * 4096, 0.25f), c(64 * 4096, 1.0f);
    for (int threads : {1, 2}) {
        INFO("threads " << threads);
        openblas_set_num_threads(threads);
        CHECK(detail::small_gemm(false, false, 64, 1024, 256, a.data(), b.data(), 1.0f, c.data()) == medium);
        CHECK(detail::small_gemm(true, false, 1024, 256, 64, a.data(), b.data(), 0.0f, c.data()) == medium);
        CHECK(detail::small_gemm(false, false, 100, 20, 2000, a.data(), b.data(), 0.0f, c.data()) == medium);
        CHECK(detail::small_gemm(true, false, 2000, 20, 100, a.data(), b.data(), 1.0f, c.data()) == medium);
        // A·Bᵀ has no kernel (a Linear layer reads the tape's copy of Bᵀ instead).
        CHECK_FALSE(detail::small_gemm(false, true, 256, 256, 256, a.data(), b.data(), 1.0f, c.data()));
        // Past the bounds: 2^30 multiply-adds, an operand of 2^24 elements; one row.
        CHECK_FALSE(detail::small_gemm(false, false, 64, 4096, 4096, a.data(), b.data(), 1.0f, c.data()));
        CHECK_FALSE(detail::small_gemm(false, false, 1, 4096, 1024, a.data(), b.data(), 1.0f, c.data()));
    }
    openblas_set_num_threads(3);
    CHECK_FALSE(detail::small_gemm(false, false, 64, 1024, 256, a.data(), b.data(), 1.0f, c.data()));
    openblas_set_num_threads(before);
}

// On two threads a medium product runs in pieces, or whole when OpenBLAS's
// threads may be spinning (blas.hpp): both must give the bits one thread
// gives, or a run's results would depend on timing.
TEST_CASE("gemm: a medium product's pieces give the bits of the whole product", "[blas][small_gemm]") {
    const int before = detail::blas_threads();
    const std::vector<std::tuple<bool, std::size_t, std::size_t, std::size_t>> shapes = {
        {false, 64, 1024, 256}, {false, 97, 140, 250}, {true, 1024, 256, 64}, {false, 101, 19, 2001}, {true, 2001, 19, 101}};
    for (auto [ta, m, n, k] : shapes)
        for (double beta : {0.0, 1.0}) {
            std::mt19937 rng(unsigned(m + n + k));
            const auto a = random_values<float>(m * k, rng), b = random_values<float>(k * n, rng), c0 = random_values<float>(m * n, rng);
            auto whole = c0, pieces = c0;
            openblas_set_num_threads(1);
            detail::gemm(ta, false, m, n, k, a.data(), b.data(), float(beta), whole.data());
            openblas_set_num_threads(2);
            // Pieces, not the whole again: OpenBLAS ran nothing threaded for a while.
            for (int wait = 0; wait < 200 && detail::blas_threads_spinning(); ++wait)
                std::this_thread::sleep_for(std::chrono::milliseconds(10));
            REQUIRE_FALSE(detail::blas_threads_spinning());
            detail::gemm(ta, false, m, n, k, a.data(), b.data(), float(beta), pieces.data());
            INFO("ta " << ta << " m " << m << " n " << n << " k " << k << " beta " << beta);
            CHECK(whole == pieces);
        }
    // A product OpenBLAS runs on several threads opens the window.
    openblas_set_num_threads(3);
    std::vector<float> big(300 * 300, 0.5f), out(300 * 300);
    detail::gemm(false, false, 300, 300, 300, big.data(), big.data(), 0.0f, out.data());
    CHECK(detail::blas_threads_spinning());
    openblas_set_num_threads(before);
}

// On two threads, a product past the medium bounds that cuts into medium
// tiles of at least 64 rows (A·B) or inner rows (Aᵀ·B) runs as such tiles,
// each in pieces (libxsmm where its kernels are wider); on one thread and on
// three OpenBLAS keeps it. Compared with OpenBLAS's result, a full tile and
// a remainder, beta 0 and 1 (an operand above 2^22 elements puts each past
// the bounds; the thin tiles refuse them: n·k and m·n are above 2^15).
TEST_CASE("gemm: products past the medium bounds run as medium tiles on two threads, and agree with OpenBLAS",
          "[blas][small_gemm]") {
    const bool medium = detail::small_gemm_built() && detail::small_gemm_medium();
    const int before = detail::blas_threads();
    struct Case {
        bool ta;
        std::size_t m, n, k;
    };
    for (const Case& x : {Case{false, 4200, 33, 1000}, Case{true, 200, 170, 21000}}) {
        std::mt19937 rng(unsigned(x.m + x.k));
        const auto a = random_values<float>(x.m * x.k, rng), b = random_values<float>(x.k * x.n, rng);
        const auto c0 = random_values<float>(x.m * x.n, rng);
        INFO("ta " << x.ta << " m " << x.m << " n " << x.n << " k " << x.k);
        for (int threads : {1, 3}) {
            openblas_set_num_threads(threads);
            auto c = c0;
            CHECK_FALSE(detail::small_gemm(x.ta, false, x.m, x.n, x.k, a.data(), b.data(), 1.0f, c.data()));
        }
        openblas_set_num_threads(2);
        for (float beta : {0.0f, 1.0f}) {
            auto tiled = c0, openblas = c0;
            CHECK(detail::small_gemm(x.ta, false, x.m, x.n, x.k, a.data(), b.data(), beta, tiled.data()) == medium);
            detail::set_small_gemm_enabled(false);
            detail::gemm(x.ta, false, x.m, x.n, x.k, a.data(), b.data(), beta, openblas.data());
            detail::set_small_gemm_enabled(true);
            if (!medium) continue;
            double worst = 0;
            for (std::size_t i = 0; i < tiled.size(); ++i) worst = std::max(worst, double(std::abs(tiled[i] - openblas[i])));
            INFO("beta " << beta);
            CHECK(worst <= 4e-7 * double(x.k + 1));
            CHECK(worst > 0);  // a different summation: the tiles really ran
        }
    }
    openblas_set_num_threads(before);
}
