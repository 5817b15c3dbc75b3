// Regression tests for the smaller findings of issue 10 (section 4): pow's
// gradient at 0, binary cross-entropy at infinite logits, loss masks with bad
// weights, hostile optimizer state, custom-op gradients, the example trainer's
// atomic writes, options and doctored state.json. Checkpoint files (FIFOs,
// .npy header limit, temporary names) are in test_checkpoint.cpp.

#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <cmath>
#include <cstdint>
#include <filesystem>
#include <fstream>
#include <limits>
#include <sstream>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>
#include <xtensor/xmath.hpp>

#include <tapegrad/optim/optim.hpp>

#include "tasks/plot.hpp"
#include "tasks/trainer.hpp"
#include "test_util.hpp"

namespace tg = tapegrad;
namespace tt = tapegrad::tasks;
namespace fs = std::filesystem;
using Catch::Matchers::Contains;

namespace {

constexpr double kInf = std::numeric_limits<double>::infinity();
constexpr double kNaN = std::numeric_limits<double>::quiet_NaN();

using tgtest::thrown_message;

fs::path scratch(const std::string& name) {
    const fs::path p = fs::temp_directory_path() / ("tapegrad_safety_" + std::to_string(::getpid()) + "_" + name);
    fs::remove_all(p);
    fs::create_directories(p);
    return p;
}

std::vector<std::string> listing(const fs::path& dir) {
    std::vector<std::string> names;
    for (const auto& e : fs::directory_iterator(dir)) names.push_back(e.path().filename().string());
    std::sort(names.begin(), names.end());
    return names;
}

}  // namespace

// ---- pow ---------------------------------------------------------------------

TEMPLATE_TEST_CASE("pow's gradient at x = 0 follows PyTorch: p·x^(p−1), exactly 0 for p = 0", "[safety][pow]", float,
                   double) {
    using T = TestType;
    const T inf = std::numeric_limits<T>::infinity();
    // (p, d/dx x^p at x = 0): 0 → 0 (not 0·0^-1 = NaN), 1 → 1, 2 → 0, 0.5 → inf, −1 → −inf.
    const std::vector<std::pair<T, T>> cases = {{T(0), T(0)}, {T(1), T(1)}, {T(2), T(0)}, {T(0.5), inf}, {T(-1), -inf}};
    for (const auto& [p, expected] : cases) {
        INFO("p = " << p);
        tg::Tape<T> t;
        auto x = t.variable(tg::Tensor<T>{T(0), T(2)});
        t.backward(tg::sum(tg::pow(x, p)));
        CHECK(x.grad().data()[0] == expected);
        CHECK(x.grad().data()[1] == p * std::pow(T(2), p - T(1)));  // away from 0: unchanged
    }
}

// ---- binary cross-entropy and masks --------------------------------------------

TEST_CASE("binary_cross_entropy_with_logits is the limit at infinite logits, with finite gradients", "[safety][bce]") {
    // (x, z, loss): a confidently wrong logit loses inf (PyTorch: inf for (+inf, 0)),
    // a confidently right one loses 0.
    const std::vector<std::array<double, 3>> cases = {{kInf, 0, kInf}, {-kInf, 1, kInf}, {kInf, 1, 0}, {-kInf, 0, 0}};
    for (const auto& [x, z, loss] : cases) {
        INFO("x = " << x << ", z = " << z);
        tg::Tape<double> t;
        auto xs = t.variable(tg::Tensor<double>{x, 0.0});
        auto zs = t.constant(tg::Tensor<double>{z, 1.0});
        auto l = tg::binary_cross_entropy_with_logits(xs, zs);
        CHECK(l.item() == (loss + std::log(2.0) - 0.0) / 2);  // element 2: x = 0, z = 1 → ln 2
        t.backward(l);
        // dx = (σ(x) − z) / N: σ(+inf) = 1, σ(−inf) = 0.
        CHECK(xs.grad().data()[0] == ((x > 0 ? 1.0 : 0.0) - z) / 2);
    }
}

