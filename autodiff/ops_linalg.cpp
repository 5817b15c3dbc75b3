// Matrix products (BLAS) and axis permutations.

#include <numeric>

#include <xtensor/xmanipulation.hpp>

#include "blas.hpp"
#include "small_gemm.hpp"
#include "ops.hpp"
#include "op_support.hpp"

namespace tapegrad {

using detail::Dims;

namespace {

using detail::gemm;

// The geometry of a (possibly batched) product: `batch` products of
// (m×k)·(k×n); a 2-D operand has batch stride 0 (shared across the batch).
struct MatmulGeometry {
    std::size_t batch, m, k, n, stride_a, stride_b;
};

template <class S1, class S2>
MatmulGeometry matmul_geometry(const S1& a, const S2& b) {
    auto fail = [&](const std::string& why) {
        throw ShapeError("matmul: " + why + ": " + shape_str(a) + " @ " + shape_str(b));
    };
    if (a.size() < 2 || a.size() > 3 || b.size() < 2 || b.size() > 3)
        fail("operands must be 2-D (M,K) or 3-D batched (B,M,K); reshape vectors to matrices first");
    const std::size_t ra = a.size(), rb = b.size();
    MatmulGeometry g{};
    g.m = a[ra - 2];
    g.k = a[ra - 1];
    g.n = b[rb - 1];
    if (b[rb - 2] != g.k) fail("inner dimensions differ (" + std::to_string(g.k) + " vs " + std::to_string(b[rb - 2]) + ")");
    const std::size_t ba = ra == 3 ? a[0] : 0, bb = rb == 3 ? b[0] : 0;
    if (ra == 3 && rb == 3 && ba != bb) fail("batch sizes differ (" + std::to_string(ba) + " vs " + std::to_string(bb) + ")");
    g.batch = ra == 3 ? ba : (rb == 3 ? bb : 1);
    g.stride_a = ra == 3 ? g.m * g.k : 0;
    g.stride_b = rb == 3 ? g.k * g.n : 0;
    return g;
}

template <class T>
struct Matmul {
    static void forward(const OpContext<T>& c, Tensor<T>& out) {
        const Tensor<T>& a = c.input(0);
        const Tensor<T>& b = c.input(1);
        const MatmulGeometry g = matmul_geometry(a.shape(), b.shape());
        if (a.dimension() == 3 || b.dimension() == 3)
            c.fit(out, Dims{g.batch, g.m, g.n});
        else
            c.fit(out, Dims{g.m, g.n});
        if (g.k == 0) {
            out.fill(T(0));
            return;
        }
        if (g.m == 0 || g.n == 0 || g.batch == 0) return;
        if (g.stride_b == 0) {
            // A shared right operand: the batch folds into the rows, one GEMM.
            gemm(false, false, g.batch * g.m, g.n, g.k, a.data(), b.data(), T(0), out.data());
            return;
        }
        for (std::size_t i = 0; i < g.batch; ++i)
            gemm(false, false, g.m, g.n, g.k, a.data() + i * g.stride_a, b.data() + i * g.stride_b, T(0),
                 out.data() + i * g.m * g.n);
    }
    // dA += G·Bᵀ, dB += Aᵀ·G, written by GEMM with beta = 1 straight into the
    // operands' gradient buffers; a shared 2-D operand sums over the batch.
    static void backward(OpContext<T>& c) {
        const Tensor<T>& a = c.input(0);
        const Tensor<T>& b = c.input(1);
        const MatmulGeometry g = matmul_geometry(a.shape(), b.shape());
        if (g.m == 0 || g.n == 0 || g.k == 0 || g.batch == 0) return;
        const T* gd = c.grad().data();
        if (c.needs_grad(0)) {
            T* da = c.grad_buffer(0).data();
            if (g.stride_b == 0)
                gemm(false, true, g.batch * g.m, g.k, g.n, gd, b.data(), T(1), da);
            else
                for (std::size_t i = 0; i < g.batch; ++i)
                    gemm(false, true, g.m, g.k, g.n, gd + i * g.m * g.n, b.data() + i * g.stride_b, T(1), da + i * g.stride_a);
        }
        if (c.needs_grad(1)) {
            if (g.stride_b == 0) {
                c.accumulate_atb(1, a.data(), gd, g.batch * g.m, g.k, g.n);
            } else {
                T* db = c.grad_buffer(1).data();
                for (std::size_t i = 0; i < g.batch; ++i)
                    gemm(true, false, g.k, g.n, g.m, a.data() + i * g.stride_a, gd + i * g.m * g.n, T(1), db + i * g.stride_b);
            }
        }
    }
    static constexpr OpDef<T> def{"matmul", forward, backward, reads_input(0) | reads_input(1)};
};


// Rows of the GEMM: every axis of x but the last (also when that one is 0).
template <class T>
std::size_t rows_of(const Tensor<T>& x) {
    std::size_t r = 1;
    for (std::size_t k = 0; k + 1 < x.dimension(); ++k) r *= x.shape()[k];
    return r;
}

// How the third parent, if any, is added.
enum class LinearBias : std::uint8_t { none, per_feature, full };  // (O), or the output's shape
struct LinearAttrs {
    LinearBias bias;
};
// x·Wᵀ as x·(Wᵀ) with the tape's transposed copy of W: when libxsmm would
// take the untransposed product (it has no kernel for x·Wᵀ) and x has more
// than one row (one row goes to gemv, which reads W once as it is).
inline bool use_transposed(std::size_t rows, std::size_t outs, std::size_t in, double beta) {
    return rows > 1 && detail::small_gemm_takes(rows, outs, in, beta);
}
// From this many rows the first reader of a weight takes the copy too: the
// copy (outs·in) is then at most a 32nd of the product, which libxsmm's
// kernel runs 1.5-2× faster than OpenBLAS runs x·Wᵀ here (the input
// projection over all steps, the first step's recurrent product). Left to
// OpenBLAS on two threads, such a product also leaves OpenBLAS's second
// thread spinning for about 0.1 s (its THREAD_TIMEOUT), through the rest of
// the step, on the core the helper thread needs (docs/performance.md).
constexpr std::size_t kFirstReaderCopyRows = 32;

template <class T>
struct Linear {
    static void forward(const OpContext<T>& c, Tensor<T>& out) {
        const Tensor<T>& x = c.input(0);
        const Tensor<T>& w = c.input(1);
        const std::size_t in = w.shape()[1], outs = w.shape()[0], rows = rows_of(x);
        Dims s(x.shape().begin(), x.shape().end());
        s.back() = outs;
        c.fit(out, s);
        if (rows == 0 || outs == 0) return;
        const LinearBias bias = op_attrs<LinearAttrs>(c).bias;
        T beta = T(0);
        if (bias == LinearBias::full) {
            std::memcpy(out.data(), c.input(2).data(), out.size() * sizeof(T));
            beta = T(1);
        }
        if (in == 0) {
            if (bias != LinearBias::full) out.fill(T(0));
        } else if (const T* wt = use_transposed(rows, outs, in, beta)
                                     ? c.input_transposed(1, rows >= kFirstReaderCopyRows)
                                     : nullptr) {
            gemm(false, false, rows, outs, in, x.data(), wt, beta, out.data());  // x·(Wᵀ), Wᵀ kept by the tape
        } else {
            gemm(false, true, rows, outs, in, x.data(), w.data(), beta, out.data());
        }
        if (bias == LinearBias::per_feature) {
            const T* b = c.input(2).data();
            T* o = out.data();
            for (std::size_t r = 0; r < rows; ++r)
                for (std::size_t j = 0; j < outs; ++j) o[r * outs + j] += b[j];
        }
    }
    // dx += G·w, dw += Gᵀ·x, db += Σ_rows G
    static void backward(OpContext<T>& c) {
        const Tensor<T>& x = c.input(0);
        const Tensor<T>& w = c.input(1);
        const std::size_t in = w.shape()[1], outs = w.shape()[0], rows = rows_of(x);
        if (rows == 0 || outs == 0) return;
        const T* g = c.grad().data();
        if (in != 0 && c.needs_grad(0)) gemm(false, false, rows, in, outs, g, w.data(), T(1), c.grad_buffer(0).data());
        if (in != 0 && c.needs_grad(1)) c.accumulate_atb(1, g, x.data(), rows, outs, in);
        if (op_attrs<LinearAttrs>(c).bias == LinearBias::full && c.needs_grad(2)) {
            c.accumulate_raw(2, g);
        } else if (op_attrs<LinearAttrs>(c).bias == LinearBias::per_feature && c.needs_grad(2)) {
            T* db = c.grad_buffer(2).data();
            for (std::size_t r = 0; r < rows; ++r)
                for (std::size_t j = 0; j < outs; ++j) db[j] += g[r * outs + j];
        }
    }
    static constexpr OpDef<T> def{"linear", forward, backward, reads_input(0) | reads_input(1)};
};

template <class T>
void check_linear(Var<T> x, Var<T> w, const Var<T>* b) {
    auto fail = [&](const std::string& why) {
        std::string shapes = shape_str(x.shape()) + ", weight " + shape_str(w.shape());
        if (b) shapes += ", bias " + shape_str(b->shape());
        throw ShapeError("linear: " + why + ": input " + shapes);
    };
    if (w.dim() != 2) fail("weight must be 2-D (out_features, in_features)");
    if (x.dim() < 1 || x.shape()[x.dim() - 1] != w.shape()[1]) fail("input's last axis must equal the weight's in_features");
    if (!b) return;
    const bool per_feature = b->dim() == 1 && b->shape()[0] == w.shape()[0];
    bool full = b->dim() == x.dim();
    for (std::size_t k = 0; full && k < x.dim(); ++k)
        full = b->shape()[k] == (k + 1 == x.dim() ? w.shape()[0] : x.shape()[k]);
    if (!per_feature && !full) fail("bias must be 1-D of size out_features, or of the output's shape");
}

// The node's axes, kept with its indices (one per axis: any rank).
template <class T>
detail::Dims perm_of(const OpContext<T>& c) {
    const std::span<const std::int64_t> axes = c.indices();
    return detail::Dims(axes.begin(), axes.end());
}

template <class T>
struct Permute {
    static void forward(const OpContext<T>& c, Tensor<T>& out) {
        const Tensor<T>& x = c.input(0);
        const auto p = perm_of(c);
        Dims s(x.dimension());
        for (std::size_t k = 0; k < s.size(); ++k) s[k] = x.shape()[p[k]];
        c.fit(out, s);
        if (out.size() == 0) return;  // xtensor's strided copy would step through (2^40, 0)'s rows
        xt::noalias(out) = xt::transpose(x, p);
    }
    static void backward(OpContext<T>& c) {
        if (!c.needs_grad(0)) return;
        const auto p = perm_of(c);
        detail::Dims inverse(p.size());
        for (std::size_t k = 0; k < p.size(); ++k) inverse[p[k]] = k;
        c.accumulate(0, xt::transpose(c.grad(), inverse));
    }
    static constexpr OpDef<T> def{"permute", forward, backward};
};

}  // namespace

template <class T>
Var<T> matmul(Var<T> a, Var<T> b) {
    Tape<T>& t = detail::tape_of("matmul", {a, b});
    matmul_geometry(a.shape(), b.shape());
    return detail::record<Matmul<T>>(t, {a, b});
}

template <class T>
Var<T> linear(Var<T> x, Var<T> w) {
    Tape<T>& t = detail::tape_of("linear", {x, w});
    check_linear<T>(x, w, nullptr);
    return detail::record<Linear<T>>(t, {x, w});
}

template <class T>
Var<T> linear(Var<T> x, Var<T> w, Var<T> b) {
    Tape<T>& t = detail::tape_of("linear", {x, w, b});
    check_linear<T>(x, w, &b);
    const LinearBias bias = b.dim() == 1 && x.dim() != 1 ? LinearBias::per_feature : LinearBias::full;
    return detail::record<Linear<T>>(t, {x, w, b}, OpAttrs::of(LinearAttrs{bias}));
}

template <class T>
Var<T> permute(Var<T> x, const std::vector<std::int64_t>& axes) {
    Tape<T>& t = detail::tape_of("permute", {x});
    const std::size_t rank = x.dim();
    std::string given;
    for (auto a : axes) given += (given.empty() ? "" : ", ") + std::to_string(a);
    if (axes.size() != rank)
        throw ArgumentError("permute: " + std::to_string(axes.size()) + " axes (" + given + ") for a tensor of shape " +
                            shape_str(x.shape()));
    std::vector<bool> seen(rank, false);
    std::vector<std::int64_t> perm(rank);
    for (std::size_t k = 0; k < rank; ++k) {
        const std::size_t a = detail::normalize_axis("permute", axes[k], rank);
        if (seen[a]) throw ArgumentError("permute: (" + given + ") is not a permutation of the axes of " + shape_str(x.shape()));
        seen[a] = true;
        perm[k] = static_cast<std::int64_t>(a);
    }
    detail::Recording<T> r(t, Permute<T>::def, {x});
    std::copy(perm.begin(), perm.end(), r.add_indices(rank));
    return r.finish();
}

template <class T>
Var<T> transpose(Var<T> x) {
    detail::tape_of("transpose", {x});
    const auto r = static_cast<std::int64_t>(x.dim());
    if (r < 2) throw ArgumentError("transpose: needs rank >= 2, got shape " + shape_str(x.shape()));
    std::vector<std::int64_t> axes(static_cast<std::size_t>(r));
    std::iota(axes.begin(), axes.end(), std::int64_t(0));
    std::swap(axes[r - 1], axes[r - 2]);
    return permute(x, axes);
}

#define TAPEGRAD_INSTANTIATE(T)                                                \
    template Var<T> matmul(Var<T>, Var<T>);                                    \
    template Var<T> linear(Var<T>, Var<T>);                                    \
    template Var<T> linear(Var<T>, Var<T>, Var<T>);                            \
    template Var<T> transpose(Var<T>);                                         \
    template Var<T> permute(Var<T>, const std::vector<std::int64_t>&);
TAPEGRAD_INSTANTIATE(float)
TAPEGRAD_INSTANTIATE(double)

}  // namespace tapegrad
