// The example tasks: data generators follow the papers' definitions exactly,
// short training runs beat the trivial baselines clearly, --resume equals an
// uninterrupted run, and the CSV and JSON outputs parse.

#include <cmath>
#include <filesystem>
#include <fstream>
#include <sstream>

#include <nlohmann/json.hpp>

#include "tasks/data.hpp"
#include "tasks/flags.hpp"
#include "tasks/trainer.hpp"
#include "test_util.hpp"

namespace tg = tapegrad;
namespace tt = tapegrad::tasks;
namespace fs = std::filesystem;
using Catch::Matchers::Contains;

namespace {

fs::path scratch(const std::string& name) {
    const fs::path p = fs::temp_directory_path() / ("tapegrad_tasks_" + name);
    fs::remove_all(p);
    return p;
}

std::size_t count_lines_with(const std::string& text, const std::string& what) {
    std::istringstream in(text);
    std::size_t n = 0;
    for (std::string line; std::getline(in, line);) n += line.find(what) != std::string::npos;
    return n;
}

std::string read(const fs::path& p) {
    std::ifstream f(p);
    std::stringstream ss;
    ss << f.rdbuf();
    return ss.str();
}

// A copy-task run at T = 3 with RMSprop at 3e-3, evaluated once at its end;
// `variant` "" is the LSTM, "ntm" the NTM copy task.
tt::Options short_copy(const std::string& variant, std::size_t hidden, std::size_t batch, long steps) {
    tt::Options o = tt::defaults_for("copy", variant);
    o.T = 3;
    o.hidden = hidden;
    o.batch = batch;
    o.steps = steps;
    o.lr = 3e-3;
    o.optimizer = "rmsprop";
    o.eval_every = steps;
    o.quiet = true;
    return o;
}

}  // namespace

TEST_CASE("adding batches: one marker in each half, target the sum, values from U(0, 1)", "[tasks][data]") {
    tg::Generator gen(3);
    for (std::size_t T : {2, 7, 100}) {
        const tt::Batch b = tt::adding_batch(T, 64, gen);
        REQUIRE(b.x.shape() == std::vector<std::size_t>{T, 64, 2});
        REQUIRE(b.y.shape() == std::vector<std::size_t>{64, 1});
        for (std::size_t k = 0; k < 64; ++k) {
            std::size_t first_half = 0, second_half = 0;
            double sum = 0;
            for (std::size_t t = 0; t < T; ++t) {
                REQUIRE(b.x(t, k, 0) >= 0.0f);
                REQUIRE(b.x(t, k, 0) < 1.0f);
                REQUIRE((b.x(t, k, 1) == 0.0f || b.x(t, k, 1) == 1.0f));
                if (b.x(t, k, 1) == 1.0f) {
                    (t < T / 2 ? first_half : second_half) += 1;
                    sum += b.x(t, k, 0);
                }
            }
            REQUIRE(first_half == 1);
            REQUIRE(second_half == 1);
            REQUIRE(b.y(k, 0) == Approx(sum).epsilon(1e-6));
        }
    }
    // Predicting 1 always has MSE Var(U+U) = 1/6: check the formula and the data.
    REQUIRE(tt::adding_baseline() == Approx(1.0 / 6.0));
    const tt::Batch big = tt::adding_batch(10, 20000, gen);
    double mse = 0;
    for (float y : big.y) mse += (y - 1.0) * (y - 1.0) / 20000.0;
    REQUIRE(mse == Approx(1.0 / 6.0).epsilon(0.03));
    // Marker positions are uniform within each half: every position of a
    // 10-step half is used about equally often.
    std::vector<double> counts(10, 0);
    for (std::size_t k = 0; k < 20000; ++k)
        for (std::size_t t = 0; t < 10; ++t) counts[t] += big.x(t, k, 1);
    for (double c : counts) REQUIRE(c == Approx(4000.0).epsilon(0.08));
}

