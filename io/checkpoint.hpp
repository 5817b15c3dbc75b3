#pragma once
/// \file
/// Checkpoints as .npz files that `numpy.load` reads: a module's parameters
/// (arrays named by dotted parameter name, e.g. "weight_ih_l0"), and an
/// optimizer's state. Writes are atomic: a temporary file in the same folder,
/// flushed to disk, then renamed over the target, so a crash during a save
/// leaves the previous file intact. Loads are all-or-nothing: everything is read
/// and validated before any parameter changes.

#include <string>

#include "../autodiff/errors.hpp"
#include "../layers/module.hpp"
#include "../optim/optimizer.hpp"
#include "npz.hpp"  // CheckpointError, and the .npz reader and writer underneath

namespace tapegrad {

struct LoadOptions {
    /// Prepended (with a dot) to every parameter name when looking up keys,
    /// e.g. "lstm" to read a sub-module out of a whole model's state_dict.
    std::string prefix{};
    /// When false, keys in the file that the module does not have are ignored
    /// (missing keys are always an error). With a prefix, only keys under it
    /// ("lstm.…") can be unexpected: the rest of the file belongs to other modules.
    bool strict = true;
};

/// Saves every parameter of `module` in its own dtype (float32 or float64).
/// Throws `CheckpointError` if two parameters share a name or the file cannot
/// be written (the previous file, if any, is then untouched).
template <class T>
void save(Module<T>& module, const std::string& path);
/// Loads parameters saved by `save` or exported from PyTorch with
/// `np.savez(path, **{k: v.numpy() for k, v in model.state_dict().items()})`.
/// float32 and float64 arrays are both accepted and converted to T (integer and
/// bool arrays too). Every key and shape is checked, and every array read,
/// before the first parameter changes (through `set_value`): on
/// `CheckpointError` the module is as it was.
template <class T>
void load(Module<T>& module, const std::string& path, const LoadOptions& options = {});
/// The same from an open archive, e.g. one in memory (`NpzReader(bytes, name)`);
/// messages name it by `file.path()`.
template <class T>
void load(Module<T>& module, NpzReader& file, const LoadOptions& options = {});

/// Saves an optimizer's state (`state_dict`), in float64.
template <class T>
void save(const Optimizer<T>& optimizer, const std::string& path);
/// Restores it; the optimizer must be of the same type over the same parameters.
/// Everything is a `CheckpointError` naming the file, including a state that
/// `load_state_dict` refuses (its message is kept).
template <class T>
void load(Optimizer<T>& optimizer, const std::string& path);
/// The same from an open archive.
template <class T>
void load(Optimizer<T>& optimizer, NpzReader& file);

}  // namespace tapegrad
