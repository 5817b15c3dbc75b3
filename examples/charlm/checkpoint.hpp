#pragma once
/// \file
/// The character LM's checkpoints: out/checkpoints/step-<n>/ holds model.npz,
/// optimizer.npz, carried.npz (the recurrent state the next chunk starts
/// from) and state.json (step, log rows, the options that must not change);
/// out/checkpoints/latest names the newest, and moves only once it is
/// complete. Everything a step depends on is either in there or a function of
/// (seed, step), so a resumed run continues exactly as the uninterrupted one.

#include <string>
#include <vector>

#include <nlohmann/json.hpp>
#include <tapegrad/tapegrad.hpp>

namespace tapegrad::charlm {

struct LogRow {
    long step = 0;
    double train_bits = 0, valid_bits = 0, lr = 0, elapsed = 0;
};

struct RunState {
    long step = 0;
    double window_sum = 0;  ///< training bits since the last evaluation
    long window_count = 0;
    double wall = 0;  ///< seconds of training before this process
    std::vector<LogRow> rows;
    RecurrentStateValues<float> carried;
};

/// Writes checkpoint `s.step` under `dir`/checkpoints and removes older ones.
/// `identity`: the options a resumed run must share (model, data, batching).
void save_checkpoint(const std::string& dir, Module<float>& model, const Optimizer<float>& opt, const RunState& s,
                     const nlohmann::json& identity);

/// Loads the latest checkpoint under `dir`/checkpoints into `model`, `opt`
/// and the returned state; false if there is none. `std::runtime_error`
/// naming the file and the field for a damaged state.json, or for an
/// `identity` that differs from the checkpoint's (naming the option and both
/// values); `CheckpointError` from the .npz files.
bool load_checkpoint(const std::string& dir, Module<float>& model, Optimizer<float>& opt, RunState& s,
                     const nlohmann::json& identity);

/// The folder of the latest checkpoint under `dir`, or "" if none.
std::string latest_checkpoint(const std::string& dir);

}  // namespace tapegrad::charlm
