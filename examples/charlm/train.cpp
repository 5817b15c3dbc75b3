#include "train.hpp"

#include <unistd.h>

#include <chrono>
#include <cmath>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <limits>
#include <map>

#include <nlohmann/json.hpp>

#include "checkpoint.hpp"
#include "tasks/data.hpp"
#include "tasks/flags.hpp"
#include "tasks/plot.hpp"
#include "tasks/replicas.hpp"
#include "tasks/trainer.hpp"

extern "C" void openblas_set_num_threads(int);

namespace tapegrad::charlm {

namespace fs = std::filesystem;
using json = nlohmann::json;

namespace {

constexpr double kLn2 = 0.69314718055994530942;
constexpr std::size_t kEvalBatch = 16, kEvalBptt = 128;

double unigram_entropy_bits(const Index& ids, std::size_t vocab) {
    std::vector<double> counts(vocab, 0.0);
    for (std::size_t i = 0; i < ids.size(); ++i) counts[static_cast<std::size_t>(ids(i))] += 1;
    double h = 0;
    for (double c : counts)
        if (c > 0) h -= c / double(ids.size()) * std::log2(c / double(ids.size()));
    return h;
}

void write_logs(const fs::path& dir, const RunState& s) {
    std::string csv = "step,train_bits,valid_bits,lr,elapsed_seconds\n";
    tasks::Series train{"train", {}, {}}, valid{"validation", {}, {}};
    for (const LogRow& r : s.rows) {
        char line[160];
        std::snprintf(line, sizeof line, "%ld,%.6f,%.6f,%.6g,%.2f\n", r.step, r.train_bits, r.valid_bits, r.lr, r.elapsed);
        csv += line;
        train.x.push_back(double(r.step));
        train.y.push_back(r.train_bits);
        valid.x.push_back(double(r.step));
        valid.y.push_back(r.valid_bits);
    }
    tasks::write_file_atomic((dir / "log.csv").string(), csv);
    tasks::PlotOptions po;
    po.title = "character-level language model: bits per character";
    po.xlabel = "training step";
    po.ylabel = "bits per character";
    po.log_y = false;
    tasks::write_file_atomic((dir / "loss.svg").string(), tasks::svg_plot({train, valid}, po));
}

}  // namespace

void validate(const Options& o) {
    namespace lim = tasks::limits;
    auto bad = [](const std::string& m) { throw std::invalid_argument(m); };
    auto count_in = [&](const char* flag, std::uint64_t v, std::uint64_t lo, std::uint64_t hi) {
        if (v < lo || v > hi)
            bad(std::string(flag) + " must be an integer in [" + std::to_string(lo) + ", " + std::to_string(hi) + "], got " +
                std::to_string(v));
    };
    if (!has_recurrent<float>(o.model.cell)) {
        std::string names;
        for (const std::string& n : recurrent_names<float>()) names += (names.empty() ? "" : ", ") + n;
        bad("--cell must be one of " + names + ", got '" + o.model.cell + "'");
    }
    count_in("--embed", o.model.embed, 1, lim::kHidden);
    count_in("--hidden", o.model.hidden, 1, lim::kHidden);
    count_in("--layers", o.model.layers, 1, lim::kLayers);
    count_in("--batch", o.batch, 1, lim::kBatch);
    count_in("--bptt", o.bptt, 1, lim::kT);
    auto signed_count_in = [&](const char* flag, long v, std::uint64_t lo, std::uint64_t hi) {
        if (v < 0) bad(std::string(flag) + " must not be negative, got " + std::to_string(v));
        count_in(flag, static_cast<std::uint64_t>(v), lo, hi);
    };
    signed_count_in("--steps", o.steps, 0, lim::kSteps);
    signed_count_in("--eval-every", o.eval_every, 1, lim::kSteps);
    signed_count_in("--checkpoint-every", o.checkpoint_every, 0, lim::kSteps);
    if (!(o.model.dropout >= 0 && o.model.dropout < 1)) bad("--dropout must be in [0, 1)");
    if (!(o.lr > 0 && o.lr <= 10)) bad("--lr must be a finite number in (0, 10]");
    if (!(o.clip >= 0 && o.clip <= 1e12)) bad("--clip must be a finite number in [0, 1e12]");
    if (o.schedule != "cosine" && o.schedule != "constant") bad("--schedule must be cosine or constant");
    if (o.threads < 1 || o.threads > static_cast<int>(lim::kThreads)) bad("--threads must be an integer in [1, 64]");
    // bptt x batch x hidden x layers hidden values per step, several floats each on the tape.
    const std::uint64_t values = o.bptt * o.batch * std::max(o.model.hidden, o.model.embed) * o.model.layers;
    if (values > (std::uint64_t(1) << 28))
        bad("--bptt, --batch, --hidden and --layers ask for " + std::to_string(values) +
            " hidden values per step, more than 2^28 (bptt x batch x hidden x layers)");
    if (o.resume && o.out.empty()) bad("--resume needs --out, where the checkpoints are");
}

Data load_data(const Options& o) {
    Corpus corpus = o.data.empty() ? load_fortunes(o.fortunes_dir) : load_text(o.data);
    Vocabulary vocab = Vocabulary::from_text(corpus.train + corpus.valid + corpus.test);
    Index train = vocab.encode_index(corpus.train), valid = vocab.encode_index(corpus.valid),
          test = vocab.encode_index(corpus.test);
    const double unigram = unigram_entropy_bits(train, vocab.size());
    return {std::move(corpus), std::move(vocab), std::move(train), std::move(valid), std::move(test), unigram};
}

double bits_per_char(CharModel& model, const Index& stream, std::size_t batch, std::size_t bptt) {
    NoGradGuard no_grad;
    const bool was_training = model.training();
    model.eval();
    const std::size_t B = std::min<std::size_t>(batch, std::max<std::size_t>(1, stream.size() / 2));
    const BpttChunks chunks(batchify(stream, static_cast<std::int64_t>(B)), static_cast<std::int64_t>(bptt));
    Tape<float> tape;
    Generator unused(0);  // evaluation mode draws no dropout masks
    RecurrentStateValues<float> carried;
    double nats = 0, count = 0;
    for (const BpttChunk& c : chunks) {
        const CharModel::Output out = model(tape, c.input, carried, unused);
        const double n = double(c.input.size());
        nats += cross_entropy(out.logits, c.flat_target()).item() * n;
        count += n;
        carried = state_values(out.rnn.state);
        tape.clear();
    }
    model.train(was_training);
    return nats / count / kLn2;
}

namespace {

// What a resumed run must share with the checkpoint: everything that decides
// the model, the data order and the schedule. A constant lr does not depend
// on the run's length, so such a run may be resumed with more --steps.
json identity_of(const Options& o, const Data& d) {
    json id = {{"data", d.corpus.name}, {"cell", o.model.cell}, {"embed", o.model.embed}, {"hidden", o.model.hidden},
               {"layers", o.model.layers}, {"dropout", o.model.dropout}, {"forget_bias", o.model.forget_bias},
               {"vocab", d.vocab.size()}, {"batch", o.batch}, {"bptt", o.bptt}, {"seed", o.seed},
               {"lr", o.lr}, {"schedule", o.schedule}, {"clip", o.clip}};
    if (o.schedule == "cosine") id["steps"] = o.steps;
    return id;
}

std::string duration(double seconds) {
    const long s = std::lround(std::max(0.0, seconds));
    char buf[32];
    std::snprintf(buf, sizeof buf, "%ldm%02lds", s / 60, s % 60);
    return buf;
}

CharModel initial_model(const Options& o, const Data& d) {
    ModelOptions mo = o.model;
    mo.vocab = d.vocab.size();
    Generator gen(tasks::mix_seed(o.seed, 0x1A1Full));
    return CharModel(mo, gen);
}

// The first n ids of `stream` (all of them for n = 0).
Index first_ids(const Index& stream, std::size_t n) {
    if (n == 0 || n >= stream.size()) return stream;
    Index out = zeros<std::int64_t>({n});
    std::copy(stream.begin(), stream.begin() + static_cast<std::ptrdiff_t>(n), out.begin());
    return out;
}

// Streams [begin, end) of a chunk: a rank's part of the global batch.
BpttChunk streams_of(const BpttChunk& c, const dist::Shard& shard) {
    const std::size_t L = c.input.shape()[0], rows = shard.rows();
    BpttChunk mine;
    mine.start = c.start;
    mine.input = Index::from_shape({L, rows});
    mine.target = Index::from_shape({L, rows});
    for (std::size_t t = 0; t < L; ++t)
        for (std::size_t b = 0; b < rows; ++b) {
            mine.input(t, b) = c.input(t, shard.begin + b);
            mine.target(t, b) = c.target(t, shard.begin + b);
        }
    return mine;
}

// A training run's objects, built in this order (the optimizer holds the
// model's parameters, the schedule the optimizer).
struct Run {
    Run(const Options& options, Data data, tasks::Replicas& rep)
        : o(options),
          replicas(rep),
          shard(rep.shard(options.batch)),
          d(std::move(data)),
          model(initial_model(o, d)),
          opt(model.parameters(), AdamOptions{.lr = o.lr}),
          schedule(opt, std::max(1L, o.steps - 1), o.lr / 10),
          chunks(batchify(d.train, static_cast<std::int64_t>(o.batch)), static_cast<std::int64_t>(o.bptt)),
          valid_eval(first_ids(d.valid, o.eval_chars)) {}

