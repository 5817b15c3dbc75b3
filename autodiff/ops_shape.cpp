// Dims ops: reshape, slicing, joining, indexing. All copy through raw
// row-major loops; the backward of every slicing op adds into one shared
// gradient buffer of its source (`grad_buffer`; narrow's first slice writes
// its block and zeros the rest instead), so slicing T pieces out of a tensor
// costs O(T) in backward, not O(T²).

#include <algorithm>
#include <cstring>

#include "ops.hpp"
#include "op_support.hpp"

namespace tapegrad {

using detail::Dims;

using detail::axis_geometry;
using detail::AxisGeometry;

namespace {

// dst viewed as (outer, dn, inner) receives src viewed as (outer, sn, inner):
// dst[o, doff + j, i] = src[o, soff + j, i] for j < len. `add` accumulates.
template <class T>
void copy_blocks(T* dst, std::size_t dn, std::size_t doff, const T* src, std::size_t sn, std::size_t soff, std::size_t outer,
                 std::size_t len, std::size_t inner, bool add) {
    const std::size_t block = len * inner;
    if (block == 0) return;  // no per-row loop over an empty (2^40, 0) block
    for (std::size_t o = 0; o < outer; ++o) {
        T* d = dst + (o * dn + doff) * inner;
        const T* s = src + (o * sn + soff) * inner;
        if (add)
            for (std::size_t i = 0; i < block; ++i) d[i] += s[i];
        else if (block)
            std::memcpy(d, s, block * sizeof(T));
    }
}

// x viewed as (outer, n, inner): zeros every element outside [start, start + len) along n.
template <class T>
void zero_outside(T* x, const AxisGeometry& g, std::size_t start, std::size_t len) {
    const std::size_t before = start * g.inner, after = (g.n - start - len) * g.inner, row = g.n * g.inner;
    if (before == 0 && after == 0) return;  // no per-row loop over an empty (2^40, 0) or a whole-axis slice
    for (std::size_t o = 0; o < g.outer; ++o) {
        T* r = x + o * row;
        if (before) std::memset(r, 0, before * sizeof(T));
        if (after) std::memset(r + row - after, 0, after * sizeof(T));
    }
}

template <class T>
struct Reshape {
    static void forward(const OpContext<T>& c, Tensor<T>& out) {
        const auto dims = c.indices();
        c.fit(out, Dims(dims.begin(), dims.end()));
        const Tensor<T>& x = c.input(0);
        if (x.size() != 0) std::memcpy(out.data(), x.data(), x.size() * sizeof(T));
    }
    static void backward(OpContext<T>& c) {
        if (c.needs_grad(0)) c.accumulate_raw(0, c.grad().data());
    }
    static constexpr OpDef<T> def{"reshape", forward, backward, kReadsNothing};
};

// [start, start + length) along axis; select drops the axis.
struct NarrowAttrs {
    std::size_t axis, start, length;
    bool drop_axis;
};
// concat's, stack's and index_select's axis.
struct AxisAttrs {
    std::size_t axis;
};
// gather's axis, and the rank of its index (whose shape and values are the node's indices).
struct GatherAttrs {
    std::size_t axis, rank;
};

template <class T>
struct Narrow {
    static void forward(const OpContext<T>& c, Tensor<T>& out) {
        const Tensor<T>& x = c.input(0);
        const auto [axis, start, len, drop_axis] = op_attrs<NarrowAttrs>(c);
        Dims s = detail::to_shape(x.shape());
        if (drop_axis)
            s.erase(s.begin() + static_cast<std::ptrdiff_t>(axis));
        else
            s[axis] = len;
        c.fit(out, s);
        const AxisGeometry g = axis_geometry(x.shape(), axis);
        copy_blocks(out.data(), len, 0, x.data(), g.n, start, g.outer, len, g.inner, false);
    }
    // The first piece to reach the source's gradient writes its block and
    // zeros the rest, instead of zeroing all and adding: an LSTM's four gate
    // slices then write each element of the gate gradient twice, not three
    // times. A slice along the first axis is one contiguous block, which the
    // tape lets a run of such slices write below each other without zeroing
    // first (OpContext::grad_block): a recurrent layer's per-step selects of
    // its input projection.
    static void backward(OpContext<T>& c) {
        if (!c.needs_grad(0)) return;
        const auto [axis, start, len, drop_axis] = op_attrs<NarrowAttrs>(c);
        const AxisGeometry g = axis_geometry(c.input_shape(0), axis);
        if (g.outer == 1) {
            bool assign = false;
            Tensor<T>& gx = c.grad_block(0, start * g.inner, (start + len) * g.inner, assign);
            copy_blocks(gx.data(), g.n, start, c.grad().data(), len, 0, 1, len, g.inner, !assign);
            return;
        }
        const bool first = !c.grad_started(0);
        Tensor<T>& gx = first ? c.acquire_grad(0) : c.grad_buffer(0);
        if (first) zero_outside(gx.data(), g, start, len);
        copy_blocks(gx.data(), g.n, start, c.grad().data(), len, 0, g.outer, len, g.inner, !first);
    }
    static constexpr OpDef<T> def{"narrow", forward, backward, kReadsNothing};
};

template <class T>
struct Concat {
    static void forward(const OpContext<T>& c, Tensor<T>& out) {
        const std::size_t axis = op_attrs<AxisAttrs>(c).axis;
        Dims s = detail::to_shape(c.input(0).shape());
        s[axis] = 0;
        for (std::size_t k = 0; k < c.inputs(); ++k) s[axis] += c.input(k).shape()[axis];
        c.fit(out, s);
        const AxisGeometry g = axis_geometry(s, axis);
        std::size_t off = 0;
        for (std::size_t k = 0; k < c.inputs(); ++k) {
            const Tensor<T>& x = c.input(k);
            const std::size_t len = x.shape()[axis];
            copy_blocks(out.data(), g.n, off, x.data(), len, 0, g.outer, len, g.inner, false);
            off += len;
        }
    }
    static void backward(OpContext<T>& c) {
        const std::size_t axis = op_attrs<AxisAttrs>(c).axis;
        const AxisGeometry g = axis_geometry(c.grad().shape(), axis);
        std::size_t off = 0;
        for (std::size_t k = 0; k < c.inputs(); ++k) {
            const std::size_t len = c.input_shape(k)[axis];
            if (c.needs_grad(k)) copy_blocks(c.grad_buffer(k).data(), len, 0, c.grad().data(), g.n, off, g.outer, len, g.inner, true);
            off += len;
        }
    }
    static constexpr OpDef<T> def{"concat", forward, backward, kReadsNothing};
};

template <class T>
struct Stack {
    static void forward(const OpContext<T>& c, Tensor<T>& out) {
        const std::size_t axis = op_attrs<AxisAttrs>(c).axis;
        const Tensor<T>& x0 = c.input(0);
        Dims s = detail::to_shape(x0.shape());
        s.insert(s.begin() + static_cast<std::ptrdiff_t>(axis), c.inputs());
        c.fit(out, s);
        const AxisGeometry g = axis_geometry(s, axis);
        for (std::size_t k = 0; k < c.inputs(); ++k)
            copy_blocks(out.data(), g.n, k, c.input(k).data(), 1, 0, g.outer, 1, g.inner, false);
    }
    static void backward(OpContext<T>& c) {
        const std::size_t axis = op_attrs<AxisAttrs>(c).axis;
        const AxisGeometry g = axis_geometry(c.grad().shape(), axis);
        for (std::size_t k = 0; k < c.inputs(); ++k) {
            if (c.needs_grad(k)) copy_blocks(c.grad_buffer(k).data(), 1, 0, c.grad().data(), g.n, k, g.outer, 1, g.inner, true);
        }
    }
    static constexpr OpDef<T> def{"stack", forward, backward, kReadsNothing};
};

// AxisAttrs; the indices are the node's.
template <class T>
struct IndexSelect {
    static void forward(const OpContext<T>& c, Tensor<T>& out) {
        const Tensor<T>& x = c.input(0);
        const std::size_t axis = op_attrs<AxisAttrs>(c).axis;
        const auto idx = c.indices();
        Dims s = detail::to_shape(x.shape());
        s[axis] = idx.size();
        c.fit(out, s);
        const AxisGeometry g = axis_geometry(x.shape(), axis);
        for (std::size_t j = 0; j < idx.size(); ++j)
            copy_blocks(out.data(), idx.size(), j, x.data(), g.n, static_cast<std::size_t>(idx[j]), g.outer, 1, g.inner, false);
    }
    static void backward(OpContext<T>& c) {
        if (!c.needs_grad(0)) return;
        Tensor<T>& gx = c.grad_buffer(0);
        const std::size_t axis = op_attrs<AxisAttrs>(c).axis;
        const auto idx = c.indices();
        const AxisGeometry g = axis_geometry(gx.shape(), axis);
        for (std::size_t j = 0; j < idx.size(); ++j)
            copy_blocks(gx.data(), g.n, static_cast<std::size_t>(idx[j]), c.grad().data(), idx.size(), j, g.outer, 1, g.inner, true);
    }
    static constexpr OpDef<T> def{"index_select", forward, backward};
};

// GatherAttrs; the node's indices: the index's shape, then its values.
// Calls f(k, offset in x) for each element k of the index, in row-major order.
template <class T, class S, class F>
void for_each_gather(const OpContext<T>& c, const S& xshape, F f) {
    const auto [axis, rank] = op_attrs<GatherAttrs>(c);
    const auto all = c.indices();
    const std::int64_t* dims = all.data();
    const std::int64_t* values = all.data() + rank;
    const std::size_t count = all.size() - rank;
    std::vector<std::size_t> xstride(rank, 1), idx(rank, 0);
    for (std::size_t d = rank - 1; d-- > 0;) xstride[d] = xstride[d + 1] * xshape[d + 1];
    for (std::size_t k = 0; k < count; ++k) {
        std::size_t off = 0;
        for (std::size_t d = 0; d < rank; ++d)
            off += (d == axis ? static_cast<std::size_t>(values[k]) : idx[d]) * xstride[d];
        f(k, off);
        for (std::size_t d = rank; d-- > 0;) {
            if (++idx[d] < static_cast<std::size_t>(dims[d])) break;
            idx[d] = 0;
        }
    }
}

template <class T>
struct Gather {
    static void forward(const OpContext<T>& c, Tensor<T>& out) {
        const Tensor<T>& x = c.input(0);
        const std::size_t rank = op_attrs<GatherAttrs>(c).rank;
        const auto all = c.indices();
        c.fit(out, Dims(all.begin(), all.begin() + static_cast<std::ptrdiff_t>(rank)));
        T* o = out.data();
        const T* xd = x.data();
        for_each_gather(c, x.shape(), [&](std::size_t k, std::size_t off) { o[k] = xd[off]; });
    }
    static void backward(OpContext<T>& c) {
        if (!c.needs_grad(0)) return;
        T* gx = c.grad_buffer(0).data();
        const T* g = c.grad().data();
        for_each_gather(c, c.input_shape(0), [&](std::size_t k, std::size_t off) { gx[off] += g[k]; });
    }
    static constexpr OpDef<T> def{"gather", forward, backward};
};

template <class T>
Var<T> record_narrow(Var<T> x, std::size_t axis, std::size_t start, std::size_t len, bool drop) {
    Tape<T>& t = *x.tape();
    return detail::record<Narrow<T>>(t, {x}, OpAttrs::of(NarrowAttrs{axis, start, len, drop}));
}

// split and chunk record one node per piece: refuse more pieces than the tape
// can still hold before allocating anything for them.
template <class T>
void check_piece_count(const Tape<T>& t, const char* op, std::uint64_t pieces) {
    const std::uint64_t room = t.max_nodes() - std::min(t.size(), t.max_nodes());
    if (pieces > room)
        throw ArgumentError(std::string(op) + ": " + std::to_string(pieces) + " pieces would exceed the tape's limit of " +
                            detail::node_limit_str(t.max_nodes()) + " nodes (" + std::to_string(t.size()) + " recorded)");
}

// Records `count` consecutive narrows of x along axis a, piece k of size
// size_of(k) (sizes already checked to sum to the axis): all or none.
template <class T, class F>
std::vector<Var<T>> record_pieces(Var<T> x, const char* op, std::size_t a, std::size_t count, F size_of) {
    Tape<T>& t = *x.tape();
    const std::size_t first = t.size();
    const auto out_of_memory = [&] {
        return ArgumentError(std::string(op) + ": out of memory recording " + std::to_string(count) + " pieces of " +
                             shape_str(x.shape()));
    };
    try {
        std::vector<Var<T>> out;
        out.reserve(count);
        std::size_t start = 0;
        for (std::size_t k = 0; k < count; ++k) {
            out.push_back(record_narrow(x, a, start, size_of(k), false));
            start += size_of(k);
        }
        return out;
    } catch (const std::bad_alloc&) {  // from the vector of handles
        detail::TapeAccess<T>::truncate(t, static_cast<NodeId>(first));
        throw out_of_memory();
    } catch (const std::length_error&) {
        detail::TapeAccess<T>::truncate(t, static_cast<NodeId>(first));
        throw out_of_memory();
    } catch (...) {
        detail::TapeAccess<T>::truncate(t, static_cast<NodeId>(first));
        throw;
    }
}

}  // namespace

template <class T>
Var<T> reshape(Var<T> x, const std::vector<std::int64_t>& shape) {
    Tape<T>& t = detail::tape_of("reshape", {x});
    std::size_t known = 1;
    bool overflow = false;
    int inferred = -1;
    std::string wanted;
    for (std::size_t k = 0; k < shape.size(); ++k) {
        wanted += (k ? ", " : "") + std::to_string(shape[k]);
        if (shape[k] == -1) {
            if (inferred >= 0) throw ArgumentError("reshape: more than one -1 in (" + wanted + ")");
            inferred = static_cast<int>(k);
        } else if (shape[k] < 0) {
            throw ArgumentError("reshape: negative size in (" + wanted + ")");
        } else {
            overflow = overflow || !checked_mul(known, static_cast<std::size_t>(shape[k]), known);
        }
    }
    // A wrapped product could equal x's size, e.g. (2^63 - 1)^2 = 1 mod 2^64.
    if (overflow) throw ShapeError("reshape: cannot reshape " + shape_str(x.shape()) + " to (" + wanted + "): " +
                                   detail::too_large_message("(" + wanted + ")"));
    std::vector<std::int64_t> dims = shape;
    const std::size_t total = x.size();
    if (inferred >= 0) {
        if (known == 0 || total % known != 0)
            throw ShapeError("reshape: cannot reshape " + shape_str(x.shape()) + " (" + std::to_string(total) +
                             " elements) to (" + wanted + ")");
        dims[static_cast<std::size_t>(inferred)] = static_cast<std::int64_t>(total / known);
    } else if (known != total) {
        throw ShapeError("reshape: cannot reshape " + shape_str(x.shape()) + " (" + std::to_string(total) + " elements) to (" +
                         wanted + ") (" + std::to_string(known) + " elements)");
    }
    // A zero may hide a huge dimension, e.g. (2^62, 0, 4) for an empty x.
    shape_size("reshape", dims);
    detail::Recording<T> r(t, Reshape<T>::def, {x});
    std::int64_t* d = r.add_indices(dims.size());
    std::copy(dims.begin(), dims.end(), d);
    return r.finish();
}

template <class T>
Var<T> narrow(Var<T> x, std::int64_t axis, std::int64_t start, std::int64_t length) {
    detail::tape_of("narrow", {x});
    const std::size_t a = detail::normalize_axis("narrow", axis, x.dim());
    const auto size = static_cast<std::int64_t>(x.shape()[a]);  // <= 2^60 (shape_size)
    // Compared without forming start + length, which may overflow.
    if (start < 0 || length < 0 || start > size || length > size - start)
        throw ArgumentError("narrow: start " + std::to_string(start) + " and length " + std::to_string(length) +
                            " along axis " + std::to_string(axis) + " are outside a tensor of shape " + shape_str(x.shape()));
    return record_narrow(x, a, static_cast<std::size_t>(start), static_cast<std::size_t>(length), false);
}

template <class T>
Var<T> slice(Var<T> x, std::int64_t axis, std::int64_t start, std::int64_t end) {
    detail::tape_of("slice", {x});
    const std::size_t a = detail::normalize_axis("slice", axis, x.dim());
    const auto size = static_cast<std::int64_t>(x.shape()[a]);
    const std::int64_t s = start < 0 ? start + size : start, e = end < 0 ? end + size : end;
    if (s < 0 || e > size || s > e)
        throw ArgumentError("slice: [" + std::to_string(start) + ", " + std::to_string(end) + ") along axis " +
                            std::to_string(axis) + " is outside a tensor of shape " + shape_str(x.shape()));
    return record_narrow(x, a, static_cast<std::size_t>(s), static_cast<std::size_t>(e - s), false);
}

template <class T>
Var<T> select(Var<T> x, std::int64_t axis, std::int64_t index) {
    detail::tape_of("select", {x});
    const std::size_t a = detail::normalize_axis("select", axis, x.dim());
    const auto size = static_cast<std::int64_t>(x.shape()[a]);
    const std::int64_t i = index < 0 ? index + size : index;
    if (i < 0 || i >= size)
        throw ArgumentError("select: index " + std::to_string(index) + " along axis " + std::to_string(axis) +
                            " is outside a tensor of shape " + shape_str(x.shape()));
    return record_narrow(x, a, static_cast<std::size_t>(i), 1, true);
}

template <class T>
std::vector<Var<T>> split(Var<T> x, const std::vector<std::int64_t>& sizes, std::int64_t axis) {
    Tape<T>& t = detail::tape_of("split", {x});
    const std::size_t a = detail::normalize_axis("split", axis, x.dim());
    check_piece_count(t, "split", sizes.size());
    std::int64_t total = 0;
    bool overflow = false;
    for (auto s : sizes) {
        if (s < 0) throw ArgumentError("split: negative piece size " + std::to_string(s));
        overflow = overflow || !checked_add(total, s, total);
    }
    if (overflow || total != static_cast<std::int64_t>(x.shape()[a])) {
        std::string given;  // at most the first 16 sizes: the list may be long
        for (std::size_t k = 0; k < sizes.size() && k < 16; ++k) given += (k ? ", " : "") + std::to_string(sizes[k]);
        if (sizes.size() > 16) given += ", ... (" + std::to_string(sizes.size()) + " sizes)";
        throw ShapeError("split: sizes (" + given + ") sum to " + (overflow ? std::string("more than 2^63") : std::to_string(total)) +
                         ", but axis " + std::to_string(axis) + " of " + shape_str(x.shape()) + " has size " +
                         std::to_string(x.shape()[a]));
    }
    return record_pieces(x, "split", a, sizes.size(), [&](std::size_t k) { return static_cast<std::size_t>(sizes[k]); });
}

template <class T>
std::vector<Var<T>> chunk(Var<T> x, std::int64_t n, std::int64_t axis) {
    detail::tape_of("chunk", {x});
    const std::size_t a = detail::normalize_axis("chunk", axis, x.dim());
    if (n <= 0) throw ArgumentError("chunk: number of chunks must be positive, got " + std::to_string(n));
    check_piece_count(*x.tape(), "chunk", static_cast<std::uint64_t>(n));
    const auto size = static_cast<std::int64_t>(x.shape()[a]);
    if (size % n != 0)
        throw ShapeError("chunk: axis " + std::to_string(axis) + " of " + shape_str(x.shape()) + " does not divide into " +
                         std::to_string(n) + " equal chunks");
    const auto piece = static_cast<std::size_t>(size / n);
    return record_pieces(x, "chunk", a, static_cast<std::size_t>(n), [=](std::size_t) { return piece; });
}

template <class T>
Var<T> concat(std::span<const Var<T>> xs, std::int64_t axis) {
    Tape<T>& t = detail::tape_of("concat", xs);
    const std::size_t a = detail::normalize_axis("concat", axis, xs[0].dim());
    Dims joined = detail::to_shape(xs[0].shape());
    joined[a] = 0;
    bool overflow = false;
    for (const Var<T>& x : xs) {
        bool ok = x.dim() == xs[0].dim();
        for (std::size_t d = 0; ok && d < x.dim(); ++d) ok = d == a || x.shape()[d] == xs[0].shape()[d];
        if (!ok)
            throw ShapeError("concat: shapes " + shape_str(xs[0].shape()) + " and " + shape_str(x.shape()) +
                             " differ outside axis " + std::to_string(axis));
        overflow = overflow || !checked_add(joined[a], x.shape()[a], joined[a]);
    }
    // The forward sums the same sizes; checked here, it cannot wrap there.
    if (overflow)
        throw ShapeError("concat: the sizes along axis " + std::to_string(axis) + " of " + std::to_string(xs.size()) +
                         " operands of shapes like " + shape_str(xs[0].shape()) + " sum to more than 2^64");
    shape_size("concat", joined);
    return detail::record<Concat<T>>(t, xs, OpAttrs::of(AxisAttrs{a}));
}

template <class T>
Var<T> stack(std::span<const Var<T>> xs, std::int64_t axis) {
    Tape<T>& t = detail::tape_of("stack", xs);
    const std::size_t a = detail::normalize_axis("stack", axis, xs[0].dim() + 1);
    for (const Var<T>& x : xs)
        if (!detail::shapes_equal(x.shape(), xs[0].shape()))
            throw ShapeError("stack: shapes " + shape_str(xs[0].shape()) + " and " + shape_str(x.shape()) + " differ");
    return detail::record<Stack<T>>(t, xs, OpAttrs::of(AxisAttrs{a}));
}

template <class T>
Var<T> index_select(Var<T> x, std::int64_t axis, const std::vector<std::int64_t>& index) {
    Tape<T>& t = detail::tape_of("index_select", {x});
    const std::size_t a = detail::normalize_axis("index_select", axis, x.dim());
    const auto size = static_cast<std::int64_t>(x.shape()[a]);
    for (std::size_t j = 0; j < index.size(); ++j)
        if (index[j] < 0 || index[j] >= size)
            throw ArgumentError("index_select: index " + std::to_string(index[j]) + " (position " + std::to_string(j) +
                                ") is outside axis " + std::to_string(axis) + " of shape " + shape_str(x.shape()));
    detail::Recording<T> r(t, IndexSelect<T>::def, {x}, OpAttrs::of(AxisAttrs{a}));
    std::copy(index.begin(), index.end(), r.add_indices(index.size()));
    return r.finish();
}

template <class T>
Var<T> gather(Var<T> x, std::int64_t axis, const Index& index) {
    Tape<T>& t = detail::tape_of("gather", {x});
    const std::size_t rank = x.dim();
    const std::size_t a = detail::normalize_axis("gather", axis, rank);
    if (index.dimension() != rank)
        throw ShapeError("gather: index of shape " + shape_str(index.shape()) + " must have the rank of x " + shape_str(x.shape()));
    for (std::size_t d = 0; d < rank; ++d)
        if (d != a && index.shape()[d] > x.shape()[d])
            throw ShapeError("gather: index of shape " + shape_str(index.shape()) + " is larger than x " + shape_str(x.shape()) +
                             " along axis " + std::to_string(d));
    // The index's shape sizes the output: it must not wrap around either.
    if (index.storage().size() != shape_size("gather", index.shape()))
        throw ShapeError("gather: an index of shape " + shape_str(index.shape()) + " holds " +
                         std::to_string(index.storage().size()) + " elements");
    const auto size = static_cast<std::int64_t>(x.shape()[a]);
    for (std::size_t k = 0; k < index.size(); ++k)
        if (index.data()[k] < 0 || index.data()[k] >= size)
            throw ArgumentError("gather: index value " + std::to_string(index.data()[k]) + " (element " + std::to_string(k) +
                                ") is outside axis " + std::to_string(axis) + " of shape " + shape_str(x.shape()));
    detail::Recording<T> r(t, Gather<T>::def, {x}, OpAttrs::of(GatherAttrs{a, rank}));
    std::int64_t* d = r.add_indices(rank + index.size());
    for (std::size_t k = 0; k < rank; ++k) d[k] = static_cast<std::int64_t>(index.shape()[k]);
    std::copy(index.data(), index.data() + index.size(), d + rank);
    return r.finish();
}

#define TAPEGRAD_INSTANTIATE(T)                                                                       \
    template Var<T> reshape(Var<T>, const std::vector<std::int64_t>&);                                \
    template Var<T> narrow(Var<T>, std::int64_t, std::int64_t, std::int64_t);                         \
    template Var<T> slice(Var<T>, std::int64_t, std::int64_t, std::int64_t);                          \
    template Var<T> select(Var<T>, std::int64_t, std::int64_t);                                       \
    template std::vector<Var<T>> split(Var<T>, const std::vector<std::int64_t>&, std::int64_t);       \
    template std::vector<Var<T>> chunk(Var<T>, std::int64_t, std::int64_t);                           \
    template Var<T> concat(std::span<const Var<T>>, std::int64_t);                                    \
    template Var<T> stack(std::span<const Var<T>>, std::int64_t);                                     \
    template Var<T> index_select(Var<T>, std::int64_t, const std::vector<std::int64_t>&);             \
    template Var<T> gather(Var<T>, std::int64_t, const Index&);
TAPEGRAD_INSTANTIATE(float)
TAPEGRAD_INSTANTIATE(double)

}  // namespace tapegrad
