#include "gradcheck.hpp"

#include <algorithm>
#include <cmath>
#include <cstring>
#include <random>
#include <sstream>
#include <utility>

#include "op_context.hpp"
#include "regeneration.hpp"

namespace tapegrad {

using detail::Node;

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

namespace {

// One gradcheck: the function re-run on a cleared tape per evaluation, its
// inputs (perturbed in place, one element at a time) and parameters, and
// the output's projections. Parameters' values and gradients are restored
// bit for bit when it ends, also when the function throws.
class Checker {
public:
    Checker(const GradcheckFn& fn, const std::vector<Tensor<double>>& inputs, const std::vector<Parameter<double>*>& params,
            const GradcheckOptions& options)
        : fn_(fn), xs_(inputs), params_(params), options_(options) {
        for (Parameter<double>* p : params_) {
            saved_values_.push_back(p->value());
            saved_grads_.push_back(p->grad());
        }
    }
    ~Checker() {
        for (std::size_t j = 0; j < params_.size(); ++j) {
            params_[j]->mutable_value() = saved_values_[j];
            params_[j]->mutable_grad() = saved_grads_[j];
        }
    }
    Checker(const Checker&) = delete;
    Checker& operator=(const Checker&) = delete;

    GradcheckResult check() {
        make_projections();
        const auto analytic = analytic_gradients();
        GradcheckResult result;
        for (std::size_t i = 0; i < xs_.size() + params_.size(); ++i) compare_input(i, analytic, result);
        return result;
    }

private:
    Var<double> run() {
        tape_.clear();
        vars_.clear();
        for (const Tensor<double>& x : xs_) vars_.push_back(tape_.variable(x));
        Var<double> y = fn_(tape_, vars_);
        tape_.check(y, "gradcheck: the function's output");
        return y;
    }

    // ⟨v_p, y⟩: a one-element output is its own projection; otherwise fixed
    // random ones.
    void make_projections() {
        const Var<double> y0 = run();
        out_shape_ = shape_of(y0.value());
        std::mt19937_64 rng(options_.seed);
        if (y0.size() == 1) {
            proj_.push_back(Tensor<double>::from_shape(out_shape_));
            proj_.back().fill(1.0);
        } else {
            for (int p = 0; p < options_.projections; ++p) proj_.push_back(normal_like<double>(out_shape_, rng));
        }
    }

    // One backward per projection: [projection][input, then parameter].
    std::vector<std::vector<Tensor<double>>> analytic_gradients() {
        const std::size_t n_in = xs_.size();
        std::vector<std::vector<Tensor<double>>> analytic(proj_.size(), std::vector<Tensor<double>>(n_in + params_.size()));
        for (std::size_t p = 0; p < proj_.size(); ++p) {
            for (Parameter<double>* q : params_) q->zero_grad();
            const Var<double> y = run();
            const bool connected = y.requires_grad();
            if (connected) tape_.backward(y, proj_[p]);
            for (std::size_t i = 0; i < n_in; ++i) analytic[p][i] = connected ? tape_.grad(vars_[i]) : Tensor<double>(xs_[i] * 0.0);
            for (std::size_t j = 0; j < params_.size(); ++j) {
                analytic[p][n_in + j] = params_[j]->grad();
                if (!connected) analytic[p][n_in + j].fill(0.0);
            }
        }
        return analytic;
    }

    void evaluate(std::vector<double>& dots) {
        const Var<double> y = run();
        if (!std::equal(y.shape().begin(), y.shape().end(), out_shape_.begin(), out_shape_.end()))
            throw ShapeError("gradcheck: the function's output changed shape from " + shape_str(out_shape_) + " to " +
                             shape_str(y.shape()) + " under a perturbation");
        for (std::size_t p = 0; p < proj_.size(); ++p) dots[p] = dot(proj_[p], y.value());
    }

    // Element e of input (or parameter) i; re-found after each run, since a
    // parameter's storage may be replaced.
    double* element(std::size_t i, std::size_t e) {
        return i >= xs_.size() ? &params_[i - xs_.size()]->mutable_value().data()[e] : &xs_[i].data()[e];
    }

    std::string input_name(std::size_t i) const {
        if (i < xs_.size()) return "input " + std::to_string(i);
        const Parameter<double>* q = params_[i - xs_.size()];
        return "parameter '" + (q->name().empty() ? "#" + std::to_string(i - xs_.size()) : q->name()) + "'";
    }

