// Optimizers against scalar references written from the PyTorch documentation's
// update formulas, state save/restore, learning-rate schedules and gradient
// clipping.

#include "optim_checks.hpp"

#include <tapegrad/optim/optim.hpp>

#include <bit>
#include <cmath>
#include <memory>
#include <vector>
#include <cstring>
#include <functional>
#include <initializer_list>
#include <limits>
#include <numbers>

namespace tg = tapegrad;

namespace {

// ---- fixed inputs ----------------------------------------------------------------

// Two parameters of different shapes, values in [0.3, 1.3] (away from 0, so a
// relative tolerance is meaningful).
const std::vector<tg::Shape> kShapes = {{2, 3}, {4}};

double initial_value(std::size_t k, std::size_t j) { return 0.8 + 0.5 * std::sin(1.3 * double(j) + 0.7 + double(k)); }

// Gradients change sign and shrink after the first step, so that momentum,
// dampening, the AMSGrad maximum and the centred variance all matter.
double gradient(int step, std::size_t k, std::size_t j) {
    static const double scale[] = {1.5, 0.3, -0.7};
    return scale[step % 3] * std::sin(0.9 * double(j) + 0.4 + 2.0 * double(k)) + 0.05 * step;
}

template <class T>
struct Setup {
    std::vector<tg::Parameter<T>> params;
    std::vector<tg::Parameter<T>*> ptrs;

    Setup() {
        params.reserve(kShapes.size());  // the pointers below must stay valid
        for (std::size_t k = 0; k < kShapes.size(); ++k) {
            tg::Tensor<T> v = tg::Tensor<T>::from_shape(kShapes[k]);
            for (std::size_t j = 0; j < v.size(); ++j) v.data()[j] = T(initial_value(k, j));
            std::string name = "p";  // not "p" + to_string(k): GCC 12's false -Wstringop-overflow (bug 105651)
            name += std::to_string(k);
            params.emplace_back(v, name);
        }
        for (auto& p : params) ptrs.push_back(&p);
    }
    Setup(const Setup&) = delete;

    void set_grads(int step) {
        for (std::size_t k = 0; k < params.size(); ++k)
            for (std::size_t j = 0; j < params[k].size(); ++j)
                params[k].mutable_grad().data()[j] = T(gradient(step, k, j));
    }
};

// ---- scalar references, one object per element, from the docs' algorithms --------

struct SGDRef {
    tg::SGDOptions o;
    double b = 0;
    explicit SGDRef(const tg::SGDOptions& opts) : o(opts) {}
    void update(double& p, double g, int t) {
        if (o.weight_decay != 0) g += o.weight_decay * p;
        if (o.momentum != 0) {
            b = t > 1 ? o.momentum * b + (1 - o.dampening) * g : g;
            g = o.nesterov ? g + o.momentum * b : b;
        }
        p -= o.lr * g;
    }
};

struct AdamRef {
    double lr, beta1, beta2, eps, weight_decay;
    bool amsgrad, decoupled;
    double m = 0, v = 0, v_max = 0;
    explicit AdamRef(const tg::AdamOptions& o)
        : lr(o.lr),
          beta1(o.beta1),
          beta2(o.beta2),
          eps(o.eps),
          weight_decay(o.weight_decay),
          amsgrad(o.amsgrad),
          decoupled(false) {}
    explicit AdamRef(const tg::AdamWOptions& o)
        : lr(o.lr),
          beta1(o.beta1),
          beta2(o.beta2),
          eps(o.eps),
          weight_decay(o.weight_decay),
          amsgrad(o.amsgrad),
          decoupled(true) {}
    void update(double& p, double g, int t) {
        if (decoupled)
            p -= lr * weight_decay * p;
        else if (weight_decay != 0)
            g += weight_decay * p;
        m = beta1 * m + (1 - beta1) * g;
        v = beta2 * v + (1 - beta2) * g * g;
        const double m_hat = m / (1 - std::pow(beta1, t));
        // AMSGrad keeps the maximum of the raw second moment and bias-corrects it
        // with the current step, as PyTorch implements it (the 1.13 docs'
        // pseudo-code takes the maximum of the corrected v̂ instead).
        v_max = std::max(v_max, v);
        const double v_hat = (amsgrad ? v_max : v) / (1 - std::pow(beta2, t));
        p -= lr * m_hat / (std::sqrt(v_hat) + eps);
    }
};

struct RMSpropRef {
    tg::RMSpropOptions o;
    double v = 0, g_ave = 0, b = 0;
    explicit RMSpropRef(const tg::RMSpropOptions& opts) : o(opts) {}
    void update(double& p, double g, int) {
        if (o.weight_decay != 0) g += o.weight_decay * p;
        v = o.alpha * v + (1 - o.alpha) * g * g;
        double v_tilde = v;
        if (o.centered) {
            g_ave = o.alpha * g_ave + (1 - o.alpha) * g;
            v_tilde -= g_ave * g_ave;
        }
        if (o.momentum > 0) {
            b = o.momentum * b + g / (std::sqrt(v_tilde) + o.eps);
            p -= o.lr * b;
        } else {
            p -= o.lr * g / (std::sqrt(v_tilde) + o.eps);
        }
    }
};

struct AdagradRef {
    tg::AdagradOptions o;
    double sum;
    explicit AdagradRef(const tg::AdagradOptions& opts) : o(opts), sum(opts.initial_accumulator_value) {}
    void update(double& p, double g, int t) {
        const double lr_t = o.lr / (1 + (t - 1) * o.lr_decay);
        if (o.weight_decay != 0) g += o.weight_decay * p;
        sum += g * g;
        p -= lr_t * g / (std::sqrt(sum) + o.eps);
    }
};

// Parameter values after `steps` reference steps, flattened per parameter. The
// inputs are rounded to T first, so a float optimizer is compared from the same
// starting point.
template <class Ref, class T, class Options>
std::vector<std::vector<double>> reference_run(const Options& options, int steps) {
    std::vector<std::vector<double>> out;
    for (std::size_t k = 0; k < kShapes.size(); ++k) {
        std::vector<double> p(tg::shape_size(kShapes[k]));
        for (std::size_t j = 0; j < p.size(); ++j) {
            p[j] = double(T(initial_value(k, j)));
            Ref r(options);
            for (int t = 1; t <= steps; ++t) r.update(p[j], double(T(gradient(t - 1, k, j))), t);
        }
        out.push_back(std::move(p));
    }
    return out;
}

// Steps the optimizer 3 times with fixed gradients and compares every
// parameter with the reference after each step, |actual − expected| ≤ rtol·|expected|.
template <template <class> class Opt, class Ref, class T, class Options>
void check_against_reference(const Options& options, double rtol) {
    Setup<T> s;
    Opt<T> opt(s.ptrs, options);
    for (int t = 1; t <= 3; ++t) {
        s.set_grads(t - 1);
        opt.step();
        REQUIRE(opt.steps() == t);
        const auto expected = reference_run<Ref, T>(options, t);
        for (std::size_t k = 0; k < s.params.size(); ++k)
            for (std::size_t j = 0; j < s.params[k].size(); ++j) {
                const double a = double(s.params[k].value().data()[j]), e = expected[k][j];
                INFO("step " << t << ", parameter " << k << ", element " << j << ": actual " << a << ", expected "
                             << e);
                REQUIRE(std::abs(a - e) <= rtol * std::abs(e));
            }
    }
}

// Guards the option tests themselves: the option under test changes the result
// by far more than the tolerance, so an implementation ignoring it fails.
template <class Ref, class O1, class O2>
void require_option_matters(const O1& with, const O2& without) {
    const auto a = reference_run<Ref, double>(with, 3), b = reference_run<Ref, double>(without, 3);
    double diff = 0;
    for (std::size_t k = 0; k < a.size(); ++k)
        for (std::size_t j = 0; j < a[k].size(); ++j) diff = std::max(diff, std::abs(a[k][j] - b[k][j]));
    REQUIRE(diff > 1e-6);
}

using tgtest::bitwise_equal;
using tgtest::require_argument_error;
using tgtest::require_same_state;
using tgtest::scalar;

}  // namespace

