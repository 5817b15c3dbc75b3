// Sequence classification over variable-length sequences with a bidirectional
// GRU, written only against <tapegrad/tapegrad.hpp>: no xtensor header and no
// xtensor namespace, as the test `example_classify_uses_no_xtensor` checks.
//
// The task, in one sentence: given a random digit string of length 5 to 40,
// say whether its first digit is less than, equal to, or greater than its
// last digit. The three classes are equally likely, so always answering the
// most common class scores about 33 %.
//
// Why a bidirectional model and why lengths: the two digits that matter sit
// at the two ends of the sequence, and the end differs from one sequence to
// the next. With the true lengths, the forward direction's final state is
// taken at each sequence's own last digit and the reverse direction's final
// state at its first digit, so each has just read one of the two digits; the
// head compares them. Without lengths the forward direction would end on
// padding and would have to carry the last digit across it.
//
// Shapes: tokens (T, B) -> Embedding (T, B, E) -> GRU, both directions ->
// state.h (2, B, H) -> rows 0 and 1 concatenated (B, 2H) -> MLP -> logits (B, 3).

#include <algorithm>
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <iostream>
#include <limits>
#include <span>
#include <string>
#include <utility>
#include <vector>

#include <CLI/CLI.hpp>
#include <tapegrad/tapegrad.hpp>

#include "tasks/flags.hpp"

namespace tg = tapegrad;
namespace tt = tapegrad::tasks;

namespace {

// ---- the task ------------------------------------------------------------------

constexpr std::int64_t kDigits = 10;
constexpr std::int64_t kPad = 0;                  // token 0 is padding; digit d is token d + 1
constexpr std::size_t kVocabulary = kDigits + 1;
constexpr std::uint64_t kMinLength = 5, kMaxLength = 40;
constexpr std::size_t kClasses = 3;
const char* const kClassNames[kClasses] = {"less", "equal", "greater"};

struct Example {
    std::vector<std::int64_t> tokens;  // length kMinLength..kMaxLength, no padding
    std::int64_t label;                // 0 first < last, 1 first == last, 2 first > last
};
using Dataset = std::vector<Example>;

std::int64_t random_digit(tg::Generator& gen) { return static_cast<std::int64_t>(gen.below(kDigits)); }

// The class is drawn first (uniform), then a (first, last) pair of that class
// (uniform among such pairs), then the length and the digits in between.
Example make_example(tg::Generator& gen) {
    const auto label = static_cast<std::int64_t>(gen.below(kClasses));
    std::int64_t first = random_digit(gen), last = first;
    if (label != 1) {
        while (last == first) last = random_digit(gen);
        if ((label == 0) != (first < last)) std::swap(first, last);
    }
    const auto length = static_cast<std::size_t>(kMinLength + gen.below(kMaxLength - kMinLength + 1));
    std::vector<std::int64_t> tokens(length);
    tokens.front() = first + 1;
    for (std::size_t t = 1; t + 1 < length; ++t) tokens[t] = random_digit(gen) + 1;
    tokens.back() = last + 1;
    return {std::move(tokens), label};
}

Dataset make_dataset(std::size_t n, tg::Generator& gen) {
    Dataset data;
    data.reserve(n);
    for (std::size_t i = 0; i < n; ++i) data.push_back(make_example(gen));
    return data;
}

// The padded tokens (T_max, B), their lengths, and the class targets (B) of
// the examples at `rows`.
struct Batch {
    tg::PaddedTokens inputs;
    tg::Index targets;
};

Batch make_batch(const Dataset& data, std::span<const std::int64_t> rows) {
    std::vector<std::vector<std::int64_t>> sequences;
    std::vector<std::int64_t> labels;
    for (const std::int64_t row : rows) {
        const Example& e = data[static_cast<std::size_t>(row)];
        sequences.push_back(e.tokens);
        labels.push_back(e.label);
    }
    return {tg::pad_sequences(sequences, kPad), tg::tensor(labels)};
}

std::string digits_of(const Example& e) {
    std::string s;
    for (const std::int64_t token : e.tokens) s += static_cast<char>('0' + token - 1);
    return s;
}

// ---- the model -----------------------------------------------------------------

struct Config {
    std::size_t epochs = 6, hidden = 48, embed = 16, batch = 64, train_size = 6000, eval_size = 2000;
    double lr = 5e-3;
    std::uint64_t seed = 1;
    bool quick = false;
    bool unidirectional = false;  // for comparison: the forward direction alone
};

// Embedding -> bidirectional GRU (with the lengths) -> the top layer's final
// state in each direction, concatenated -> a small MLP -> 3 logits.
struct Classifier : tg::Module<float> {
    tg::Embedding<float> embed;
    tg::GRU<float> gru;
    tg::Sequential<float> head;

    Classifier(const Config& c, tg::Generator& gen)
        : embed(kVocabulary, c.embed, gen),
          gru({.input_size = c.embed, .hidden_size = c.hidden, .bidirectional = !c.unidirectional}, gen),
          head(tg::Linear<float>(gru.num_directions() * c.hidden, c.hidden, gen), tg::relu<float>,
               tg::Linear<float>(c.hidden, kClasses, gen)) {}