    // Central differences for every element of input i, all projections from
    // the same two runs; the worst disagreement becomes a failure.
    void compare_input(std::size_t i, const std::vector<std::vector<Tensor<double>>>& analytic, GradcheckResult& result) {
        const std::vector<std::size_t> shape = i >= xs_.size() ? shape_of(params_[i - xs_.size()]->value()) : shape_of(xs_[i]);
        std::vector<double> plus(proj_.size()), minus(proj_.size());
        GradcheckFailure worst;
        double worst_excess = 0;  // error beyond tolerance, relative to it
        for (std::size_t e = 0, size = shape_size(shape); e < size; ++e) {
            const double orig = *element(i, e);
            *element(i, e) = orig + options_.eps;
            evaluate(plus);
            *element(i, e) = orig - options_.eps;
            evaluate(minus);
            *element(i, e) = orig;
            ++result.elements_checked;
            for (std::size_t p = 0; p < proj_.size(); ++p) {
                const double num = (plus[p] - minus[p]) / (2 * options_.eps), ana = analytic[p][i].data()[e];
                const double err = std::abs(ana - num);
                result.max_abs_error = std::max(result.max_abs_error, std::isnan(err) ? INFINITY : err);
                const double excess = std::isnan(err) ? INFINITY : err / (options_.atol + options_.rtol * std::abs(num));
                if (excess > 1 && excess > worst_excess) {
                    worst_excess = excess;
                    worst = {input_name(i), shape, unravel(e, shape), int(p), ana, num};
                }
            }
        }
        if (worst_excess > 0) {
            result.ok = false;
            result.failures.push_back(worst);
        }
    }