// ---- update rules against the references (double, 1e-12 relative) ---------------------

TEST_CASE("option structs default to PyTorch's defaults", "[optim]") {
    const tg::SGDOptions sgd;
    REQUIRE(std::isnan(sgd.lr));  // required
    REQUIRE(sgd.momentum == 0);
    REQUIRE(sgd.dampening == 0);
    REQUIRE(sgd.weight_decay == 0);
    REQUIRE_FALSE(sgd.nesterov);
    const tg::AdamOptions adam;
    REQUIRE(adam.lr == 1e-3);
    REQUIRE(adam.beta1 == 0.9);
    REQUIRE(adam.beta2 == 0.999);
    REQUIRE(adam.eps == 1e-8);
    REQUIRE(adam.weight_decay == 0);
    REQUIRE_FALSE(adam.amsgrad);
    const tg::AdamWOptions adamw;
    REQUIRE(adamw.lr == 1e-3);
    REQUIRE(adamw.beta1 == 0.9);
    REQUIRE(adamw.beta2 == 0.999);
    REQUIRE(adamw.eps == 1e-8);
    REQUIRE(adamw.weight_decay == 1e-2);
    REQUIRE_FALSE(adamw.amsgrad);
    const tg::RMSpropOptions rms;
    REQUIRE(rms.lr == 1e-2);
    REQUIRE(rms.alpha == 0.99);
    REQUIRE(rms.eps == 1e-8);
    REQUIRE(rms.weight_decay == 0);
    REQUIRE(rms.momentum == 0);
    REQUIRE_FALSE(rms.centered);
    const tg::AdagradOptions ada;
    REQUIRE(ada.lr == 1e-2);
    REQUIRE(ada.lr_decay == 0);
    REQUIRE(ada.weight_decay == 0);
    REQUIRE(ada.initial_accumulator_value == 0);
    REQUIRE(ada.eps == 1e-10);
}

TEST_CASE("SGD matches the reference for every option", "[optim]") {
    const tg::SGDOptions plain{.lr = 0.1};
    const tg::SGDOptions momentum{.lr = 0.1, .momentum = 0.9};
    SECTION("plain") { check_against_reference<tg::SGD, SGDRef, double>(plain, 1e-12); }
    SECTION("momentum") {
        require_option_matters<SGDRef>(momentum, plain);
        check_against_reference<tg::SGD, SGDRef, double>(momentum, 1e-12);
    }
    SECTION("momentum with dampening") {
        const tg::SGDOptions o{.lr = 0.1, .momentum = 0.9, .dampening = 0.3};
        require_option_matters<SGDRef>(o, momentum);
        check_against_reference<tg::SGD, SGDRef, double>(o, 1e-12);
    }
    SECTION("nesterov") {
        const tg::SGDOptions o{.lr = 0.1, .momentum = 0.9, .nesterov = true};
        require_option_matters<SGDRef>(o, momentum);
        check_against_reference<tg::SGD, SGDRef, double>(o, 1e-12);
    }
    SECTION("weight decay") {
        const tg::SGDOptions o{.lr = 0.1, .weight_decay = 0.05};
        require_option_matters<SGDRef>(o, plain);
        check_against_reference<tg::SGD, SGDRef, double>(o, 1e-12);
    }
    SECTION("everything at once") {
        check_against_reference<tg::SGD, SGDRef, double>(
            tg::SGDOptions{.lr = 0.05, .momentum = 0.8, .weight_decay = 0.1, .nesterov = true}, 1e-12);
        check_against_reference<tg::SGD, SGDRef, double>(
            tg::SGDOptions{.lr = 0.05, .momentum = 0.8, .dampening = 0.5, .weight_decay = 0.1}, 1e-12);
    }
}

TEST_CASE("Adam matches the reference for every option", "[optim]") {
    const tg::AdamOptions custom{.lr = 0.05, .beta1 = 0.8, .beta2 = 0.9, .eps = 1e-3};
    SECTION("defaults") { check_against_reference<tg::Adam, AdamRef, double>(tg::AdamOptions{}, 1e-12); }
    SECTION("non-default betas and eps") {
        require_option_matters<AdamRef>(custom, tg::AdamOptions{.lr = 0.05});
        check_against_reference<tg::Adam, AdamRef, double>(custom, 1e-12);
    }
    SECTION("amsgrad") {
        tg::AdamOptions o = custom;
        o.amsgrad = true;
        require_option_matters<AdamRef>(o, custom);
        check_against_reference<tg::Adam, AdamRef, double>(o, 1e-12);
    }
    SECTION("weight decay") {
        tg::AdamOptions o = custom;
        o.weight_decay = 0.1;
        require_option_matters<AdamRef>(o, custom);
        check_against_reference<tg::Adam, AdamRef, double>(o, 1e-12);
        o.amsgrad = true;
        check_against_reference<tg::Adam, AdamRef, double>(o, 1e-12);
    }
}

TEST_CASE("AdamW matches the reference (decoupled weight decay)", "[optim]") {
    const tg::AdamWOptions o{.lr = 0.05, .beta1 = 0.8, .beta2 = 0.9, .eps = 1e-3, .weight_decay = 0.1};
    // Decoupled decay is not the same as Adam's L2 term.
    require_option_matters<AdamRef>(
        o, tg::AdamOptions{.lr = 0.05, .beta1 = 0.8, .beta2 = 0.9, .eps = 1e-3, .weight_decay = 0.1});
    require_option_matters<AdamRef>(
        o, tg::AdamWOptions{.lr = 0.05, .beta1 = 0.8, .beta2 = 0.9, .eps = 1e-3, .weight_decay = 0});
    SECTION("defaults") { check_against_reference<tg::AdamW, AdamRef, double>(tg::AdamWOptions{}, 1e-12); }
    SECTION("weight decay") { check_against_reference<tg::AdamW, AdamRef, double>(o, 1e-12); }
    SECTION("amsgrad") {
        tg::AdamWOptions a = o;
        a.amsgrad = true;
        require_option_matters<AdamRef>(a, o);
        check_against_reference<tg::AdamW, AdamRef, double>(a, 1e-12);
    }
}