TEST_CASE("binary_cross_entropy_with_logits: a masked-out infinite logit counts for nothing", "[safety][bce]") {
    tg::Tape<double> t;
    auto x = t.variable(tg::Tensor<double>{kInf, 0.0});
    auto z = t.variable(tg::Tensor<double>{0.0, 1.0});
    auto l = tg::binary_cross_entropy_with_logits(x, z, tg::Tensor<double>{0.0, 1.0});
    CHECK(l.item() == std::log(2.0));
    t.backward(l);
    CHECK(x.grad().data()[0] == 0.0);
    CHECK(z.grad().data()[0] == 0.0);  // not 0 · inf = NaN
    CHECK(std::isfinite(z.grad().data()[1]));
}

TEST_CASE("loss masks with negative, infinite or NaN weights are refused, naming the op and element", "[safety][mask]") {
    for (const double bad : {-1.0, kInf, -kInf, kNaN}) {
        INFO("weight " << bad);
        tg::Tape<double> t;
        auto logits = t.variable(tg::Tensor<double>{{1.0, 2.0}, {0.5, -1.0}, {0.0, 0.0}});
        const auto before = t.size();
        const std::string ce = thrown_message<tg::ArgumentError>(
            [&] { tg::cross_entropy(logits, tg::Index{0, 1, 1}, tg::Tensor<double>{1.0, bad, 1.0}); });
        CHECK_THAT(ce, Contains("cross_entropy") && Contains("element 1"));
        auto x = t.variable(tg::Tensor<double>{0.5, 1.0, -2.0});
        auto z = t.constant(tg::Tensor<double>{0.0, 1.0, 1.0});
        const auto before_bce = t.size();
        const std::string bce = thrown_message<tg::ArgumentError>(
            [&] { tg::binary_cross_entropy_with_logits(x, z, tg::Tensor<double>{1.0, 1.0, bad}); });
        CHECK_THAT(bce, Contains("binary_cross_entropy_with_logits") && Contains("element 2"));
        CHECK(t.size() == before_bce);  // a throwing op records nothing
    }
    // Weights that are each fine but sum to infinity are refused too.
    tg::Tape<double> t;
    auto x = t.variable(tg::Tensor<double>{0.5, 1.0});
    auto z = t.constant(tg::Tensor<double>{0.0, 1.0});
    const double big = std::numeric_limits<double>::max();
    CHECK_THROWS_AS(tg::binary_cross_entropy_with_logits(x, z, tg::Tensor<double>{big, big}), tg::ArgumentError);
    // Zero and positive weights still work.
    CHECK(std::isfinite(tg::binary_cross_entropy_with_logits(x, z, tg::Tensor<double>{0.0, 2.0}).item()));
}

// ---- optimizer state values ------------------------------------------------------

namespace {

template <class T>
struct TwoParams {
    tg::Parameter<T> a{tg::Tensor<T>{T(0.5), T(-0.25), T(1)}, "a"};
    tg::Parameter<T> b{tg::Tensor<T>{{T(1), T(2)}, {T(3), T(4)}}, "b"};
    std::vector<tg::Parameter<T>*> ptrs() { return {&a, &b}; }
    void set_grads(T scale) {
        for (tg::Parameter<T>* p : ptrs())
            for (std::size_t j = 0; j < p->size(); ++j) p->mutable_grad().data()[j] = scale * T(j + 1);
    }
};

// Steps twice so that every buffer holds values, then requires that each
// doctored copy of its state is refused with a message containing `needle`s
// and that the optimizer's state is left exactly as it was.
template <class T>
void require_hostile_states_refused(tg::Optimizer<T>& opt, TwoParams<T>& ps, const std::vector<std::string>& nonnegative_keys) {
    ps.set_grads(T(1));
    opt.step();
    ps.set_grads(T(-0.5));
    opt.step();
    const tg::StateDict good = opt.state_dict();
    auto refused = [&](tg::StateDict bad, const std::vector<std::string>& needles) {
        const std::string m = thrown_message<tg::ArgumentError>([&] { opt.load_state_dict(bad); });
        INFO(m);
        for (const auto& n : needles) CHECK_THAT(m, Contains(n));
        const tg::StateDict now = opt.state_dict();
        REQUIRE(now.size() == good.size());
        for (const auto& [k, v] : good) {
            INFO(k);
            const tg::Tensor<double>& w = now.at(k);
            REQUIRE(w.size() == v.size());
            for (std::size_t j = 0; j < v.size(); ++j) CHECK(w.data()[j] == v.data()[j]);
        }
    };
    for (const auto& [key, value] : good) {
        if (key == "step" || value.size() < 2) continue;  // "group.0.params" is refused by element too
        for (const double bad : {kNaN, kInf, -kInf}) {
            tg::StateDict s = good;
            s[key].data()[1] = bad;
            refused(s, {"'" + key + "'", "element 1"});
        }
    }
    for (const std::string& key : nonnegative_keys) {
        tg::StateDict s = good;
        s[key].data()[0] = -1e-3;
        refused(s, {"'" + key + "'", "element 0", ">= 0"});
    }
    for (const double lr : {-1.0, kNaN, kInf}) {
        tg::StateDict s = good;
        s.at("group.0.lr").data()[0] = lr;
        refused(s, {"'group.0.lr'"});
    }
    for (const double step : {-5.0, 2.5, 9007199254740992.0, 9.2233720368547758e18, kNaN}) {
        tg::StateDict s = good;
        s["step"].data()[0] = step;
        refused(s, {"'step'"});
    }
    // The untouched state still loads.
    opt.load_state_dict(good);
}

}  // namespace

