#pragma once
/// \file
/// `Module<T>`: something with named parameters and child modules.
///
/// A module lists its parameters and children in one function, `visit`; names,
/// parameter lists, `zero_grad` and train/eval mode all derive from it. Modules
/// hold their parameters as plain members and copy (deep) and move like
/// values. Tapes and optimizers do refer to the parameters, through their
/// shared records (see `Parameter` and docs/architecture.md, "Lifetimes"):
/// - moving a module (into another variable, or by a `std::vector` that
///   grows) keeps each parameter's identity: a tape recorded before the move
///   and an optimizer built before it reach the moved-to module;
/// - a copy is independent: new parameters, unknown to the original's tapes
///   and optimizers; copy assignment copies values into the existing ones;
/// - destroying a module whose parameters a tape (until `clear()`) or an
///   optimizer still uses makes their `backward`/`step` throw `LifetimeError`;
///   using a moved-from module throws it too.
/// The `Parameter*` lists returned below are for immediate use: they point at
/// the members and go stale when the module moves.
///
/// Calls are reentrant: a module's call keeps no per-call state in the module
/// (handle lists go on the call's tape, `Tape::handle_buffer`; masks are
/// constants on it), so one model can serve several threads at once, each
/// with its own tape, while nothing modifies its parameters. Write your own
/// modules the same way. See docs/architecture.md, "Threads".
///
/// ```cpp
/// struct Peephole : tg::Module<float> {
///     tg::Parameter<float> w_ci, w_cf;
///     tg::Linear<float> proj;
///     void visit(tg::ModuleVisitor<float>& v) override {
///         v.param("w_ci", w_ci);
///         v.param("w_cf", w_cf);
///         v.module("proj", proj);   // its parameters become "proj.weight", "proj.bias"
///     }
/// };
/// ```

#include <string>
#include <utility>
#include <vector>

#include "../autodiff/parameter.hpp"

namespace tapegrad {

template <class T>
class Module;

/// Receives a module's parameters and children (see `Module::visit`).
template <class T>
class ModuleVisitor {
public:
    virtual ~ModuleVisitor() = default;
    virtual void param(const std::string& name, Parameter<T>& p) = 0;
    virtual void module(const std::string& name, Module<T>& m) = 0;
};

/// (dotted name, parameter) pairs, in the order the modules visit them.
template <class T>
using NamedParameters = std::vector<std::pair<std::string, Parameter<T>*>>;

template <class T = float>
class Module {
public:
    virtual ~Module() = default;

    /// Lists this module's own parameters and direct children, in a fixed order.
    virtual void visit(ModuleVisitor<T>& v) = 0;

    /// Every parameter below this module with its dotted name
    /// ("encoder.weight_ih_l0"); `prefix` is prepended to each.
    NamedParameters<T> named_parameters(const std::string& prefix = {});
    /// Every parameter below this module, in `named_parameters` order, each
    /// named by its dotted path from here (so that an optimizer's and a
    /// tape's errors name "encoder.weight"). Writing the names makes it a
    /// modification: call it where optimizers are built, not on threads that
    /// are running the model (`named_parameters` only reads).
    std::vector<Parameter<T>*> parameters();
    /// Zeroes every parameter's gradient.
    void zero_grad();
    /// Training mode (dropout active) for this module and all below it.
    /// Virtual for modules that own modules they do not `visit` as children
    /// (a sequence layer's cells, whose parameters it lists under its own names).
    virtual void train(bool on = true);
    /// Evaluation mode: `train(false)`.
    void eval() { train(false); }
    bool training() const { return training_; }

    /// Names each parameter after its place in the module tree; called by
    /// `named_parameters` and by anything that saves or loads a module.
    void set_parameter_names(const std::string& prefix = {});

protected:
    Module() = default;
    Module(const Module&) = default;
    Module(Module&&) noexcept = default;
    Module& operator=(const Module&) = default;
    Module& operator=(Module&&) noexcept = default;

private:
    bool training_ = true;
};

/// The parameters of several modules, in order, for one optimizer:
/// `tg::parameters(lstm, head)`.
template <class T, class... Ms>
std::vector<Parameter<T>*> parameters(Module<T>& first, Ms&... rest) {
    std::vector<Parameter<T>*> out = first.parameters();
    (
        [&] {
            auto more = static_cast<Module<T>&>(rest).parameters();
            out.insert(out.end(), more.begin(), more.end());
        }(),
        ...);
    return out;
}

extern template class Module<float>;
extern template class Module<double>;

}  // namespace tapegrad