TEST_CASE("copy batches: 10 symbols, blanks, delimiter, and targets that repeat the input", "[tasks][data]") {
    tg::Generator gen(4);
    const std::size_t T = 7, B = 50, S = T + 20;
    const tt::Batch b = tt::copy_batch(T, B, gen);
    REQUIRE(b.x.shape() == std::vector<std::size_t>{S, B, 10});
    REQUIRE(b.targets.size() == S * B);
    auto input_class = [&](std::size_t t, std::size_t k) {
        int cls = -1, ones = 0;
        for (int c = 0; c < 10; ++c)
            if (b.x(t, k, c) == 1.0f) cls = c, ++ones;
        REQUIRE(ones == 1);
        return cls;
    };
    for (std::size_t k = 0; k < B; ++k) {
        for (std::size_t t = 0; t < S; ++t) {
            const int in = input_class(t, k);
            if (t < 10) REQUIRE(in < 8);
            else if (t == T + 9) REQUIRE(in == 9);
            else REQUIRE(in == 8);
            if (t < T + 10) REQUIRE(b.targets(t * B + k) == 8);
            else REQUIRE(b.targets(t * B + k) == input_class(t - T - 10, k));
        }
    }
    REQUIRE(tt::copy_baseline(100) == Approx(0.173).margin(5e-4));
    REQUIRE(tt::copy_baseline(200) == Approx(0.0945).margin(5e-4));
    REQUIRE(tt::copy_baseline(T) == Approx(10 * std::log(8.0) / 27));
}

TEST_CASE("NTM copy batches: L random 8-bit vectors, delimiter, then the same bits as targets", "[tasks][data]") {
    tg::Generator gen(5);
    const std::size_t Lmax = 6, B = 200;
    const tt::Batch b = tt::ntm_batch(Lmax, B, gen);
    REQUIRE(b.x.shape() == std::vector<std::size_t>{2 * Lmax + 1, B, 9});
    std::vector<int> seen(Lmax + 1, 0);
    for (std::size_t k = 0; k < B; ++k) {
        const auto L = static_cast<std::size_t>(b.lengths[k]);
        REQUIRE(L >= 1);
        REQUIRE(L <= Lmax);
        seen[L] = 1;
        for (std::size_t t = 0; t < 2 * Lmax + 1; ++t) {
            REQUIRE(b.x(t, k, 8) == (t == L ? 1.0f : 0.0f));
            for (std::size_t bit = 0; bit < 8; ++bit) {
                if (t >= L) REQUIRE(b.x(t, k, bit) == 0.0f);
                const bool scored = t > L && t <= 2 * L;
                REQUIRE(b.mask(t, k, bit) == (scored ? 1.0f : 0.0f));
                if (scored) REQUIRE(b.y(t, k, bit) == b.x(t - L - 1, k, bit));
            }
        }
    }
    for (std::size_t L = 1; L <= Lmax; ++L) REQUIRE(seen[L] == 1);
    REQUIRE(tt::ntm_baseline(20) == Approx(84.0));
}

TEST_CASE("short adding run with an LSTM beats the baseline clearly, and its outputs parse", "[tasks][smoke]") {
    const fs::path out = scratch("adding");
    tt::Options o = tt::defaults_for("adding");
    o.T = 10;
    o.hidden = 32;
    o.batch = 32;
    o.steps = 300;
    o.lr = 1e-2;
    o.optimizer = "adam";
    o.eval_every = 100;
    o.checkpoint_every = 100;
    o.out = out.string();
    o.quiet = true;
    std::ostringstream log;
    const tt::Result r = tt::run(o, log);
    INFO(log.str());
    REQUIRE(r.value < 0.2 * r.baseline);
    REQUIRE(r.steps == 300);

    const auto res = nlohmann::json::parse(read(out / "result.json"));
    for (const char* key : {"task", "variant", "cell", "T", "hidden", "steps", "seed", "metric", "value", "baseline", "wall_seconds"})
        REQUIRE(res.contains(key));
    REQUIRE(res["metric"] == "mse");
    REQUIRE(res["value"].get<double>() == r.value);
    std::istringstream csv(read(out / "log.csv"));
    std::string line;
    std::getline(csv, line);
    REQUIRE(line == "step,train_loss,eval_loss,mse,within_0.04,elapsed_seconds");
    int rows = 0;
    while (std::getline(csv, line)) {
        std::istringstream ls(line);
        std::string cell;
        int fields = 0;
        while (std::getline(ls, cell, ',')) {
            REQUIRE_NOTHROW(std::stod(cell));
            ++fields;
        }
        REQUIRE(fields == 6);
        ++rows;
    }
    REQUIRE(rows == 3);
    REQUIRE(read(out / "loss.svg").find("<svg") == 0);
    REQUIRE(fs::exists(out / "checkpoints" / "latest"));
    fs::remove_all(out);
}

