#pragma once
/// \file
/// `Linear<T>`: y = x·Wᵀ + b, with PyTorch's parameter names and shapes.

#include "../autodiff/tape.hpp"
#include "init.hpp"
#include "module.hpp"

namespace tapegrad {

template <class T = float>
class Linear : public Module<T> {
public:
    Parameter<T> weight;  ///< (out_features, in_features)
    Parameter<T> bias;    ///< (out_features); empty when built without bias

    /// PyTorch's default initialization: weight and bias ~ U(±1/√in_features).
    Linear(std::size_t in_features, std::size_t out_features, Generator& gen, bool with_bias = true);
    /// The same from the default generator (`tg::manual_seed`): for layers
    /// whose weights are loaded right after, or programs seeded once.
    Linear(std::size_t in_features, std::size_t out_features, bool with_bias = true)
        : Linear(in_features, out_features, detail::DefaultGenerator().get(), with_bias) {}

    /// x (..., in_features) → (..., out_features). `ShapeError` on a mismatch.
    Var<T> operator()(Var<T> x);
    void visit(ModuleVisitor<T>& v) override;

    std::size_t in_features() const { return weight.shape()[1]; }
    std::size_t out_features() const { return weight.shape()[0]; }
    bool has_bias() const { return with_bias_; }

private:
    bool with_bias_;
};

extern template class Linear<float>;
extern template class Linear<double>;

}  // namespace tapegrad
