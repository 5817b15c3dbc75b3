// Gradient clipping by total norm or by value.

#include "clip.hpp"

#include <cmath>
#include <limits>
#include <string>

#include "optim_support.hpp"

namespace tapegrad {

namespace {

// Everything is checked before the first gradient is read or scaled.
template <class T>
void check_params(const char* who, const std::vector<Parameter<T>*>& params) {
    for (std::size_t i = 0; i < params.size(); ++i) {
        if (params[i] == nullptr)
            throw ArgumentError(std::string(who) + ": parameter " + std::to_string(i) + " is null");
        if (!params[i]->has_state())
            throw LifetimeError(std::string(who) + ": parameter " + std::to_string(i) + " was moved from (it has no value)");
        // A gradient left at an old shape by mutable_value() would be walked with the value's size.
        const ParameterState<T>& p = *params[i]->state();
        if (p.grad_stale()) throw ShapeError(std::string(who) + ": " + p.grad_shape_problem());
    }
}

}  // namespace

template <class T>
double clip_grad_norm(const std::vector<Parameter<T>*>& params, double max_norm, double norm_type) {
    check_params("clip_grad_norm", params);
    detail::require_arg(!std::isnan(max_norm) && max_norm >= 0, "clip_grad_norm", "max_norm", ">= 0", max_norm);
    detail::require_arg(norm_type > 0, "clip_grad_norm", "norm_type", "> 0 (or infinity)", norm_type);

    // The largest magnitude is the inf-norm, and also the scale that keeps
    // |g|^p from overflowing double for large p or large double gradients.
    double largest = 0;
    bool nan = false;
    for (const Parameter<T>* p : params) {
        const T* g = p->grad().data();
        for (std::size_t j = 0, n = p->size(); j < n; ++j) {
            const double a = std::abs(static_cast<double>(g[j]));
            if (a > largest) largest = a;
            nan |= std::isnan(a);
        }
    }
    double total;
    if (nan)
        total = std::numeric_limits<double>::quiet_NaN();
    else if (std::isinf(norm_type) || largest == 0 || std::isinf(largest))
        total = largest;
    else {
        double sum = 0;
        for (const Parameter<T>* p : params) {
            const T* g = p->grad().data();
            for (std::size_t j = 0, n = p->size(); j < n; ++j) {
                const double a = std::abs(static_cast<double>(g[j])) / largest;
                sum += norm_type == 2 ? a * a : norm_type == 1 ? a : std::pow(a, norm_type);
            }
        }
        total = largest * (norm_type == 2 ? std::sqrt(sum) : norm_type == 1 ? sum : std::pow(sum, 1 / norm_type));
    }
    if (!std::isfinite(total)) return total;

    const double coef = max_norm / (total + 1e-6);
    if (coef < 1) {
        // In T, as PyTorch multiplies the gradient by a coefficient of its dtype.
        const T c = static_cast<T>(coef);
        for (Parameter<T>* p : params) {
            T* g = p->mutable_grad().data();
            for (std::size_t j = 0, n = p->size(); j < n; ++j) g[j] = g[j] * c;
        }
    }
    return total;
}

template <class T>
void clip_grad_value(const std::vector<Parameter<T>*>& params, double clip) {
    check_params("clip_grad_value", params);
    detail::require_arg(!std::isnan(clip) && clip >= 0, "clip_grad_value", "clip", ">= 0", clip);
    const T hi = static_cast<T>(clip), lo = -hi;
    for (Parameter<T>* p : params) {
        T* g = p->mutable_grad().data();
        for (std::size_t j = 0, n = p->size(); j < n; ++j) {
            if (g[j] < lo)
                g[j] = lo;
            else if (g[j] > hi)
                g[j] = hi;
        }
    }
}

template double clip_grad_norm(const std::vector<Parameter<float>*>&, double, double);
template double clip_grad_norm(const std::vector<Parameter<double>*>&, double, double);
template void clip_grad_value(const std::vector<Parameter<float>*>&, double);
template void clip_grad_value(const std::vector<Parameter<double>*>&, double);

}  // namespace tapegrad