    void visit(tg::ModuleVisitor<float>& v) override {
        v.module("embed", embed);
        v.module("gru", gru);
        v.module("head", head);
    }

    /// Logits (B, 3) for padded tokens (T, B) with their lengths.
    tg::Var<float> operator()(tg::Tape<float>& tape, const tg::PaddedTokens& inputs) {
        const auto [out, state] = gru(embed(tape, inputs.tokens), std::nullopt, inputs.lengths);
        // state.h is (layers·directions, B, H): rows -2 and -1 are the top
        // layer's forward (at each sequence's last step) and reverse (at step 0).
        if (gru.num_directions() == 1) return head(tg::select(state.h, 0, -1));
        return head(tg::concat({tg::select(state.h, 0, -2), tg::select(state.h, 0, -1)}, 1));
    }
};

// ---- training and evaluation -----------------------------------------------------

// Share of `data` classified correctly, in evaluation mode and without
// recording gradients, in batches of `batch` taken in order.
double accuracy(Classifier& model, const Dataset& data, std::size_t batch) {
    model.eval();
    tg::NoGradGuard no_grad;
    tg::Tape<float> tape;
    auto in_order = tg::MinibatchSampler::in_order(static_cast<std::int64_t>(data.size()), static_cast<std::int64_t>(batch));
    std::size_t correct = 0;
    for (const std::vector<std::int64_t>& rows : in_order.epoch()) {
        const Batch b = make_batch(data, rows);
        correct += tg::count_equal(tg::argmax(model(tape, b.inputs), 1), b.targets);
        tape.clear();
    }
    model.train();
    return double(correct) / double(data.size());
}

// One pass over the training set in shuffled minibatches; the mean loss.
double train_epoch(Classifier& model, tg::Adam<float>& opt, const Dataset& train, tg::MinibatchSampler& sampler) {
    tg::Tape<float> tape;
    double loss_sum = 0;
    std::size_t batches = 0;
    for (const std::vector<std::int64_t>& rows : sampler.epoch()) {
        const Batch b = make_batch(train, rows);
        const tg::Var<float> loss = tg::cross_entropy(model(tape, b.inputs), b.targets);
        tape.backward(loss);
        tg::clip_grad_norm(opt.params(), 5.0);
        opt.step();
        opt.zero_grad();
        loss_sum += loss.item();
        ++batches;
        tape.clear();
    }
    return loss_sum / double(batches);
}

// The share of `test` in the class most common in `train`: what a classifier
// that ignores its input scores.
double majority_baseline(const Dataset& train, const Dataset& test) {
    std::size_t counts[kClasses] = {};
    for (const Example& e : train) ++counts[e.label];
    const auto majority = static_cast<std::int64_t>(std::max_element(counts, counts + kClasses) - counts);
    const auto hits = std::count_if(test.begin(), test.end(), [&](const Example& e) { return e.label == majority; });
    return double(hits) / double(test.size());
}

// A few test sequences with the model's class probabilities and answers,
// printed with the library's operator<<.
void show_predictions(Classifier& model, const Dataset& test, std::size_t count) {
    model.eval();
    tg::NoGradGuard no_grad;
    tg::Tape<float> tape;
    std::vector<std::int64_t> rows(std::min(count, test.size()));
    for (std::size_t i = 0; i < rows.size(); ++i) rows[i] = static_cast<std::int64_t>(i);
    const Batch b = make_batch(test, rows);
    const tg::Var<float> logits = model(tape, b.inputs);
    const tg::Index predicted = tg::argmax(logits, 1);
    std::cout << "\nfirst " << rows.size() << " test sequences:\n";
    for (std::size_t i = 0; i < rows.size(); ++i)
        std::printf("  %-40s  predicted %-7s  true %s\n", digits_of(test[i]).c_str(), kClassNames[predicted(i)],
                    kClassNames[b.targets(i)]);
    // The value, not the handle: under NoGradGuard the handle still prints
    // "grad_fn=softmax" although nothing would flow back through it.
    std::cout << "probabilities (less, equal, greater):\n" << tg::softmax(logits, 1).value() << "\n";
    std::cout << "predicted: " << predicted << "\ntargets:   " << b.targets << "\n";
    model.train();
}

double seconds_since(std::chrono::steady_clock::time_point start) {
    return std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
}

// Trains, reports, and returns the exit code: 0 if the test accuracy beats the
// majority-class baseline, 1 if not.
int run(const Config& c) {
    const auto start = std::chrono::steady_clock::now();
    tg::Generator data_gen(c.seed), model_gen(c.seed + 1), shuffle_gen(c.seed + 2);
    const Dataset train = make_dataset(c.train_size, data_gen);
    const Dataset valid = make_dataset(c.eval_size, data_gen);
    const Dataset test = make_dataset(c.eval_size, data_gen);
    Classifier model(c, model_gen);
    tg::Adam<float> opt(model.parameters(), {.lr = c.lr});
    tg::MinibatchSampler sampler(static_cast<std::int64_t>(train.size()), static_cast<std::int64_t>(c.batch), shuffle_gen);
    std::printf("%zu training sequences of length %llu..%llu, %zu validation, %zu test; %s GRU, hidden %zu\n",
                train.size(), static_cast<unsigned long long>(kMinLength), static_cast<unsigned long long>(kMaxLength),
                valid.size(), test.size(), c.unidirectional ? "unidirectional" : "bidirectional", c.hidden);
    for (std::size_t epoch = 1; epoch <= c.epochs; ++epoch) {
        const double loss = train_epoch(model, opt, train, sampler);
        const double valid_accuracy = accuracy(model, valid, 256);
        std::printf("epoch %2zu/%zu  loss %.4f  valid accuracy %6.2f %%  (%.1f s)\n", epoch, c.epochs, loss,
                    100 * valid_accuracy, seconds_since(start));
        std::fflush(stdout);
    }
    show_predictions(model, test, 6);
    const double test_accuracy = accuracy(model, test, 256);
    const double baseline = majority_baseline(train, test);
    std::printf("\ntest accuracy %.2f %%  (majority-class baseline %.2f %%)  in %.1f s\n", 100 * test_accuracy,
                100 * baseline, seconds_since(start));
    if (test_accuracy > baseline) return 0;
    std::printf("the model did not beat the baseline\n");
    return 1;
}

// ---- flags ---------------------------------------------------------------------

// The product of the size flags bounds what one batch holds on the tape.
constexpr std::uint64_t kMaxHiddenValues = std::uint64_t(1) << 28;
constexpr std::uint64_t kMaxExamples = 200000;

// --quick: a run of a few seconds for the test suite (flags given explicitly win).
void apply_quick(Config& c, const CLI::App& app) {
    const Config quick{.epochs = 5, .hidden = 24, .embed = 8, .batch = 32, .train_size = 1200, .eval_size = 300,
                       .lr = 1e-2};
    auto unset = [&](const char* flag) { return app.count(flag) == 0; };
    if (unset("--epochs")) c.epochs = quick.epochs;
    if (unset("--hidden")) c.hidden = quick.hidden;
    if (unset("--embed")) c.embed = quick.embed;
    if (unset("--batch")) c.batch = quick.batch;
    if (unset("--train")) c.train_size = quick.train_size;
    if (unset("--eval")) c.eval_size = quick.eval_size;
    if (unset("--lr")) c.lr = quick.lr;
}

void add_flags(CLI::App& app, Config& c) {
    app.option_defaults()->always_capture_default();
    app.add_option("--epochs", c.epochs, "passes over the training set")->check(tt::integer_in(1, 100000));
    app.add_option("--hidden", c.hidden, "GRU hidden units per direction")->check(tt::integer_in(1, tt::limits::kHidden));
    app.add_option("--embed", c.embed, "embedding size")->check(tt::integer_in(1, tt::limits::kHidden));
    app.add_option("--batch", c.batch, "minibatch size")->check(tt::integer_in(1, tt::limits::kBatch));
    app.add_option("--train", c.train_size, "training sequences")->check(tt::integer_in(1, kMaxExamples));
    app.add_option("--eval", c.eval_size, "validation and test sequences (each)")->check(tt::integer_in(1, kMaxExamples));
    app.add_option("--lr", c.lr, "Adam learning rate")->check(tt::number_in(0, 10, true));
    app.add_option("--seed", c.seed, "seed of data, weights and shuffling")
        ->check(tt::integer_in(0, std::numeric_limits<std::uint64_t>::max()));
    app.add_flag("--unidirectional", c.unidirectional, "the forward direction only, for comparison");
    app.add_flag("--quick", c.quick, "a few seconds' run for the test suite (smaller data, model and epochs)");
}

}  // namespace

int main(int argc, char** argv) {
    Config c;
    CLI::App app{"Classify random digit strings of length 5..40 by comparing their first and last digit (less, equal, "
                 "greater) with a bidirectional GRU over variable-length sequences."};
    add_flags(app, c);
    try {
        app.parse(argc, argv);
    } catch (const CLI::CallForHelp& e) {
        return app.exit(e);
    } catch (const CLI::ParseError& e) {
        std::cerr << "classify: " << e.what() << "\nRun with --help for the flags and their defaults.\n";
        return 2;
    }
    if (c.quick) apply_quick(c, app);
    const std::uint64_t values = kMaxLength * c.batch * std::max(c.hidden, c.embed);  // no overflow within the limits
    if (values > kMaxHiddenValues) {
        std::cerr << "classify: --batch, --hidden and --embed ask for " << values << " activations per batch, more "
                  << "than " << kMaxHiddenValues << " (40 steps x batch x max(hidden, embed))\n";
        return 2;
    }
    try {
        return run(c);
    } catch (const std::exception& e) {
        std::cerr << "classify: " << e.what() << "\n";
        return 1;
    }
}
