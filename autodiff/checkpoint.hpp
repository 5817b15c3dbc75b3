#pragma once
/// \file
/// `tg::checkpoint(fn, inputs...)`: recompute checkpointing for any part of a
/// model (the idea of torch.utils.checkpoint). Not to be confused with
/// io/checkpoint.hpp, which saves training state to files.
///
/// The forward runs `fn(inputs...)` as usual, then drops every value it
/// recorded except what it returns (`Tape::recompute_since`). Backward
/// re-runs the recorded forwards of the segment when it reaches it, so the
/// gradients are bit-identical to a run without checkpointing, while memory
/// between forward and backward holds only the segment's inputs and outputs.
/// What the tape records is re-run, not `fn`: a dropout mask drawn inside
/// `fn` is a constant on the tape and is reused as it is, with no generator
/// to replay, and `fn` itself runs once, so it may capture anything. (A
/// custom op recorded inside it re-runs its forward closure in backward, so
/// that closure must stay valid until then, as custom_op.hpp asks anyway.)
///
///     auto [h, c] = tg::checkpoint([&](tg::Var<float> x, tg::Var<float> h, tg::Var<float> c) {
///         return my_block(x, h, c);  // returns a RecurrentState, a Var, a
///     }, x, h, c);                   // std::vector/array of Var, or a pair/tuple of Var
///
/// The values `fn` reads from before the call (its inputs, parameters) stay
/// on the tape until backward; `drop_value` keeps them. Nothing is dropped
/// while `tape.keep_values()` is on, and under `NoGradGuard` the call drops
/// all but what it returns. If `fn` throws, what it recorded is removed.

#include <array>
#include <cstddef>
#include <functional>
#include <span>
#include <tuple>
#include <type_traits>
#include <utility>

#include "errors.hpp"
#include "tape.hpp"

namespace tapegrad {

namespace detail {

// The handles a checkpointed function returned, as one list.
template <class T>
std::array<Var<T>, 1> returned_handles(const Var<T>& v) {
    return {v};
}
template <class T, class R>
    requires requires(const R& r) { r.handles(); }
auto returned_handles(const R& r) {
    return r.handles();  // RecurrentState
}
template <class T, class R>
    requires std::ranges::contiguous_range<R> && std::same_as<std::ranges::range_value_t<R>, Var<T>>
std::span<const Var<T>> returned_handles(const R& r) {
    return {std::ranges::data(r), std::ranges::size(r)};
}
template <class T, class... V>
    requires(std::same_as<V, Var<T>> && ...)
std::array<Var<T>, sizeof...(V)> returned_handles(const std::tuple<V...>& r) {
    return std::apply([](const auto&... v) { return std::array<Var<T>, sizeof...(V)>{v...}; }, r);
}
template <class T>
std::array<Var<T>, 2> returned_handles(const std::pair<Var<T>, Var<T>>& r) {
    return {r.first, r.second};
}

}  // namespace detail

/// Runs `fn(first, rest...)` as a recompute segment on the inputs' tape and
/// returns what it returns: a `Var<T>`, a `RecurrentState<T>`, a contiguous
/// range of `Var<T>` (vector, array) or a pair/tuple of `Var<T>`.
/// `StaleVarError` for an empty input handle, `ArgumentError` for inputs on
/// different tapes.
template <class Fn, class T, class... Rest>
    requires(std::same_as<Rest, Var<T>> && ...) && std::invocable<Fn&, Var<T>, Rest...>
auto checkpoint(Fn&& fn, Var<T> first, Rest... rest) {
    Tape<T>* const tape = first.tape();
    const bool same_tape = ((rest.tape() == tape) && ...);
    if (tape == nullptr || ((rest.tape() == nullptr) || ...)) throw StaleVarError("checkpoint: empty input handle");
    if (!same_tape) throw ArgumentError("checkpoint: the inputs are on different tapes");
    const std::size_t begin = tape->size();
    try {
        auto out = std::invoke(fn, first, rest...);
        const auto keep = detail::returned_handles<T>(out);
        tape->recompute_since(begin, std::span<const Var<T>>(keep.data(), keep.size()));
        return out;
    } catch (...) {
        detail::TapeAccess<T>::truncate(*tape, static_cast<NodeId>(begin));
        throw;
    }
}

}  // namespace tapegrad