    const GradcheckFn& fn_;
    std::vector<Tensor<double>> xs_;
    const std::vector<Parameter<double>*>& params_;
    const GradcheckOptions& options_;
    std::vector<Tensor<double>> saved_values_, saved_grads_;
    Tape<double> tape_;
    std::vector<Var<double>> vars_;
    std::vector<std::size_t> out_shape_;
    std::vector<Tensor<double>> proj_;
};

}  // namespace

GradcheckResult gradcheck(const GradcheckFn& fn, const std::vector<Tensor<double>>& inputs,
                          const std::vector<Parameter<double>*>& params, const GradcheckOptions& options) {
    if (!(options.eps > 0)) throw ArgumentError("gradcheck: eps must be positive");
    if (options.projections < 1) throw ArgumentError("gradcheck: projections must be at least 1");
    return Checker(fn, inputs, params, options).check();
}

GradcheckResult gradcheck(const std::function<Var<double>(Tape<double>&)>& fn, const std::vector<Parameter<double>*>& params,
                          const GradcheckOptions& options) {
    return gradcheck([&](Tape<double>& t, const std::vector<Var<double>>&) { return fn(t); }, {}, params, options);
}

// ---- audit ------------------------------------------------------------------

std::string AuditResult::report() const {
    std::ostringstream os;
    const std::string regen =
        nodes_regenerated == 0 ? "" : " (" + std::to_string(nodes_regenerated) + " dropped values recomputed for it)";
    if (ok) {
        os << "audit passed: " << nodes_checked << " nodes checked" << regen << ", every backward agrees with finite differences";
        return os.str();
    }
    os << "audit failed: " << failures.size() << " of " << nodes_checked << " nodes disagree" << regen;
    for (const AuditFinding& f : failures) {
        os << "\n  node " << f.node << " '" << f.op << "' (input " << f.input << " of shapes ";
        for (std::size_t k = 0; k < f.input_shapes.size(); ++k) os << (k ? ", " : "") << shape_str(f.input_shapes[k]);
        os << "): backward disagrees at " << index_str(f.index) << ": analytic " << f.analytic << ", numeric " << f.numeric;
    }
    return os.str();
}

namespace {

// What the audit of every node shares: the tape, tolerances, the random
// directions' generator and the two forward buffers.
template <class T>
struct Auditor {
    Tape<T>& tape;
    double eps, atol, rtol;
    std::uint64_t rng;  // splitmix64 state
    Tensor<T> fplus, fminus;
};

// A random direction: elements uniform in (−√3, √3), of unit variance like
// N(0, 1) and as unlikely to cancel an error exactly, drawn with splitmix64.
// The audit draws one per input of every node, often of a whole sequence's
// input projection; std::normal_distribution took two thirds of its time.
template <class T>
Tensor<T> random_direction(const std::vector<std::size_t>& shape, std::uint64_t& state) {
    Tensor<T> t = Tensor<T>::from_shape(shape);
    for (std::size_t i = 0; i < t.size(); ++i) {
        std::uint64_t z = (state += 0x9E3779B97F4A7C15ull);
        z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
        z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
        z ^= z >> 31;
        const double unit = double(z >> 11) * 0x1.0p-53;  // [0, 1)
        t.data()[i] = static_cast<T>((2 * unit - 1) * 1.7320508075688772);
    }
    return t;
}

// The inputs of n that need a gradient, each once (x·x has one input twice:
// perturbing it moves both), with the first position each has among n's inputs.
template <class T>
std::vector<std::pair<NodeId, std::size_t>> grad_inputs(const Tape<T>& tape, const Node<T>& n) {
    std::vector<std::pair<NodeId, std::size_t>> inputs;
    for (std::size_t k = 0; k < n.parents_count; ++k) {
        const NodeId p = detail::TapeAccess<T>::parent(tape, n, k);
        const bool seen = std::ranges::any_of(inputs, [&](const auto& e) { return e.first == p; });
        if (detail::TapeAccess<T>::needs_grad(tape, p) && !seen) inputs.emplace_back(p, k);
    }
    return inputs;
}

// Node n's backward alone with output gradient r: the gradient it gives each
// input. The tape's own gradients are swapped out and back in untouched.
template <class T>
std::vector<Tensor<T>> backward_alone(Tape<T>& tape, Node<T>& n, const std::vector<std::pair<NodeId, std::size_t>>& inputs,
                                      const Tensor<T>& r) {
    Tensor<T> saved_grad = r;
    std::swap(saved_grad, n.grad);
    const bool saved_live = n.grad_live;
    const std::size_t saved_unset = n.grad_unset;
    n.grad_live = true;
    n.grad_unset = 0;
    std::vector<Tensor<T>> parent_saved(inputs.size());
    std::vector<char> parent_live(inputs.size());
    std::vector<std::size_t> parent_unset(inputs.size());
    for (std::size_t k = 0; k < inputs.size(); ++k) {
        Node<T>& pn = detail::TapeAccess<T>::node(tape, inputs[k].first);
        std::swap(parent_saved[k], pn.grad);
        parent_live[k] = pn.grad_live;
        parent_unset[k] = pn.grad_unset;
        pn.grad_live = false;
        pn.grad_unset = 0;
    }
    std::vector<Tensor<T>> analytic(inputs.size());
    OpContext<T> c(tape, n);
    n.op->backward(c);
    for (std::size_t k = 0; k < inputs.size(); ++k) {
        Node<T>& pn = detail::TapeAccess<T>::node(tape, inputs[k].first);
        detail::TapeAccess<T>::zero_unset_grad(tape, pn);
        analytic[k] = pn.grad_live ? pn.grad : Tensor<T>(xt::zeros<T>(pn.value.shape()));  // from the shape: a parameter leaf holds no elements
        std::swap(parent_saved[k], pn.grad);
        pn.grad_live = parent_live[k];
        pn.grad_unset = parent_unset[k];
    }
    std::swap(saved_grad, n.grad);
    n.grad_live = saved_live;
    n.grad_unset = saved_unset;
    return analytic;
}

// ⟨r, f(x + εu) − f(x − εu)⟩ / 2ε, where `perturb(x, ±1)` writes x ± εu into
// the input's value x; x is restored from `orig` afterwards.
template <class T, class Perturb>
double numeric_along(Auditor<T>& a, const Node<T>& n, Tensor<T>& x, const Tensor<T>& orig, const Tensor<T>& r, Perturb perturb) {
    const OpContext<T> c(a.tape, n);
    perturb(x, +1);
    n.op->forward(c, a.fplus);
    perturb(x, -1);
    n.op->forward(c, a.fminus);
    // memcpy from a zero-element tensor's null data() is undefined, even for 0 bytes.
    if (orig.size() != 0) std::memcpy(x.data(), orig.data(), orig.size() * sizeof(T));
    double s = 0;
    for (std::size_t i = 0; i < r.size(); ++i) s += double(r.data()[i]) * (double(a.fplus.data()[i]) - double(a.fminus.data()[i]));
    return s / (2 * a.eps);
}

// After a disagreement along a random direction: the input's worst element,
// one coordinate at a time.
template <class T>
AuditFinding worst_element(Auditor<T>& a, NodeId id, std::size_t input, Tensor<T>& x, const Tensor<T>& analytic, const Tensor<T>& r) {
    const Node<T>& n = detail::TapeAccess<T>::node(a.tape, id);
    AuditFinding f;
    f.node = id;
    f.op = detail::TapeAccess<T>::op_name(a.tape, n);
    f.input = input;
    for (std::size_t j = 0; j < n.parents_count; ++j) f.input_shapes.push_back(shape_of(detail::TapeAccess<T>::parent_value(a.tape, n, j)));
    const Tensor<T> orig = x;
    double worst = -1;
    for (std::size_t e = 0; e < x.size(); ++e) {
        const double ne = numeric_along(a, n, x, orig, r, [&](Tensor<T>& v, int sign) {
            v.data()[e] = static_cast<T>(orig.data()[e] + sign * a.eps);
        });
        const double ae = analytic.data()[e];
        const double err = std::isnan(ae - ne) ? INFINITY : std::abs(ae - ne) / (a.atol + a.rtol * std::abs(ne));
        if (err > worst) {
            worst = err;
            f.index = unravel(e, shape_of(x));
            f.analytic = ae;
            f.numeric = ne;
        }
    }
    return f;
}

// Input `id`'s value, writable for the perturbations. A parameter leaf reads
// its parameter's elements: it gets a copy to perturb (never the model's) and
// reads the parameter again when this ends, also on a throw.
template <class T>
class PerturbableInput {
public:
    PerturbableInput(Tape<T>& tape, NodeId id) : tape_(tape), id_(id), x_(detail::TapeAccess<T>::own_value(tape, id, "audit")) {}
    ~PerturbableInput() { detail::TapeAccess<T>::borrow_again(tape_, id_); }
    PerturbableInput(const PerturbableInput&) = delete;
    PerturbableInput& operator=(const PerturbableInput&) = delete;
    Tensor<T>& value() { return x_; }

private:
    Tape<T>& tape_;
    NodeId id_;
    Tensor<T>& x_;
};

// Checks node id (an op that needs a gradient); appends a finding per input
// whose gradient disagrees. Returns whether the node was checked at all.
template <class T>
bool audit_node(Auditor<T>& a, NodeId id, std::vector<AuditFinding>& failures) {
    Node<T>& n = detail::TapeAccess<T>::node(a.tape, id);
    const auto inputs = grad_inputs(a.tape, n);
    if (inputs.empty()) return false;
    const Tensor<T> r = random_direction<T>(shape_of(n.value), a.rng);
    const std::vector<Tensor<T>> analytic = backward_alone(a.tape, n, inputs, r);
    for (std::size_t k = 0; k < inputs.size(); ++k) {
        PerturbableInput<T> input(a.tape, inputs[k].first);
        Tensor<T>& x = input.value();
        const Tensor<T> orig = x;
        const Tensor<T> u = random_direction<T>(shape_of(x), a.rng);
        const double num = numeric_along(a, n, x, orig, r, [&](Tensor<T>& v, int sign) {
            for (std::size_t i = 0; i < v.size(); ++i) v.data()[i] = static_cast<T>(orig.data()[i] + sign * a.eps * u.data()[i]);
        });
        const double ana = dot(analytic[k], u);
        if (std::abs(ana - num) > a.atol + a.rtol * std::abs(num))
            failures.push_back(worst_element(a, id, inputs[k].second, x, analytic[k], r));
    }
    return true;
}

}  // namespace

template <class T>
AuditResult audit(Tape<T>& tape, Var<T> upto, const AuditOptions& options) {
    tape.check(upto, "audit");
    constexpr bool is_double = sizeof(T) == sizeof(double);
    Auditor<T> a{tape,
                 options.eps > 0 ? options.eps : (is_double ? 1e-6 : 1e-3),
                 options.atol > 0 ? options.atol : (is_double ? 1e-5 : 1e-3),
                 options.rtol > 0 ? options.rtol : (is_double ? 1e-3 : 1e-2),
                 options.seed,
                 {},
                 {}};
    AuditResult result;
    // Values dropped to save memory come back one step ahead of their readers
    // and go again after the last one (regeneration.hpp): every node is checked.
    detail::Regeneration<T> regen(tape, upto.id());
    for (NodeId id = 0; id <= upto.id(); ++id) {
        regen.before(id);
        const Node<T>& n = detail::TapeAccess<T>::node(tape, id);
        if (n.op != nullptr && n.requires_grad && audit_node(a, id, result.failures)) ++result.nodes_checked;
        regen.after(id);
        if (options.stop_at_first && !result.failures.empty()) break;
    }
    result.ok = result.failures.empty();
    result.nodes_regenerated = regen.regenerated();
    return result;
}

template AuditResult audit(Tape<float>&, Var<float>, const AuditOptions&);
template AuditResult audit(Tape<double>&, Var<double>, const AuditOptions&);

}  // namespace tapegrad
