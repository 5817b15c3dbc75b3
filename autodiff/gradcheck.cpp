#include "gradcheck.hpp"

#include <algorithm>
#include <cmath>
#include <cstring>
#include <random>
#include <sstream>

namespace tapegrad {

namespace {

std::vector<std::size_t> unravel(std::size_t flat, const std::vector<std::size_t>& shape) {
    std::vector<std::size_t> idx(shape.size());
    for (std::size_t d = shape.size(); d-- > 0;) {
        idx[d] = shape[d] ? flat % shape[d] : 0;
        flat = shape[d] ? flat / shape[d] : 0;
    }
    return idx;
}

std::string index_str(const std::vector<std::size_t>& idx) {
    std::string s = "[";
    for (std::size_t k = 0; k < idx.size(); ++k) s += (k ? ", " : "") + std::to_string(idx[k]);
    return s + "]";
}

template <class T>
Tensor<T> normal_like(const std::vector<std::size_t>& shape, std::mt19937_64& rng) {
    std::normal_distribution<double> nd(0.0, 1.0);
    Tensor<T> t = Tensor<T>::from_shape(shape);
    for (std::size_t i = 0; i < t.size(); ++i) t.data()[i] = static_cast<T>(nd(rng));
    return t;
}

template <class T>
double dot(const Tensor<T>& a, const Tensor<T>& b) {
    double s = 0;
    for (std::size_t i = 0; i < a.size(); ++i) s += double(a.data()[i]) * double(b.data()[i]);
    return s;
}

template <class T>
std::vector<std::size_t> shape_of(const Tensor<T>& t) {
    return std::vector<std::size_t>(t.shape().begin(), t.shape().end());
}

}  // namespace

// ---- gradcheck ----------------------------------------------------------------

std::string GradcheckResult::report() const {
    std::ostringstream os;
    if (ok) {
        os << "gradcheck passed: " << elements_checked << " elements, max |analytic - numeric| = " << max_abs_error;
        return os.str();
    }
    os << "gradcheck failed for " << failures.size() << " input(s):";
    for (const GradcheckFailure& f : failures)
        os << "\n  " << f.input << " of shape " << shape_str(f.shape) << ": worst element " << index_str(f.index)
           << " (projection " << f.projection << "): analytic " << f.analytic << ", numeric " << f.numeric
           << ", difference " << std::abs(f.analytic - f.numeric);
    return os.str();
}

GradcheckResult gradcheck(const GradcheckFn& fn, const std::vector<Tensor<double>>& inputs,
                          const std::vector<Parameter<double>*>& params, const GradcheckOptions& options) {
    if (!(options.eps > 0)) throw ArgumentError("gradcheck: eps must be positive");
    if (options.projections < 1) throw ArgumentError("gradcheck: projections must be at least 1");

    std::vector<Tensor<double>> xs = inputs;  // perturbed in place, one element at a time
    std::vector<Tensor<double>> saved_values, saved_grads;
    for (Parameter<double>* p : params) {
        saved_values.push_back(p->value());
        saved_grads.push_back(p->grad());
    }
    Tape<double> tape;
    std::vector<Var<double>> vars;
    auto run = [&]() {
        tape.clear();
        vars.clear();
        for (const Tensor<double>& x : xs) vars.push_back(tape.variable(x));
        Var<double> y = fn(tape, vars);
        tape.check(y, "gradcheck: the function's output");
        return y;
    };

    // Projections of the output: ⟨v_p, y⟩.
    const Var<double> y0 = run();
    const std::vector<std::size_t> out_shape = shape_of(y0.value());
    std::mt19937_64 rng(options.seed);
    std::vector<Tensor<double>> proj;
    if (y0.size() == 1) {
        proj.push_back(Tensor<double>::from_shape(out_shape));
        proj.back().fill(1.0);
    } else {
        for (int p = 0; p < options.projections; ++p) proj.push_back(normal_like<double>(out_shape, rng));
    }

    // Analytic: one backward per projection.
    const std::size_t n_in = xs.size(), n_all = xs.size() + params.size();
    std::vector<std::vector<Tensor<double>>> analytic(proj.size(), std::vector<Tensor<double>>(n_all));
    for (std::size_t p = 0; p < proj.size(); ++p) {
        for (Parameter<double>* q : params) q->zero_grad();
        const Var<double> y = run();
        const bool connected = tape.node(y.id()).requires_grad;
        if (connected) tape.backward(y, proj[p]);
        for (std::size_t i = 0; i < n_in; ++i) analytic[p][i] = connected ? tape.grad(vars[i]) : Tensor<double>(xs[i] * 0.0);
        for (std::size_t j = 0; j < params.size(); ++j) analytic[p][n_in + j] = params[j]->grad();
        if (!connected)
            for (std::size_t j = 0; j < params.size(); ++j) analytic[p][n_in + j].fill(0.0);
    }

    // Numeric: central differences, all projections from the same two runs.
    GradcheckResult result;
    auto evaluate = [&](std::vector<double>& dots) {
        const Var<double> y = run();
        if (!std::equal(y.shape().begin(), y.shape().end(), out_shape.begin(), out_shape.end()))
            throw ShapeError("gradcheck: the function's output changed shape from " + shape_str(out_shape) + " to " +
                             shape_str(y.shape()) + " under a perturbation");
        for (std::size_t p = 0; p < proj.size(); ++p) dots[p] = dot(proj[p], y.value());
    };
    std::vector<double> plus(proj.size()), minus(proj.size());
    for (std::size_t i = 0; i < n_all; ++i) {
        const bool is_param = i >= n_in;
        Parameter<double>* param = is_param ? params[i - n_in] : nullptr;
        const std::vector<std::size_t> shape = is_param ? shape_of(param->value()) : shape_of(xs[i]);
        const std::size_t size = shape_size(shape);
        GradcheckFailure worst;
        double worst_excess = 0;  // error beyond tolerance, relative to it
        for (std::size_t e = 0; e < size; ++e) {
            double* x = is_param ? &param->mutable_value().data()[e] : &xs[i].data()[e];
            const double orig = *x;
            *x = orig + options.eps;
            evaluate(plus);
            x = is_param ? &param->mutable_value().data()[e] : &xs[i].data()[e];
            *x = orig - options.eps;
            evaluate(minus);
            x = is_param ? &param->mutable_value().data()[e] : &xs[i].data()[e];
            *x = orig;
            ++result.elements_checked;
            for (std::size_t p = 0; p < proj.size(); ++p) {
                const double num = (plus[p] - minus[p]) / (2 * options.eps);
                const double ana = analytic[p][i].data()[e];
                const double err = std::abs(ana - num);
                result.max_abs_error = std::max(result.max_abs_error, std::isnan(err) ? INFINITY : err);
                const double tol = options.atol + options.rtol * std::abs(num);
                const double excess = std::isnan(err) ? INFINITY : err / tol;
                if (!(err <= tol) && excess > worst_excess) {
                    worst_excess = excess;
                    worst.input = is_param ? "parameter '" + (param->name().empty() ? "#" + std::to_string(i - n_in) : param->name()) + "'"
                                           : "input " + std::to_string(i);
                    worst.shape = shape;
                    worst.index = unravel(e, shape);
                    worst.projection = static_cast<int>(p);
                    worst.analytic = ana;
                    worst.numeric = num;
                }
            }
        }
        if (worst_excess > 0) {
            result.ok = false;
            result.failures.push_back(worst);
        }
    }

    for (std::size_t j = 0; j < params.size(); ++j) {
        params[j]->mutable_value() = saved_values[j];
        params[j]->mutable_grad() = saved_grads[j];
    }
    return result;
}

GradcheckResult gradcheck(const std::function<Var<double>(Tape<double>&)>& fn, const std::vector<Parameter<double>*>& params,
                          const GradcheckOptions& options) {
    return gradcheck([&](Tape<double>& t, const std::vector<Var<double>>&) { return fn(t); }, {}, params, options);
}

// ---- audit ------------------------------------------------------------------

std::string AuditResult::report() const {
    std::ostringstream os;
    const std::string skipped =
        nodes_skipped == 0 ? ""
                           : "; " + std::to_string(nodes_skipped) +
                                 " nodes skipped because an input's value was dropped (record with tape.set_keep_values(true) to audit them)";
    if (ok) {
        os << "audit passed: " << nodes_checked << " nodes checked, every backward agrees with finite differences" << skipped;
        return os.str();
    }
    os << "audit failed: " << failures.size() << " of " << nodes_checked << " nodes disagree" << skipped;
    for (const AuditFinding& f : failures) {
        os << "\n  node " << f.node << " '" << f.op << "' (input " << f.input << " of shapes ";
        for (std::size_t k = 0; k < f.input_shapes.size(); ++k) os << (k ? ", " : "") << shape_str(f.input_shapes[k]);
        os << "): backward disagrees at " << index_str(f.index) << ": analytic " << f.analytic << ", numeric " << f.numeric;
    }
    return os.str();
}

template <class T>
AuditResult audit(Tape<T>& tape, Var<T> upto, const AuditOptions& options) {
    tape.check(upto, "audit");
    constexpr bool is_double = sizeof(T) == sizeof(double);
    const double eps = options.eps > 0 ? options.eps : (is_double ? 1e-6 : 1e-3);
    const double atol = options.atol > 0 ? options.atol : (is_double ? 1e-5 : 1e-3);
    const double rtol = options.rtol > 0 ? options.rtol : (is_double ? 1e-3 : 1e-2);
    std::mt19937_64 rng(options.seed);
    AuditResult result;
    Tensor<T> fplus, fminus;

    for (NodeId id = 0; id <= upto.id(); ++id) {
        Node<T>& n = tape.node(id);
        if (n.op == nullptr || !n.requires_grad) continue;
        std::vector<NodeId> distinct;  // x·x has one input twice: perturbing it moves both
        std::vector<std::size_t> first_position;
        for (std::size_t k = 0; k < n.parents_count; ++k) {
            const NodeId p = tape.parent(n, k);
            if (tape.needs_grad(p) && std::find(distinct.begin(), distinct.end(), p) == distinct.end()) {
                distinct.push_back(p);
                first_position.push_back(k);
            }
        }
        if (distinct.empty()) continue;
        bool dropped = false;
        for (std::size_t k = 0; k < n.parents_count; ++k) dropped = dropped || tape.node(tape.parent(n, k)).value_dropped;
        if (dropped) {
            ++result.nodes_skipped;
            continue;
        }
        ++result.nodes_checked;

        // Analytic: this node's backward alone, with output gradient r. The
        // tape's own gradients are swapped out and back in untouched.
        const Tensor<T> r = normal_like<T>(shape_of(n.value), rng);
        Tensor<T> saved_grad = r;
        std::swap(saved_grad, n.grad);
        const bool saved_live = n.grad_live;
        n.grad_live = true;
        std::vector<Tensor<T>> parent_saved(distinct.size());
        std::vector<char> parent_live(distinct.size());
        for (std::size_t k = 0; k < distinct.size(); ++k) {
            Node<T>& pn = tape.node(distinct[k]);
            std::swap(parent_saved[k], pn.grad);
            parent_live[k] = pn.grad_live;
            pn.grad_live = false;
        }
        std::vector<Tensor<T>> analytic(distinct.size());
        n.op->backward(tape, n);
        for (std::size_t k = 0; k < distinct.size(); ++k) {
            Node<T>& pn = tape.node(distinct[k]);
            analytic[k] = pn.grad_live ? pn.grad : Tensor<T>(pn.value * T(0));
            std::swap(parent_saved[k], pn.grad);
            pn.grad_live = parent_live[k];
        }
        std::swap(saved_grad, n.grad);
        n.grad_live = saved_live;

        // Numeric: ⟨r, f(x + εu) − f(x − εu)⟩ / 2ε against ⟨analytic, u⟩.
        auto numeric_along = [&](Tensor<T>& x, const Tensor<T>& orig, auto perturb) {
            perturb(x, +1);
            n.op->forward(tape, n, fplus);
            perturb(x, -1);
            n.op->forward(tape, n, fminus);
            // memcpy from a zero-element tensor's null data() is undefined, even for 0 bytes.
            if (orig.size() != 0) std::memcpy(x.data(), orig.data(), orig.size() * sizeof(T));
            double s = 0;
            for (std::size_t i = 0; i < r.size(); ++i) s += double(r.data()[i]) * (double(fplus.data()[i]) - double(fminus.data()[i]));
            return s / (2 * eps);
        };
        for (std::size_t k = 0; k < distinct.size(); ++k) {
            Tensor<T>& x = tape.node(distinct[k]).value;
            const Tensor<T> orig = x;
            const Tensor<T> u = normal_like<T>(shape_of(x), rng);
            const double num = numeric_along(x, orig, [&](Tensor<T>& v, int sign) {
                for (std::size_t i = 0; i < v.size(); ++i) v.data()[i] = static_cast<T>(orig.data()[i] + sign * eps * u.data()[i]);
            });
            const double ana = dot(analytic[k], u);
            if (std::abs(ana - num) <= atol + rtol * std::abs(num)) continue;

            // Disagreement: find the worst element, one coordinate at a time.
            AuditFinding f;
            f.node = id;
            f.op = tape.op_name(n);
            f.input = first_position[k];
            for (std::size_t j = 0; j < n.parents_count; ++j) f.input_shapes.push_back(shape_of(tape.parent_value(n, j)));
            double worst = -1;
            for (std::size_t e = 0; e < x.size(); ++e) {
                const double ne = numeric_along(x, orig, [&](Tensor<T>& v, int sign) {
                    v.data()[e] = static_cast<T>(orig.data()[e] + sign * eps);
                });
                const double ae = analytic[k].data()[e];
                const double err = std::isnan(ae - ne) ? INFINITY : std::abs(ae - ne) / (atol + rtol * std::abs(ne));
                if (err > worst) {
                    worst = err;
                    f.index = unravel(e, shape_of(x));
                    f.analytic = ae;
                    f.numeric = ne;
                }
            }
            result.ok = false;
            result.failures.push_back(std::move(f));
            if (options.stop_at_first) return result;
        }
    }
    return result;
}

template AuditResult audit(Tape<float>&, Var<float>, const AuditOptions&);
template AuditResult audit(Tape<double>&, Var<double>, const AuditOptions&);

}  // namespace tapegrad
