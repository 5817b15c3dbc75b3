// Comparisons: elementwise masks of 1 and 0 (IEEE rules: NaN compares false,
// and unequal). A mask is a constant: no gradient flows through it (use it with
// `where` or `mul` to route gradients).

#include <xtensor/xoperation.hpp>

#include "ops.hpp"
#include "op_support.hpp"

namespace tapegrad {

namespace {

enum class Comparison : std::int64_t { eq, ne, lt, le, gt, ge };

constexpr const char* comparison_name(Comparison c) {
    constexpr const char* names[] = {"eq", "ne", "lt", "le", "gt", "ge"};
    return names[static_cast<std::size_t>(c)];
}

template <class T, class A, class B>
void assign_mask(Tensor<T>& out, Comparison c, const A& a, const B& b) {
    switch (c) {
        case Comparison::eq: xt::noalias(out) = xt::cast<T>(xt::equal(a, b)); return;
        case Comparison::ne: xt::noalias(out) = xt::cast<T>(xt::not_equal(a, b)); return;
        case Comparison::lt: xt::noalias(out) = xt::cast<T>(a < b); return;
        case Comparison::le: xt::noalias(out) = xt::cast<T>(a <= b); return;
        case Comparison::gt: xt::noalias(out) = xt::cast<T>(a > b); return;
        case Comparison::ge: xt::noalias(out) = xt::cast<T>(a >= b); return;
    }
}

// A comparison with a scalar instead of a second tensor.
struct CompareAttrs {
    double scalar;
    bool with_scalar;
};

// One OpDef per comparison, so that errors and profiles name it.
template <class T, Comparison cmp>
struct Compare {
    static void forward(const OpContext<T>& c, Tensor<T>& out) {
        const Tensor<T>& a = c.input(0);
        if (const CompareAttrs at = op_attrs<CompareAttrs>(c); at.with_scalar) {
            c.fit(out, a.shape());
            if (out.size() != 0) assign_mask(out, cmp, a, static_cast<T>(at.scalar));
            return;
        }
        const Tensor<T>& b = c.input(1);
        c.fit(out, detail::broadcast_shapes(comparison_name(cmp), a.shape(), b.shape()));
        // No strided walk over an empty broadcast's outer axes (see ops_elementwise.cpp).
        if (out.size() != 0) assign_mask(out, cmp, a, b);
    }
    static void backward(OpContext<T>&) {}  // never runs: a mask needs no gradient
    static constexpr OpDef<T> def{comparison_name(cmp), forward, backward, kReadsNothing};
};

template <Comparison cmp, class T>
Var<T> record_compare(std::initializer_list<Var<T>> xs, const OpAttrs& attrs) {
    const char* name = comparison_name(cmp);
    Tape<T>& t = detail::tape_of(name, xs);
    if (xs.size() == 2) detail::broadcast_shapes(name, xs.begin()[0].shape(), xs.begin()[1].shape());
    detail::Recording<T> r(t, Compare<T, cmp>::def, xs, attrs);
    r.stop_gradient();
    return r.finish();
}

template <Comparison c, class T>
Var<T> compare(Var<T> a, Var<T> b) {
    return record_compare<c>({a, b}, OpAttrs::of(CompareAttrs{0, false}));
}

template <Comparison c, class T>
Var<T> compare(Var<T> a, T s) {
    return record_compare<c>({a}, OpAttrs::of(CompareAttrs{static_cast<double>(s), true}));
}

}  // namespace

template <class T> Var<T> eq(Var<T> a, Var<T> b) { return compare<Comparison::eq>(a, b); }
template <class T> Var<T> ne(Var<T> a, Var<T> b) { return compare<Comparison::ne>(a, b); }
template <class T> Var<T> lt(Var<T> a, Var<T> b) { return compare<Comparison::lt>(a, b); }
template <class T> Var<T> le(Var<T> a, Var<T> b) { return compare<Comparison::le>(a, b); }
template <class T> Var<T> gt(Var<T> a, Var<T> b) { return compare<Comparison::gt>(a, b); }
template <class T> Var<T> ge(Var<T> a, Var<T> b) { return compare<Comparison::ge>(a, b); }
template <class T> Var<T> eq(Var<T> a, Scalar_t<T> s) { return compare<Comparison::eq>(a, s); }
template <class T> Var<T> ne(Var<T> a, Scalar_t<T> s) { return compare<Comparison::ne>(a, s); }
template <class T> Var<T> lt(Var<T> a, Scalar_t<T> s) { return compare<Comparison::lt>(a, s); }
template <class T> Var<T> le(Var<T> a, Scalar_t<T> s) { return compare<Comparison::le>(a, s); }
template <class T> Var<T> gt(Var<T> a, Scalar_t<T> s) { return compare<Comparison::gt>(a, s); }
template <class T> Var<T> ge(Var<T> a, Scalar_t<T> s) { return compare<Comparison::ge>(a, s); }

#define TAPEGRAD_INSTANTIATE_COMPARISON(T, NAME)   \
    template Var<T> NAME(Var<T>, Var<T>);          \
    template Var<T> NAME(Var<T>, Scalar_t<T>);
#define TAPEGRAD_INSTANTIATE(T)                   \
    TAPEGRAD_INSTANTIATE_COMPARISON(T, eq)        \
    TAPEGRAD_INSTANTIATE_COMPARISON(T, ne)        \
    TAPEGRAD_INSTANTIATE_COMPARISON(T, lt)        \
    TAPEGRAD_INSTANTIATE_COMPARISON(T, le)        \
    TAPEGRAD_INSTANTIATE_COMPARISON(T, gt)        \
    TAPEGRAD_INSTANTIATE_COMPARISON(T, ge)
TAPEGRAD_INSTANTIATE(float)
TAPEGRAD_INSTANTIATE(double)
#undef TAPEGRAD_INSTANTIATE_COMPARISON

}  // namespace tapegrad
