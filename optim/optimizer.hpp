#pragma once
/// \file
/// `Optimizer<T>`: the interface every optimizer implements.

#include <cstddef>
#include <map>
#include <memory>
#include <set>
#include <string>
#include <vector>

#include "../autodiff/errors.hpp"
#include "../autodiff/parameter.hpp"

namespace tapegrad {

/// An optimizer's complete state as named tensors (double holds every float
/// exactly, so a float optimizer round-trips bit for bit). Keys:
///
///     "step"                    0-d, the number of steps taken
///     "group.<g>.params"        1-d, the positions (in `params()`) of group g's parameters
///     "group.<g>.lr"            0-d, group g's lr
///     "group.<g>.<option>"      0-d, each other option of group g, e.g. "group.1.weight_decay"
///                               (a bool option is 0 or 1)
///     "<index>.<buffer>"        a parameter's buffer, shaped like it, e.g. "3.exp_avg";
///                               <index> is the position in `params()` (groups concatenated)
///
/// A state saved before parameter groups ("lr", "step" and the buffers) still
/// loads into a one-group optimizer, keeping its options.
using StateDict = std::map<std::string, Tensor<double>>;

/// Parameter groups, as PyTorch's `param_groups`: the parameters are split
/// into groups, each with its own lr (and, in the optimizers built on
/// `GroupedOptimizer`, its own copy of every other option). Group g's
/// parameters are a contiguous run of `params()`, in the order given.
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
    /// Group `group`'s parameters (a copy: a run of `params()`). Throws
    /// `ArgumentError` for a group index >= `num_groups()`.
    std::vector<Parameter<T>*> params(std::size_t group) const;
    /// 1 unless the optimizer was built from several parameter groups.
    std::size_t num_groups() const { return lrs_.size(); }
    /// Group 0's lr: the lr, for an optimizer of one group.
    double lr() const { return lrs_[0]; }
    /// Group `group`'s lr (`ArgumentError` for a group index >= `num_groups()`).
    double lr(std::size_t group) const;
    /// Sets every group's lr. Throws `ArgumentError`, changing nothing, for a
    /// negative, NaN or infinite lr.
    void set_lr(double lr);
    /// Sets group `group`'s lr (checked as above, and the group index).
    void set_lr(std::size_t group, double lr);
    /// Number of `step()` calls so far (restored by `load_state_dict`).
    long steps() const { return steps_; }
    /// "SGD", "Adam", ...: prefixes every error message.
    const std::string& name() const { return name_; }

    /// Everything `load_state_dict` needs to continue exactly where this left off.
    virtual StateDict state_dict() const;
    /// Restores a state produced by `state_dict` of the same optimizer type over
    /// parameters of the same shapes and the same groups; each group's lr and
    /// options are restored too. Validates everything first and throws
    /// `ArgumentError` naming the key (missing, unexpected, wrong shape or
    /// value, another group count or membership) without changing anything.
    virtual void load_state_dict(const StateDict& state);

protected:
    /// For derived optimizers: `name` prefixes error messages.
    Optimizer(std::string name, std::vector<Parameter<T>*> params, double lr);
    /// Several groups: `groups[g]` with lr `lrs[g]`. Throws `ArgumentError` for
    /// no group, an empty group, a null parameter or one listed twice (in one
    /// group or in two), naming the group; `LifetimeError` for a moved-from one.
    Optimizer(std::string name, std::vector<std::vector<Parameter<T>*>> groups, std::vector<double> lrs);

    /// Group g's parameters are `params_[group_begin(g), group_end(g))`.
    std::size_t group_begin(std::size_t group) const { return group_offsets_[group]; }
    std::size_t group_end(std::size_t group) const { return group_offsets_[group + 1]; }
    /// "Adam" for one group, "Adam: group 1" for several: prefixes a group's errors.
    std::string group_label(std::size_t group) const;
    /// Throws `ArgumentError` ("<name>::<what>: ...") for a group index out of range.
    void check_group(std::size_t group, const char* what) const;

    /// The options other than lr, for `state_dict`/`load_state_dict` (saved as
    /// "group.<g>.<name>"). The base class has none; `GroupedOptimizer` lists
    /// its options struct's fields.
    virtual std::vector<std::string> option_names() const { return {}; }
    /// Group g's values of `option_names()`, in order (a bool as 0 or 1).
    virtual std::vector<double> option_values(std::size_t /*group*/) const { return {}; }
    /// Throws `ArgumentError` (prefixed by `who`) unless `values` are valid
    /// options for group g; changes nothing.
    virtual void check_option_values(std::size_t /*group*/, const std::vector<double>& /*values*/,
                                     const std::string& /*who*/) const {}
    /// Sets group g's options from values that passed `check_option_values`.
    virtual void set_option_values(std::size_t /*group*/, const std::vector<double>& /*values*/) {}

    /// One kind of per-parameter buffer ("exp_avg"): a tensor shaped like each
    /// parameter, saved as "<index>.<name>". The base class owns the buffers so
    /// that `state_dict`/`load_state_dict` work for every optimizer and copying
    /// an optimizer copies its state.
    struct Buffer {
        std::string name;
        std::vector<T> init;  ///< the starting value, per group
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
    /// The same with a starting value per group (`init[g]` for group g).
    std::size_t add_buffer(std::string name, std::vector<T> init, bool non_negative = false);
    /// For `step()`: checks every parameter before anything changes
    /// (`LifetimeError` if one was destroyed, `ShapeError` if its gradient or
    /// its buffers no longer have its shape), allocates the buffers on the
    /// first call and returns the live parameters, in order, to update.
    const std::vector<Parameter<T>*>& prepare_step();

    /// The parameters' shared records, in order: they outlive the `Parameter`
    /// objects, so a destroyed parameter is detected rather than dereferenced.
    /// Read shapes and names here; update through `prepare_step()`'s result.
    std::vector<std::shared_ptr<ParameterState<T>>> params_;
    /// Group g is `params_[group_offsets_[g], group_offsets_[g + 1])`.
    std::vector<std::size_t> group_offsets_;
    std::vector<double> lrs_;  ///< one per group
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
    /// Allocates `b`'s tensors at its starting values, shaped like the parameters.
    void allocate(Buffer& b) const;
    /// The starting value of `b` for the parameter at `index` (its group's).
    T initial_value(const Buffer& b, std::size_t index) const;
    /// The parts of `load_state_dict` (optimizer_state.cpp).
    struct LoadedGroup;
    std::vector<LoadedGroup> read_groups(const StateDict& state, const std::string& who,
                                         std::set<std::string>& used) const;
    long read_step(const StateDict& state, const std::string& who, std::set<std::string>& used) const;
    void check_buffers(const StateDict& state, const std::string& who, std::set<std::string>& used) const;
    void commit_state(const StateDict& state, const std::vector<LoadedGroup>& groups, long step);
};

extern template class Optimizer<float>;
extern template class Optimizer<double>;

}  // namespace tapegrad
