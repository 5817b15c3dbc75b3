#pragma once
/// \file
/// Parameter groups with their own options, as PyTorch's `param_groups`:
/// `ParamGroup` and `GroupedOptimizer`, the base of SGD, Adam, AdamW, RMSprop
/// and Adagrad.

#include <string>
#include <vector>

#include "optimizer.hpp"

namespace tapegrad {

/// One parameter group: its parameters and its own copy of the optimizer's
/// options (a dict of PyTorch's `param_groups`):
///
///     tg::Adam<float> opt({{encoder.parameters(), {.lr = 1e-3}},
///                          {head.parameters(), {.lr = 1e-2, .weight_decay = 0}}});
///
/// An option left out takes the options struct's default (not another group's).
template <class T, class Options>
struct ParamGroup {
    std::vector<Parameter<T>*> params;
    Options options{};
};

/// An optimizer whose every group holds a full `Options` (lr included). The
/// constructor, `options`/`set_options` and the options' part of
/// `state_dict`/`load_state_dict` are here, once for every optimizer.
template <class T, class Options>
class GroupedOptimizer : public Optimizer<T> {
public:
    using Group = ParamGroup<T, Options>;

    /// Group `group`'s options, lr included (`ArgumentError` for a group index
    /// >= `num_groups()`). `options()`: group 0's, all of a one-group optimizer's.
    Options options(std::size_t group = 0) const;
    /// Replaces group `group`'s options, lr included. Throws `ArgumentError`
    /// naming the optimizer, the group and the option, changing nothing, for an
    /// invalid option or a change of an option that decides which state buffers
    /// exist (Adam's amsgrad, SGD's momentum zero or not, RMSprop's momentum
    /// zero or not and centered): those are fixed at construction.
    void set_options(std::size_t group, const Options& options);

protected:
    /// Validates every group's options, then the parameters (see `Optimizer`).
    GroupedOptimizer(std::string name, std::vector<Group> groups);

    /// Whether some group's options satisfy `pred`: a buffer that any group
    /// needs is declared for every parameter (and left untouched by the others).
    template <class Pred>
    bool any_group(Pred pred) const {
        for (const Options& o : options_)
            if (pred(o)) return true;
        return false;
    }

private:
    std::vector<std::string> option_names() const override;
    std::vector<double> option_values(std::size_t group) const override;
    void check_option_values(std::size_t group, const std::vector<double>& values,
                             const std::string& who) const override;
    void set_option_values(std::size_t group, const std::vector<double>& values) override;
    /// Group g's options with `values` (in `option_names()` order) in place of the current ones.
    Options with_values(std::size_t group, const std::vector<double>& values, const std::string& who) const;

    /// One per group. Their `lr` is not read: the base class's `lr(g)` is the one
    /// `set_lr` and schedules change, and `options(g)` reports it.
    std::vector<Options> options_;
};

}  // namespace tapegrad