TEST_CASE("hostile optimizer state is refused by value, naming the key and element, changing nothing", "[safety][optim]") {
    SECTION("Adam with AMSGrad") {
        TwoParams<float> ps;
        tg::Adam<float> opt(ps.ptrs(), {.lr = 0.01, .amsgrad = true});
        require_hostile_states_refused(opt, ps, {"0.exp_avg_sq", "1.max_exp_avg_sq"});
    }
    SECTION("AdamW") {
        TwoParams<double> ps;
        tg::AdamW<double> opt(ps.ptrs(), {.lr = 0.01});
        require_hostile_states_refused(opt, ps, {"1.exp_avg_sq"});
    }
    SECTION("SGD with momentum") {
        TwoParams<float> ps;
        tg::SGD<float> opt(ps.ptrs(), {.lr = 0.1, .momentum = 0.9});
        require_hostile_states_refused(opt, ps, {});
    }
    SECTION("RMSprop, centred, with momentum") {
        TwoParams<float> ps;
        tg::RMSprop<float> opt(ps.ptrs(), {.lr = 0.01, .momentum = 0.5, .centered = true});
        require_hostile_states_refused(opt, ps, {"0.square_avg"});
    }
    SECTION("Adagrad") {
        TwoParams<double> ps;
        tg::Adagrad<double> opt(ps.ptrs(), {.lr = 0.1});
        require_hostile_states_refused(opt, ps, {"1.sum"});
    }
}

TEST_CASE("an lr beyond the parameter type's range is refused: 1e300 would be inf in a float step", "[safety][optim]") {
    TwoParams<float> ps;
    tg::Adam<float> opt(ps.ptrs(), {.lr = 0.01});
    tg::StateDict s = opt.state_dict();
    s.at("group.0.lr").data()[0] = 1e300;
    CHECK_THROWS_WITH(opt.load_state_dict(s), Contains("'group.0.lr'") && Contains("1e+300"));
    CHECK(opt.lr() == 0.01);
    CHECK_THROWS_AS(opt.set_lr(1e300), tg::ArgumentError);
    CHECK_THROWS_AS(tg::SGD<float>(ps.ptrs(), {.lr = 1e39}), tg::ArgumentError);
    // A buffer value beyond float's range would load as inf.
    ps.set_grads(1.0f);
    opt.step();
    s = opt.state_dict();
    s["0.exp_avg"].data()[2] = 1e39;
    CHECK_THROWS_WITH(opt.load_state_dict(s), Contains("'0.exp_avg'") && Contains("element 2"));
    // In double the same lr is representable (and the caller's business).
    TwoParams<double> pd;
    tg::SGD<double> sgd(pd.ptrs(), {.lr = 0.1});
    tg::StateDict sd = sgd.state_dict();
    sd.at("group.0.lr").data()[0] = 1e300;
    sgd.load_state_dict(sd);
    CHECK(sgd.lr() == 1e300);
}

// ---- custom_op ---------------------------------------------------------------------

namespace {

struct ReturnsNumber {
    double operator()(const tg::CustomInputs<double>&, const tg::Tensor<double>&, const tg::Tensor<double>&) const { return 1; }
};
struct ReturnsNumbers {
    std::vector<double> operator()(const tg::CustomInputs<double>&, const tg::Tensor<double>&, const tg::Tensor<double>&) const {
        return {1, 2};
    }
};
struct ReturnsList {
    std::vector<tg::Tensor<double>> operator()(const tg::CustomInputs<double>&, const tg::Tensor<double>&,
                                               const tg::Tensor<double>& g) const {
        return {g};
    }
};
struct ReturnsTensor {
    tg::Tensor<double> operator()(const tg::CustomInputs<double>&, const tg::Tensor<double>&, const tg::Tensor<double>& g) const {
        return g;
    }
};

}  // namespace

