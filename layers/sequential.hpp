#pragma once
/// \file
/// `Sequential<T>`: modules (and plain functions) applied one after another,
/// each taking one handle and returning one.
///
/// ```cpp
/// tg::Sequential<float> mlp(tg::Linear<float>(4, 32), tg::relu<float>, tg::Linear<float>(32, 2));
/// tg::Var<float> y = mlp(x);               // parameters "0.weight", "0.bias", "2.weight", "2.bias"
/// mlp.add(tg::Dropout<float>(0.1));         // one more stage at the end
/// auto& first = mlp.at<tg::Linear<float>>(0);
/// ```
///
/// A stage is a module with `Var<T> operator()(Var<T>)` (Linear, LayerNorm,
/// Dropout, your own), which the Sequential owns, or a function of one handle
/// (`tg::tanh<float>`, a lambda), which has no parameters but keeps its
/// position in the names, as PyTorch's nn.ReLU does. Recurrent layers return
/// an output and a state, so they are not stages: wrap one in a module of
/// your own that picks what the next stage needs.

#include <concepts>
#include <functional>
#include <memory>
#include <string>
#include <type_traits>
#include <utility>
#include <vector>

#include "../autodiff/errors.hpp"
#include "../autodiff/var.hpp"
#include "module.hpp"

namespace tapegrad {

template <class T = float>
class Sequential : public Module<T> {
public:
    /// Takes each stage by value: modules are moved in (`std::move(linear)`).
    template <class... Stages>
        requires(!(sizeof...(Stages) == 1 && (std::is_same_v<std::remove_cvref_t<Stages>, Sequential> && ...)))  // not a copy
    explicit Sequential(Stages&&... stages) {
        (add(std::forward<Stages>(stages)), ...);
    }
    /// A deep copy: every module stage is copied (new parameters).
    Sequential(const Sequential& other) : Module<T>(other) { copy_stages(other); }
    Sequential& operator=(const Sequential& other) {
        if (this != &other) {
            Module<T>::operator=(other);
            stages_.clear();
            copy_stages(other);
        }
        return *this;
    }
    Sequential(Sequential&&) noexcept = default;
    Sequential& operator=(Sequential&&) noexcept = default;

    /// Appends a module (owned, moved in) or a function of one handle.
    template <class S>
    Sequential& add(S&& stage) {
        using M = std::remove_cvref_t<S>;
        if constexpr (std::is_base_of_v<Module<T>, M>) {
            static_assert(std::is_invocable_r_v<Var<T>, M&, Var<T>>, "a Sequential stage must map one Var<T> to one Var<T>");
            Stage st;
            st.module = std::make_unique<M>(std::forward<S>(stage));
            st.call = [](Module<T>& m, Var<T> x) { return static_cast<M&>(m)(x); };
            st.clone = [](const Module<T>& m) -> std::unique_ptr<Module<T>> { return std::make_unique<M>(static_cast<const M&>(m)); };
            stages_.push_back(std::move(st));
        } else {
            static_assert(std::is_invocable_r_v<Var<T>, M&, Var<T>>, "a Sequential stage must map one Var<T> to one Var<T>");
            Stage st;
            st.function = std::function<Var<T>(Var<T>)>(std::forward<S>(stage));
            stages_.push_back(std::move(st));
        }
        this->set_parameter_names();
        return *this;
    }

    /// Runs every stage in order. An error in a stage is rethrown with the
    /// stage's position prepended ("Sequential stage 2: Linear: input ...").
    Var<T> operator()(Var<T> x);

    std::size_t size() const { return stages_.size(); }
    /// Module stage `i` as its own type; `ArgumentError` if `i` is out of
    /// range, a function, or a module of another type.
    template <class M>
    M& at(std::size_t i) {
        M* m = i < stages_.size() ? dynamic_cast<M*>(stages_[i].module.get()) : nullptr;
        if (m == nullptr) throw ArgumentError("Sequential::at: stage " + std::to_string(i) + " of " + std::to_string(stages_.size()) + " is not a module of the requested type");
        return *m;
    }

    /// Module stages as children named by their position: "0", "2", ...
    void visit(ModuleVisitor<T>& v) override;

private:
    struct Stage {
        std::unique_ptr<Module<T>> module;  // null for a function stage
        Var<T> (*call)(Module<T>&, Var<T>) = nullptr;
        std::unique_ptr<Module<T>> (*clone)(const Module<T>&) = nullptr;
        std::function<Var<T>(Var<T>)> function;
    };
    void copy_stages(const Sequential& other);

    std::vector<Stage> stages_;
};

extern template class Sequential<float>;
extern template class Sequential<double>;

}  // namespace tapegrad
