#pragma once
/// \file
/// Internal to the optim/ .cpp files: `GroupedOptimizer`'s definitions. Each
/// optimizer's .cpp includes this, defines the three functions below for its
/// options struct (found by argument-dependent lookup), then instantiates
/// `GroupedOptimizer<T, ItsOptions>` for float and double:
///
///     void check_options(const std::string& who, const O& o);
///         throws ArgumentError "<who>: <option> must be ..." (lr excepted: checked here);
///     const char* fixed_option_changed(const O& before, const O& after);
///         the option deciding which buffers exist that differs, or nullptr;
///     template <class F> void for_each_option(O& o, F&& f);
///         f("<name>", o.<field>) for every option but lr, double or bool.

#include <type_traits>

#include "optim_support.hpp"
#include "param_groups.hpp"

namespace tapegrad {

namespace detail {

// Every group's validated lr; the checks run before the base class sees the
// parameters, so that an invalid option is reported as such.
template <class T, class Options>
std::vector<double> checked_lrs(const std::string& name, const std::vector<ParamGroup<T, Options>>& groups) {
    std::vector<double> lrs;
    for (std::size_t g = 0; g < groups.size(); ++g) {
        const std::string who = group_label(name, g, groups.size());
        check_options(who, groups[g].options);
        require_lr<T>(who, "lr", groups[g].options.lr);
        lrs.push_back(groups[g].options.lr);
    }
    return lrs;
}

template <class T, class Options>
std::vector<std::vector<Parameter<T>*>> group_params(const std::vector<ParamGroup<T, Options>>& groups) {
    std::vector<std::vector<Parameter<T>*>> out;
    for (const auto& g : groups) out.push_back(g.params);
    return out;
}

}  // namespace detail

template <class T, class Options>
GroupedOptimizer<T, Options>::GroupedOptimizer(std::string name, std::vector<Group> groups)
    : Optimizer<T>(name, detail::group_params(groups), detail::checked_lrs(name, groups)) {
    for (Group& g : groups) options_.push_back(g.options);
}

template <class T, class Options>
Options GroupedOptimizer<T, Options>::options(std::size_t group) const {
    this->check_group(group, "options");
    Options o = options_[group];
    o.lr = this->lrs_[group];
    return o;
}

template <class T, class Options>
void GroupedOptimizer<T, Options>::set_options(std::size_t group, const Options& options) {
    this->check_group(group, "set_options");
    const std::string who = this->name_ + "::set_options: group " + std::to_string(group);
    check_options(who, options);
    detail::require_lr<T>(who, "lr", options.lr);
    if (const char* fixed = fixed_option_changed(options_[group], options))
        throw ArgumentError(who + ": " + fixed +
                            " cannot change after construction (it decides which state buffers exist)");
    options_[group] = options;
    this->lrs_[group] = options.lr;
}

template <class T, class Options>
std::vector<std::string> GroupedOptimizer<T, Options>::option_names() const {
    std::vector<std::string> names;
    Options o = options_[0];
    for_each_option(o, [&](const char* name, auto&) { names.emplace_back(name); });
    return names;
}

template <class T, class Options>
std::vector<double> GroupedOptimizer<T, Options>::option_values(std::size_t group) const {
    std::vector<double> values;
    Options o = options_[group];
    for_each_option(o, [&](const char*, auto& field) { values.push_back(static_cast<double>(field)); });
    return values;
}

template <class T, class Options>
Options GroupedOptimizer<T, Options>::with_values(std::size_t group, const std::vector<double>& values,
                                                  const std::string& who) const {
    Options o = options_[group];
    std::size_t k = 0;
    for_each_option(o, [&](const char* name, auto& field) {
        const double v = values.at(k++);
        if constexpr (std::is_same_v<std::remove_reference_t<decltype(field)>, bool>) {
            detail::require_arg(v == 0 || v == 1, who, name, "0 or 1", v);
            field = v == 1;
        } else {
            field = v;
        }
    });
    return o;
}

template <class T, class Options>
void GroupedOptimizer<T, Options>::check_option_values(std::size_t group, const std::vector<double>& values,
                                                       const std::string& who) const {
    const Options o = with_values(group, values, who);
    check_options(who, o);
    if (const char* fixed = fixed_option_changed(options_[group], o))
        throw ArgumentError(who + ": " + fixed + " differs from this optimizer's (it decides which state buffers exist)");
}

template <class T, class Options>
void GroupedOptimizer<T, Options>::set_option_values(std::size_t group, const std::vector<double>& values) {
    options_[group] = with_values(group, values, this->name_);
}

}  // namespace tapegrad
