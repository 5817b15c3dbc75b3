#pragma once
/// \file
/// Training and evaluation of a recurrent model on one of the example tasks,
/// with progress, a CSV log, an SVG loss plot, checkpoints that resume
/// exactly, and result.json. The three task programs are thin wrappers around
/// `run_cli`.

#include <array>
#include <cstdint>
#include <iosfwd>
#include <limits>
#include <string>
#include <vector>

namespace tapegrad::tasks {

struct Options {
    std::string task = "adding";  ///< adding | copy
    std::string variant;          ///< copy: "" (copying memory) or "ntm"
    std::string cell = "lstm";    ///< any registered cell (tg::recurrent_names(): rnn, lstm, gru, cifg, ...)
    std::size_t T = 100;          ///< adding, copy: delay; ntm: maximum length L
    std::size_t hidden = 128;
    std::size_t layers = 1;
    std::size_t batch = 20;
    long steps = 6000;
    double lr = 1e-3;
    /// none: --lr throughout; cosine: step k of n trains at lr·(1 + cos(π·(k−1)/n))/2,
    /// from --lr down to almost 0 (CosineAnnealingLR with T_max = n).
    std::string schedule = "none";
    std::string optimizer = "adam";  ///< sgd | adam | adamw | rmsprop | adagrad
    double clip = 1.0;                  ///< 0: no clipping
    std::string clip_mode = "value";    ///< value (elementwise, as Arjovsky et al.) | norm (global)
    double forget_bias = 1.0;           ///< cells with a forget gate (tg::accepts_forget_bias)
    std::uint64_t seed = 1;
    int threads = 1;
    long eval_every = 250;
    std::size_t eval_batches = 10;
    long checkpoint_every = 1000;  ///< 0: only at the end
    std::string out;               ///< empty: no files
    bool resume = false;
    bool quiet = false;  ///< no progress line, no samples
    /// One rank of an MPI job (`mpirun -np N adding --distributed`): each rank
    /// trains on its shard of every global batch of `batch` sequences, and
    /// rank 0 alone evaluates and writes files (docs/distributed.md). Not part
    /// of a checkpoint's options: a run resumes at another world size.
    bool distributed = false;
    /// With this task's defaults the held-out metric usually sits near the
    /// baseline (the plateau) until about this step: the progress line says so
    /// while it does, so that a user does not stop a run that is on track.
    /// 0: no plateau is expected.
    long plateau_steps = 0;
};

/// The final evaluation and run facts; also written as result.json.
struct Result {
    std::string metric;  ///< "mse" (adding), "ce" (copy), "bits" (ntm)
    double value = 0, baseline = 0;
    double extra = 0;            ///< adding: share within 0.04; copy: per-symbol accuracy; ntm: bit accuracy
    std::string extra_name;      ///< "within_0.04", "accuracy", "bit_accuracy"
    double wall_seconds = 0;
    long steps = 0;
    double final_train_loss = 0;
};

/// The defaults of each program, chosen from measurements so that the default
/// command solves the task with an LSTM or a GRU (docs/tasks.md, "The
/// defaults, and how they were chosen"). `T` = 0 gives the program's default
/// T; the adding budget grows with T (60·T steps).
Options defaults_for(const std::string& task, const std::string& variant = "", std::size_t T = 0);

/// What the progress line shows.
struct Progress {
    long step = 0, steps = 0;
    double loss = 0;     ///< terminal: the last step's loss; otherwise the mean since the last evaluation
    std::string metric;  ///< "mse", "ce" or "bits"
    /// The latest held-out metric; NaN before the first evaluation.
    double eval = std::numeric_limits<double>::quiet_NaN();
    double baseline = 0;
    std::string extra_name;  ///< shown (with `extra`) on the plain line only
    double extra = 0;
    double elapsed = 0;      ///< seconds, shown on the plain line
    double eta = 0;          ///< seconds left, shown on the terminal line
    long plateau_steps = 0;  ///< Options::plateau_steps
};

/// Whether a held-out metric sits on the plateau: within 10 % of the
/// baseline or above it (NaN, before any evaluation: no).
bool on_plateau(double eval, double baseline);

/// The progress line without its line end: for a terminal (`tty`, redrawn in
/// place; about 100 columns for a run of up to 9999 steps on its plateau) or
/// one plain line per evaluation. Both give the held-out metric against the baseline
/// and, while it is on the plateau and a plateau is expected, that this is
/// expected and until about which step (or that it lasts longer than usual).
std::string progress_line(const Progress& progress, bool tty);

/// Throws std::invalid_argument naming the flag if an option is out of its
/// range (the limits in flags.hpp), alone or in combination (the tape a run
/// would need). `run` calls it first.
void validate(const Options& options);

/// Trains and evaluates; throws std::exception on errors (bad options,
/// unreadable checkpoints). Progress and samples go to `log`. On `resume`,
/// every field of the checkpoint's state.json is checked (types, ranges, and
/// agreement with each other) before the run continues; a bad one throws
/// std::runtime_error naming the file and the field.
Result run(const Options& options, std::ostream& log);

/// Parses the command line of program `task` (adding | copy), runs, and returns
/// the exit code: 0 done, 1 failed, 2 bad flags (with a message).
int run_cli(const std::string& task, int argc, char** argv);

/// ‖∂L/∂h_t‖ (top layer; mean over the batch of each sequence's norm, then over
/// `batches` held-out batches) for t = 0..T−1, for the model that `options`
/// builds, loaded from the latest checkpoint in `checkpoint_dir` unless that is
/// empty (then: at initialization). Uses the tape's gradients of intermediate
/// values (`RecurrentOutput::step_hidden`).
std::vector<double> hidden_grad_norms(const Options& options, const std::string& checkpoint_dir, std::size_t batches);

/// The global gradient norm before and after clipping at every training step of
/// the run in `out` (its grad_norms.csv).
std::vector<std::array<double, 2>> read_grad_norms(const std::string& out);

/// Mixes a seed and a counter into one well-spread 64-bit seed (SplitMix64),
/// so step k's batch depends only on (seed, k).
std::uint64_t mix_seed(std::uint64_t seed, std::uint64_t counter);

}  // namespace tapegrad::tasks
