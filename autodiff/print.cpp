#include "print.hpp"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <ostream>
#include <type_traits>
#include <vector>

#include "tape.hpp"

namespace tapegrad {

namespace {

// How one element becomes text; every element of a tensor shares one style
// and one width, so that columns line up.
template <class T>
struct ElementFormat {
    enum class Style { integer, whole, fixed, scientific } style = Style::fixed;
    int precision = 4;
    std::size_t width = 0;

    std::string operator()(T v) const {
        char buf[64];
        if constexpr (std::is_integral_v<T>) {
            std::snprintf(buf, sizeof buf, "%lld", static_cast<long long>(v));
        } else if (!std::isfinite(v)) {
            std::snprintf(buf, sizeof buf, "%s", std::isnan(v) ? "nan" : (v > 0 ? "inf" : "-inf"));
        } else if (style == Style::whole) {
            std::snprintf(buf, sizeof buf, "%.0f.", static_cast<double>(v));
        } else {
            std::snprintf(buf, sizeof buf, style == Style::scientific ? "%.*e" : "%.*f", precision, static_cast<double>(v));
        }
        std::string s = buf;
        return s.size() < width ? std::string(width - s.size(), ' ') + s : s;
    }
};

// Which entries of an axis of size n are shown: all, or the first and last
// `edge` with an ellipsis between.
struct AxisItems {
    std::size_t n, edge;
    bool summarized;
    bool shown(std::size_t i) const { return !summarized || i < edge || i >= n - edge; }
    bool gap_after(std::size_t i) const { return summarized && i + 1 == edge; }
};

template <class T>
class Printer {
public:
    Printer(const Tensor<T>& x, const PrintOptions& o) : x_(x), o_(o) {
        summarized_ = x.size() > o.threshold;
        strides_.assign(x.dimension(), 1);
        for (std::size_t k = x.dimension(); k-- > 1;) strides_[k - 1] = strides_[k] * x.shape()[k];
        choose_format();
    }

    std::string body() {
        std::string out;
        if (x_.dimension() == 0) return fmt_(x_.data()[0]);
        print_axis(out, 0, 0, 7);  // aligned under "tensor("
        return out;
    }
    bool summarized() const { return summarized_; }

private:
    AxisItems items(std::size_t axis) const {
        const std::size_t n = x_.shape()[axis];
        return {n, o_.edge_items, summarized_ && n > 2 * o_.edge_items};
    }

    template <class F>
    void for_shown(std::size_t axis, std::size_t offset, F&& f) const {
        if (x_.dimension() == 0) return f(x_.data()[0]);
        const AxisItems it = items(axis);
        for (std::size_t i = 0; i < it.n; ++i)
            if (it.shown(i)) {
                if (axis + 1 == x_.dimension())
                    f(x_.data()[offset + i]);
                else
                    for_shown(axis + 1, offset + i * strides_[axis], f);
            }
    }

    // PyTorch's rule: whole numbers as "3.", a wide range of magnitudes (or
    // any above 1e8 or below 1e-4) in scientific notation, else fixed.
    void choose_format() {
        fmt_.precision = o_.precision;
        if constexpr (std::is_integral_v<T>) {
            fmt_.style = ElementFormat<T>::Style::integer;
        } else {
            bool whole = true;
            double lo = INFINITY, hi = 0;
            for_shown(0, 0, [&](T v) {
                if (!std::isfinite(v)) return;
                whole = whole && std::nearbyint(v) == v;
                const double a = std::fabs(static_cast<double>(v));
                if (a != 0) lo = std::min(lo, a), hi = std::max(hi, a);
            });
            using S = typename ElementFormat<T>::Style;
            if (whole && hi < 1e8) fmt_.style = S::whole;
            else if (hi > 0 && (hi / lo > 1000 || hi > 1e8 || lo < 1e-4)) fmt_.style = S::scientific;
        }
        if (x_.size() != 0)
            for_shown(0, 0, [&](T v) { fmt_.width = std::max(fmt_.width, fmt_(v).size()); });
    }

