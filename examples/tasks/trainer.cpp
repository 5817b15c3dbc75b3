#include "trainer.hpp"

#include <sys/ioctl.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <iomanip>
#include <iostream>
#include <limits>
#include <memory>
#include <sstream>

#include <CLI/CLI.hpp>
#include <nlohmann/json.hpp>

#include <tapegrad/tapegrad.hpp>

#include "data.hpp"
#include "flags.hpp"
#include "plot.hpp"
#include "replicas.hpp"
#include "state_file.hpp"

extern "C" void openblas_set_num_threads(int);

namespace tapegrad::tasks {

namespace fs = std::filesystem;
using json = nlohmann::json;

std::uint64_t mix_seed(std::uint64_t seed, std::uint64_t counter) {
    std::uint64_t z = seed * 0x9E3779B97F4A7C15ull + counter + 0x632BE59BD9B4E019ull;
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    return z ^ (z >> 31);
}

Options defaults_for(const std::string& task, const std::string& variant, std::size_t T) {
    Options o;
    o.task = task;
    o.variant = variant;
    // Measured on this machine (docs/tasks.md, "The defaults, and how they were
    // chosen"): Adam at 3e-3 with the global norm clipped at 1 leaves the adding
    // plateau sooner than 1e-3 with elementwise clipping (T = 100: step 3100
    // against 4500; T = 200: step 5700 against never in 10k), and learns the
    // copying-memory task; an LSTM forget-gate bias of 3 doubles its pace there.
    o.optimizer = "adam";
    o.lr = 3e-3;
    o.clip = 1.0;
    o.clip_mode = "norm";
    if (task == "copy" && variant == "ntm") {
        // At a constant lr the GRU stalls near 3.4 bits after 10k steps; a
        // cosine decay over 20k takes it below 2.
        o.T = T ? T : 10;
        o.steps = 20000;
        o.schedule = "cosine";
        o.plateau_steps = 0;  // no plateau: 38 bits (baseline 44) at step 250, falling steadily
    } else if (task == "copy") {
        o.T = T ? T : 20;
        o.steps = 15000;
        o.forget_bias = 3.0;
        o.plateau_steps = 2500;  // T = 20 at lr 3e-3: the loss leaves the baseline near step 2500
    } else {
        // The plateau lasts longer the longer the sequence: about 30·T steps for
        // the LSTM at T = 100 and 200. Twice that is the budget.
        o.T = T ? T : 100;
        const long t = static_cast<long>(std::min<std::size_t>(o.T, limits::kSteps / 60));
        o.steps = 60 * t;
        o.plateau_steps = 30 * t;
    }
    return o;
}

namespace {

constexpr std::uint64_t kEvalStream = 0xE7A1u;  // eval batches never coincide with training batches
constexpr double kMaxLr = 1e3, kMaxClip = 1e12, kMaxForgetBias = 100;
// (T + 20)·batch·hidden·layers: a few GB of tape at most.
constexpr std::uint64_t kMaxHiddenValues = std::uint64_t(1) << 28;

enum class Kind { adding, copy, ntm };

Kind kind_of(const Options& o) {
    if (o.task == "adding") return Kind::adding;
    if (o.task == "copy") return o.variant == "ntm" ? Kind::ntm : Kind::copy;
    throw std::invalid_argument("unknown task '" + o.task + "'");
}

std::size_t inputs_of(Kind k) { return k == Kind::adding ? 2 : k == Kind::copy ? 10 : 9; }
std::size_t outputs_of(Kind k) { return k == Kind::adding ? 1 : k == Kind::copy ? 10 : 8; }

Batch make_batch(Kind k, const Options& o, Generator& gen) {
    switch (k) {
        case Kind::adding: return adding_batch(o.T, o.batch, gen);
        case Kind::copy: return copy_batch(o.T, o.batch, gen);
        default: return ntm_batch(o.T, o.batch, gen);
    }
}

double baseline_of(Kind k, const Options& o) {
    switch (k) {
        case Kind::adding: return adding_baseline();
        case Kind::copy: return copy_baseline(o.T);
        default: return ntm_baseline(o.T);
    }
}

struct Model : Module<float> {
    std::unique_ptr<RecurrentLayer<float>> rnn;
    std::unique_ptr<Linear<float>> head;
    void visit(ModuleVisitor<float>& v) override {
        v.module("rnn", *rnn);
        v.module("head", *head);
    }
};

Model make_model(Kind k, const Options& o) {
    Generator gen(mix_seed(o.seed, 0xA11CEull));
    RecurrentOptions ro;
    ro.input_size = inputs_of(k);
    ro.hidden_size = o.hidden;
    ro.num_layers = o.layers;
    ro.init = RecurrentInit::glorot;  // Arjovsky et al.'s setup
    if (accepts_forget_bias<float>(o.cell)) ro.forget_bias = o.forget_bias;
    Model m;
    m.rnn = make_recurrent<float>(o.cell, ro, gen);  // any registered cell (layers/cell_registry.hpp)
    m.head = std::make_unique<Linear<float>>(o.hidden, outputs_of(k), gen);
    return m;
}

std::unique_ptr<Optimizer<float>> make_optimizer(const Options& o, std::vector<Parameter<float>*> params) {
    if (o.optimizer == "sgd") return std::make_unique<SGD<float>>(params, SGDOptions{.lr = o.lr, .momentum = 0.9});
    if (o.optimizer == "adam") return std::make_unique<Adam<float>>(params, AdamOptions{.lr = o.lr});
    if (o.optimizer == "adamw") return std::make_unique<AdamW<float>>(params, AdamWOptions{.lr = o.lr});
    if (o.optimizer == "adagrad") return std::make_unique<Adagrad<float>>(params, AdagradOptions{.lr = o.lr});
    return std::make_unique<RMSprop<float>>(params, RMSpropOptions{.lr = o.lr, .alpha = 0.9});
}

/// The schedule of `o.schedule` over the run's `o.steps` steps, or null for a
/// constant lr. Built before a checkpoint is loaded, so that its base lr is
/// --lr and not the lr the schedule had reached when the checkpoint was saved.
std::unique_ptr<LRSchedule<float>> make_schedule(const Options& o, Optimizer<float>& opt) {
    if (o.schedule == "cosine" && o.steps > 0) return std::make_unique<CosineAnnealingLR<float>>(opt, o.steps);
    return nullptr;
}

/// The forward pass and loss of one batch; `outputs` receives the
/// predictions (adding: (B, 1); copy: logits (S·B, 10); ntm: logits (S, B, 8)),
/// `hidden` the recurrent layer's per-step hidden states.
Var<float> loss_of(Kind k, Model& m, Tape<float>& t, const Batch& b, Var<float>* outputs,
                   StepHidden<float>* hidden = nullptr) {
    const RecurrentOutput<float> r = (*m.rnn)(t.constant(b.x));
    if (hidden) *hidden = r.step_hidden;
    const auto& [out, state] = r;
    switch (k) {
        case Kind::adding: {
            Var<float> pred = (*m.head)(select(state.h, 0, -1));
            if (outputs) *outputs = pred;
            return mse_loss(pred, t.constant(b.y));
        }
        case Kind::copy: {
            Var<float> logits = reshape((*m.head)(out), {-1, 10});
            if (outputs) *outputs = logits;
            return cross_entropy(logits, b.targets);
        }
        default: {
            Var<float> logits = (*m.head)(out);
            if (outputs) *outputs = logits;
            return binary_cross_entropy_with_logits(logits, t.constant(b.y), b.mask);
        }
    }
}

// The weight of a shard's mean loss in the global batch's mean: its share of
// the sequences, or for NTM copy (a mean over the scored bits) of the scored
// output steps.
double share_of(Kind k, const Batch& global, const Batch& mine, const dist::Shard& shard) {
    if (k != Kind::ntm || &global == &mine) return shard.share;
    std::int64_t all = 0, own = 0;
    for (std::int64_t L : global.lengths) all += L;
    for (std::int64_t L : mine.lengths) own += L;
    return double(own) / double(all);
}

struct Evaluation {
    double loss = 0, metric = 0, extra = 0;
};

std::string bits_string(const Tensor<float>& v, std::size_t t, std::size_t k) {
    std::string s;
    for (std::size_t bit = 0; bit < 8; ++bit) s += v(t, k, bit) > 0.5f ? '1' : '0';
    return s;
}

Evaluation evaluate(Kind k, Model& m, const Options& o, std::ostream* samples) {
    NoGradGuard no_grad;
    m.eval();
    Tape<float> t;
    Evaluation e;
    double loss_sum = 0, hits = 0, count = 0, bits = 0;
    for (std::size_t i = 0; i < o.eval_batches; ++i) {
        Generator gen(mix_seed(o.seed ^ kEvalStream, i));
        const Batch b = make_batch(k, o, gen);
        Var<float> pred;
        const double loss = loss_of(k, m, t, b, &pred).item();
        loss_sum += loss;
        const Tensor<float>& p = pred.value();
        if (k == Kind::adding) {
            for (std::size_t j = 0; j < o.batch; ++j) {
                hits += std::abs(p(j, 0) - b.y(j, 0)) < 0.04f;
                ++count;
            }
            if (samples && i == 0)
                for (std::size_t j = 0; j < 4 && j < o.batch; ++j) {
                    char line[80];
                    std::snprintf(line, sizeof line, "  predicted %.3f  target %.3f\n", p(j, 0), b.y(j, 0));
                    *samples << line;
                }
        } else if (k == Kind::copy) {
            for (std::size_t step = o.T + 10; step < o.T + 20; ++step)
                for (std::size_t j = 0; j < o.batch; ++j) {
                    const std::size_t row = step * o.batch + j;
                    std::size_t best = 0;
                    for (std::size_t c = 1; c < 10; ++c)
                        if (p(row, c) > p(row, best)) best = c;
                    hits += static_cast<std::int64_t>(best) == b.targets(row);
                    ++count;
                }
            if (samples && i == 0)
                for (std::size_t j = 0; j < 3 && j < o.batch; ++j) {
                    std::string want, got;
                    for (std::size_t step = o.T + 10; step < o.T + 20; ++step) {
                        const std::size_t row = step * o.batch + j;
                        std::size_t best = 0;
                        for (std::size_t c = 1; c < 10; ++c)
                            if (p(row, c) > p(row, best)) best = c;
                        want += char('0' + b.targets(row));
                        got += best < 8 ? char('0' + best) : (best == 8 ? '_' : '|');
                    }
                    *samples << "  target " << want << "  predicted " << got << "\n";
                }
        } else {
            double masked = 0;
            for (std::size_t q = 0; q < b.mask.size(); ++q) {
                if (b.mask.data()[q] == 0.0f) continue;
                masked += 1;
                hits += (p.data()[q] > 0.0f) == (b.y.data()[q] > 0.5f);
            }
            count += masked;
            bits += loss * masked / std::log(2.0) / double(o.batch);  // mean BCE (nats) → bits per sequence
            if (samples && i == 0)
                for (std::size_t j = 0; j < 2 && j < o.batch; ++j) {
                    const auto L = static_cast<std::size_t>(b.lengths[j]);
                    *samples << "  sequence of length " << L << ":\n";
                    for (std::size_t s = 0; s < L && s < 4; ++s) {
                        std::string got;
                        for (std::size_t bit = 0; bit < 8; ++bit) got += p(L + 1 + s, j, bit) > 0.0f ? '1' : '0';
                        *samples << "    target " << bits_string(b.y, L + 1 + s, j) << "  predicted " << got << "\n";
                    }
                }
        }
        t.clear();
    }
    m.train();
    e.loss = loss_sum / double(o.eval_batches);
    e.extra = count ? hits / count : 0;
    e.metric = k == Kind::ntm ? bits / double(o.eval_batches) : e.loss;
    return e;
}

// ---- run state that checkpoints carry ------------------------------------------

struct Row {
    long step;
    double train_loss, eval_loss, metric, extra, elapsed;
};

// The schedule with its horizon: a cosine run resumes only with the same
// --steps, since the lr of every step depends on it.
std::string schedule_name(const Options& o) {
    return o.schedule == "cosine" ? "cosine over " + std::to_string(o.steps) + " steps" : o.schedule;
}

json options_json(const Options& o) {
    return {{"task", o.task}, {"variant", o.variant}, {"cell", o.cell}, {"T", o.T}, {"hidden", o.hidden},
            {"layers", o.layers}, {"batch", o.batch}, {"seed", o.seed}, {"optimizer", o.optimizer}, {"lr", o.lr},
            {"clip", o.clip}, {"clip_mode", o.clip_mode}, {"forget_bias", o.forget_bias}, {"schedule", schedule_name(o)}};
}

struct RunState {
    std::vector<std::array<double, 2>> grad_norms;  // per step: global norm before and after clipping
    long step = 0;
    double window_sum = 0;
    long window_count = 0;
    double wall = 0;
    std::vector<Row> rows;
};

void save_checkpoint(const fs::path& dir, Model& m, const Optimizer<float>& opt, const RunState& s, const Options& o) {
    const fs::path ckpts = dir / "checkpoints";
    fs::create_directories(ckpts);
    const std::string name = "step-" + std::to_string(s.step);
    const fs::path target = ckpts / name;
    fs::create_directories(target);
    save(m, (target / "model.npz").string());
    save(opt, (target / "optimizer.npz").string());
    json rows = json::array();
    for (const Row& r : s.rows) rows.push_back({r.step, r.train_loss, r.eval_loss, r.metric, r.extra, r.elapsed});
    json st = {{"step", s.step}, {"window_sum", s.window_sum}, {"window_count", s.window_count}, {"wall", s.wall},
               {"rows", rows}, {"grad_norms", s.grad_norms}, {"options", options_json(o)}};
    write_file_atomic((target / "state.json").string(), st.dump(1));
    // The pointer moves only once the whole checkpoint is on disk: a crash
    // before this line leaves the previous checkpoint in charge.
    write_file_atomic((ckpts / "latest").string(), name + "\n");
    for (const auto& entry : fs::directory_iterator(ckpts))
        if (entry.is_directory() && entry.path().filename() != name) fs::remove_all(entry.path());
}

// The run state of state.json, every field checked (see StateFile).
RunState read_run_state(const json& st, const std::string& file) {
    const StateFile f(st, file);
    constexpr double kHuge = std::numeric_limits<double>::max();
    RunState s;
    s.step = f.integer(f.at("step"), "step", 0, static_cast<long>(limits::kSteps));
    s.window_count = f.integer(f.at("window_count"), "window_count", 0, s.step);
    s.window_sum = f.number(f.at("window_sum"), "window_sum", -kHuge, kHuge);
    s.wall = f.number(f.at("wall"), "wall", 0, kHuge);
    // One pair of gradient norms per step taken.
    for (const json& n : f.array(f.at("grad_norms"), "grad_norms", static_cast<std::size_t>(s.step)))
        s.grad_norms.push_back({f.number(f.array(n, "grad_norms", 2)[0], "grad_norms", 0, kHuge),
                                f.number(n[1], "grad_norms", 0, kHuge)});
    const json& rows = f.at("rows");
    if (!rows.is_array()) f.fail("rows", "must be a list");
    long last = 0;
    for (const json& r : rows) {
        f.array(r, "rows", 6);
        const long step = f.integer(r[0], "rows", last + 1, s.step);  // evaluations in increasing step order
        s.rows.push_back({step, f.number(r[1], "rows", -kHuge, kHuge), f.number(r[2], "rows", -kHuge, kHuge),
                          f.number(r[3], "rows", -kHuge, kHuge), f.number(r[4], "rows", -kHuge, kHuge),
                          f.number(r[5], "rows", 0, kHuge)});
        last = step;
    }
    return s;
}

bool load_checkpoint(const fs::path& dir, Model& m, Optimizer<float>& opt, RunState& s, const Options& o) {
    const fs::path latest = dir / "checkpoints" / "latest";
    if (!fs::exists(latest)) return false;
    const fs::path src = dir / "checkpoints" / latest_checkpoint_name(latest);
    const std::string file = (src / "state.json").string();
    std::ifstream sf(file);
    if (!sf) throw std::runtime_error("cannot read " + file);
    json st;
    try {
        st = json::parse(sf);
    } catch (const json::exception& e) {
        throw std::runtime_error(file + ": " + e.what());
    }
    if (!st.is_object() || !st.contains("options") || st.at("options") != options_json(o))
        throw std::runtime_error("--resume: the checkpoint in " + src.string() + " was made with other options: " +
                                 (st.is_object() && st.contains("options") ? st.at("options").dump() : std::string("none")));
    RunState restored = read_run_state(st, file);
    load(m, (src / "model.npz").string());
    load(opt, (src / "optimizer.npz").string());
    s = std::move(restored);
    return true;
}

std::string metric_name(Kind k) { return k == Kind::adding ? "mse" : k == Kind::copy ? "ce" : "bits"; }
std::string extra_name(Kind k) { return k == Kind::adding ? "within_0.04" : k == Kind::copy ? "accuracy" : "bit_accuracy"; }

void write_log_files(const fs::path& dir, Kind k, const Options& o, const RunState& s) {
    std::ostringstream csv;
    csv << "step,train_loss,eval_loss," << metric_name(k) << "," << extra_name(k) << ",elapsed_seconds\n";
    csv << std::setprecision(9);
    for (const Row& r : s.rows)
        csv << r.step << "," << r.train_loss << "," << r.eval_loss << "," << r.metric << "," << r.extra << "," << r.elapsed
            << "\n";
    write_file_atomic((dir / "log.csv").string(), csv.str());
    std::ostringstream norms;
    norms << "step,grad_norm_before_clip,grad_norm_after_clip\n" << std::setprecision(9);
    for (std::size_t i = 0; i < s.grad_norms.size(); ++i)
        norms << i + 1 << "," << s.grad_norms[i][0] << "," << s.grad_norms[i][1] << "\n";
    write_file_atomic((dir / "grad_norms.csv").string(), norms.str());
    Series train{"train loss", {}, {}}, eval{"eval loss", {}, {}};
    for (const Row& r : s.rows) {
        train.x.push_back(double(r.step));
        train.y.push_back(r.train_loss);
        eval.x.push_back(double(r.step));
        eval.y.push_back(r.eval_loss);
    }
    PlotOptions po;
    po.title = o.task + (o.variant.empty() ? "" : " (" + o.variant + ")") + ", " + o.cell + ", T=" + std::to_string(o.T) +
               ", hidden " + std::to_string(o.hidden);
    po.xlabel = "training step";
    po.ylabel = k == Kind::adding ? "MSE" : k == Kind::copy ? "cross-entropy per step" : "BCE per output bit";
    const double base = k == Kind::ntm ? std::log(2.0) : baseline_of(k, o);  // ntm loss is per bit: ln 2 by chance
    po.hlines = {{"baseline", base}};
    write_file_atomic((dir / "loss.svg").string(), svg_plot({train, eval}, po));
}

// The registered cells, "cifg, gru, ...".
std::string cell_list() {
    std::string names;
    for (const std::string& n : recurrent_names<float>()) names += (names.empty() ? "" : ", ") + n;
    return names;
}

Progress progress_at_start(Kind k, const Options& o, double baseline, const RunState& s) {
    Progress p;
    p.step = s.step;
    p.steps = o.steps;
    p.metric = metric_name(k);
    p.baseline = baseline;
    p.extra_name = extra_name(k);
    p.plateau_steps = o.plateau_steps;
    if (!s.rows.empty()) p.eval = s.rows.back().metric;  // resumed: the last evaluation before the stop
    return p;
}

// Redraws the progress line in place: clipped to the terminal's width (a
// wrapped line could not be redrawn) and padded over what the last one left.
void redraw(const std::string& line, std::size_t& drawn_width) {
    winsize ws{};
    const std::size_t columns = ::ioctl(STDOUT_FILENO, TIOCGWINSZ, &ws) == 0 && ws.ws_col > 1 ? ws.ws_col - 1 : 100;
    std::string shown = line.substr(0, columns);
    const std::size_t width = shown.size();
    if (width < drawn_width) shown.append(drawn_width - width, ' ');
    drawn_width = width;
    std::printf("\r%s", shown.c_str());
    std::fflush(stdout);
}

std::string duration(double seconds) {
    if (!std::isfinite(seconds) || seconds < 0) return "?";
    const long s = std::lround(seconds);
    char buf[32];
    if (s >= 3600)
        std::snprintf(buf, sizeof buf, "%ldh%02ldm", s / 3600, (s % 3600) / 60);
    else
        std::snprintf(buf, sizeof buf, "%ldm%02lds", s / 60, s % 60);
    return buf;
}

}  // namespace

bool on_plateau(double eval, double baseline) { return std::isfinite(eval) && eval >= 0.9 * baseline; }

std::string progress_line(const Progress& p, bool tty) {
    char buf[256];
    std::string line;
    if (tty) {
        std::snprintf(buf, sizeof buf, "step %ld/%ld  loss %.4f", p.step, p.steps, p.loss);
        line = buf;
        if (std::isfinite(p.eval)) {
            std::snprintf(buf, sizeof buf, "  eval %s %.4g (baseline %.4g)", p.metric.c_str(), p.eval, p.baseline);
            line += buf;
        }
        line += "  ETA " + duration(p.eta);
    } else {
        std::snprintf(buf, sizeof buf, "step %ld/%ld  train loss %.4g  eval %s %.4g (baseline %.4g)  %s %.3g  (%s)", p.step,
                      p.steps, p.loss, p.metric.c_str(), p.eval, p.baseline, p.extra_name.c_str(), p.extra,
                      duration(p.elapsed).c_str());
        line = buf;
    }
    if (p.plateau_steps <= 0 || !on_plateau(p.eval, p.baseline)) return line;
    const std::string at = std::to_string(p.plateau_steps);
    if (tty) return line + (p.step < p.plateau_steps ? "  plateau: normal to ~" : "  plateau: past usual ~") + at;
    if (p.step < p.plateau_steps)
        return line + "  on the plateau: expected, with the defaults the loss usually leaves it near step " + at;
    return line + "  still on the plateau: with the defaults the loss usually leaves it near step " + at +
           "; other settings and seeds can take longer, and a tanh RNN may never leave it";
}

void validate(const Options& o) {
    auto bad = [](const std::string& m) { throw std::invalid_argument(m); };
    auto count_in = [&](const char* flag, std::uint64_t v, std::uint64_t lo, std::uint64_t hi) {
        if (v < lo || v > hi)
            bad(std::string(flag) + " must be an integer in [" + std::to_string(lo) + ", " + std::to_string(hi) + "], got " +
                std::to_string(v));
    };
    auto signed_count_in = [&](const char* flag, long v, std::uint64_t lo, std::uint64_t hi) {
        if (v < 0) bad(std::string(flag) + " must not be negative, got " + std::to_string(v));
        count_in(flag, static_cast<std::uint64_t>(v), lo, hi);
    };
    kind_of(o);
    if (!has_recurrent<float>(o.cell)) bad("--cell must be a registered cell (" + cell_list() + "), got '" + o.cell + "'");
    if (o.task == "adding" && o.T < 2) bad("--T must be at least 2 for the adding task");
    count_in("--T", o.T, 1, limits::kT);
    count_in("--hidden", o.hidden, 1, limits::kHidden);
    count_in("--layers", o.layers, 1, limits::kLayers);
    count_in("--batch", o.batch, 1, limits::kBatch);
    signed_count_in("--steps", o.steps, 0, limits::kSteps);
    if (!(o.lr > 0) || !(o.lr <= kMaxLr)) bad("--lr must be a finite number in (0, 1000], got " + std::to_string(o.lr));
    if (!(o.clip >= 0) || !(o.clip <= kMaxClip)) bad("--clip must be a finite number in [0, 1e12], got " + std::to_string(o.clip));
    if (!(std::abs(o.forget_bias) <= kMaxForgetBias))
        bad("--forget-bias must be a finite number in [-100, 100], got " + std::to_string(o.forget_bias));
    if (o.clip_mode != "value" && o.clip_mode != "norm") bad("--clip-mode must be value or norm");
    if (o.schedule != "none" && o.schedule != "cosine") bad("--schedule must be none or cosine, got '" + o.schedule + "'");
    signed_count_in("--eval-every", o.eval_every, 1, limits::kSteps);
    count_in("--eval-batches", o.eval_batches, 1, limits::kEvalBatches);
    signed_count_in("--checkpoint-every", o.checkpoint_every, 0, limits::kSteps);
    if (o.threads < 1 || o.threads > static_cast<int>(limits::kThreads)) bad("--threads must be an integer in [1, 64]");
    // Each flag may be in range and their product still absurd: the tape holds
    // several floats per hidden value of every step of every sequence.
    const std::uint64_t values = (o.T + 20) * o.batch * o.hidden * o.layers;  // no overflow within the limits above
    if (values > kMaxHiddenValues)
        bad("--T, --batch, --hidden and --layers ask for " + std::to_string(values) + " hidden values per batch, more than " +
            std::to_string(kMaxHiddenValues) + " ((T + 20) x batch x hidden x layers)");
    if (o.resume && o.out.empty()) bad("--resume needs --out, where the checkpoints are");
}

namespace {

// The run's wall clock: the time of earlier sessions (resumed) plus this one's.
struct WallClock {
    double before;
    std::chrono::steady_clock::time_point start = std::chrono::steady_clock::now();
    double operator()() const { return before + std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count(); }
};

// The terminal's progress line, redrawn at most every 200 ms.
struct LiveLine {
    long first_step;
    std::chrono::steady_clock::time_point start = std::chrono::steady_clock::now();
    std::chrono::steady_clock::time_point last_draw = start - std::chrono::seconds(1);
    std::size_t drawn_width = 0;
    void update(Progress& p, long step, long steps, double loss) {
        const auto now = std::chrono::steady_clock::now();
        if (now - last_draw <= std::chrono::milliseconds(200) && step != steps) return;
        last_draw = now;
        const double rate = double(step - first_step) / std::max(std::chrono::duration<double>(now - start).count(), 1e-9);
        p.step = step;
        p.loss = loss;
        p.eta = double(steps - step) / rate;
        redraw(progress_line(p, true), drawn_width);
    }
};

// Distributed, rank 0 reads the checkpoint and sends the parameters, the
// optimizer's state and the step to the others: a run saved at one world
// size resumes at any other.
RunState start_or_resume(const fs::path& dir, Model& model, Optimizer<float>& opt, const Options& o, std::ostream& log,
                         Replicas& replicas) {
    RunState s;
    if (o.resume && replicas.root() && load_checkpoint(dir, model, opt, s, o))
        log << "resuming from step " << s.step << " in " << (dir / "checkpoints").string() << "\n";
    else if (o.resume && replicas.root())
        log << "no checkpoint in " << (dir / "checkpoints").string() << ": starting from step 0\n";
    if (o.resume) {
        std::int64_t step = s.step;
        replicas.share_resume(opt, step);
        s.step = static_cast<long>(step);
    }
    return s;
}

// The options of a rank other than 0: no files, no progress.
Options without_output(Options o) {
    o.out.clear();
    o.quiet = true;
    return o;
}

void log_header(Kind k, const Options& o, double baseline, std::ostream& log) {
    log << o.task << (o.variant.empty() ? "" : " (" + o.variant + ")") << ": " << o.cell << ", T=" << o.T << ", hidden "
        << o.hidden << ", " << o.layers << " layer(s), batch " << o.batch << ", " << o.optimizer << " lr " << o.lr
        << " (schedule " << schedule_name(o) << "), clip " << o.clip << " (" << o.clip_mode << "), seed " << o.seed
        << "; baseline " << metric_name(k) << " " << baseline << std::endl;
}

// One optimizer step on the batch of `step`: backward, the gradient norm
// before and after clipping (recorded in s), the schedule, the update.
double train_step(Kind k, const Options& o, Model& model, Optimizer<float>& opt, LRSchedule<float>* schedule, Tape<float>& tape,
                  long step, RunState& s, Replicas& replicas, const dist::Shard& shard) {
    Generator gen(mix_seed(o.seed, static_cast<std::uint64_t>(step)));
    const Batch global = make_batch(k, o, gen);
    // Distributed, every rank draws the global batch of (seed, step) and
    // trains on its rows of it: the union is the batch one process trains on.
    const Batch b = replicas.world() == 1 ? Batch() : rows_of(global, shard.begin, shard.end);
    const Batch& mine = replicas.world() == 1 ? global : b;
    const double share = share_of(k, global, mine, shard);
    Var<float> loss = loss_of(k, model, tape, mine, nullptr);
    replicas.backward(tape, loss, share);
    const double value = replicas.sum(loss.item() * share);  // the global batch's loss
    // The global norm before clipping (max_norm = ∞ only measures it).
    const double before = clip_grad_norm(opt.params(), std::numeric_limits<double>::infinity());
    double after = before;
    if (o.clip > 0) {
        if (o.clip_mode == "norm")
            clip_grad_norm(opt.params(), o.clip);
        else
            clip_grad_value(opt.params(), o.clip);
        after = clip_grad_norm(opt.params(), std::numeric_limits<double>::infinity());
    }
    s.grad_norms.push_back({before, after});
    if (schedule) opt.set_lr(schedule->lr_at(step - 1));
    opt.step();
    opt.zero_grad();
    tape.clear();
    s.step = step;
    s.window_sum += value;
    ++s.window_count;
    return value;
}

// At an evaluation step: the held-out metric, a row of the log files, and
// (without a terminal) a progress line.
void evaluate_and_log(Kind k, const Options& o, Model& model, const fs::path& dir, RunState& s, Progress& progress, bool tty,
                      double elapsed, std::ostream& log) {
    const Evaluation e = evaluate(k, model, o, nullptr);
    s.rows.push_back({s.step, s.window_sum / double(s.window_count), e.loss, e.metric, e.extra, elapsed});
    s.window_sum = 0;
    s.window_count = 0;
    if (!o.out.empty()) write_log_files(dir, k, o, s);
    progress.eval = e.metric;
    if (tty || o.quiet) return;
    Progress plain = progress;
    plain.step = s.step;
    plain.loss = s.rows.back().train_loss;
    plain.extra = e.extra;
    plain.elapsed = elapsed;
    // Flushed: through a pipe (`| tee`) the line would otherwise wait for the
    // buffer to fill, for minutes.
    log << progress_line(plain, false) << std::endl;
}

// After the last step: the final state saved, the final evaluation, result.json.
Result finish(Kind k, const Options& o, Model& model, Optimizer<float>& opt, RunState& s, const fs::path& dir, double baseline,
              double last_loss, const WallClock& elapsed, std::ostream& log) {
    if (!o.out.empty()) {  // the final state is always saved, also for a run of 0 steps
        write_log_files(dir, k, o, s);
        s.wall = elapsed();
        save_checkpoint(dir, model, opt, s, o);
    }
    const Evaluation fin = evaluate(k, model, o, o.quiet ? nullptr : &log);
    Result r;
    r.metric = metric_name(k);
    r.value = fin.metric;
    r.baseline = baseline;
    r.extra = fin.extra;
    r.extra_name = extra_name(k);
    r.wall_seconds = elapsed();
    r.steps = s.step;
    r.final_train_loss = s.rows.empty() ? last_loss : s.rows.back().train_loss;
    log << "final evaluation on " << o.eval_batches * o.batch << " held-out sequences: " << r.metric << " " << r.value
        << " (baseline " << baseline << "), " << r.extra_name << " " << r.extra << "; " << duration(r.wall_seconds)
        << " wall\n";
    if (o.out.empty()) return r;
    json res = {{"task", o.task}, {"variant", o.variant.empty() ? "standard" : o.variant}, {"cell", o.cell}, {"T", o.T},
                {"hidden", o.hidden}, {"layers", o.layers}, {"batch", o.batch}, {"steps", r.steps}, {"seed", o.seed},
                {"optimizer", o.optimizer}, {"lr", o.lr}, {"schedule", schedule_name(o)}, {"metric", r.metric},
                {"value", r.value}, {"baseline", r.baseline}, {r.extra_name, r.extra}, {"wall_seconds", r.wall_seconds}};
    write_file_atomic((dir / "result.json").string(), res.dump(2) + "\n");
    log << "wrote " << (dir / "result.json").string() << ", log.csv, loss.svg and checkpoints/\n";
    return r;
}

}  // namespace

Result run(const Options& options, std::ostream& root_log) {
    validate(options);
    Replicas replicas(options.distributed);
    const dist::Shard shard = replicas.shard(options.batch);  // refuses a batch smaller than the world first
    // Distributed, rank 0 alone writes files and shows progress.
    std::ostream silent(nullptr);
    std::ostream& log = replicas.root() ? root_log : silent;
    const Options o = replicas.root() ? options : without_output(options);
    const Kind k = kind_of(o);
    openblas_set_num_threads(o.threads);
    Model model = make_model(k, o);
    auto opt = make_optimizer(o, model.parameters());
    replicas.attach(opt->params());
    const auto schedule = make_schedule(o, *opt);
    const fs::path dir = o.out;
    if (!o.out.empty()) fs::create_directories(dir);
    RunState s = start_or_resume(dir, model, *opt, o, log, replicas);
    const bool tty = !o.quiet && &log == &std::cout && ::isatty(STDOUT_FILENO);
    const double baseline = baseline_of(k, o);
    log_header(k, o, baseline, log);

    Tape<float> tape;
    const WallClock elapsed{s.wall};
    LiveLine live{s.step};
    double last_loss = 0;
    Progress progress = progress_at_start(k, o, baseline, s);
    for (long step = s.step + 1; step <= o.steps; ++step) {
        last_loss = train_step(k, o, model, *opt, schedule.get(), tape, step, s, replicas, shard);
        if (step % o.eval_every == 0 || step == o.steps) {
            replicas.check_in_sync(o.task + ": step " + std::to_string(step));
            if (replicas.root()) evaluate_and_log(k, o, model, dir, s, progress, tty, elapsed(), log);
        }
        if (!o.out.empty() && o.checkpoint_every > 0 && step % o.checkpoint_every == 0 && step != o.steps) {
            s.wall = elapsed();
            save_checkpoint(dir, model, *opt, s, o);
        }
        if (tty) live.update(progress, step, o.steps, last_loss);
    }
    if (tty) std::printf("\n");
    if (!replicas.root()) return Result{.metric = metric_name(k), .baseline = baseline, .steps = s.step};
    return finish(k, o, model, *opt, s, dir, baseline, last_loss, elapsed, log);
}

std::vector<double> hidden_grad_norms(const Options& o, const std::string& checkpoint_dir, std::size_t batches) {
    validate(o);
    const Kind k = kind_of(o);
    Model model = make_model(k, o);
    if (!checkpoint_dir.empty()) {
        const fs::path latest = fs::path(checkpoint_dir) / "checkpoints" / "latest";
        if (!fs::exists(latest)) throw std::runtime_error("no checkpoint in " + checkpoint_dir);
        const std::string name = latest_checkpoint_name(latest);
        load(model, (fs::path(checkpoint_dir) / "checkpoints" / name / "model.npz").string());
    }
    std::vector<double> norms;
    Tape<float> t;
    for (std::size_t i = 0; i < batches; ++i) {
        Generator gen(mix_seed(o.seed ^ kEvalStream, i));
        const Batch b = make_batch(k, o, gen);
        StepHidden<float> step_hidden;
        Var<float> loss = loss_of(k, model, t, b, nullptr, &step_hidden);
        t.backward(loss, BackwardOptions{.retain_grads = true});
        const auto hidden = step_hidden.back();  // top layer
        norms.resize(hidden.size(), 0.0);
        for (std::size_t step = 0; step < hidden.size(); ++step) {
            const Tensor<float>& g = t.grad(hidden[step]);
            const std::size_t B = g.shape()[0], H = g.shape()[1];
            double mean_norm = 0;  // mean over the batch of each sequence's ‖∂L/∂h_t‖
            for (std::size_t j = 0; j < B; ++j) {
                double sq = 0;
                for (std::size_t h = 0; h < H; ++h) sq += double(g(j, h)) * double(g(j, h));
                mean_norm += std::sqrt(sq) / double(B);
            }
            norms[step] += mean_norm / double(batches);
        }
        t.clear();
    }
    return norms;
}

std::vector<std::array<double, 2>> read_grad_norms(const std::string& out) {
    std::ifstream f(fs::path(out) / "grad_norms.csv");
    if (!f) throw std::runtime_error("cannot read " + (fs::path(out) / "grad_norms.csv").string());
    std::string line;
    std::getline(f, line);
    std::vector<std::array<double, 2>> rows;
    while (std::getline(f, line)) {
        std::istringstream ls(line);
        std::string step, a, b;
        std::getline(ls, step, ',');
        std::getline(ls, a, ',');
        std::getline(ls, b, ',');
        rows.push_back({std::stod(a), std::stod(b)});
    }
    return rows;
}

namespace {

// The flags a user left out take the defaults of the chosen variant and T:
// the help shows those of the program's default variant and T.
void take_unset_defaults(Options& o, const std::string& task, const std::string& variant, const CLI::App& app) {
    auto unset = [&](const char* flag) { return app.get_option(flag)->count() == 0; };
    const Options d = defaults_for(task, variant, unset("--T") ? 0 : o.T);
    o.variant = variant;
    if (unset("--T")) o.T = d.T;
    if (unset("--steps")) o.steps = d.steps;
    if (unset("--batch")) o.batch = d.batch;
    if (unset("--optimizer")) o.optimizer = d.optimizer;
    if (unset("--lr")) o.lr = d.lr;
    if (unset("--schedule")) o.schedule = d.schedule;
    if (unset("--clip")) o.clip = d.clip;
    if (unset("--clip-mode")) o.clip_mode = d.clip_mode;
    if (unset("--forget-bias")) o.forget_bias = d.forget_bias;
    o.plateau_steps = d.plateau_steps;  // a note about the defaults, not a flag
}

}  // namespace

int run_cli(const std::string& task, int argc, char** argv) {
    Options o = defaults_for(task);
    CLI::App app{task == "adding" ? "Train a recurrent network on the adding problem (Arjovsky et al. 2016)."
                                  : "Train a recurrent network on the copying-memory task, or the NTM copy task with "
                                    "--variant ntm."};
    app.option_defaults()->always_capture_default();
    std::string variant;
    if (task == "copy") app.add_option("--variant", variant, "standard (copying memory) or ntm")->check(CLI::IsMember({"standard", "ntm"}));
    app.add_option("--cell", o.cell, "recurrent cell: " + cell_list())->check(CLI::IsMember(recurrent_names<float>()));
    // Every numeric flag is range-checked here, before CLI11 converts it: a
    // conversion alone takes "1e20" for a count and "nan" for a number.
    app.add_option("--T", o.T, task == "copy" ? "delay T (ntm: maximum sequence length L)" : "sequence length T")
        ->check(integer_in(1, limits::kT));
    app.add_option("--hidden", o.hidden, "hidden units")->check(integer_in(1, limits::kHidden));
    app.add_option("--layers", o.layers, "recurrent layers")->check(integer_in(1, limits::kLayers));
    app.add_option("--batch", o.batch, "batch size")->check(integer_in(1, limits::kBatch));
    app.add_option("--steps", o.steps, "training steps")->check(integer_in(0, limits::kSteps));
    app.add_option("--lr", o.lr, "learning rate")->check(number_in(0, kMaxLr, true));
    app.add_option("--schedule", o.schedule, "none: constant lr; cosine: from --lr down to 0 over --steps")
        ->check(CLI::IsMember({"none", "cosine"}));
    app.add_option("--optimizer", o.optimizer, "optimizer")
        ->check(CLI::IsMember({"sgd", "adam", "adamw", "rmsprop", "adagrad"}));
    app.add_option("--clip", o.clip, "gradient clipping threshold (0: off)")->check(number_in(0, kMaxClip));
    app.add_option("--clip-mode", o.clip_mode, "value: clamp each element; norm: global norm")
        ->check(CLI::IsMember({"value", "norm"}));
    app.add_option("--forget-bias", o.forget_bias, "LSTM forget-gate bias")->check(number_in(-kMaxForgetBias, kMaxForgetBias));
    app.add_option("--seed", o.seed, "seed of weights and data")->check(integer_in(0, std::numeric_limits<std::uint64_t>::max()));
    app.add_option("--threads", o.threads, "OpenBLAS threads")->check(integer_in(1, limits::kThreads));
    app.add_option("--eval-every", o.eval_every, "steps between evaluations")->check(integer_in(1, limits::kSteps));
    app.add_option("--eval-batches", o.eval_batches, "held-out batches per evaluation")
        ->check(integer_in(1, limits::kEvalBatches));
    app.add_option("--checkpoint-every", o.checkpoint_every, "steps between checkpoints (0: only at the end)")
        ->check(integer_in(0, limits::kSteps));
    app.add_option("--out", o.out, "output folder: log.csv, loss.svg, checkpoints/, result.json");
    app.add_flag("--resume", o.resume, "continue from the last checkpoint in --out");
    app.add_flag("--quiet", o.quiet, "no progress line and no sample predictions");
    app.add_flag("--distributed", o.distributed,
                 "one rank of an MPI job (mpirun -np N): data-parallel over the ranks, --batch is the global batch");
    try {
        app.parse(argc, argv);
    } catch (const CLI::CallForHelp& e) {
        return app.exit(e);
    } catch (const CLI::ParseError& e) {
        std::cerr << task << ": " << e.what() << "\nRun with --help for the flags and their defaults.\n";
        return 2;
    }
    take_unset_defaults(o, task, variant == "standard" ? "" : variant, app);
    try {
        validate(o);
    } catch (const std::invalid_argument& e) {
        std::cerr << task << ": " << e.what() << "\n";
        return 2;
    }
    return run_job(task.c_str(), o.distributed, argc, argv, [&] { run(o, std::cout); });
}

}  // namespace tapegrad::tasks
