// Adagrad, following PyTorch 1.13's `_single_tensor_adagrad` (dense gradients)
// operation by operation, in T (float math for float parameters, as PyTorch
// computes); clr is computed in double, as PyTorch computes it in Python.

#include "adagrad.hpp"

#include <cmath>

#include "optim_support.hpp"
#include "param_groups_impl.hpp"

namespace tapegrad {

// GroupedOptimizer's hooks for AdagradOptions (see param_groups_impl.hpp).
void check_options(const std::string& who, const AdagradOptions& o) {
    detail::require_nonnegative(who, "lr_decay", o.lr_decay);
    detail::require_nonnegative(who, "weight_decay", o.weight_decay);
    detail::require_nonnegative(who, "initial_accumulator_value", o.initial_accumulator_value);
    detail::require_nonnegative(who, "eps", o.eps);
}

// Every group has the one buffer "sum"; its starting value only matters at construction.
const char* fixed_option_changed(const AdagradOptions&, const AdagradOptions&) { return nullptr; }

template <class F>
void for_each_option(AdagradOptions& o, F&& f) {
    f("lr_decay", o.lr_decay);
    f("weight_decay", o.weight_decay);
    f("initial_accumulator_value", o.initial_accumulator_value);
    f("eps", o.eps);
}

template <class T>
Adagrad<T>::Adagrad(std::vector<Parameter<T>*> params, AdagradOptions options)
    : Adagrad(std::vector<ParamGroup<T, AdagradOptions>>{{std::move(params), options}}) {}

template <class T>
Adagrad<T>::Adagrad(std::vector<ParamGroup<T, AdagradOptions>> groups)
    : GroupedOptimizer<T, AdagradOptions>("Adagrad", std::move(groups)) {
    std::vector<T> init;
    for (std::size_t g = 0; g < this->num_groups(); ++g) init.push_back(T(this->options(g).initial_accumulator_value));
    sum_ = this->add_buffer("sum", std::move(init), true);
}

template <class T>
void Adagrad<T>::step() {
    const std::vector<Parameter<T>*>& params = this->prepare_step();
    ++this->steps_;
    for (std::size_t g = 0; g < this->num_groups(); ++g) {
        const AdagradOptions o = this->options(g);
        const double clr = o.lr / (1 + static_cast<double>(this->steps_ - 1) * o.lr_decay);
        const T neg_clr = T(-clr), eps = T(o.eps), weight_decay = T(o.weight_decay);
        for (std::size_t i = this->group_begin(g); i < this->group_end(g); ++i) {
            Parameter<T>& param = *params[i];
            const T* grad = param.grad().data();
            T* p = param.mutable_value().data();
            T* sum = this->buffers_[sum_].tensors[i].data();
            const std::size_t n = param.size();
            for (std::size_t j = 0; j < n; ++j) {
                T d = grad[j];
                if (o.weight_decay != 0) d = d + weight_decay * p[j];
                sum[j] = sum[j] + d * d;
                const T denom = std::sqrt(sum[j]) + eps;
                // addcdiv_(grad, std, value=-clr): self + (value·t1)/t2.
                p[j] = p[j] + neg_clr * d / denom;
            }
        }
    }
}

template class GroupedOptimizer<float, AdagradOptions>;
template class GroupedOptimizer<double, AdagradOptions>;
template class Adagrad<float>;
template class Adagrad<double>;

}  // namespace tapegrad