// Runs in every build, so that the sanitizers see the copy task's and the
// NTM's code paths; the learning test below runs in plain builds only.
TEST_CASE("copy and NTM copy runs train a few steps and report their metrics", "[tasks][smoke]") {
    for (const std::string variant : {"", "ntm"}) {
        INFO("variant '" << variant << "'");
        std::ostringstream log;
        const tt::Result r = tt::run(short_copy(variant, 16, 4, 20), log);
        INFO(log.str());
        REQUIRE(r.steps == 20);
        REQUIRE(std::isfinite(r.value));
        REQUIRE(r.value > 0);
        REQUIRE(std::isfinite(r.baseline));
        REQUIRE(r.metric == (variant == "ntm" ? "bits" : "ce"));
    }
}

// [learning]: 3000 training steps, 12 s here and about 250 s instrumented,
// where they test nothing the short runs above do not; the sanitized builds
// leave this tag out (tests/CMakeLists.txt).
TEST_CASE("short copy and NTM copy runs beat their baselines clearly", "[tasks][smoke][learning]") {
    std::ostringstream log;
    const tt::Result r = tt::run(short_copy("", 64, 32, 2000), log);
    INFO(log.str());
    REQUIRE(r.value < 0.5 * r.baseline);
    REQUIRE(r.extra > 0.5);  // more than half of the recalled symbols right (chance: 1/8)

    const tt::Result rn = tt::run(short_copy("ntm", 64, 32, 1000), log);
    INFO(log.str());
    REQUIRE(rn.metric == "bits");
    REQUIRE(rn.value < 0.5 * rn.baseline);
}

TEST_CASE("resume continues exactly where a run stopped", "[tasks][resume]") {
    const fs::path a = scratch("straight"), b = scratch("resumed");
    tt::Options o = tt::defaults_for("adding");
    o.T = 8;
    o.hidden = 16;
    o.batch = 8;
    o.steps = 60;
    o.eval_every = 20;
    o.eval_batches = 2;
    o.checkpoint_every = 20;
    o.quiet = true;
    std::ostringstream log;
    o.out = a.string();
    const tt::Result straight = tt::run(o, log);

    tt::Options first = o;
    first.out = b.string();
    first.steps = 40;  // "interrupted" after the checkpoint at step 40
    tt::run(first, log);
    tt::Options rest = o;
    rest.out = b.string();
    rest.resume = true;
    const tt::Result resumed = tt::run(rest, log);
    REQUIRE(resumed.value == straight.value);
    REQUIRE(resumed.steps == 60);
    // The logs agree row for row except for the wall-clock column.
    auto strip_time = [](const std::string& csv) {
        std::istringstream in(csv);
        std::string line, out;
        while (std::getline(in, line)) out += line.substr(0, line.rfind(',')) + "\n";
        return out;
    };
    REQUIRE(strip_time(read(a / "log.csv")) == strip_time(read(b / "log.csv")));
    fs::remove_all(a);
    fs::remove_all(b);
}

TEST_CASE("bad options are refused before anything runs", "[tasks]") {
    tt::Options o = tt::defaults_for("adding");
    std::ostringstream log;
    o.cell = "transformer";
    REQUIRE_THROWS_AS(tt::run(o, log), std::invalid_argument);
    o = tt::defaults_for("adding");
    o.T = 1;
    REQUIRE_THROWS_AS(tt::run(o, log), std::invalid_argument);
    o = tt::defaults_for("adding");
    o.resume = true;
    REQUIRE_THROWS_AS(tt::run(o, log), std::invalid_argument);
}