// A backward returning numbers used to compile and fail at run time with
// "backward returned 6 gradients for 1 inputs"; now it does not compile.
static_assert(!tg::CustomBackward<ReturnsNumber, double>);
static_assert(!tg::CustomBackward<ReturnsNumbers, double>);
static_assert(tg::CustomBackward<ReturnsList, double>);
static_assert(tg::CustomBackward<ReturnsTensor, double>);

TEST_CASE("custom_op: an empty tensor means no gradient for that input", "[safety][custom]") {
    for (const bool default_constructed : {true, false}) {
        INFO((default_constructed ? "Tensor<double>()" : "from_shape({0})"));
        tg::Tape<double> t;
        auto x = t.variable(tg::Tensor<double>{1.0, 2.0});
        auto y = t.variable(tg::Tensor<double>{3.0, 4.0});
        auto out = tg::custom_op(
            "scale_by_y", {x, y}, [](const auto& in) { return tg::Tensor<double>(in[0] * in[1]); },
            [default_constructed](const auto& in, const auto&, const auto& g) {
                const tg::Tensor<double> none =
                    default_constructed ? tg::Tensor<double>() : tg::Tensor<double>::from_shape({0});
                return std::vector<tg::Tensor<double>>{g * in[1], none};  // y treated as a constant
            });
        t.backward(tg::sum(out));
        tgtest::require_close(x.grad(), tg::Tensor<double>{3.0, 4.0});
        tgtest::require_close(y.grad(), tg::Tensor<double>{0.0, 0.0});  // none reached y
    }
}

TEST_CASE("custom_op: a 0-d non-zero gradient for a vector input is still a shape error", "[safety][custom]") {
    tg::Tape<double> t;
    auto x = t.variable(tg::Tensor<double>{1.0, 2.0});
    auto out = tg::custom_op(
        "reduced", {x}, [](const auto& in) { return tg::Tensor<double>(in[0]); },
        [](const auto&, const auto&, const auto& g) { return std::vector<tg::Tensor<double>>{tg::Tensor<double>(xt::sum(g)())}; });
    CHECK_THROWS_AS(t.backward(tg::sum(out)), tg::ShapeError);
}

TEST_CASE("custom_op: a backward may return the single input's gradient alone", "[safety][custom]") {
    tg::Tape<double> t;
    auto x = t.variable(tg::Tensor<double>{1.0, -2.0});
    auto twice = tg::custom_op(
        "twice", {x}, [](const auto& in) { return 2.0 * in[0]; }, [](const auto&, const auto&, const auto& g) { return 2.0 * g; });
    auto same = tg::custom_op("identity", {twice}, [](const auto& in) { return tg::Tensor<double>(in[0]); }, ReturnsTensor{});
    t.backward(tg::sum(same));
    tgtest::require_close(x.grad(), tg::Tensor<double>{2.0, 2.0});
    // With two inputs a single gradient is a count error, with a hint.
    tg::Tape<double> t2;
    auto a = t2.variable(tg::Tensor<double>{1.0});
    auto b = t2.variable(tg::Tensor<double>{1.0});
    auto both = tg::custom_op("both", {a, b}, [](const auto& in) { return tg::Tensor<double>(in[0] + in[1]); }, ReturnsTensor{});
    CHECK_THROWS_WITH(t2.backward(tg::sum(both)), Contains("'both'") && Contains("1 gradients for 2 inputs") &&
                                                       Contains("in a list"));
}

// ---- the example trainer -----------------------------------------------------------

TEST_CASE("write_file_atomic: a 255-character name works; a failed write leaves no temporary", "[safety][tasks]") {
    const fs::path dir = scratch("atomic");
    const std::string name(255, 'n');
    tt::write_file_atomic((dir / name).string(), "hello\n");
    std::ifstream in(dir / name);
    std::string line;
    std::getline(in, line);
    CHECK(line == "hello");
    CHECK(listing(dir) == std::vector<std::string>{name});
    // Over a non-empty folder: the rename fails, and the temporary goes.
    fs::create_directories(dir / "folder" / "inside");
    CHECK_THROWS_AS(tt::write_file_atomic((dir / "folder").string(), "x"), std::runtime_error);
    CHECK(listing(dir) == std::vector<std::string>{"folder", name});
    fs::remove_all(dir);
}

