#pragma once
/// \file
/// Training the character-level language model with truncated
/// backpropagation through time: the training text is cut into B parallel
/// streams (`tg::batchify`), read `bptt` characters at a time, with each
/// chunk starting from the state the previous chunk ended in (gradients stop
/// at the boundary). Adam, global-norm clipping, a cosine schedule, a
/// progress line with validation bits per character, checkpoints that resume
/// exactly, result.json and loss.svg.

#include <cstdint>
#include <iosfwd>
#include <string>

#include <tapegrad/tapegrad.hpp>

#include "corpus.hpp"
#include "model.hpp"

namespace tapegrad::charlm {

struct Options {
    std::string data;                         ///< a UTF-8 text file; empty: the fortunes collection
    std::string fortunes_dir = kFortunesDir;  ///< where the fortunes are (tests point it elsewhere)
    ModelOptions model;                       ///< model.vocab is set from the text
    std::size_t batch = 32;                   ///< parallel streams
    std::size_t bptt = 64;                    ///< characters per chunk
    long steps = 3000;
    double lr = 1e-2;  // measured: docs/charlm.md, "Choosing the defaults"
    std::string schedule = "cosine";  ///< cosine (to lr/10 at the last step) | constant
    double clip = 1.0;                ///< global gradient norm; 0: off
    std::uint64_t seed = 1;
    int threads = 1;
    long eval_every = 250;
    long checkpoint_every = 1000;  ///< 0: only at the end
    std::size_t eval_chars = 0;    ///< characters of validation text per evaluation; 0: all
    std::string out;               ///< empty: no files
    bool resume = false;
    bool quiet = false;
    std::string save_init;  ///< writes the initial weights here (.npz), for tools/charlm_torch.py
    /// One rank of an MPI job (`mpirun -np N charlm --distributed`): each rank
    /// reads its streams of the `batch` parallel streams and carries their
    /// state; rank 0 alone evaluates and writes files (docs/distributed.md).
    bool distributed = false;
};

/// The text as the model reads it: one vocabulary over all three parts (the
/// set of characters is not information to hide from a model), the
/// three parts as id streams, and the unigram entropy of the training text
/// (the bits per character of a model that ignores context: the baseline).
struct Data {
    Corpus corpus;
    Vocabulary vocab;
    Index train, valid, test;  ///< (n) each
    double unigram_bits = 0;
};

/// Reads `o.data` (or the fortunes) and encodes it.
Data load_data(const Options& o);

struct Result {
    double test_bits = 0, valid_bits = 0, train_bits = 0, unigram_bits = 0;
    long steps = 0;
    double wall_seconds = 0;
    std::size_t parameters = 0;
};

/// `std::invalid_argument` naming the flag if an option is out of range.
void validate(const Options& o);

/// Trains (or resumes, with `o.resume`) and evaluates on the test text.
Result train(const Options& o, std::ostream& log);

/// Bits per character of `model` on `stream` (n), read as `batch` parallel
/// streams in chunks of `bptt`, state carried; the last n mod batch
/// characters are not scored.
double bits_per_char(CharModel& model, const Index& stream, std::size_t batch, std::size_t bptt);

/// The model and vocabulary of the run in `out` (its config.json, vocab.txt
/// and latest checkpoint), for sampling and the unit analysis.
struct Trained {
    Vocabulary vocab;
    std::unique_ptr<CharModel> model;
    Options options;
};
Trained load_trained(const std::string& out);

}  // namespace tapegrad::charlm
