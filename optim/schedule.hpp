#pragma once
/// \file
/// Learning-rate schedules: each sets an optimizer's lr from a closed form of
/// the epoch, starting from the lr the optimizer had when the schedule was
/// built (lr0). With parameter groups each group keeps its own lr0 (PyTorch's
/// `base_lrs`) and gets the closed form of it: StepLR halves 1e-3 and 1e-2
/// alike. Call `step()` once per epoch, after that epoch's optimizer steps:
///
///     tg::Adam opt(params, {.lr = 1e-3});
///     tg::CosineAnnealingLR sched(opt, 100);
///     for (int epoch = 0; epoch < 100; ++epoch) { train(opt); sched.step(); }

#include "optimizer.hpp"

namespace tapegrad {

/// What every schedule shares. The optimizer must outlive the schedule.
template <class T = float>
class LRSchedule {
public:
    virtual ~LRSchedule() = default;

    /// Advances one epoch and sets each group g's lr to `lr_at(last_epoch(), g)`.
    /// Throws `ArgumentError`, changing nothing, if one is not a valid lr.
    void step();
    /// Epochs advanced so far (0 right after construction).
    long last_epoch() const { return last_epoch_; }
    /// Group `group`'s lr when the schedule was built (`ArgumentError` for a
    /// group index >= the optimizer's `num_groups()`).
    double base_lr(std::size_t group = 0) const;
    /// Every group's, in order.
    const std::vector<double>& base_lrs() const { return base_lrs_; }
    /// The lr this schedule gives group `group` at `epoch` (>= 0).
    double lr_at(long epoch, std::size_t group = 0) const { return lr_from(base_lr(group), epoch); }
    Optimizer<T>& optimizer() const { return *optimizer_; }

protected:
    explicit LRSchedule(Optimizer<T>& optimizer);
    /// The closed form: the lr at `epoch` of a group whose lr was `base_lr`
    /// when the schedule was built.
    virtual double lr_from(double base_lr, long epoch) const = 0;

private:
    Optimizer<T>* optimizer_;
    std::vector<double> base_lrs_;
    long last_epoch_ = 0;
};

/// lr0 · gamma^floor(epoch / step_size). Throws `ArgumentError` unless
/// step_size > 0 and gamma is finite and >= 0.
template <class T = float>
class StepLR : public LRSchedule<T> {
public:
    StepLR(Optimizer<T>& optimizer, long step_size, double gamma = 0.1);

private:
    double lr_from(double base_lr, long epoch) const override;
    long step_size_;
    double gamma_;
};

/// lr0 · gamma^epoch. Throws `ArgumentError` unless gamma is finite and >= 0.
template <class T = float>
class ExponentialLR : public LRSchedule<T> {
public:
    ExponentialLR(Optimizer<T>& optimizer, double gamma);

private:
    double lr_from(double base_lr, long epoch) const override;
    double gamma_;
};

/// eta_min + (lr0 − eta_min)·(1 + cos(π·epoch/T_max))/2: lr0 at epoch 0, eta_min
/// at T_max, and back up after that (the closed form is periodic, as PyTorch's
/// closed form). Throws `ArgumentError` unless T_max > 0 and eta_min is finite
/// and >= 0.
template <class T = float>
class CosineAnnealingLR : public LRSchedule<T> {
public:
    CosineAnnealingLR(Optimizer<T>& optimizer, long T_max, double eta_min = 0);

private:
    double lr_from(double base_lr, long epoch) const override;
    long t_max_;
    double eta_min_;
};

extern template class LRSchedule<float>;
extern template class LRSchedule<double>;
extern template class StepLR<float>;
extern template class StepLR<double>;
extern template class ExponentialLR<float>;
extern template class ExponentialLR<double>;
extern template class CosineAnnealingLR<float>;
extern template class CosineAnnealingLR<double>;

}  // namespace tapegrad