TEST_CASE("RMSprop matches the reference for every option", "[optim]") {
    const tg::RMSpropOptions plain{.lr = 0.01, .alpha = 0.9};
    SECTION("defaults") { check_against_reference<tg::RMSprop, RMSpropRef, double>(tg::RMSpropOptions{}, 1e-12); }
    SECTION("plain") { check_against_reference<tg::RMSprop, RMSpropRef, double>(plain, 1e-12); }
    SECTION("eps") {
        const tg::RMSpropOptions o{.lr = 0.01, .alpha = 0.9, .eps = 1e-2};
        require_option_matters<RMSpropRef>(o, plain);
        check_against_reference<tg::RMSprop, RMSpropRef, double>(o, 1e-12);
    }
    SECTION("momentum") {
        const tg::RMSpropOptions o{.lr = 0.01, .alpha = 0.9, .momentum = 0.5};
        require_option_matters<RMSpropRef>(o, plain);
        check_against_reference<tg::RMSprop, RMSpropRef, double>(o, 1e-12);
    }
    SECTION("centered") {
        const tg::RMSpropOptions o{.lr = 0.01, .alpha = 0.9, .centered = true};
        require_option_matters<RMSpropRef>(o, plain);
        check_against_reference<tg::RMSprop, RMSpropRef, double>(o, 1e-12);
    }
    SECTION("weight decay") {
        const tg::RMSpropOptions o{.lr = 0.01, .alpha = 0.9, .weight_decay = 0.1};
        require_option_matters<RMSpropRef>(o, plain);
        check_against_reference<tg::RMSprop, RMSpropRef, double>(o, 1e-12);
    }
    SECTION("everything at once") {
        check_against_reference<tg::RMSprop, RMSpropRef, double>(
            tg::RMSpropOptions{
                .lr = 0.01, .alpha = 0.9, .eps = 1e-3, .weight_decay = 0.1, .momentum = 0.5, .centered = true},
            1e-12);
    }
}

TEST_CASE("Adagrad matches the reference for every option", "[optim]") {
    const tg::AdagradOptions plain{.lr = 0.1};
    SECTION("plain") { check_against_reference<tg::Adagrad, AdagradRef, double>(plain, 1e-12); }
    SECTION("lr decay") {
        const tg::AdagradOptions o{.lr = 0.1, .lr_decay = 0.5};
        require_option_matters<AdagradRef>(o, plain);
        check_against_reference<tg::Adagrad, AdagradRef, double>(o, 1e-12);
    }
    SECTION("weight decay") {
        const tg::AdagradOptions o{.lr = 0.1, .weight_decay = 0.1};
        require_option_matters<AdagradRef>(o, plain);
        check_against_reference<tg::Adagrad, AdagradRef, double>(o, 1e-12);
    }
    SECTION("initial accumulator") {
        const tg::AdagradOptions o{.lr = 0.1, .initial_accumulator_value = 0.5};
        require_option_matters<AdagradRef>(o, plain);
        check_against_reference<tg::Adagrad, AdagradRef, double>(o, 1e-12);
    }
    SECTION("everything at once") {
        check_against_reference<tg::Adagrad, AdagradRef, double>(
            tg::AdagradOptions{
                .lr = 0.1, .lr_decay = 0.5, .weight_decay = 0.1, .initial_accumulator_value = 0.5, .eps = 1e-3},
            1e-12);
    }
}

TEST_CASE("float optimizers follow the double reference to float precision", "[optim]") {
    // float arithmetic throughout: ~1e-7 per operation, a few operations per step.
    const double rtol = 1e-5;
    check_against_reference<tg::SGD, SGDRef, float>(
        tg::SGDOptions{.lr = 0.05, .momentum = 0.8, .weight_decay = 0.1, .nesterov = true}, rtol);
    check_against_reference<tg::Adam, AdamRef, float>(
        tg::AdamOptions{.lr = 0.05, .beta1 = 0.8, .beta2 = 0.9, .weight_decay = 0.1, .amsgrad = true}, rtol);
    check_against_reference<tg::AdamW, AdamRef, float>(tg::AdamWOptions{.lr = 0.05, .weight_decay = 0.1}, rtol);
    check_against_reference<tg::RMSprop, RMSpropRef, float>(
        tg::RMSpropOptions{.lr = 0.01, .alpha = 0.9, .weight_decay = 0.1, .momentum = 0.5, .centered = true}, rtol);
    check_against_reference<tg::Adagrad, AdagradRef, float>(
        tg::AdagradOptions{.lr = 0.1, .lr_decay = 0.5, .weight_decay = 0.1, .initial_accumulator_value = 0.5}, rtol);
}

// ---- state_dict / load_state_dict --------------------------------------------------------

namespace {

// An uninterrupted 6-step run against 3 steps, save, a fresh optimizer over
// fresh copies of the parameters, load, 3 more steps: bit for bit the same.
template <template <class> class Opt, class T, class Options>
void check_round_trip(const Options& options) {
    Setup<T> whole;
    Opt<T> a(whole.ptrs, options);
    Setup<T> first;
    Opt<T> b(first.ptrs, options);
    for (int t = 0; t < 3; ++t) {
        whole.set_grads(t);
        a.step();
        first.set_grads(t);
        b.step();
    }
    // A schedule would have changed the lr by now: it is part of the state.
    a.set_lr(0.75 * a.lr());
    b.set_lr(0.75 * b.lr());
    const tg::StateDict saved = b.state_dict();
    REQUIRE(saved.at("step").data()[0] == 3.0);

    std::vector<tg::Parameter<T>> copies;
    std::vector<tg::Parameter<T>*> ptrs;
    copies.reserve(first.params.size());
    for (const auto& p : first.params) copies.emplace_back(tg::Tensor<T>(p.value()), p.name());
    for (auto& p : copies) ptrs.push_back(&p);
    Opt<T> c(ptrs, options);
    c.load_state_dict(saved);
    REQUIRE(c.steps() == 3);
    REQUIRE(c.lr() == b.lr());
    require_same_state(c.state_dict(), saved);

    for (int t = 3; t < 6; ++t) {
        whole.set_grads(t);
        a.step();
        for (std::size_t k = 0; k < copies.size(); ++k)
            for (std::size_t j = 0; j < copies[k].size(); ++j)
                copies[k].mutable_grad().data()[j] = T(gradient(t, k, j));
        c.step();
    }
    for (std::size_t k = 0; k < copies.size(); ++k) {
        INFO("parameter " << k << ": continued " << tgtest::describe(copies[k].value()) << " uninterrupted "
                          << tgtest::describe(whole.params[k].value()));
        REQUIRE(bitwise_equal(copies[k].value(), whole.params[k].value()));
    }
    require_same_state(c.state_dict(), a.state_dict());
}

}  // namespace