    const Options& o;
    tasks::Replicas& replicas;
    dist::Shard shard;  // this rank's streams: all of them alone
    Data d;
    CharModel model;
    Adam<float> opt;
    CosineAnnealingLR<float> schedule;  // lr from o.lr down to o.lr / 10 at the last step
    BpttChunks chunks;
    Index valid_eval;
    RunState s;
};

// One step of TBPTT on chunk (step − 1) mod chunks, from the carried state
// (zeros at the start of each pass over the text); returns its bits/char.
double train_step(Run& r, Tape<float>& tape, long step) {
    const std::size_t k = static_cast<std::size_t>(step - 1) % r.chunks.size();
    if (k == 0) r.s.carried = {};
    const BpttChunk c = r.replicas.world() == 1 ? r.chunks[k] : streams_of(r.chunks[k], r.shard);
    // Masks replay on resume. Distributed, each rank draws its own from
    // (seed, step, rank): a run with dropout is then another draw than one
    // process's, equally valid; without dropout it trains the same.
    std::uint64_t dropout_seed = tasks::mix_seed(r.o.seed, static_cast<std::uint64_t>(step));
    if (r.replicas.world() > 1) dropout_seed = tasks::mix_seed(dropout_seed, static_cast<std::uint64_t>(r.replicas.rank()));
    Generator dropout_gen(dropout_seed);
    const CharModel::Output out = r.model(tape, c.input, r.s.carried, dropout_gen);
    Var<float> loss = cross_entropy(out.logits, c.flat_target());
    r.replicas.backward(tape, loss, r.shard.share);
    if (r.o.clip > 0) clip_grad_norm(r.opt.params(), r.o.clip);
    if (r.o.schedule == "cosine") r.opt.set_lr(r.schedule.lr_at(step - 1));
    r.opt.step();
    r.opt.zero_grad();
    r.s.carried = state_values(out.rnn.state);
    const double bits = r.replicas.sum(loss.item() * r.shard.share) / kLn2;  // the global batch's
    tape.clear();
    return bits;
}

void prepare_out(const Run& r) {
    const fs::path dir = r.o.out;
    fs::create_directories(dir);
    r.d.vocab.save((dir / "vocab.txt").string());
    const json config = {{"data", r.o.data}, {"fortunes_dir", r.o.fortunes_dir}, {"cell", r.o.model.cell},
                         {"embed", r.o.model.embed}, {"hidden", r.o.model.hidden}, {"layers", r.o.model.layers},
                         {"dropout", r.o.model.dropout}, {"forget_bias", r.o.model.forget_bias}};
    tasks::write_file_atomic((dir / "config.json").string(), config.dump(2) + "\n");
}

void evaluate_and_log(Run& r, long step, double elapsed, std::ostream& log, bool tty) {
    const double valid = bits_per_char(r.model, r.valid_eval, kEvalBatch, kEvalBptt);
    const double train_bits = r.s.window_count ? r.s.window_sum / double(r.s.window_count) : 0;
    r.s.rows.push_back({step, train_bits, valid, r.opt.lr(), elapsed});
    r.s.window_sum = 0;
    r.s.window_count = 0;
    if (!r.o.out.empty()) write_logs(r.o.out, r.s);
    if (r.o.quiet) return;
    char line[200];
    std::snprintf(line, sizeof line, "%sstep %ld/%ld  train %.3f  valid %.3f bits/char (unigram %.2f)  lr %.2g  %s\n",
                  tty ? "\r" : "", step, r.o.steps, train_bits, valid, r.d.unigram_bits, r.opt.lr(), duration(elapsed).c_str());
    log << line << std::flush;
}

}  // namespace

namespace {

void write_result(const Run& r, const Result& res) {
    const json j = {{"task", "charlm"}, {"data", r.d.corpus.name}, {"cell", r.o.model.cell}, {"embed", r.o.model.embed},
                    {"hidden", r.o.model.hidden}, {"layers", r.o.model.layers}, {"dropout", r.o.model.dropout},
                    {"vocab", r.d.vocab.size()}, {"parameters", res.parameters}, {"batch", r.o.batch},
                    {"bptt", r.o.bptt}, {"lr", r.o.lr}, {"schedule", r.o.schedule}, {"seed", r.o.seed},
                    {"steps", res.steps}, {"test_bits_per_char", res.test_bits}, {"valid_bits_per_char", res.valid_bits},
                    {"unigram_bits_per_char", res.unigram_bits}, {"wall_seconds", res.wall_seconds}};
    tasks::write_file_atomic((fs::path(r.o.out) / "result.json").string(), j.dump(2) + "\n");
}

std::size_t count_parameters(CharModel& m) {
    std::size_t n = 0;
    for (Parameter<float>* p : m.parameters()) n += p->value().size();
    return n;
}

void describe(const Run& r, std::size_t params, std::ostream& log) {
    log << "charlm: " << r.d.corpus.name << " (" << r.d.train.size() << " / " << r.d.valid.size() << " / "
        << r.d.test.size() << " characters train / valid / test, " << r.d.vocab.size() << " distinct)\n"
        << "  " << r.o.model.cell << ", embed " << r.o.model.embed << ", hidden " << r.o.model.hidden << ", "
        << r.o.model.layers << " layer(s), dropout " << r.o.model.dropout << ", " << params << " parameters; batch "
        << r.o.batch << " x bptt " << r.o.bptt << ", " << r.chunks.size() << " chunks per pass; adam lr " << r.o.lr
        << " (" << r.o.schedule << "), clip " << r.o.clip << "; baseline (unigram) " << r.d.unigram_bits
        << " bits/char\n";
}

}  // namespace

namespace {

// Resumes from the latest checkpoint. Distributed, rank 0 reads it and sends
// the parameters, the optimizer's state, the step and each rank's streams of
// the carried state: a run saved at one world size resumes at any other.
void resume(Run& r, const json& identity, std::ostream& log) {
    if (!r.o.resume) return;
    if (r.replicas.root() && load_checkpoint(r.o.out, r.model, r.opt, r.s, identity))
        log << "resuming from step " << r.s.step << " in " << r.o.out << "/checkpoints\n";
    if (r.replicas.world() == 1) return;
    std::int64_t step = r.s.step;
    r.replicas.share_resume(r.opt, step);
    r.s.step = static_cast<long>(step);
    for (auto& value : r.s.carried.values) {
        Tensor<float> all = value ? *value : Tensor<float>::from_shape({0, 0, 0});
        r.replicas.broadcast(all);
        if (all.size() == 0)
            value.reset();
        else
            value = tasks::rows_along(all, 1, r.shard.begin, r.shard.end);  // (L·D, B, H): streams on axis 1
    }
}

// Checkpoints are collective: every rank gives its streams of the carried
// state, and rank 0 writes the whole of it.
void checkpoint(Run& r, const std::string& out, const json& identity) {
    RunState whole = r.s;
    if (r.replicas.world() > 1)
        for (auto& value : whole.carried.values)  // every rank carries the same parts (same model, same step)
            if (value) value = r.replicas.gather_rows(*value, 1, r.o.batch);
    if (r.replicas.root()) save_checkpoint(out, r.model, r.opt, whole, identity);
}

// The options of a rank other than 0: no files, no progress.
Options without_output(Options o) {
    o.out.clear();
    o.save_init.clear();
    o.quiet = true;
    return o;
}

// After the last step: the final checkpoint, then (rank 0) the test text's
// bits per character and result.json.
Result finish(Run& r, const Options& options, const json& identity, std::size_t params, double wall, std::ostream& log) {
    Result res;
    res.steps = r.s.step;
    res.parameters = params;
    res.unigram_bits = r.d.unigram_bits;
    res.wall_seconds = wall;
    if (!options.out.empty()) {
        r.s.wall = wall;
        checkpoint(r, options.out, identity);
    }
    if (!r.replicas.root()) return res;
    res.train_bits = r.s.rows.empty() ? 0 : r.s.rows.back().train_bits;
    res.valid_bits = r.s.rows.empty() ? bits_per_char(r.model, r.valid_eval, kEvalBatch, kEvalBptt) : r.s.rows.back().valid_bits;
    res.test_bits = bits_per_char(r.model, r.d.test, kEvalBatch, kEvalBptt);
    log << "test: " << res.test_bits << " bits/char (validation " << res.valid_bits << ", unigram baseline "
        << res.unigram_bits << "); " << duration(res.wall_seconds) << " of training\n";
    if (!r.o.out.empty()) {
        write_result(r, res);
        log << "wrote " << r.o.out << "/result.json, log.csv, loss.svg, vocab.txt and checkpoints/\n";
    }
    return res;
}

}  // namespace

Result train(const Options& options, std::ostream& root_log) {
    validate(options);
    tasks::Replicas replicas(options.distributed);
    std::ostream silent(nullptr);
    std::ostream& log = replicas.root() ? root_log : silent;
    const Options o = replicas.root() ? options : without_output(options);
    openblas_set_num_threads(o.threads);
    Run r(o, load_data(o), replicas);
    replicas.attach(r.opt.params());
    if (!o.save_init.empty()) save(r.model, o.save_init);
    const json identity = identity_of(o, r.d);
    resume(r, identity, log);
    if (!o.out.empty()) prepare_out(r);  // after the checks: a refused resume changes nothing
    const std::size_t params = count_parameters(r.model);
    describe(r, params, log);

    const bool tty = !o.quiet && &log == &std::cout && ::isatty(STDOUT_FILENO);
    const auto start = std::chrono::steady_clock::now();
    const double wall_before = r.s.wall;
    auto elapsed = [&] { return wall_before + std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count(); };
    auto last_draw = start - std::chrono::seconds(1);
    Tape<float> tape;
    for (long step = r.s.step + 1; step <= o.steps; ++step) {
        const double bits = train_step(r, tape, step);
        r.s.step = step;
        r.s.window_sum += bits;
        ++r.s.window_count;
        if (step % o.eval_every == 0 || step == o.steps) {
            replicas.check_in_sync("charlm: step " + std::to_string(step));
            if (replicas.root()) evaluate_and_log(r, step, elapsed(), log, tty);
        }
        // options.out, not o.out: the same on every rank, as a collective needs.
        if (!options.out.empty() && o.checkpoint_every > 0 && step % o.checkpoint_every == 0 && step != o.steps) {
            r.s.wall = elapsed();
            checkpoint(r, options.out, identity);
        }
        const auto now = std::chrono::steady_clock::now();
        if (tty && now - last_draw > std::chrono::milliseconds(200)) {
            last_draw = now;
            std::printf("\r  step %ld/%ld  train %.3f bits/char  %s   ", step, o.steps, bits, duration(elapsed()).c_str());
            std::fflush(stdout);
        }
    }
    return finish(r, options, identity, params, elapsed(), log);
}

Trained load_trained(const std::string& out) {
    const fs::path dir = out;
    const std::string config_file = (dir / "config.json").string();
    json c;
    try {
        c = json::parse(read_text_file(config_file));
        Trained t{Vocabulary::load((dir / "vocab.txt").string()), nullptr, {}};
        t.options.data = c.at("data").get<std::string>();
        t.options.fortunes_dir = c.at("fortunes_dir").get<std::string>();
        ModelOptions& m = t.options.model;
        m.cell = c.at("cell").get<std::string>();
        m.embed = c.at("embed").get<std::size_t>();
        m.hidden = c.at("hidden").get<std::size_t>();
        m.layers = c.at("layers").get<std::size_t>();
        m.dropout = c.at("dropout").get<double>();
        m.forget_bias = c.at("forget_bias").get<double>();
        validate(t.options);
        m.vocab = t.vocab.size();
        const std::string folder = latest_checkpoint(out);
        if (folder.empty()) throw std::runtime_error("no checkpoint in " + out + "/checkpoints: train first");
        Generator gen(0);
        t.model = std::make_unique<CharModel>(m, gen);
        load(*t.model, (fs::path(folder) / "model.npz").string());
        return t;
    } catch (const json::exception& e) {
        throw std::runtime_error(config_file + ": " + e.what());
    } catch (const std::invalid_argument& e) {
        throw std::runtime_error(config_file + ": " + e.what());
    }
}

}  // namespace tapegrad::charlm
