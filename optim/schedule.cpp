// Learning-rate schedules as closed forms of the epoch: no drift from repeated
// multiplication, and any epoch can be evaluated directly.

#include "schedule.hpp"

#include <cmath>
#include <numbers>

#include "optim_support.hpp"

namespace tapegrad {

template <class T>
LRSchedule<T>::LRSchedule(Optimizer<T>& optimizer) : optimizer_(&optimizer) {
    for (std::size_t g = 0; g < optimizer.num_groups(); ++g) base_lrs_.push_back(optimizer.lr(g));
}

template <class T>
double LRSchedule<T>::base_lr(std::size_t group) const {
    if (group >= base_lrs_.size())
        throw ArgumentError("LRSchedule::base_lr: group " + std::to_string(group) + " does not exist (there are " +
                            std::to_string(base_lrs_.size()) + ")");
    return base_lrs_[group];
}

template <class T>
void LRSchedule<T>::step() {
    std::vector<double> lrs;
    for (std::size_t g = 0; g < base_lrs_.size(); ++g) {
        lrs.push_back(lr_at(last_epoch_ + 1, g));
        // Checked as set_lr checks (e.g. gamma > 1 overflowing to inf), before any group changes.
        detail::require_lr<T>(optimizer_->name() + "::set_lr: group " + std::to_string(g), "lr", lrs.back());
    }
    for (std::size_t g = 0; g < lrs.size(); ++g) optimizer_->set_lr(g, lrs[g]);
    ++last_epoch_;
}

template <class T>
StepLR<T>::StepLR(Optimizer<T>& optimizer, long step_size, double gamma)
    : LRSchedule<T>(optimizer), step_size_(step_size), gamma_(gamma) {
    detail::require_arg(step_size > 0, "StepLR", "step_size", "> 0", static_cast<double>(step_size));
    detail::require_nonnegative("StepLR", "gamma", gamma);
}

template <class T>
double StepLR<T>::lr_from(double base_lr, long epoch) const {
    return base_lr * std::pow(gamma_, static_cast<double>(epoch / step_size_));
}

template <class T>
ExponentialLR<T>::ExponentialLR(Optimizer<T>& optimizer, double gamma) : LRSchedule<T>(optimizer), gamma_(gamma) {
    detail::require_nonnegative("ExponentialLR", "gamma", gamma);
}

template <class T>
double ExponentialLR<T>::lr_from(double base_lr, long epoch) const {
    return base_lr * std::pow(gamma_, static_cast<double>(epoch));
}

template <class T>
CosineAnnealingLR<T>::CosineAnnealingLR(Optimizer<T>& optimizer, long T_max, double eta_min)
    : LRSchedule<T>(optimizer), t_max_(T_max), eta_min_(eta_min) {
    detail::require_arg(T_max > 0, "CosineAnnealingLR", "T_max", "> 0", static_cast<double>(T_max));
    detail::require_nonnegative("CosineAnnealingLR", "eta_min", eta_min);
}

template <class T>
double CosineAnnealingLR<T>::lr_from(double base_lr, long epoch) const {
    const double angle = std::numbers::pi * static_cast<double>(epoch) / static_cast<double>(t_max_);
    return eta_min_ + (base_lr - eta_min_) * (1 + std::cos(angle)) / 2;
}

template class LRSchedule<float>;
template class LRSchedule<double>;
template class StepLR<float>;
template class StepLR<double>;
template class ExponentialLR<float>;
template class ExponentialLR<double>;
template class CosineAnnealingLR<float>;
template class CosineAnnealingLR<double>;

}  // namespace tapegrad