TEST_CASE("state_dict and load_state_dict continue bit for bit", "[optim]") {
    SECTION("SGD") { check_round_trip<tg::SGD, float>(tg::SGDOptions{.lr = 0.1, .momentum = 0.9, .nesterov = true}); }
    SECTION("SGD with dampening, double") {
        check_round_trip<tg::SGD, double>(tg::SGDOptions{.lr = 0.1, .momentum = 0.9, .dampening = 0.2});
    }
    SECTION("Adam") {
        check_round_trip<tg::Adam, float>(tg::AdamOptions{.lr = 0.05, .weight_decay = 0.1, .amsgrad = true});
    }
    SECTION("Adam, double") { check_round_trip<tg::Adam, double>(tg::AdamOptions{.lr = 0.05}); }
    SECTION("AdamW") { check_round_trip<tg::AdamW, float>(tg::AdamWOptions{.lr = 0.05, .amsgrad = true}); }
    SECTION("RMSprop") { check_round_trip<tg::RMSprop, float>(tg::RMSpropOptions{.momentum = 0.5, .centered = true}); }
    SECTION("Adagrad") {
        check_round_trip<tg::Adagrad, float>(tg::AdagradOptions{.lr_decay = 0.1, .initial_accumulator_value = 0.2});
    }
}

TEST_CASE("state_dict holds step, the group's lr, options and members, and each parameter's buffers", "[optim]") {
    Setup<float> s;
    tg::Adam<float> adam(s.ptrs, {.amsgrad = true});
    const tg::StateDict st = adam.state_dict();
    std::vector<std::string> keys;
    for (const auto& [k, t] : st) keys.push_back(k);
    REQUIRE(keys == std::vector<std::string>{"0.exp_avg", "0.exp_avg_sq", "0.max_exp_avg_sq", "1.exp_avg",
                                             "1.exp_avg_sq", "1.max_exp_avg_sq", "group.0.amsgrad", "group.0.beta1",
                                             "group.0.beta2", "group.0.eps", "group.0.lr", "group.0.params",
                                             "group.0.weight_decay", "step"});
    REQUIRE(st.at("group.0.lr").dimension() == 0);
    REQUIRE(st.at("group.0.lr").data()[0] == 1e-3);
    REQUIRE(st.at("group.0.amsgrad").data()[0] == 1.0);
    REQUIRE(st.at("group.0.beta2").data()[0] == 0.999);
    REQUIRE(st.at("group.0.params").shape() == std::vector<std::size_t>{2});
    REQUIRE(st.at("group.0.params").data()[1] == 1.0);
    REQUIRE(st.at("step").data()[0] == 0.0);
    REQUIRE(st.at("1.exp_avg").shape().size() == 1);
    REQUIRE(st.at("1.exp_avg").shape()[0] == 4);

    tg::SGD<float> plain(s.ptrs, {.lr = 0.1});
    REQUIRE(plain.state_dict().size() == 7);  // step, params, lr, momentum, dampening, weight_decay, nesterov
    REQUIRE(plain.state_dict().count("0.momentum_buffer") == 0);
    tg::SGD<float> momentum(s.ptrs, {.lr = 0.1, .momentum = 0.9});
    REQUIRE(momentum.state_dict().count("1.momentum_buffer") == 1);
    tg::RMSprop<float> rms(s.ptrs, {.momentum = 0.9, .centered = true});
    REQUIRE(rms.state_dict().count("0.square_avg") == 1);
    REQUIRE(rms.state_dict().count("0.momentum_buffer") == 1);
    REQUIRE(rms.state_dict().count("0.grad_avg") == 1);
    tg::Adagrad<float> ada(s.ptrs, {.initial_accumulator_value = 0.25});
    REQUIRE(ada.state_dict().at("1.sum").data()[3] == 0.25);
}

TEST_CASE("a bad state is refused by key and changes nothing", "[optim]") {
    Setup<float> s;
    tg::Adam<float> opt(s.ptrs, {.lr = 0.05, .amsgrad = true});
    for (int t = 0; t < 3; ++t) {
        s.set_grads(t);
        opt.step();
    }
    const tg::StateDict before = opt.state_dict();

    // A valid state that differs everywhere from `opt`'s.
    Setup<float> other;
    tg::Adam<float> donor(other.ptrs, {.lr = 0.01, .amsgrad = true});
    for (int t = 2; t >= 1; --t) {
        other.set_grads(t);
        donor.step();
    }
    const tg::StateDict good = donor.state_dict();

    auto refused = [&](tg::StateDict bad, std::initializer_list<std::string> parts) {
        require_argument_error([&] { opt.load_state_dict(bad); }, parts);
        // Keys sort "0.*" < "1.*" < "group.*" < "step": loading key by key would
        // already have overwritten the earlier ones.
        require_same_state(opt.state_dict(), before);
        REQUIRE(opt.steps() == 3);
        REQUIRE(opt.lr() == 0.05);
    };
    SECTION("missing buffer") {
        tg::StateDict bad = good;
        bad.erase("1.max_exp_avg_sq");
        refused(bad, {"missing", "'1.max_exp_avg_sq'", "Adam"});
    }
    SECTION("missing step") {
        tg::StateDict bad = good;
        bad.erase("step");
        refused(bad, {"missing", "'step'"});
    }
    SECTION("wrong buffer shape") {
        tg::StateDict bad = good;
        bad["1.max_exp_avg_sq"] = tg::Tensor<double>::from_shape({5});
        refused(bad, {"'1.max_exp_avg_sq'", "(5,)", "(4,)"});
    }
    SECTION("wrong step shape") {
        tg::StateDict bad = good;
        bad["step"] = tg::Tensor<double>{3.0};
        refused(bad, {"'step'", "(1,)"});
    }
    SECTION("unexpected key") {
        tg::StateDict bad = good;
        bad["2.exp_avg"] = scalar(0);
        refused(bad, {"unexpected", "'2.exp_avg'"});
    }
    SECTION("step that is not a count") {
        tg::StateDict bad = good;
        bad["step"] = scalar(2.5);
        refused(bad, {"'step'", "2.5"});
        bad["step"] = scalar(-1);
        refused(bad, {"'step'"});
    }
    SECTION("invalid lr") {
        tg::StateDict bad = good;
        bad["group.0.lr"] = scalar(-0.1);
        refused(bad, {"'group.0.lr'"});
    }
    SECTION("another optimizer's state") {
        Setup<float> s2;
        tg::SGD<float> sgd(s2.ptrs, {.lr = 0.1, .momentum = 0.9});
        // Its options are checked before the buffers: SGD's group has no beta1.
        refused(sgd.state_dict(), {"missing", "'group.0.beta1'"});
        tg::Adam<float> no_ams(s2.ptrs, {});
        refused(no_ams.state_dict(), {"amsgrad", "differs"});
        tg::StateDict no_max = good;
        no_max.erase("0.max_exp_avg_sq");
        refused(no_max, {"missing", "'0.max_exp_avg_sq'"});
    }
    SECTION("a valid state loads exactly") {
        opt.load_state_dict(good);
        require_same_state(opt.state_dict(), good);
        REQUIRE(opt.steps() == 2);
        REQUIRE(opt.lr() == 0.01);
    }
}

