#pragma once
/// \file
/// Sequence layers by name: `make_recurrent<float>("cifg", options, gen)`.
/// The library's cells are registered under short names (`recurrent_names()`
/// lists them); a user's cell joins them with one call, and from then on every
/// program that picks its cell by name (the example tasks' `--cell`, the
/// variants study) can run it:
///
///     tg::register_recurrent<float>("mycell", [](const tg::RecurrentOptions& o, tg::Generator& g) {
///         return std::make_unique<tg::Recurrent<MyCell<float>>>(o, g);
///     });
///
/// Built in: rnn (tanh), rnn_relu, lstm, gru, peephole, cifg, layernorm_lstm,
/// and the five ablations of Greff et al. 2017 as nig, nfg, nog, niaf, noaf
/// (no input/forget/output gate, no input/output activation). A name that
/// selects an ablation or a nonlinearity overrides that field of the options.

#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "recurrent.hpp"

namespace tapegrad {

template <class T>
using RecurrentFactory = std::function<std::unique_ptr<RecurrentLayer<T>>(const RecurrentOptions&, Generator&)>;

/// Builds the sequence layer registered as `name`. `ArgumentError` naming the
/// registered names for an unknown one; the factory's own errors (bad options)
/// pass through.
template <class T>
std::unique_ptr<RecurrentLayer<T>> make_recurrent(const std::string& name, const RecurrentOptions& options, Generator& gen);

/// Registers (or replaces) `name`. Names are non-empty and made of lower-case
/// letters, digits and '_' (`ArgumentError` otherwise), so they work as flags
/// and file names. Safe to call from several threads.
template <class T>
void register_recurrent(const std::string& name, RecurrentFactory<T> factory);

/// Every registered name, sorted.
template <class T>
std::vector<std::string> recurrent_names();

/// Whether `name` is registered.
template <class T>
bool has_recurrent(const std::string& name);

/// Whether the layer registered as `name` takes `RecurrentOptions::forget_bias`
/// (it has a forget gate: lstm, peephole, ... but not gru, rnn, nfg or cifg),
/// so that a program can bias every cell that has one. Found by building a
/// 1 × 1 layer with the option; `ArgumentError` for an unknown name.
template <class T>
bool accepts_forget_bias(const std::string& name);

}  // namespace tapegrad
