#pragma once
/// \file
/// User-defined ops: a forward and a vector-Jacobian product written in the
/// user's own code, recorded on the tape like any built-in op (and checked by
/// `gradcheck` and `audit` like one).
///
/// ```cpp
/// tg::Var<double> softsign(tg::Var<double> x) {
///     return tg::custom_op("softsign", {x},
///         [](const auto& in) { return in[0] / (1.0 + xt::abs(in[0])); },
///         [](const auto& in, const auto& /*out*/, const auto& g) {
///             return std::vector{tg::Tensor<double>(g / xt::square(1.0 + xt::abs(in[0])))};
///         });
/// }
/// ```
///
/// `forward(in)` gets the input values (`in[k]`, `in.size()`) and returns a
/// tensor or any xtensor expression. `backward(in, out, g)` gets the inputs, the
/// output and the output's gradient, and returns one gradient per input, each of
/// that input's shape (an empty tensor means "no gradient for this input").
/// A gradient of the wrong shape or a wrong count throws `ShapeError` naming the
/// op. The forward must be a pure function of its inputs: the tape audit calls
/// it again with perturbed inputs.

#include <initializer_list>
#include <span>
#include <string>
#include <utility>
#include <vector>

#include "tape.hpp"

namespace tapegrad {

/// Records a custom op; see the file comment. Non-template core.
template <class T>
Var<T> record_custom_op(CustomOpRecord<T> record, std::span<const Var<T>> inputs);

template <class T, class Forward, class Backward>
Var<T> custom_op(std::string name, std::span<const Var<T>> inputs, Forward forward, Backward backward) {
    CustomOpRecord<T> r;
    r.name = std::move(name);
    r.forward = [f = std::move(forward)](const CustomInputs<T>& in) { return Tensor<T>(f(in)); };
    r.backward = [b = std::move(backward)](const CustomInputs<T>& in, const Tensor<T>& out, const Tensor<T>& g) {
        auto grads = b(in, out, g);
        std::vector<Tensor<T>> result;
        result.reserve(grads.size());
        for (auto& e : grads) result.emplace_back(e);
        return result;
    };
    return record_custom_op(std::move(r), inputs);
}

template <class T, class Forward, class Backward>
Var<T> custom_op(std::string name, std::initializer_list<Var<T>> inputs, Forward forward, Backward backward) {
    return custom_op(std::move(name), std::span<const Var<T>>(inputs.begin(), inputs.size()), std::move(forward),
                     std::move(backward));
}

template <class T, class Forward, class Backward>
Var<T> custom_op(std::string name, const std::vector<Var<T>>& inputs, Forward forward, Backward backward) {
    return custom_op(std::move(name), std::span<const Var<T>>(inputs.data(), inputs.size()), std::move(forward),
                     std::move(backward));
}

extern template Var<float> record_custom_op(CustomOpRecord<float>, std::span<const Var<float>>);
extern template Var<double> record_custom_op(CustomOpRecord<double>, std::span<const Var<double>>);

}  // namespace tapegrad