TEST_CASE("a parameter reshaped after the first step stops step, changing nothing", "[optim]") {
    Setup<double> s;
    tg::Adam<double> opt(s.ptrs, {});
    s.set_grads(0);
    opt.step();  // allocates the state, shaped like the parameters
    s.set_grads(1);
    const tg::Tensor<double> p0 = s.params[0].value();
    const tg::StateDict before = opt.state_dict();
    s.params[1].set_value(tg::Tensor<double>::from_shape({5}));
    REQUIRE_THROWS_AS(opt.step(), tg::ShapeError);
    REQUIRE_THROWS_WITH(opt.step(), Catch::Matchers::Contains("p1") && Catch::Matchers::Contains("(5,)"));
    REQUIRE(bitwise_equal(s.params[0].value(), p0));
    REQUIRE(opt.steps() == 1);
    require_same_state(opt.state_dict(), before);
}

TEST_CASE("optimizer state and parameter gradients are allocated on first use", "[optim]") {
    Setup<double> s;
    for (auto& p : s.params) REQUIRE_FALSE(p.has_grad());
    tg::Adam<double> opt(s.ptrs, {});
    // Before any step the state reads as its starting value, shaped like the parameters.
    const tg::StateDict fresh = opt.state_dict();
    REQUIRE(fresh.at("0.exp_avg").shape() == s.params[0].value().shape());
    for (double v : fresh.at("1.exp_avg_sq")) REQUIRE(v == 0.0);
    // A reshape before the first step is no error: the state takes the new shape.
    s.params[1].set_value(tg::Tensor<double>::from_shape({5}));
    s.params[1].mutable_value().fill(1.0);
    REQUIRE(s.params[1].grad().shape() == std::vector<std::size_t>{5});
    for (double v : s.params[1].grad()) REQUIRE(v == 0.0);
    REQUIRE_NOTHROW(opt.step());
    REQUIRE(opt.state_dict().at("1.exp_avg").shape() == std::vector<std::size_t>{5});
    // zero_grad on a parameter that never had a gradient allocates nothing.
    tg::Parameter<double> q(tg::Tensor<double>{1.0, 2.0});
    q.zero_grad();
    REQUIRE_FALSE(q.has_grad());
}

// ---- the base class ---------------------------------------------------------------------------

TEST_CASE("constructors validate parameters and options", "[optim]") {
    Setup<float> s;
    tg::Parameter<float>* p0 = s.ptrs[0];
    tg::Parameter<float>* p1 = s.ptrs[1];
    SECTION("parameter list") {
        require_argument_error([&] { tg::Adam<float>({}, {}); }, {"Adam", "empty"});
        require_argument_error([&] { tg::Adam<float>({p0, nullptr}, {}); }, {"Adam", "parameter 1", "null"});
        require_argument_error([&] { tg::SGD<float>({p0, p1, p0}, {.lr = 0.1}); }, {"SGD", "'p0'", "twice", "2"});
        REQUIRE_NOTHROW(tg::Adam<float>({p0, p1}, {}));
    }
    SECTION("learning rate") {
        for (double lr : {-1e-3, std::nan(""), std::numeric_limits<double>::infinity()})
            require_argument_error([&] { tg::Adam<float>(s.ptrs, {.lr = lr}); }, {"Adam", "lr"});
        require_argument_error([&] { tg::SGD<float>(s.ptrs, {.momentum = 0.9}); }, {"SGD", "lr", "required"});
        require_argument_error([&] { tg::RMSprop<float>(s.ptrs, {.lr = -1}); }, {"RMSprop", "lr"});
        require_argument_error([&] { tg::Adagrad<float>(s.ptrs, {.lr = -1}); }, {"Adagrad", "lr"});
        require_argument_error([&] { tg::AdamW<float>(s.ptrs, {.lr = -1}); }, {"AdamW", "lr"});
        REQUIRE_NOTHROW(tg::SGD<float>(s.ptrs, {.lr = 0}));
    }
    SECTION("SGD") {
        require_argument_error([&] { tg::SGD<float>(s.ptrs, {.lr = 0.1, .momentum = -0.1}); }, {"momentum"});
        require_argument_error([&] { tg::SGD<float>(s.ptrs, {.lr = 0.1, .weight_decay = -1}); }, {"weight_decay"});
        require_argument_error([&] { tg::SGD<float>(s.ptrs, {.lr = 0.1, .nesterov = true}); },
                               {"nesterov", "momentum"});
        require_argument_error(
            [&] { tg::SGD<float>(s.ptrs, {.lr = 0.1, .momentum = 0.9, .dampening = 0.1, .nesterov = true}); },
            {"nesterov", "dampening"});
    }
    SECTION("Adam and AdamW") {
        require_argument_error([&] { tg::Adam<float>(s.ptrs, {.beta1 = 1.0}); }, {"beta1", "[0, 1)"});
        require_argument_error([&] { tg::Adam<float>(s.ptrs, {.beta2 = -0.1}); }, {"beta2"});
        require_argument_error([&] { tg::Adam<float>(s.ptrs, {.beta2 = std::nan("")}); }, {"beta2"});
        require_argument_error([&] { tg::Adam<float>(s.ptrs, {.eps = -1e-8}); }, {"eps"});
        require_argument_error([&] { tg::Adam<float>(s.ptrs, {.weight_decay = std::nan("")}); }, {"weight_decay"});
        require_argument_error([&] { tg::AdamW<float>(s.ptrs, {.beta1 = 1.5}); }, {"AdamW", "beta1"});
        require_argument_error([&] { tg::AdamW<float>(s.ptrs, {.weight_decay = -0.01}); }, {"AdamW", "weight_decay"});
    }
    SECTION("RMSprop") {
        require_argument_error([&] { tg::RMSprop<float>(s.ptrs, {.alpha = -0.5}); }, {"alpha"});
        require_argument_error([&] { tg::RMSprop<float>(s.ptrs, {.eps = -1}); }, {"eps"});
        require_argument_error([&] { tg::RMSprop<float>(s.ptrs, {.weight_decay = -1}); }, {"weight_decay"});
        require_argument_error([&] { tg::RMSprop<float>(s.ptrs, {.momentum = -1}); }, {"momentum"});
    }
    SECTION("Adagrad") {
        require_argument_error([&] { tg::Adagrad<float>(s.ptrs, {.lr_decay = -1}); }, {"lr_decay"});
        require_argument_error([&] { tg::Adagrad<float>(s.ptrs, {.weight_decay = -1}); }, {"weight_decay"});
        require_argument_error([&] { tg::Adagrad<float>(s.ptrs, {.initial_accumulator_value = -1}); },
                               {"initial_accumulator_value"});
        require_argument_error([&] { tg::Adagrad<float>(s.ptrs, {.eps = -1}); }, {"eps"});
    }
}