TEST_CASE("trainer options out of range are refused, alone or together", "[safety][tasks]") {
    auto refused = [](tt::Options o, const char* flag) {
        std::ostringstream log;
        CHECK_THROWS_WITH(tt::run(o, log), Contains(flag));
    };
    const tt::Options d = tt::defaults_for("adding");
    tt::Options o = d;
    o.forget_bias = kNaN;
    refused(o, "--forget-bias");
    o = d;
    o.hidden = std::size_t(1e12);
    refused(o, "--hidden");
    o = d;
    o.T = 4294967296u;
    refused(o, "--T");
    o = d;
    o.eval_batches = std::size_t(1e18);
    refused(o, "--eval-batches");
    o = d;
    o.lr = kInf;
    refused(o, "--lr");
    o = d;
    o.T = 100000, o.batch = 4096, o.hidden = 4096;
    refused(o, "--hidden and --layers");
}

namespace {

// A finished tiny run in `dir`, with its final checkpoint.
tt::Options tiny_run(const fs::path& dir) {
    tt::Options o = tt::defaults_for("adding");
    o.T = 4, o.hidden = 4, o.batch = 2, o.steps = 6, o.eval_every = 3, o.eval_batches = 1, o.checkpoint_every = 3;
    o.quiet = true;
    o.out = dir.string();
    std::ostringstream log;
    tt::run(o, log);
    return o;
}

}  // namespace

TEST_CASE("a doctored state.json is refused on --resume, naming the file and the field", "[safety][tasks][resume]") {
    const fs::path dir = scratch("state");
    tt::Options o = tiny_run(dir);
    const fs::path file = dir / "checkpoints" / "step-6" / "state.json";
    nlohmann::json good;
    std::ifstream(file) >> good;
    o.resume = true;
    o.steps = 9;
    auto refused = [&](const nlohmann::json& st, const std::string& field) {
        std::ofstream(file) << st.dump(1);
        std::ostringstream log;
        const std::string m = thrown_message<std::runtime_error>([&] { tt::run(o, log); });
        INFO(m);
        CHECK_THAT(m, Contains(file.string()) && Contains("'" + field + "'"));
    };
    nlohmann::json st = good;
    st["step"] = -5;
    refused(st, "step");
    st["step"] = std::numeric_limits<std::int64_t>::max();
    refused(st, "step");
    st["step"] = std::numeric_limits<std::uint64_t>::max();
    refused(st, "step");
    st["step"] = 5.5;
    refused(st, "step");
    st["step"] = "6";
    refused(st, "step");
    st["step"] = 5;  // grad_norms holds one pair per step: 6
    refused(st, "grad_norms");
    st = good;
    st.erase("wall");
    refused(st, "wall");
    st = good;
    st["window_count"] = 7;  // more than the steps taken
    refused(st, "window_count");
    st = good;
    st["rows"][1][0] = 2;  // out of order
    refused(st, "rows");
    // The intact file resumes.
    std::ofstream(file) << good.dump(1);
    std::ostringstream log;
    CHECK(tt::run(o, log).steps == 9);
    // checkpoints/latest must name a checkpoint folder, nothing else.
    std::ofstream(dir / "checkpoints" / "latest") << "../../elsewhere\n";
    CHECK_THROWS_WITH(tt::run(o, log), Contains("latest") && Contains("does not name a checkpoint"));
    fs::remove_all(dir);
}

// Found by the op table's zero-size rows under UBSan: backward from a
// zero-element output with its (zero-element) seed copied the seed with
// memcpy from a null pointer.
TEST_CASE("backward from a zero-element output with a zero-element seed gives zero-size gradients", "[safety]") {
    tg::Tape<double> t;
    const auto x = t.variable(tg::Tensor<double>::from_shape({0, 3}));
    const auto y = tg::exp(x);
    t.backward(y, tg::Tensor<double>::from_shape({0, 3}));
    CHECK(x.grad().size() == 0);
    CHECK(x.grad().shape()[1] == 3);
}