    void print_row(std::string& out, std::size_t offset, std::size_t indent) const {
        const AxisItems it = items(x_.dimension() - 1);
        out += '[';
        std::size_t column = indent + 1;
        bool first = true;
        auto put = [&](const std::string& s) {
            if (!first) {
                out += ',';
                if (column + s.size() + 2 > o_.line_width) out += '\n' + std::string(indent + 1, ' '), column = indent + 1;
                else out += ' ', column += 2;
            }
            out += s;
            column += s.size();
            first = false;
        };
        for (std::size_t i = 0; i < it.n; ++i) {
            if (!it.shown(i)) continue;
            put(fmt_(x_.data()[offset + i]));
            if (it.gap_after(i)) put("...");
        }
        out += ']';
    }

    void print_axis(std::string& out, std::size_t axis, std::size_t offset, std::size_t indent) const {
        if (axis + 1 == x_.dimension()) return print_row(out, offset, indent);
        const AxisItems it = items(axis);
        // Between blocks: one newline per axis below this one, as PyTorch does.
        const std::string sep = "," + std::string(x_.dimension() - axis - 1, '\n') + std::string(indent + 1, ' ');
        out += '[';
        bool first = true;
        for (std::size_t i = 0; i < it.n; ++i) {
            if (!it.shown(i)) continue;
            if (!first) out += sep;
            print_axis(out, axis + 1, offset + i * strides_[axis], indent + 1);
            first = false;
            if (it.gap_after(i)) out += sep + "...";
        }
        out += ']';
    }

    const Tensor<T>& x_;
    const PrintOptions& o_;
    bool summarized_ = false;
    std::vector<std::size_t> strides_;
    ElementFormat<T> fmt_;
};

template <class T>
const char* dtype_suffix() {
    if constexpr (std::is_same_v<T, double>) return ", dtype=float64";
    if constexpr (std::is_same_v<T, std::int64_t>) return ", dtype=int64";
    return "";
}

}  // namespace

template <class T>
std::string to_string(const Tensor<T>& x, const PrintOptions& options) {
    Printer<T> p(x, options);
    std::string s = "tensor(" + p.body();
    if (x.size() == 0 || p.summarized()) s += ", shape=" + shape_str(x.shape());
    return s + dtype_suffix<T>() + ")";
}

template <class T>
std::string to_string(Var<T> x, const PrintOptions& options) {
    std::string s = to_string(x.value(), options);
    s.pop_back();  // the closing parenthesis: the origin goes inside
    // As PyTorch: no grad_fn for a value no gradient flows into (an op on
    // constants only, or under NoGradGuard).
    const detail::Node<T>& n = detail::TapeAccess<T>::node(*x.tape(), x.id());
    if (x.requires_grad()) s += n.op != nullptr ? std::string(", grad_fn=") + x.tape()->op_name(x) : ", requires_grad=true";
    return s + ")";
}

template <class T>
std::ostream& operator<<(std::ostream& out, Var<T> x) {
    return out << to_string(x);
}

template std::string to_string(const Tensor<float>&, const PrintOptions&);
template std::string to_string(const Tensor<double>&, const PrintOptions&);
template std::string to_string(const Index&, const PrintOptions&);
template std::string to_string(Var<float>, const PrintOptions&);
template std::string to_string(Var<double>, const PrintOptions&);
template std::ostream& operator<<(std::ostream&, Var<float>);
template std::ostream& operator<<(std::ostream&, Var<double>);

}  // namespace tapegrad

namespace xt {
std::ostream& operator<<(std::ostream& out, const tapegrad::Tensor<float>& x) { return out << tapegrad::to_string(x); }
std::ostream& operator<<(std::ostream& out, const tapegrad::Tensor<double>& x) { return out << tapegrad::to_string(x); }
std::ostream& operator<<(std::ostream& out, const tapegrad::Index& x) { return out << tapegrad::to_string(x); }
}  // namespace xt