TEST_CASE("zero_grad, set_lr, steps and versions", "[optim]") {
    Setup<float> s;
    tg::SGD opt(s.ptrs, {.lr = 0.5});  // deduces SGD<float>
    static_assert(std::is_same_v<decltype(opt), tg::SGD<float>>);
    REQUIRE(opt.params() == s.ptrs);
    REQUIRE(opt.name() == "SGD");

    s.set_grads(0);
    const auto version = s.params[0].version();
    const float before = s.params[0].value().data()[0];
    opt.step();
    // The update goes through mutable_value, so a tape that read the old value notices.
    REQUIRE(s.params[0].version() > version);
    REQUIRE(s.params[0].value().data()[0] == before - 0.5f * float(gradient(0, 0, 0)));
    REQUIRE(opt.steps() == 1);

    opt.zero_grad();
    for (const auto& p : s.params)
        for (std::size_t j = 0; j < p.size(); ++j) REQUIRE(p.grad().data()[j] == 0.0f);

    opt.set_lr(0.25);
    REQUIRE(opt.lr() == 0.25);
    require_argument_error([&] { opt.set_lr(-1); }, {"set_lr", "lr"});
    require_argument_error([&] { opt.set_lr(std::nan("")); }, {"lr"});
    REQUIRE(opt.lr() == 0.25);

    // A zero gradient still applies weight decay (every parameter is updated).
    tg::SGD wd(s.ptrs, {.lr = 0.5, .weight_decay = 0.1});
    const float p = s.params[1].value().data()[2];
    wd.step();
    REQUIRE(s.params[1].value().data()[2] == p + (-0.5f) * (0.0f + 0.1f * p));
}

// ---- schedules ----------------------------------------------------------------------------------

TEST_CASE("StepLR decays by gamma every step_size epochs", "[optim]") {
    Setup<float> s;
    tg::SGD<float> opt(s.ptrs, {.lr = 0.2});
    tg::StepLR sched(opt, 3, 0.5);
    static_assert(std::is_same_v<decltype(sched), tg::StepLR<float>>);
    REQUIRE(sched.base_lr() == 0.2);
    REQUIRE(sched.last_epoch() == 0);
    REQUIRE(opt.lr() == 0.2);
    double expected = 0.2;
    for (long e = 1; e <= 10; ++e) {
        if (e % 3 == 0) expected *= 0.5;
        sched.step();
        INFO("epoch " << e);
        REQUIRE(sched.last_epoch() == e);
        REQUIRE(opt.lr() == Approx(expected).epsilon(1e-14));
        REQUIRE(sched.lr_at(e) == opt.lr());
    }
    REQUIRE(opt.lr() == Approx(0.025).epsilon(1e-14));  // 3 decays by epoch 10
    // The default gamma is PyTorch's 0.1.
    tg::SGD<float> opt2(s.ptrs, {.lr = 1.0});
    tg::StepLR<float> sched2(opt2, 2);
    sched2.step();
    sched2.step();
    REQUIRE(opt2.lr() == Approx(0.1).epsilon(1e-15));
}

TEST_CASE("ExponentialLR decays by gamma every epoch", "[optim]") {
    Setup<double> s;
    tg::Adam<double> opt(s.ptrs, {.lr = 0.01});
    tg::ExponentialLR sched(opt, 0.9);
    double expected = 0.01;
    for (long e = 1; e <= 20; ++e) {
        expected *= 0.9;
        sched.step();
        INFO("epoch " << e);
        REQUIRE(sched.last_epoch() == e);
        REQUIRE(opt.lr() == Approx(expected).epsilon(1e-13));
    }
}

TEST_CASE("CosineAnnealingLR follows half a cosine from lr0 to eta_min", "[optim]") {
    Setup<float> s;
    tg::SGD<float> opt(s.ptrs, {.lr = 0.1});
    tg::CosineAnnealingLR sched(opt, 10, 0.001);
    for (long e = 1; e <= 20; ++e) {
        sched.step();
        const double expected = 0.001 + 0.5 * (0.1 - 0.001) * (1 + std::cos(double(e) / 10.0 * std::numbers::pi));
        INFO("epoch " << e);
        REQUIRE(opt.lr() == Approx(expected).epsilon(1e-12));
        if (e == 5) REQUIRE(opt.lr() == Approx((0.1 + 0.001) / 2).epsilon(1e-12));
        if (e == 10) REQUIRE(opt.lr() == Approx(0.001).epsilon(1e-12));
    }
    REQUIRE(opt.lr() == Approx(0.1).epsilon(1e-12));  // a full period later

    // eta_min defaults to 0.
    tg::SGD<float> opt2(s.ptrs, {.lr = 0.1});
    tg::CosineAnnealingLR<float> sched2(opt2, 4);
    for (int e = 0; e < 4; ++e) sched2.step();
    REQUIRE(std::abs(opt2.lr()) < 1e-17);
}

TEST_CASE("a schedule's lr is the one the next step uses", "[optim]") {
    tg::Parameter<double> w(tg::Tensor<double>{1.0});
    tg::SGD<double> opt({&w}, {.lr = 0.5});
    tg::StepLR<double> sched(opt, 1, 0.5);
    w.mutable_grad()(0) = 1.0;
    opt.step();  // lr 0.5
    sched.step();
    opt.step();  // lr 0.25
    REQUIRE(w.value()(0) == 1.0 - 0.5 - 0.25);
}

TEST_CASE("schedules validate their arguments", "[optim]") {
    Setup<float> s;
    tg::SGD<float> opt(s.ptrs, {.lr = 0.1});
    require_argument_error([&] { tg::StepLR<float>(opt, 0); }, {"StepLR", "step_size"});
    require_argument_error([&] { tg::StepLR<float>(opt, -2, 0.5); }, {"step_size"});
    require_argument_error([&] { tg::StepLR<float>(opt, 2, -0.5); }, {"gamma"});
    require_argument_error([&] { tg::StepLR<float>(opt, 2, std::nan("")); }, {"gamma"});
    require_argument_error([&] { tg::ExponentialLR<float>(opt, std::numeric_limits<double>::infinity()); },
                           {"ExponentialLR", "gamma"});
    require_argument_error([&] { tg::CosineAnnealingLR<float>(opt, 0); }, {"CosineAnnealingLR", "T_max"});
    require_argument_error([&] { tg::CosineAnnealingLR<float>(opt, 10, -0.1); }, {"eta_min"});
    REQUIRE(opt.lr() == 0.1);
}

