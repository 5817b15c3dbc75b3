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
/// that input's shape, in a list (e.g. a `std::vector`) of tensors or xtensor
/// expressions. An op of one input may instead return its gradient alone (a
/// tensor or expression, not in a list). For "no gradient for this input" return
/// an empty tensor: `tg::Tensor<T>()` (which xtensor makes a 0-d tensor holding 0;
/// for a 0-d input that is a zero gradient, the same thing) or one without
/// elements such as `tg::Tensor<T>::from_shape({0})`.
/// A backward of any other return type (a number, a list of numbers) does not
/// compile: `custom_op` requires `CustomBackward`. A gradient of the wrong shape
/// or a wrong count throws `ShapeError` naming the op. The forward must be a
/// pure function of its inputs: the tape audit calls it again with perturbed inputs.

#include <concepts>
#include <initializer_list>
#include <ranges>
#include <span>
#include <string>
#include <type_traits>
#include <utility>
#include <vector>

#include "tape.hpp"

namespace tapegrad {

namespace detail {

template <class R>
inline constexpr bool is_expression_v = xt::is_xexpression<std::remove_cvref_t<R>>::value;

/// A list of gradients: a range of tensors or expressions (not of numbers,
/// which a tensor would also accept, one 0-d tensor each).
template <class R, class T>
concept CustomGradientList = std::ranges::input_range<R> && !is_expression_v<R> &&
                             !std::is_arithmetic_v<std::remove_cvref_t<std::ranges::range_reference_t<R>>> &&
                             std::constructible_from<Tensor<T>, std::ranges::range_reference_t<R>>;

/// What a custom op's backward may return: a list of gradients, or one
/// gradient (a tensor or expression) for an op of one input.
template <class R, class T>
concept CustomGradients = is_expression_v<R> || CustomGradientList<R, T>;

}  // namespace detail

/// A backward function `custom_op` accepts: callable as `b(in, out, g)` and
/// returning `CustomGradients` (see the file comment).
template <class B, class T>
concept CustomBackward =
    std::invocable<const B&, const CustomInputs<T>&, const Tensor<T>&, const Tensor<T>&> &&
    detail::CustomGradients<std::invoke_result_t<const B&, const CustomInputs<T>&, const Tensor<T>&, const Tensor<T>&>, T>;

/// Records a custom op; see the file comment. Non-template core.
template <class T>
Var<T> record_custom_op(CustomOpRecord<T> record, std::span<const Var<T>> inputs);

template <class T, class Forward, class Backward>
    requires CustomBackward<Backward, T>
Var<T> custom_op(std::string name, std::span<const Var<T>> inputs, Forward forward, Backward backward) {
    CustomOpRecord<T> r;
    r.name = std::move(name);
    r.forward = [f = std::move(forward)](const CustomInputs<T>& in) { return Tensor<T>(f(in)); };
    r.backward = [b = std::move(backward)](const CustomInputs<T>& in, const Tensor<T>& out, const Tensor<T>& g) {
        auto grads = b(in, out, g);
        std::vector<Tensor<T>> result;
        if constexpr (detail::is_expression_v<decltype(grads)>) {
            result.emplace_back(grads);  // the gradient of a single input
        } else {
            for (auto&& e : grads) result.emplace_back(e);
        }
        return result;
    };
    return record_custom_op(std::move(r), inputs);
}

template <class T, class Forward, class Backward>
    requires CustomBackward<Backward, T>
Var<T> custom_op(std::string name, std::initializer_list<Var<T>> inputs, Forward forward, Backward backward) {
    return custom_op(std::move(name), std::span<const Var<T>>(inputs.begin(), inputs.size()), std::move(forward),
                     std::move(backward));
}

template <class T, class Forward, class Backward>
    requires CustomBackward<Backward, T>
Var<T> custom_op(std::string name, const std::vector<Var<T>>& inputs, Forward forward, Backward backward) {
    return custom_op(std::move(name), std::span<const Var<T>>(inputs.data(), inputs.size()), std::move(forward),
                     std::move(backward));
}

extern template Var<float> record_custom_op(CustomOpRecord<float>, std::span<const Var<float>>);
extern template Var<double> record_custom_op(CustomOpRecord<double>, std::span<const Var<double>>);

}  // namespace tapegrad
