#pragma once
/// \file
/// `Optimizer<T>`: the interface every optimizer implements.

#include <cstddef>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "../autodiff/errors.hpp"
#include "../autodiff/parameter.hpp"

namespace tapegrad {

/// An optimizer's complete state as named tensors (double holds every float
/// exactly, so a float optimizer round-trips bit for bit). Keys:
/// "lr", "step" and per-parameter buffers "<index>.<buffer>", e.g. "3.exp_avg".
/// "lr" and "step" are 0-d; a buffer has its parameter's shape.
using StateDict = std::map<std::string, Tensor<double>>;

template <class T = float>
class Optimizer {
public:
    /// The optimizer holds the parameters' records (see parameter.hpp), not
    /// the pointers: a module moved after the optimizer was built (into
    /// another variable, or by a growing std::vector) is still updated where
    /// it lives now. A parameter destroyed while the optimizer refers to it
    /// makes `step`, `zero_grad` and `params` throw `LifetimeError`. Throws
    /// `ArgumentError` for an empty list, a null or repeated parameter or an
    /// invalid lr (negative, NaN or infinite), `LifetimeError` for a
    /// moved-from parameter.
    Optimizer(std::vector<Parameter<T>*> params, double lr);
    virtual ~Optimizer() = default;

    /// Applies one update from the parameters' current gradients. Every
    /// parameter is updated (there is no "no gradient" state: a zero gradient
    /// still decays momentum and applies weight decay, as in PyTorch with a
    /// zero `.grad`). Throws `ShapeError`, changing nothing, if a parameter was
    /// reshaped (`set_value`) since the optimizer was built or its gradient no
    /// longer has its value's shape (reshaped through `mutable_value()`), and
    /// `LifetimeError`, changing nothing, if a parameter was destroyed.
    virtual void step() = 0;
    /// Zeroes every parameter's gradient (`LifetimeError`, changing nothing, if
    /// one was destroyed).
    void zero_grad();

    /// The parameters where they live now (a moved module's new address).
    /// Throws `LifetimeError` if one was destroyed. The vector is the
    /// optimizer's own, refreshed by each call (and by `step`/`zero_grad`):
    /// copy it rather than keep the reference across a move of the model.
    const std::vector<Parameter<T>*>& params() const { return live_params("params"); }
    double lr() const { return lr_; }
    /// Used by learning-rate schedules. Throws `ArgumentError` for a negative,
    /// NaN or infinite lr.
    void set_lr(double lr);
    /// Number of `step()` calls so far (restored by `load_state_dict`).
    long steps() const { return steps_; }
    /// "SGD", "Adam", ...: prefixes every error message.
    const std::string& name() const { return name_; }

    /// Everything `load_state_dict` needs to continue exactly where this left off.
    virtual StateDict state_dict() const;
    /// Restores a state produced by `state_dict` of the same optimizer type over
    /// parameters of the same shapes. Validates everything first and throws
    /// `ArgumentError` naming the key (missing, unexpected or wrong shape) without
    /// changing anything.
    virtual void load_state_dict(const StateDict& state);

protected:
    /// For derived optimizers: `name` prefixes error messages.
    Optimizer(std::string name, std::vector<Parameter<T>*> params, double lr);

    /// One kind of per-parameter buffer ("exp_avg"): a tensor shaped like each
    /// parameter, saved as "<index>.<name>". The base class owns the buffers so
    /// that `state_dict`/`load_state_dict` work for every optimizer and copying
    /// an optimizer copies its state.
    struct Buffer {
        std::string name;
        T init = T(0);
        bool non_negative = false;  ///< a running square: `load_state_dict` refuses values < 0
        bool allocated = false;
        std::vector<Tensor<T>> tensors;  ///< one per parameter, same order, once allocated
    };
    /// Declares a buffer kind starting at `init`; returns its position in
    /// `buffers_`. Like PyTorch's, the state is allocated by the first
    /// `step()` (or `load_state_dict`), so an optimizer that never steps
    /// holds nothing, and later steps allocate nothing. `non_negative` marks
    /// a running square (its values must be >= 0 in a loaded state).
    std::size_t add_buffer(std::string name, T init, bool non_negative = false);
    /// For `step()`: checks every parameter before anything changes
    /// (`LifetimeError` if one was destroyed, `ShapeError` if its gradient or
    /// its buffers no longer have its shape), allocates the buffers on the
    /// first call and returns the live parameters, in order, to update.
    const std::vector<Parameter<T>*>& prepare_step();

    /// The parameters' shared records, in order: they outlive the `Parameter`
    /// objects, so a destroyed parameter is detected rather than dereferenced.
    /// Read shapes and names here; update through `prepare_step()`'s result.
    std::vector<std::shared_ptr<ParameterState<T>>> params_;
    double lr_;
    long steps_ = 0;
    std::string name_;
    std::vector<Buffer> buffers_;

private:
    /// Each record's current owner, refreshed by `live_params` (refreshing
    /// writes in place: no allocation per step).
    mutable std::vector<Parameter<T>*> live_;
    /// Refreshes `live_`; throws `LifetimeError` ("<name>::<what>: ...") if a
    /// parameter was destroyed.
    const std::vector<Parameter<T>*>& live_params(const char* what) const;
};

extern template class Optimizer<float>;
extern template class Optimizer<double>;

}  // namespace tapegrad