// ---- clipping ------------------------------------------------------------------------------

namespace {

// Gradients {3, -4} and {{12}}: 2-norm 13, 1-norm 19, inf-norm 12.
template <class T>
struct ClipSetup {
    tg::Parameter<T> a{tg::Tensor<T>{T(0), T(0)}, "a"};
    tg::Parameter<T> b{tg::Tensor<T>::from_shape({1, 1}), "b"};
    std::vector<tg::Parameter<T>*> ptrs{&a, &b};
    ClipSetup() {
        a.mutable_grad() = tg::Tensor<T>{T(3), T(-4)};
        b.mutable_grad()(0, 0) = T(12);
    }
    std::vector<double> grads() const { return {double(a.grad()(0)), double(a.grad()(1)), double(b.grad()(0, 0))}; }
};

void require_grads(const std::vector<double>& actual, const std::vector<double>& expected, double rtol) {
    REQUIRE(actual.size() == expected.size());
    for (std::size_t i = 0; i < actual.size(); ++i) {
        INFO("element " << i << ": actual " << actual[i] << ", expected " << expected[i]);
        REQUIRE(std::abs(actual[i] - expected[i]) <= rtol * std::abs(expected[i]));
    }
}

}  // namespace

TEST_CASE("clip_grad_norm returns the total norm and scales by max_norm/(norm + 1e-6)", "[optim]") {
    ClipSetup<double> s;
    SECTION("above max_norm") {
        REQUIRE(tg::clip_grad_norm(s.ptrs, 6.5) == Approx(13.0).epsilon(1e-15));
        const double c = 6.5 / (13.0 + 1e-6);
        require_grads(s.grads(), {3 * c, -4 * c, 12 * c}, 1e-14);
    }
    SECTION("exactly at max_norm: the 1e-6 still scales (PyTorch's rule)") {
        REQUIRE(tg::clip_grad_norm(s.ptrs, 13.0) == Approx(13.0).epsilon(1e-15));
        const double c = 13.0 / (13.0 + 1e-6);
        REQUIRE(s.a.grad()(0) < 3.0);
        require_grads(s.grads(), {3 * c, -4 * c, 12 * c}, 1e-14);
    }
    SECTION("below max_norm: unchanged") {
        REQUIRE(tg::clip_grad_norm(s.ptrs, 20.0) == Approx(13.0).epsilon(1e-15));
        REQUIRE(s.grads() == std::vector<double>{3, -4, 12});
        REQUIRE(tg::clip_grad_norm(s.ptrs, std::numeric_limits<double>::infinity()) == Approx(13.0));
        REQUIRE(s.grads() == std::vector<double>{3, -4, 12});
    }
    SECTION("inf norm") {
        const double inf = std::numeric_limits<double>::infinity();
        REQUIRE(tg::clip_grad_norm(s.ptrs, 6.0, inf) == 12.0);
        const double c = 6.0 / (12.0 + 1e-6);
        require_grads(s.grads(), {3 * c, -4 * c, 12 * c}, 1e-14);
    }
    SECTION("other p-norms") {
        REQUIRE(tg::clip_grad_norm(s.ptrs, 100.0, 1.0) == Approx(19.0).epsilon(1e-15));
        REQUIRE(tg::clip_grad_norm(s.ptrs, 100.0, 3.0) == Approx(std::cbrt(27.0 + 64.0 + 1728.0)).epsilon(1e-14));
        REQUIRE(s.grads() == std::vector<double>{3, -4, 12});
    }
    SECTION("max_norm 0 zeroes the gradients") {
        REQUIRE(tg::clip_grad_norm(s.ptrs, 0.0) == Approx(13.0));
        REQUIRE(s.grads() == std::vector<double>{0, 0, 0});
    }
    SECTION("large double gradients do not overflow the norm") {
        s.a.mutable_grad() = tg::Tensor<double>{1e200, -1e200};
        s.b.mutable_grad()(0, 0) = 0.0;
        const double n = tg::clip_grad_norm(s.ptrs, 1.0);
        REQUIRE(n == Approx(std::sqrt(2.0) * 1e200).epsilon(1e-14));
        REQUIRE(s.a.grad()(0) == Approx(1.0 / std::sqrt(2.0)).epsilon(1e-12));
    }
    SECTION("empty list") { REQUIRE(tg::clip_grad_norm(std::vector<tg::Parameter<double>*>{}, 1.0) == 0.0); }
}

TEST_CASE("clip_grad_norm leaves gradients unchanged when the norm is not finite", "[optim]") {
    ClipSetup<float> s;
    SECTION("inf") {
        s.a.mutable_grad()(1) = std::numeric_limits<float>::infinity();
        const double n = tg::clip_grad_norm(s.ptrs, 1.0);
        REQUIRE(std::isinf(n));
        REQUIRE(s.grads() == std::vector<double>{3, std::numeric_limits<double>::infinity(), 12});
        REQUIRE(std::isinf(tg::clip_grad_norm(s.ptrs, 1.0, std::numeric_limits<double>::infinity())));
        REQUIRE(s.grads()[2] == 12);
    }
    SECTION("NaN") {
        s.b.mutable_grad()(0, 0) = std::numeric_limits<float>::quiet_NaN();
        const double n = tg::clip_grad_norm(s.ptrs, 1.0);
        REQUIRE(std::isnan(n));
        REQUIRE(s.a.grad()(0) == 3.0f);
        REQUIRE(s.a.grad()(1) == -4.0f);
        REQUIRE(std::isnan(tg::clip_grad_norm(s.ptrs, 1.0, std::numeric_limits<double>::infinity())));
        REQUIRE(s.a.grad()(0) == 3.0f);
    }
}

TEST_CASE("clip_grad_norm on float gradients", "[optim]") {
    ClipSetup<float> s;
    REQUIRE(tg::clip_grad_norm(s.ptrs, 1.3) == Approx(13.0).epsilon(1e-15));
    const double c = 1.3 / (13.0 + 1e-6);
    require_grads(s.grads(), {3 * c, -4 * c, 12 * c}, 1e-6);
}