TEST_CASE("progress line: held-out metric against the baseline, and the plateau while on it", "[tasks][progress]") {
    tt::Progress p;
    p.step = 1200;
    p.steps = 6000;
    p.loss = 0.16532;
    p.metric = "mse";
    p.eval = 0.1652;
    p.baseline = 1.0 / 6;
    p.extra_name = "within_0.04";
    p.extra = 0.06;
    p.elapsed = 31;
    p.eta = 116;
    p.plateau_steps = 4500;
    const std::string tty = tt::progress_line(p, true);
    REQUIRE(tty == "step 1200/6000  loss 0.1653  eval mse 0.1652 (baseline 0.1667)  ETA 1m56s  plateau: normal to ~4500");
    REQUIRE(tty.size() <= 100);
    REQUIRE(tt::progress_line(p, false) ==
            "step 1200/6000  train loss 0.1653  eval mse 0.1652 (baseline 0.1667)  within_0.04 0.06  (0m31s)  on the "
            "plateau: expected, with the defaults the loss usually leaves it near step 4500");
    SECTION("past the usual length") {
        p.step = 5000;
        REQUIRE(tt::progress_line(p, true).ends_with("  plateau: past usual ~4500"));
        REQUIRE(tt::progress_line(p, true).size() <= 100);
        REQUIRE(tt::progress_line(p, false).find("still on the plateau: with the defaults the loss usually leaves it near "
                                                 "step 4500") != std::string::npos);
    }
    SECTION("off the plateau, before any evaluation, or with none expected: no note") {
        p.eval = 0.05;
        REQUIRE(tt::progress_line(p, true) == "step 1200/6000  loss 0.1653  eval mse 0.05 (baseline 0.1667)  ETA 1m56s");
        p.eval = std::nan("");
        REQUIRE(tt::progress_line(p, true) == "step 1200/6000  loss 0.1653  ETA 1m56s");
        p.eval = 0.1652;
        p.plateau_steps = 0;
        REQUIRE(tt::progress_line(p, false).find("plateau") == std::string::npos);
    }
    REQUIRE(tt::on_plateau(0.16, 1.0 / 6));
    REQUIRE(tt::on_plateau(0.2, 1.0 / 6));  // above the baseline is on it too
    REQUIRE_FALSE(tt::on_plateau(0.1, 1.0 / 6));
    REQUIRE_FALSE(tt::on_plateau(std::nan(""), 1.0 / 6));
}

TEST_CASE("a run's plain progress lines carry the baseline and the plateau note", "[tasks][progress]") {
    REQUIRE(tt::defaults_for("adding").plateau_steps > 0);
    tt::Options o = tt::defaults_for("adding");
    o.T = 10;
    o.hidden = 16;
    o.batch = 8;
    o.steps = 20;
    o.eval_every = 10;
    o.eval_batches = 2;
    o.plateau_steps = 15;
    std::ostringstream log;  // not a terminal: one plain line per evaluation
    tt::run(o, log);
    INFO(log.str());
    REQUIRE(log.str().find("step 10/20  train loss ") != std::string::npos);
    REQUIRE(count_lines_with(log.str(), "(baseline 0.1667)") == 2);
    REQUIRE(log.str().find("on the plateau: expected, with the defaults the loss usually leaves it near step 15") !=
            std::string::npos);
    REQUIRE(log.str().find("still on the plateau") != std::string::npos);  // step 20 > 15
}

TEST_CASE("trainer --schedule cosine: step k of n trains at lr (1 + cos(pi (k - 1) / n)) / 2", "[tasks][schedule]") {
    // The lr the optimizer saved after the last step of a run of n steps.
    auto final_lr = [](const std::string& schedule, long steps) {
        const fs::path out = scratch("schedule");
        tt::Options o = tt::defaults_for("adding");
        o.T = 4, o.hidden = 4, o.batch = 2, o.steps = steps, o.eval_every = steps, o.eval_batches = 1;
        o.lr = 0.1, o.schedule = schedule, o.quiet = true, o.out = out.string();
        std::ostringstream log;
        tt::run(o, log);
        const auto state = tg::load_npz<double>((out / "checkpoints" / ("step-" + std::to_string(steps)) / "optimizer.npz").string());
        const double lr = state.at("group.0.lr")();
        fs::remove_all(out);
        return lr;
    };
    // Hand-computed: (1 + cos(3π/4))/2 = 0.1464466094, (1 + cos(π/2))/2 = 0.5,
    // (1 + cos(0))/2 = 1.
    CHECK(final_lr("cosine", 4) == Approx(0.1 * 0.1464466094).epsilon(1e-9));
    CHECK(final_lr("cosine", 2) == Approx(0.1 * 0.5).epsilon(1e-9));
    CHECK(final_lr("cosine", 1) == Approx(0.1).epsilon(1e-9));
    CHECK(final_lr("none", 4) == Approx(0.1).epsilon(1e-9));
}

