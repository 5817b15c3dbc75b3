// RMSprop, following PyTorch 1.13's `_single_tensor_rmsprop` operation by
// operation, in T (float math for float parameters, as PyTorch computes).

#include "rmsprop.hpp"

#include <cmath>

#include "optim_support.hpp"
#include "param_groups_impl.hpp"

namespace tapegrad {

// GroupedOptimizer's hooks for RMSpropOptions (see param_groups_impl.hpp).
void check_options(const std::string& who, const RMSpropOptions& o) {
    detail::require_nonnegative(who, "alpha", o.alpha);
    detail::require_nonnegative(who, "eps", o.eps);
    detail::require_nonnegative(who, "weight_decay", o.weight_decay);
    detail::require_nonnegative(who, "momentum", o.momentum);
}

const char* fixed_option_changed(const RMSpropOptions& before, const RMSpropOptions& after) {
    if ((before.momentum > 0) != (after.momentum > 0)) return "momentum";
    return before.centered != after.centered ? "centered" : nullptr;
}

template <class F>
void for_each_option(RMSpropOptions& o, F&& f) {
    f("alpha", o.alpha);
    f("eps", o.eps);
    f("weight_decay", o.weight_decay);
    f("momentum", o.momentum);
    f("centered", o.centered);
}

namespace {

// The buffers of one parameter; momentum and grad_avg are null when its group does not use them.
template <class T>
struct RMSpropBuffers {
    T* sq;
    T* buf;
    T* ga;
};

template <class T>
void rmsprop_update(Parameter<T>& param, RMSpropBuffers<T> b, const RMSpropOptions& o) {
    const T alpha = T(o.alpha), one_minus_alpha = T(1 - o.alpha), eps = T(o.eps);
    const T weight_decay = T(o.weight_decay), momentum = T(o.momentum), neg_lr = T(-o.lr);
    const T* g = param.grad().data();
    T* p = param.mutable_value().data();
    const std::size_t n = param.size();
    for (std::size_t j = 0; j < n; ++j) {
        T grad = g[j];
        if (o.weight_decay != 0) grad = grad + weight_decay * p[j];
        // addcmul_(grad, grad, value): self + (value·t1)·t2.
        b.sq[j] = b.sq[j] * alpha + one_minus_alpha * grad * grad;
        T avg;
        if (b.ga != nullptr) {
            b.ga[j] = b.ga[j] * alpha + one_minus_alpha * grad;
            // square_avg.addcmul(grad_avg, grad_avg, value=-1): the variance
            // estimate; rounding can make it slightly negative (sqrt → NaN),
            // exactly as in PyTorch.
            avg = std::sqrt(b.sq[j] + T(-1) * b.ga[j] * b.ga[j]);
        } else {
            avg = std::sqrt(b.sq[j]);
        }
        avg = avg + eps;
        if (b.buf != nullptr) {
            b.buf[j] = b.buf[j] * momentum + grad / avg;
            p[j] = p[j] + neg_lr * b.buf[j];
        } else {
            // addcdiv_(grad, avg, value=-lr): self + (value·t1)/t2.
            p[j] = p[j] + neg_lr * grad / avg;
        }
    }
}

}  // namespace

template <class T>
RMSprop<T>::RMSprop(std::vector<Parameter<T>*> params, RMSpropOptions options)
    : RMSprop(std::vector<ParamGroup<T, RMSpropOptions>>{{std::move(params), options}}) {}

template <class T>
RMSprop<T>::RMSprop(std::vector<ParamGroup<T, RMSpropOptions>> groups)
    : GroupedOptimizer<T, RMSpropOptions>("RMSprop", std::move(groups)) {
    square_avg_ = this->add_buffer("square_avg", T(0), true);
    if (this->any_group([](const RMSpropOptions& o) { return o.momentum > 0; }))
        momentum_buffer_ = this->add_buffer("momentum_buffer", T(0));
    if (this->any_group([](const RMSpropOptions& o) { return o.centered; }))
        grad_avg_ = this->add_buffer("grad_avg", T(0));
}

template <class T>
void RMSprop<T>::step() {
    const std::vector<Parameter<T>*>& params = this->prepare_step();
    ++this->steps_;
    for (std::size_t g = 0; g < this->num_groups(); ++g) {
        const RMSpropOptions o = this->options(g);
        for (std::size_t i = this->group_begin(g); i < this->group_end(g); ++i) {
            RMSpropBuffers<T> b{this->buffers_[square_avg_].tensors[i].data(), nullptr, nullptr};
            if (o.momentum > 0) b.buf = this->buffers_[momentum_buffer_].tensors[i].data();
            if (o.centered) b.ga = this->buffers_[grad_avg_].tensors[i].data();
            rmsprop_update(*params[i], b, o);
        }
    }
}

template class GroupedOptimizer<float, RMSpropOptions>;
template class GroupedOptimizer<double, RMSpropOptions>;
template class RMSprop<float>;
template class RMSprop<double>;

}  // namespace tapegrad