TEST_CASE("clip_grad_norm and clip_grad_value validate their arguments", "[optim]") {
    ClipSetup<double> s;
    require_argument_error([&] { tg::clip_grad_norm(s.ptrs, -1.0); }, {"clip_grad_norm", "max_norm"});
    require_argument_error([&] { tg::clip_grad_norm(s.ptrs, std::nan("")); }, {"max_norm"});
    require_argument_error([&] { tg::clip_grad_norm(s.ptrs, 1.0, 0.0); }, {"norm_type"});
    require_argument_error([&] { tg::clip_grad_norm(s.ptrs, 1.0, -2.0); }, {"norm_type"});
    require_argument_error([&] { tg::clip_grad_norm(s.ptrs, 1.0, std::nan("")); }, {"norm_type"});
    require_argument_error([&] { tg::clip_grad_norm<double>({&s.a, nullptr}, 1.0); }, {"parameter 1", "null"});
    require_argument_error([&] { tg::clip_grad_value(s.ptrs, -0.5); }, {"clip_grad_value", "clip"});
    require_argument_error([&] { tg::clip_grad_value(s.ptrs, std::nan("")); }, {"clip"});
    require_argument_error([&] { tg::clip_grad_value<double>({nullptr}, 1.0); }, {"null"});
    REQUIRE(s.grads() == std::vector<double>{3, -4, 12});
}

TEST_CASE("clip_grad_value clamps every element to plus or minus clip", "[optim]") {
    tg::Parameter<float> p(tg::Tensor<float>::from_shape({5}), "p");
    p.mutable_grad() = tg::Tensor<float>{-3.0f, 0.5f, 2.0f, -0.25f, std::numeric_limits<float>::quiet_NaN()};
    tg::clip_grad_value<float>({&p}, 1.0);
    REQUIRE(p.grad()(0) == -1.0f);
    REQUIRE(p.grad()(1) == 0.5f);
    REQUIRE(p.grad()(2) == 1.0f);
    REQUIRE(p.grad()(3) == -0.25f);
    REQUIRE(std::isnan(p.grad()(4)));
    tg::clip_grad_value<float>({&p}, 0.0);
    REQUIRE(p.grad()(0) == 0.0f);
    REQUIRE(p.grad()(1) == 0.0f);
    REQUIRE(p.grad()(3) == 0.0f);
}

// Adam's update loop is vectorized by the compiler (optim/adam.cpp). Every
// element must still get exactly the per-element formula's operations in its
// order, in float: the same bits as a scalar loop written the library's way
// (PyTorch's _single_tensor_adam(w)). Sizes 1000 and 37 exercise full vectors
// and a remainder; 4 steps; each variant: plain, AMSGrad, L2 decay, AdamW,
// AdamW with AMSGrad.
// The reference keeps each a·b + c as two roundings, as the library does
// (-ffp-contract=off), also when the tests are built for a CPU with FMA.
#pragma GCC push_options
#pragma GCC optimize("fp-contract=off")
namespace {
struct ScalarAdam {
    double lr, beta1, beta2, eps, weight_decay;
    bool decoupled, amsgrad;
    std::vector<float> m, v, v_max;
    void step(std::vector<float>& p, const std::vector<float>& g, long t) {
        if (m.empty()) m.assign(p.size(), 0.0f), v.assign(p.size(), 0.0f), v_max.assign(p.size(), 0.0f);
        const double bc1 = 1 - std::pow(beta1, double(t)), bc2 = 1 - std::pow(beta2, double(t));
        const float neg_step = float(-(lr / bc1)), bc2_sqrt = float(std::sqrt(bc2));
        const float b1 = float(beta1), omb1 = float(1 - beta1), b2 = float(beta2), omb2 = float(1 - beta2);
        const float e = float(eps), wd = float(weight_decay), shrink = float(1 - lr * weight_decay);
        for (std::size_t j = 0; j < p.size(); ++j) {
            float param = p[j];
            if (decoupled) param = param * shrink;
            float grad = g[j];
            if (!decoupled && weight_decay != 0) grad = grad + wd * param;
            m[j] = m[j] * b1 + omb1 * grad;
            v[j] = v[j] * b2 + omb2 * grad * grad;
            float second = v[j];
            if (amsgrad) second = v_max[j] = (v_max[j] != v_max[j] || v_max[j] > v[j]) ? v_max[j] : v[j];
            const float denom = std::sqrt(second) / bc2_sqrt + e;
            p[j] = param + neg_step * m[j] / denom;
        }
    }
};
}  // namespace
#pragma GCC pop_options

TEST_CASE("Adam and AdamW: the vectorized update gives the scalar formula's bits", "[optim]") {
    struct Variant {
        const char* name;
        bool decoupled, amsgrad;
        double weight_decay;
    };
    const Variant variants[] = {{"adam", false, false, 0.0}, {"adam amsgrad", false, true, 0.0}, {"adam l2", false, false, 0.1},
                                {"adamw", true, false, 0.1}, {"adamw amsgrad", true, true, 0.1}};
    for (const Variant& var : variants) {
        INFO(var.name);
        std::vector<tg::Parameter<float>> params;
        std::vector<std::vector<float>> ref_values;
        for (std::size_t size : {std::size_t(1000), std::size_t(37)}) {
            tg::Tensor<float> x = tg::Tensor<float>::from_shape({size});
            for (std::size_t j = 0; j < size; ++j) x.data()[j] = float(std::sin(0.37 * double(j + size)));
            params.emplace_back(x, "p");
            ref_values.emplace_back(x.begin(), x.end());
        }
        std::vector<tg::Parameter<float>*> ptrs;
        for (auto& p : params) ptrs.push_back(&p);
        std::unique_ptr<tg::Optimizer<float>> opt;
        if (var.decoupled)
            opt = std::make_unique<tg::AdamW<float>>(ptrs, tg::AdamWOptions{.lr = 0.01, .weight_decay = var.weight_decay, .amsgrad = var.amsgrad});
        else
            opt = std::make_unique<tg::Adam<float>>(ptrs, tg::AdamOptions{.lr = 0.01, .weight_decay = var.weight_decay, .amsgrad = var.amsgrad});
        std::vector<ScalarAdam> refs(params.size(), ScalarAdam{0.01, 0.9, 0.999, 1e-8, var.weight_decay, var.decoupled, var.amsgrad, {}, {}, {}});
        for (long t = 1; t <= 4; ++t) {
            for (std::size_t k = 0; k < params.size(); ++k) {
                std::vector<float> g(params[k].size());
                // Gradients that shrink in later steps, so AMSGrad's maximum keeps an older value.
                for (std::size_t j = 0; j < g.size(); ++j) g[j] = float(std::cos(0.91 * double(j) + double(t)) / double(t * t));
                std::copy(g.begin(), g.end(), params[k].mutable_grad().begin());
                refs[k].step(ref_values[k], g, t);
            }
            opt->step();
            for (std::size_t k = 0; k < params.size(); ++k) {
                const tg::Tensor<float>& got = params[k].value();
                for (std::size_t j = 0; j < got.size(); ++j) {
                    INFO("step " << t << ", parameter " << k << ", element " << j);
                    REQUIRE(std::bit_cast<std::uint32_t>(got.data()[j]) == std::bit_cast<std::uint32_t>(ref_values[k][j]));
                }
            }
        }
    }
}