TEST_CASE("trainer --schedule: an unknown schedule is refused, and a cosine run resumes only with its own --steps", "[tasks][schedule]") {
    tt::Options o = tt::defaults_for("adding");
    o.schedule = "linear";
    std::ostringstream log;
    CHECK_THROWS_WITH(tt::run(o, log), Contains("--schedule must be none or cosine, got 'linear'"));
    // The command line refuses it before anything runs: exit code 2.
    std::vector<std::string> args = {"adding", "--schedule", "step"};
    std::vector<char*> argv;
    for (std::string& a : args) argv.push_back(a.data());
    CHECK(tt::run_cli("adding", int(argv.size()), argv.data()) == 2);

    const fs::path out = scratch("cosine_resume");
    o = tt::defaults_for("adding");
    o.T = 4, o.hidden = 4, o.batch = 2, o.steps = 6, o.eval_every = 3, o.eval_batches = 1;
    o.schedule = "cosine", o.quiet = true, o.out = out.string();
    tt::run(o, log);
    o.resume = true;
    o.steps = 9;  // another horizon: every step's lr would change
    CHECK_THROWS_WITH(tt::run(o, log), Contains("other options") && Contains("cosine over 6 steps"));
    o.schedule = "none";  // the constant lr does not depend on --steps: resuming to 9 steps is fine
    fs::remove_all(out);
    o.resume = false;
    o.steps = 6;
    tt::run(o, log);
    o.resume = true;
    o.steps = 9;
    CHECK(tt::run(o, log).steps == 9);
    fs::remove_all(out);
}

TEST_CASE("defaults_for: Adam 3e-3 and norm clipping everywhere; the adding budget is 60 T steps", "[tasks][defaults]") {
    const tt::Options add = tt::defaults_for("adding");
    CHECK(add.T == 100);
    CHECK(add.steps == 6000);
    CHECK(add.optimizer == "adam");
    CHECK(add.lr == 3e-3);
    CHECK(add.clip == 1.0);
    CHECK(add.clip_mode == "norm");
    CHECK(add.schedule == "none");
    CHECK(add.forget_bias == 1.0);
    CHECK(tt::defaults_for("adding", "", 200).steps == 12000);
    CHECK(tt::defaults_for("adding", "", 2).steps == 120);
    // The largest T still gives a valid budget and a tape within the limit.
    const tt::Options longest = tt::defaults_for("adding", "", tt::limits::kT);
    CHECK(longest.steps == 60 * long(tt::limits::kT));
    CHECK_NOTHROW(tt::validate(longest));

    const tt::Options copy = tt::defaults_for("copy");
    CHECK(copy.T == 20);
    CHECK(copy.steps == 15000);
    CHECK(copy.forget_bias == 3.0);
    CHECK(copy.schedule == "none");
    CHECK(tt::defaults_for("copy", "", 10).T == 10);
    CHECK(tt::defaults_for("copy", "", 10).steps == 15000);

    const tt::Options ntm = tt::defaults_for("copy", "ntm");
    CHECK(ntm.T == 10);
    CHECK(ntm.steps == 20000);
    CHECK(ntm.schedule == "cosine");
    CHECK(ntm.forget_bias == 1.0);
}

TEST_CASE("the command line: flags left out take the chosen variant's defaults, given ones stay", "[tasks][defaults]") {
    const fs::path out = scratch("cli_defaults");
    std::vector<std::string> args = {"copy", "--variant", "ntm", "--steps", "0", "--hidden", "2", "--batch", "1",
                                     "--eval-batches", "1", "--quiet", "--out", out.string()};
    std::vector<char*> argv;
    for (std::string& a : args) argv.push_back(a.data());
    REQUIRE(tt::run_cli("copy", int(argv.size()), argv.data()) == 0);
    const auto res = nlohmann::json::parse(read(out / "result.json"));
    CHECK(res["variant"] == "ntm");
    CHECK(res["T"] == 10);                               // NTM's default L, not copy's delay 20
    CHECK(res["schedule"] == "cosine over 0 steps");     // NTM's schedule, over the given --steps
    CHECK(res["lr"].get<double>() == 3e-3);
    CHECK(res["hidden"] == 2);
    fs::remove_all(out);
}
