#include "small_gemm.hpp"

#include <algorithm>
#include <atomic>
#include <cstdint>
#include <vector>

#include "blas.hpp"
#include "helper_thread.hpp"

#ifdef TAPEGRAD_HAVE_LIBXSMM
#include <libxsmm.h>
#endif

namespace tapegrad::detail {

namespace {

std::atomic<bool> enabled{true};

#ifdef TAPEGRAD_HAVE_LIBXSMM
// OpenBLAS runs a product below 2^18 multiply-adds on one thread
// (SMP_THRESHOLD_MIN · GEMM_MULTITHREAD_THRESHOLD), so handing such a product
// to a single-threaded libxsmm kernel never takes a thread away. Above it the
// measured gain ends too (docs/performance.md).
constexpr std::uint64_t max_multiply_adds = std::uint64_t(1) << 18;
// A larger product is cut into small ones when each piece keeps at least
// `min_tile` rows (or, for Aᵀ·B, inner rows): a thin product such as a
// recurrent layer's input projection, (T·B) × 4H × 8, which OpenBLAS runs at
// a third to a half of libxsmm's rate (its packing dominates at k = 8).
// Measured on one and two OpenBLAS threads (docs/performance.md): tiles of 8
// rows and more win everywhere on one, and on two for A·B and Aᵀ·B; A·Bᵀ
// (a transposed copy of B first, then libxsmm on one thread against
// OpenBLAS on two) wins on two from 32 rows. With more threads a large
// product stays with OpenBLAS, which spreads it over them.
constexpr std::uint64_t min_tile = 8;
constexpr std::uint64_t min_tile_transposed_two_threads = 32;
constexpr int max_tiling_threads = 2;

bool usable(double beta) { return (beta == 0 || beta == 1) && enabled.load(std::memory_order_relaxed); }

// Where libxsmm compiles AVX-512 kernels and OpenBLAS runs an AVX2 one
// (this project's EPYC: OpenBLAS is pinned to its Haswell kernel, see
// blas.hpp), libxsmm computes medium products 1.1–1.6× faster on one thread
// too: a medium LSTM's per-step products (64×1024×256, 64×256×1024,
// 1024×256×64) and its input projection (3200×1024×128). Up to 2^29
// multiply-adds with no operand above 2^22 elements (16 MiB of float); past
// that, libxsmm's kernels (no cache blocking) fall behind: 64×4096×4096 ran
// at 0.6× OpenBLAS (docs/performance.md). On two OpenBLAS threads a medium
// product runs in pieces that both cores take in turn (`run_medium_pieces`);
// on more, OpenBLAS keeps it.
constexpr std::uint64_t max_medium_operand = std::uint64_t(1) << 22;
constexpr std::uint64_t max_medium_multiply_adds = std::uint64_t(1) << 29;
constexpr std::uint64_t min_big_tile = 64;

bool wider_kernels_here() {
    static const bool wider = libxsmm_get_target_archid() >= LIBXSMM_X86_AVX512_CORE && !blas_kernel_avx512();
    return wider;
}

bool small(std::size_t m, std::size_t n, std::size_t k) {
    // Each factor ≤ 2^18 before the product, so m·n·k cannot wrap.
    if (m > max_multiply_adds || n > max_multiply_adds || k > max_multiply_adds) return false;
    return std::uint64_t(m) * n * k <= max_multiply_adds;
}

bool medium_here(std::size_t m, std::size_t n, std::size_t k) {
    // One row or column stays with OpenBLAS's gemv (blas.cpp).
    if (m <= 1 || n <= 1 || m > max_medium_operand || n > max_medium_operand || k > max_medium_operand) return false;
    const std::uint64_t mn = std::uint64_t(m) * n, mk = std::uint64_t(m) * k, kn = std::uint64_t(k) * n;  // each ≤ 2^44
    if (mn > max_medium_operand || mk > max_medium_operand || kn > max_medium_operand) return false;
    return mn <= max_medium_multiply_adds / k && wider_kernels_here() && blas_threads() <= max_tiling_threads;
}

bool wanted_small(std::size_t m, std::size_t n, std::size_t k, double beta) {
    return m != 0 && n != 0 && k != 0 && small(m, n, k) && usable(beta);
}

bool wanted(std::size_t m, std::size_t n, std::size_t k, double beta) {
    return m != 0 && n != 0 && k != 0 && usable(beta) && (small(m, n, k) || medium_here(m, n, k));
}

// libxsmm is column-major. A row-major C = op(A)·op(B) is, read column-major,
// Cᵀ = op(B)ᵀ·op(A)ᵀ: the same products with the operands swapped, each
// keeping its own transpose flag. libxsmm 1.17 compiles kernels for an
// untransposed first operand only, so a row-major A·Bᵀ (the forward product
// of a Linear layer) finds no kernel. The dispatch is a lookup in libxsmm's
// kernel registry (a kernel is compiled once per shape and process); null
// when it has no kernel.

// Row-major leading dimensions of A, B and C as stored. A tile of rows of A
// and C, or of inner rows of A and B, keeps its parent's; a piece of C's
// columns or rows (`pieces_of`) keeps its parent's too.
struct Strides {
    libxsmm_blasint a, b, c;
};
Strides packed(bool ta, bool tb, std::size_t m, std::size_t n, std::size_t k) {
    return {libxsmm_blasint(ta ? m : k), libxsmm_blasint(tb ? k : n), libxsmm_blasint(n)};
}

template <class T, class Dispatch>
auto kernel_for(Dispatch dispatch, bool ta, bool tb, std::size_t m, std::size_t n, std::size_t k, T beta, Strides ld) {
    const int flags = (tb ? LIBXSMM_GEMM_FLAG_TRANS_A : 0) | (ta ? LIBXSMM_GEMM_FLAG_TRANS_B : 0);
    const T one = 1;
    return dispatch(libxsmm_blasint(n), libxsmm_blasint(m), libxsmm_blasint(k), &ld.b, &ld.a, &ld.c, &one, &beta, &flags, nullptr);
}
template <class T, class Dispatch>
auto kernel_for(Dispatch dispatch, bool ta, bool tb, std::size_t m, std::size_t n, std::size_t k, T beta) {
    return kernel_for(dispatch, ta, tb, m, n, k, beta, packed(ta, tb, m, n, k));
}

template <class T, class Dispatch>
bool run(Dispatch dispatch, bool ta, bool tb, std::size_t m, std::size_t n, std::size_t k, const T* a, const T* b, T beta, T* c) {
    const auto kernel = kernel_for(dispatch, ta, tb, m, n, k, beta);
    if (!kernel) return false;
    kernel(b, a, c);
    return true;
}

// One product cut in pieces of C's columns (or rows), each a kernel with
// its operands: piece i's start `i · step` elements past the product's.
template <class T, class Kernel>
struct Pieces {
    Kernel full, last;  // every piece's kernel but the last's, and the last's
    std::size_t count;
    const T* a;
    const T* b;
    T* c;
    std::size_t a_step, b_step, c_step;
    static void run(void* context, std::size_t i) noexcept {
        const auto& p = *static_cast<const Pieces*>(context);
        (i + 1 == p.count ? p.last : p.full)(p.b + i * p.b_step, p.a + i * p.a_step, p.c + i * p.c_step);
    }
};

// A medium product on two OpenBLAS threads: C's columns in up to 8 pieces of
// at least 64 (a multiple of 16, a cache line of float), its rows in up to 8
// of at least 32 when it has fewer than 32 columns; at least 2. More pieces
// than threads, so that whoever is free takes the next (helper_thread.hpp):
// a helper slowed by a busy core, or woken late, then costs little.
// Null kernels when libxsmm has none for a piece.
template <class T, class Dispatch>
auto pieces_of(Dispatch dispatch, bool ta, bool tb, std::size_t m, std::size_t n, std::size_t k, const T* a, const T* b,
               T beta, T* c) {
    const Strides ld = packed(ta, tb, m, n, k);
    const bool by_columns = n >= 32;
    const std::size_t total = by_columns ? n : m;
    const std::size_t aimed = std::clamp<std::size_t>(total / (by_columns ? 64 : 32), 2, 8);  // pieces
    std::size_t width = (total + aimed - 1) / aimed;
    if (by_columns) width = std::max<std::size_t>(16, (width + 8) / 16 * 16);
    // A remainder under 16 joins the last full piece: libxsmm's kernels for
    // fewer than 16 columns sum in another order (measured: other bits).
    std::size_t count = (total + width - 1) / width, rest = total - (count - 1) * width;
    if (count > 2 && rest < 16) --count, rest += width;
    Pieces<T, decltype(kernel_for(dispatch, ta, tb, m, n, k, beta))> p{};
    p.count = count, p.a = a, p.b = b, p.c = c;
    if (by_columns) {
        p.full = kernel_for(dispatch, ta, tb, m, width, k, beta, ld);
        p.last = kernel_for(dispatch, ta, tb, m, rest, k, beta, ld);
        p.b_step = tb ? width * k : width, p.c_step = width;
    } else {
        p.full = kernel_for(dispatch, ta, tb, width, n, k, beta, ld);
        p.last = kernel_for(dispatch, ta, tb, rest, n, k, beta, ld);
        p.a_step = ta ? width : width * k, p.c_step = width * n;
    }
    return p;
}

// Runs every piece: on this thread and the helper (helper_thread.hpp),
// unless OpenBLAS's idle threads may be polling on the other core
// (blas_threads_spinning); then all here. Either way the same bits: a piece
// is the same kernel on fewer columns or rows.
template <class T, class Kernel>
void run_pieces(Pieces<T, Kernel>& p) {
    if (!blas_threads_spinning()) {
        run_parts(p.count, &Pieces<T, Kernel>::run, &p);
        return;
    }
    for (std::size_t i = 0; i < p.count; ++i) Pieces<T, Kernel>::run(&p, i);
}

template <class T, class Dispatch>
bool run_medium_pieces(Dispatch dispatch, bool ta, bool tb, std::size_t m, std::size_t n, std::size_t k, const T* a,
                       const T* b, T beta, T* c) {
    auto p = pieces_of(dispatch, ta, tb, m, n, k, a, b, beta, c);
    if (!p.full || !p.last) return false;
    run_pieces(p);
    return true;
}

// On two OpenBLAS threads, a product past the medium bounds that cuts into
// medium tiles of at least `min_big_tile` rows of A and C (A·B) or inner
// rows (Aᵀ·B, the first tile with beta, the others adding): each tile runs in
// pieces on both cores. How many rows a tile holds; 0 when the product does
// not cut so.
std::uint64_t big_tile_rows(bool ta, bool tb, std::size_t m, std::size_t n, std::size_t k) {
    if (tb || m <= 1 || n <= 1 || k == 0 || blas_threads() != max_tiling_threads || !wider_kernels_here()) return 0;
    const std::uint64_t cols = ta ? m : k, other = n;  // the tile's fixed dimensions, besides its rows
    if (cols > max_medium_operand || other > max_medium_operand || cols * other > max_medium_operand) return 0;
    const std::uint64_t rows =
        std::min({max_medium_multiply_adds / (cols * other), max_medium_operand / cols, max_medium_operand / other});
    return rows >= min_big_tile && rows < (ta ? k : m) ? rows : 0;
}

template <class T, class Dispatch>
bool run_big_tiles(Dispatch dispatch, bool ta, std::size_t m, std::size_t n, std::size_t k, const T* a, const T* b, T beta,
                   T* c) {
    const std::uint64_t rows = big_tile_rows(ta, false, m, n, k);
    if (rows == 0 || !usable(beta)) return false;
    const std::size_t total = ta ? k : m, last = total % rows;
    // Every tile's kernels are found before C is touched.
    auto tile = [&](std::size_t at, std::size_t count, T tile_beta) {
        return ta ? pieces_of(dispatch, true, false, m, n, count, a + at * m, b + at * n, tile_beta, c)
                  : pieces_of(dispatch, false, false, count, n, k, a + at * k, b, tile_beta, c + at * n);
    };
    const T later = ta ? T(1) : beta;
    for (auto p : {tile(0, rows, beta), tile(0, rows, later), tile(0, last != 0 ? last : rows, later)})
        if (!p.full || !p.last) return false;
    for (std::size_t at = 0; at < total; at += rows) {
        auto p = tile(at, std::min<std::size_t>(rows, total - at), at == 0 ? beta : later);
        run_pieces(p);
    }
    return true;
}

// Bᵀ of B (n×k, row-major) as k×n, in a buffer of this thread's that only
// grows (a training loop's steady state allocates nothing).
template <class T>
const T* transposed(const T* b, std::size_t n, std::size_t k) {
    thread_local std::vector<T> copy;
    if (copy.size() < n * k) copy.resize(n * k);
    // Column-major, B is k×n with leading dimension k, Bᵀ n×k with n.
    libxsmm_otrans(copy.data(), b, sizeof(T), libxsmm_blasint(k), libxsmm_blasint(n), libxsmm_blasint(k), libxsmm_blasint(n));
    return copy.data();
}

// C = A·B or A·Bᵀ with many rows: tiles of `rows` rows of A and C, each a
// small product (Bᵀ copied first: libxsmm has no kernel for it). Both
// kernels are found before C is touched, so a refusal leaves it as it was.
template <class T, class Dispatch>
bool run_row_tiles(Dispatch dispatch, bool tb, std::size_t m, std::size_t n, std::size_t k, const T* a, const T* b, T beta,
                   T* c) {
    const std::size_t rows = std::size_t(max_multiply_adds / (std::uint64_t(n) * k)), last = m % rows;
    const auto full = kernel_for(dispatch, false, false, rows, n, k, beta);
    const auto rest = last != 0 ? kernel_for(dispatch, false, false, last, n, k, beta) : full;
    if (!full || !rest) return false;
    const T* bn = tb ? transposed(b, n, k) : b;
    for (std::size_t r = 0; r < m; r += rows) (r + rows <= m ? full : rest)(bn, a + r * k, c + r * n);
    return true;
}

// C = Aᵀ·B with a long inner dimension (a weight gradient summed over many
// rows): tiles of `depth` rows of A and B, the first with beta, the others
// adding to it.
template <class T, class Dispatch>
bool run_depth_tiles(Dispatch dispatch, std::size_t m, std::size_t n, std::size_t k, const T* a, const T* b, T beta, T* c) {
    const std::size_t depth = std::size_t(max_multiply_adds / (std::uint64_t(m) * n)), last = k % depth;
    const auto first = kernel_for(dispatch, true, false, m, n, depth, beta);
    const auto more = kernel_for(dispatch, true, false, m, n, depth, T(1));
    const auto rest = last != 0 ? kernel_for(dispatch, true, false, m, n, last, T(1)) : more;
    if (!first || !more || !rest) return false;
    for (std::size_t p = 0; p < k; p += depth)
        (p == 0 ? first : p + depth <= k ? more : rest)(b + p * n, a + p * m, c);
    return true;
}

// A product above the limit that splits into small ones of at least
// `min_tile` rows (A·B, A·Bᵀ) or inner rows (Aᵀ·B); false for any other,
// and for one row or column, which OpenBLAS's gemv reads once (blas.cpp).
template <class T, class Dispatch>
bool run_tiles(Dispatch dispatch, bool ta, bool tb, std::size_t m, std::size_t n, std::size_t k, const T* a, const T* b, T beta,
               T* c) {
    if (m <= 1 || n <= 1 || k == 0 || !usable(beta)) return false;
    const int threads = blas_threads();
    if (threads > max_tiling_threads) return false;
    const std::uint64_t min_rows = tb && threads > 1 ? min_tile_transposed_two_threads : min_tile;
    if (!ta && n <= max_multiply_adds && k <= max_multiply_adds && max_multiply_adds / (std::uint64_t(n) * k) >= min_rows)
        return run_row_tiles(dispatch, tb, m, n, k, a, b, beta, c);
    if (ta && !tb && m <= max_multiply_adds && n <= max_multiply_adds && max_multiply_adds / (std::uint64_t(m) * n) >= min_tile)
        return run_depth_tiles(dispatch, m, n, k, a, b, beta, c);
    return false;
}

template <class T, class Dispatch>
bool small_or_tiled(Dispatch dispatch, bool ta, bool tb, std::size_t m, std::size_t n, std::size_t k, const T* a, const T* b,
                    T beta, T* c) {
    if (wanted_small(m, n, k, beta)) return run(dispatch, ta, tb, m, n, k, a, b, beta, c);
    if (run_tiles(dispatch, ta, tb, m, n, k, a, b, beta, c)) return true;
    if (!wanted(m, n, k, beta) && run_big_tiles(dispatch, ta, m, n, k, a, b, beta, c)) return true;
    if (!wanted(m, n, k, beta)) return false;  // what remains wanted is medium
    if (blas_threads() > 1) return run_medium_pieces(dispatch, ta, tb, m, n, k, a, b, beta, c);
    return run(dispatch, ta, tb, m, n, k, a, b, beta, c);
}
#endif

}  // namespace

#ifdef TAPEGRAD_HAVE_LIBXSMM
bool small_gemm(bool ta, bool tb, std::size_t m, std::size_t n, std::size_t k, const float* a, const float* b, float beta,
                float* c) {
    return small_or_tiled(libxsmm_smmdispatch, ta, tb, m, n, k, a, b, beta, c);
}
bool small_gemm(bool ta, bool tb, std::size_t m, std::size_t n, std::size_t k, const double* a, const double* b, double beta,
                double* c) {
    return small_or_tiled(libxsmm_dmmdispatch, ta, tb, m, n, k, a, b, beta, c);
}
bool small_gemm_takes(std::size_t m, std::size_t n, std::size_t k, double beta) {
    return wanted(m, n, k, beta) || (usable(beta) && big_tile_rows(false, false, m, n, k) != 0);
}
bool small_gemm_built() { return true; }
bool small_gemm_medium() { return wider_kernels_here(); }
#else
bool small_gemm_takes(std::size_t, std::size_t, std::size_t, double) { return false; }
bool small_gemm(bool, bool, std::size_t, std::size_t, std::size_t, const float*, const float*, float, float*) { return false; }
bool small_gemm(bool, bool, std::size_t, std::size_t, std::size_t, const double*, const double*, double, double*) { return false; }
bool small_gemm_built() { return false; }
bool small_gemm_medium() { return false; }
#endif

void set_small_gemm_enabled(bool on) { enabled.store(on, std::memory_order_relaxed); }
bool small_gemm_enabled() { return enabled.load(std::memory_order_relaxed); }

}  // namespace tapegrad::detail
