// Parameter groups (PyTorch's param_groups): construction and validation,
// per-group updates, lr and options accessors, schedules over groups, and the
// state_dict round trip including states saved before groups existed.
// Parity with PyTorch's param_groups is in test_parity.cpp.

#include "optim_checks.hpp"

#include <tapegrad/io/checkpoint.hpp>
#include <tapegrad/optim/optim.hpp>

#include <algorithm>
#include <cmath>
#include <cstring>
#include <functional>
#include <limits>
#include <numbers>

namespace tg = tapegrad;

namespace {

// Three named parameters: a (2, 3) and b (4) form the "encoder", c (3) the "head".
template <class T>
struct Three {
    tg::Parameter<T> a{tg::Tensor<T>::from_shape({2, 3}), "a"};
    tg::Parameter<T> b{tg::Tensor<T>::from_shape({4}), "b"};
    tg::Parameter<T> c{tg::Tensor<T>::from_shape({3}), "c"};
    std::vector<tg::Parameter<T>*> encoder{&a, &b};
    std::vector<tg::Parameter<T>*> head{&c};
    std::vector<tg::Parameter<T>*> all{&a, &b, &c};

    Three() {
        for (std::size_t k = 0; k < all.size(); ++k)
            for (std::size_t j = 0; j < all[k]->size(); ++j)
                all[k]->mutable_value().data()[j] = T(0.8 + 0.5 * std::sin(1.3 * double(j) + double(k)));
    }
    Three(const Three&) = delete;

    // Sign-changing gradients, so that every buffer matters.
    void set_grads(int step) {
        static const double scale[] = {1.5, 0.3, -0.7};
        for (std::size_t k = 0; k < all.size(); ++k)
            for (std::size_t j = 0; j < all[k]->size(); ++j)
                all[k]->mutable_grad().data()[j] =
                    T(scale[step % 3] * std::sin(0.9 * double(j) + 2.0 * double(k)) + 0.05 * step);
    }
};

using tgtest::bitwise_equal;
using tgtest::require_argument_error;
using tgtest::require_same_state;
using tgtest::scalar;

}  // namespace

// ---- construction ------------------------------------------------------------------------

TEST_CASE("groups are built from parameter lists with their own options", "[optim][groups]") {
    Three<float> s;
    tg::Adam opt({{s.encoder, {.lr = 1e-3}}, {s.head, {.lr = 1e-2, .weight_decay = 0.5}}});
    static_assert(std::is_same_v<decltype(opt), tg::Adam<float>>);
    REQUIRE(opt.num_groups() == 2);
    REQUIRE(opt.params() == s.all);  // groups concatenated, in order
    REQUIRE(opt.params(0) == s.encoder);
    REQUIRE(opt.params(1) == s.head);
    REQUIRE(opt.lr() == 1e-3);  // group 0's
    REQUIRE(opt.lr(1) == 1e-2);
    REQUIRE(opt.options(1).weight_decay == 0.5);
    REQUIRE(opt.options(0).weight_decay == 0.0);  // the struct's default, not another group's
    REQUIRE(opt.options(1).beta2 == 0.999);
    REQUIRE(opt.options().lr == 1e-3);

    // The single-list constructors are one group.
    tg::SGD<float> one(s.all, {.lr = 0.1});
    REQUIRE(one.num_groups() == 1);
    REQUIRE(one.params(0) == s.all);
    // A group's options may be spelled out too.
    tg::SGD<float> named({{.params = s.head, .options = {.lr = 0.2}}});
    REQUIRE(named.lr(0) == 0.2);
}

TEST_CASE("each group is updated with its own options", "[optim][groups]") {
    Three<double> s;
    tg::SGD<double> opt({{s.encoder, {.lr = 0.5}}, {s.head, {.lr = 0.1, .weight_decay = 0.25}}});
    s.set_grads(0);
    const double a0 = s.a.value().data()[4], ga = s.a.grad().data()[4];
    const double c0 = s.c.value().data()[1], gc = s.c.grad().data()[1];
    opt.step();
    REQUIRE(s.a.value().data()[4] == a0 + (-0.5) * ga);
    REQUIRE(s.c.value().data()[1] == c0 + (-0.1) * (gc + 0.25 * c0));
    opt.set_lr(1, 2.0);  // only the head's
    s.set_grads(1);
    const double a1 = s.a.value().data()[0], ga1 = s.a.grad().data()[0];
    const double c1 = s.c.value().data()[2], gc1 = s.c.grad().data()[2];
    opt.step();
    REQUIRE(s.a.value().data()[0] == a1 + (-0.5) * ga1);
    REQUIRE(s.c.value().data()[2] == c1 + (-2.0) * (gc1 + 0.25 * c1));
}

namespace {

// Two groups step for step as two one-group optimizers over the same parameters
// (a parameter's update depends on its group's options only), bit for bit.
template <template <class> class Opt, class Options>
void check_groups_as_separate_optimizers(const Options& encoder_options, const Options& head_options) {
    Three<float> grouped, separate;
    Opt<float> together({{grouped.encoder, encoder_options}, {grouped.head, head_options}});
    Opt<float> encoder(separate.encoder, encoder_options);
    Opt<float> head(separate.head, head_options);
    for (int t = 0; t < 4; ++t) {
        grouped.set_grads(t);
        separate.set_grads(t);
        together.step();
        encoder.step();
        head.step();
    }
    for (std::size_t k = 0; k < grouped.all.size(); ++k) {
        INFO("parameter " << k);
        REQUIRE(bitwise_equal(grouped.all[k]->value(), separate.all[k]->value()));
    }
}

}  // namespace

TEST_CASE("every optimizer's groups step as separate optimizers with the groups' options", "[optim][groups]") {
    check_groups_as_separate_optimizers<tg::SGD>(tg::SGDOptions{.lr = 0.05, .momentum = 0.9, .dampening = 0.1},
                                                 tg::SGDOptions{.lr = 0.2, .weight_decay = 0.1});
    check_groups_as_separate_optimizers<tg::SGD>(tg::SGDOptions{.lr = 0.05},
                                                 tg::SGDOptions{.lr = 0.1, .momentum = 0.5, .nesterov = true});
    check_groups_as_separate_optimizers<tg::Adam>(tg::AdamOptions{.lr = 0.01, .weight_decay = 0.1},
                                                  tg::AdamOptions{.lr = 0.03, .beta1 = 0.8, .amsgrad = true});
    check_groups_as_separate_optimizers<tg::AdamW>(tg::AdamWOptions{.lr = 0.01, .amsgrad = true},
                                                   tg::AdamWOptions{.lr = 0.005, .weight_decay = 0});
    check_groups_as_separate_optimizers<tg::RMSprop>(
        tg::RMSpropOptions{.lr = 0.01, .alpha = 0.9, .momentum = 0.5},
        tg::RMSpropOptions{.lr = 0.02, .weight_decay = 0.1, .centered = true});
    check_groups_as_separate_optimizers<tg::Adagrad>(
        tg::AdagradOptions{.lr = 0.1, .lr_decay = 0.01, .initial_accumulator_value = 0.1},
        tg::AdagradOptions{.lr = 0.05, .weight_decay = 0.01, .initial_accumulator_value = 0.5});
}

TEST_CASE("groups are validated: membership, emptiness and each group's options", "[optim][groups]") {
    Three<float> s;
    using AdamGroups = std::vector<tg::ParamGroup<float, tg::AdamOptions>>;
    require_argument_error([&] { tg::Adam<float>(AdamGroups{}); }, {"Adam", "no parameter groups"});
    require_argument_error([&] { tg::Adam<float>({{s.encoder, {}}, {{&s.c, &s.a}, {}}}); },
                           {"Adam: group 1", "parameter 1 ('a')", "twice", "position 0 of group 0"});
    require_argument_error([&] { tg::Adam<float>({{{&s.a, &s.b, &s.a}, {}}, {s.head, {}}}); },
                           {"Adam: group 0", "parameter 2 ('a')", "twice", "position 0 of group 0"});
    require_argument_error([&] { tg::SGD<float>({{s.encoder, {.lr = 0.1}}, {{}, {.lr = 0.1}}}); },
                           {"SGD: group 1", "empty"});
    require_argument_error([&] { tg::SGD<float>({{s.encoder, {.lr = 0.1}}, {{nullptr}, {.lr = 0.1}}}); },
                           {"SGD: group 1", "parameter 0", "null"});
    require_argument_error([&] { tg::SGD<float>({{s.encoder, {.lr = 0.1}}, {s.head, {.momentum = 0.9}}}); },
                           {"SGD: group 1", "lr", "required"});
    require_argument_error(
        [&] { tg::SGD<float>({{s.encoder, {.lr = 0.1, .nesterov = true}}, {s.head, {.lr = 0.1}}}); },
        {"SGD: group 0", "nesterov"});
    require_argument_error([&] { tg::Adam<float>({{s.encoder, {}}, {s.head, {.beta1 = 1.5}}}); },
                           {"Adam: group 1", "beta1", "1.5"});
    require_argument_error([&] { tg::AdamW<float>({{s.encoder, {.lr = -1}}, {s.head, {}}}); },
                           {"AdamW: group 0", "lr", "-1"});
    require_argument_error([&] { tg::RMSprop<float>({{s.encoder, {}}, {s.head, {.alpha = -0.5}}}); },
                           {"RMSprop: group 1", "alpha"});
    require_argument_error([&] { tg::Adagrad<float>({{s.encoder, {}}, {s.head, {.eps = std::nan("")}}}); },
                           {"Adagrad: group 1", "eps"});
    // An lr beyond float's range would be inf in a float step.
    require_argument_error([&] { tg::Adam<float>({{s.encoder, {}}, {s.head, {.lr = 1e39}}}); },
                           {"Adam: group 1", "lr"});
}

// ---- lr and options accessors ------------------------------------------------------------

TEST_CASE("set_lr sets every group, set_lr(g) and set_options one; indices are checked", "[optim][groups]") {
    Three<float> s;
    tg::Adam<float> opt({{s.encoder, {.lr = 1e-3}}, {s.head, {.lr = 1e-2}}});
    opt.set_lr(0.5);
    REQUIRE(opt.lr(0) == 0.5);
    REQUIRE(opt.lr(1) == 0.5);
    opt.set_lr(1, 0.25);
    REQUIRE(opt.lr(0) == 0.5);
    REQUIRE(opt.lr(1) == 0.25);
    REQUIRE(opt.options(1).lr == 0.25);  // options report the lr set_lr and schedules change

    require_argument_error([&] { opt.set_lr(1, -1); }, {"Adam::set_lr: group 1", "lr", "-1"});
    require_argument_error([&] { opt.set_lr(std::nan("")); }, {"Adam::set_lr", "lr"});
    require_argument_error([&] { opt.set_lr(2, 0.1); }, {"Adam::set_lr", "group 2 does not exist", "there are 2"});
    require_argument_error([&] { (void)opt.lr(2); }, {"Adam::lr", "group 2"});
    require_argument_error([&] { (void)opt.params(5); }, {"Adam::params", "group 5"});
    require_argument_error([&] { (void)opt.options(2); }, {"Adam::options", "group 2"});
    REQUIRE(opt.lr(0) == 0.5);
    REQUIRE(opt.lr(1) == 0.25);

    opt.set_options(1, {.lr = 0.3, .beta1 = 0.5, .weight_decay = 0.1});
    REQUIRE(opt.lr(1) == 0.3);
    REQUIRE(opt.options(1).beta1 == 0.5);
    REQUIRE(opt.options(1).weight_decay == 0.1);
    REQUIRE(opt.options(0).beta1 == 0.9);
    require_argument_error([&] { opt.set_options(1, {.beta2 = 1.0}); }, {"Adam::set_options: group 1", "beta2"});
    require_argument_error([&] { opt.set_options(0, {.lr = -2}); }, {"Adam::set_options: group 0", "lr"});
    // amsgrad decides whether the buffer max_exp_avg_sq exists: fixed at construction.
    require_argument_error([&] { opt.set_options(1, {.amsgrad = true}); },
                           {"Adam::set_options: group 1", "amsgrad", "cannot change"});
    require_argument_error([&] { opt.set_options(3, {}); }, {"Adam::set_options", "group 3"});
    REQUIRE(opt.lr(1) == 0.3);
    REQUIRE(opt.options(1).beta1 == 0.5);
    REQUIRE_FALSE(opt.options(1).amsgrad);

    tg::SGD<float> sgd({{s.encoder, {.lr = 0.1}}, {s.head, {.lr = 0.1, .momentum = 0.9}}});
    require_argument_error([&] { sgd.set_options(0, {.lr = 0.1, .momentum = 0.5}); }, {"group 0", "momentum"});
    sgd.set_options(1, {.lr = 0.1, .momentum = 0.5, .nesterov = true});  // still on: allowed
    REQUIRE(sgd.options(1).nesterov);
    tg::RMSprop<float> rms(s.all, {});
    require_argument_error([&] { rms.set_options(0, {.centered = true}); }, {"RMSprop::set_options", "centered"});
}

// ---- schedules -------------------------------------------------------------------------

TEST_CASE("a schedule scales each group's own base lr", "[optim][groups]") {
    Three<float> s;
    tg::Adam<float> opt({{s.encoder, {.lr = 1e-3}}, {s.head, {.lr = 1e-2}}});
    tg::StepLR sched(opt, 2, 0.5);
    REQUIRE(sched.base_lrs() == std::vector<double>{1e-3, 1e-2});
    REQUIRE(sched.base_lr() == 1e-3);
    REQUIRE(sched.base_lr(1) == 1e-2);
    require_argument_error([&] { (void)sched.base_lr(2); }, {"base_lr", "group 2"});
    for (long e = 1; e <= 7; ++e) {
        sched.step();
        INFO("epoch " << e);
        // 0.5 is a power of two: the products are exact.
        REQUIRE(opt.lr(0) == 1e-3 * std::pow(0.5, double(e / 2)));
        REQUIRE(opt.lr(1) == 1e-2 * std::pow(0.5, double(e / 2)));
        REQUIRE(sched.lr_at(e, 1) == opt.lr(1));
        REQUIRE(sched.lr_at(e) == opt.lr(0));
    }

    tg::SGD<float> sgd({{s.encoder, {.lr = 0.1}}, {s.head, {.lr = 0.4}}});
    tg::CosineAnnealingLR cosine(sgd, 10, 0.01);
    for (long e = 1; e <= 10; ++e) {
        cosine.step();
        const double f = (1 + std::cos(std::numbers::pi * double(e) / 10.0)) / 2;
        REQUIRE(sgd.lr(0) == Approx(0.01 + (0.1 - 0.01) * f).epsilon(1e-14));
        REQUIRE(sgd.lr(1) == Approx(0.01 + (0.4 - 0.01) * f).epsilon(1e-14));
    }
    REQUIRE(sgd.lr(1) == Approx(0.01).epsilon(1e-14));
}

TEST_CASE("a schedule step that would give one group an invalid lr changes no group", "[optim][groups]") {
    Three<float> s;
    tg::Adam<float> opt({{s.encoder, {.lr = 1e-3}}, {s.head, {.lr = 1e30}}});
    tg::ExponentialLR sched(opt, 1e5);
    sched.step();  // 1e2 and 1e35: both within float's range
    REQUIRE(opt.lr(1) == Approx(1e35).epsilon(1e-12));
    require_argument_error([&] { sched.step(); }, {"Adam::set_lr: group 1", "lr"});  // 1e40 > float's max
    REQUIRE(opt.lr(0) == Approx(1e2).epsilon(1e-12));
    REQUIRE(sched.last_epoch() == 1);
}

// ---- state_dict / load_state_dict --------------------------------------------------------

namespace {

// 3 steps, a changed lr and option, save; an optimizer built with other options
// over copies of the parameters loads the state; 3 more steps of both are
// bit for bit the same. Returns the saved state.
template <template <class> class Opt, class Options>
tg::StateDict check_group_round_trip(const Options& encoder_options, const Options& head_options,
                                     const Options& other_options) {
    Three<float> whole, copy;
    Opt<float> a({{whole.encoder, encoder_options}, {whole.head, head_options}});
    for (int t = 0; t < 3; ++t) {
        whole.set_grads(t);
        a.step();
    }
    a.set_lr(1, 0.5 * a.lr(1));
    Options changed = a.options(0);
    changed.weight_decay = 0.125;
    a.set_options(0, changed);
    const tg::StateDict saved = a.state_dict();

    for (std::size_t k = 0; k < whole.all.size(); ++k) copy.all[k]->set_value(whole.all[k]->value());
    Opt<float> b({{copy.encoder, other_options}, {copy.head, other_options}});
    b.load_state_dict(saved);
    REQUIRE(b.steps() == 3);
    REQUIRE(b.lr(1) == a.lr(1));
    REQUIRE(b.options(0).weight_decay == 0.125);
    require_same_state(b.state_dict(), saved);
    for (int t = 3; t < 6; ++t) {
        whole.set_grads(t);
        copy.set_grads(t);
        a.step();
        b.step();
    }
    for (std::size_t k = 0; k < whole.all.size(); ++k) REQUIRE(bitwise_equal(copy.all[k]->value(), whole.all[k]->value()));
    require_same_state(b.state_dict(), a.state_dict());
    return saved;
}

}  // namespace

TEST_CASE("a state with groups round-trips every group's lr and options bit for bit", "[optim][groups]") {
    const tg::StateDict adam = check_group_round_trip<tg::Adam>(
        tg::AdamOptions{.lr = 0.01, .weight_decay = 0.1, .amsgrad = true},
        tg::AdamOptions{.lr = 0.03, .beta1 = 0.8, .amsgrad = true}, tg::AdamOptions{.lr = 0.2, .amsgrad = true});
    REQUIRE(adam.at("group.1.lr").data()[0] == 0.015);
    REQUIRE(adam.at("group.1.beta1").data()[0] == 0.8);
    REQUIRE(adam.at("group.1.params").size() == 1);
    REQUIRE(adam.at("group.1.params").data()[0] == 2.0);  // c is parameter 2 of params()
    REQUIRE(adam.at("group.0.params").data()[1] == 1.0);
    REQUIRE(adam.count("2.max_exp_avg_sq") == 1);         // buffers keep the global index
    check_group_round_trip<tg::SGD>(tg::SGDOptions{.lr = 0.1, .momentum = 0.9},
                                    tg::SGDOptions{.lr = 0.3, .momentum = 0.5, .nesterov = true},
                                    tg::SGDOptions{.lr = 1, .momentum = 0.1});
    check_group_round_trip<tg::AdamW>(tg::AdamWOptions{.lr = 0.01}, tg::AdamWOptions{.lr = 0.05, .weight_decay = 0},
                                      tg::AdamWOptions{});
    check_group_round_trip<tg::RMSprop>(tg::RMSpropOptions{.lr = 0.01, .momentum = 0.5, .centered = true},
                                        tg::RMSpropOptions{.lr = 0.02, .alpha = 0.9, .momentum = 0.1, .centered = true},
                                        tg::RMSpropOptions{.momentum = 0.9, .centered = true});
    const tg::StateDict ada = check_group_round_trip<tg::Adagrad>(
        tg::AdagradOptions{.lr = 0.1, .initial_accumulator_value = 0.1},
        tg::AdagradOptions{.lr = 0.05, .lr_decay = 0.1, .initial_accumulator_value = 0.5}, tg::AdagradOptions{});
    REQUIRE(ada.at("group.1.initial_accumulator_value").data()[0] == 0.5);
}

TEST_CASE("a group that does not use a buffer leaves it at its start; Adagrad starts each group's own", "[optim][groups]") {
    Three<float> s;
    tg::Adam<float> adam({{s.encoder, {.lr = 0.01}}, {s.head, {.lr = 0.01, .amsgrad = true}}});
    tg::Adagrad<float> ada({{s.encoder, {.initial_accumulator_value = 0.25}}, {s.head, {.initial_accumulator_value = 2}}});
    const tg::StateDict fresh = ada.state_dict();
    REQUIRE(fresh.at("1.sum").data()[3] == 0.25);
    REQUIRE(fresh.at("2.sum").data()[0] == 2.0);
    s.set_grads(0);
    adam.step();
    const tg::StateDict st = adam.state_dict();
    for (double v : st.at("0.max_exp_avg_sq")) REQUIRE(v == 0.0);  // group 0 has no amsgrad
    REQUIRE(st.at("2.max_exp_avg_sq").data()[0] > 0.0);
    REQUIRE(st.at("2.max_exp_avg_sq").data()[0] == st.at("2.exp_avg_sq").data()[0]);
}

TEST_CASE("a state of other groups or bad group values is refused, changing nothing", "[optim][groups]") {
    Three<float> s;
    tg::Adam<float> opt({{s.encoder, {.lr = 0.05}}, {s.head, {.lr = 0.01, .amsgrad = true}}});
    s.set_grads(0);
    opt.step();
    const tg::StateDict good = opt.state_dict();
    auto refused = [&](const tg::StateDict& bad, std::initializer_list<std::string> parts) {
        require_argument_error([&] { opt.load_state_dict(bad); }, parts);
        require_same_state(opt.state_dict(), good);
    };
    auto with = [&](const std::string& key, const tg::Tensor<double>& value) {
        tg::StateDict s2 = good;
        s2[key] = value;
        return s2;
    };
    Three<float> other;
    tg::Adam<float> one(other.all, {.amsgrad = true});
    refused(one.state_dict(), {"Adam::load_state_dict", "the state has 1 parameter groups, this optimizer has 2"});
    tg::Adam<float> three({{{&other.a}, {.amsgrad = true}}, {{&other.b}, {}}, {{&other.c}, {}}});
    refused(three.state_dict(), {"the state has 3 parameter groups"});
    // Two groups, split otherwise: a, then b and c.
    tg::Adam<float> split({{{&other.a}, {.amsgrad = true}}, {{&other.b, &other.c}, {.amsgrad = true}}});
    refused(split.state_dict(), {"'group.0.params'", "(1,)", "expected (2,)", "group 0 has 2 parameters"});
    refused(with("group.1.params", tg::Tensor<double>{0.0}),
            {"'group.1.params'", "element 0 is 0, expected 2", "other parameters"});
    refused(with("group.1.beta1", scalar(1.5)), {"group 1", "'group.1.*'", "beta1", "1.5"});
    refused(with("group.0.eps", scalar(-1)), {"group 0", "eps"});
    refused(with("group.0.amsgrad", scalar(0.5)), {"group 0", "amsgrad", "0 or 1"});
    refused(with("group.1.amsgrad", scalar(0)), {"group 1", "amsgrad", "differs"});
    refused(with("group.1.lr", scalar(std::nan(""))), {"'group.1.lr'"});
    refused(with("group.1.lr", tg::Tensor<double>{0.1, 0.2}), {"'group.1.lr'", "(2,)", "expected ()"});
    refused(with("group.2.lr", scalar(0.1)), {"unexpected key 'group.2.lr'"});
    tg::StateDict missing = good;
    missing.erase("group.1.weight_decay");
    refused(missing, {"missing key 'group.1.weight_decay'"});
    refused(with("lr", scalar(0.1)), {"unexpected key 'lr'"});  // a new state has no "lr"
    opt.load_state_dict(good);
}

TEST_CASE("a checkpoint written before parameter groups still loads, keeping the options", "[optim][groups]") {
    // Written by tapegrad c64d21c, before groups (tests/fixtures/optim/README.md):
    // Adam<float> {.lr = 0.02, .beta1 = 0.8, .amsgrad = true} over Three's
    // parameters after 3 steps of Three's gradients and set_lr(0.015).
    const std::string path = TAPEGRAD_FIXTURES "/optim/adam_before_groups.npz";
    std::vector<std::string> keys = tg::NpzReader(path).names();
    std::sort(keys.begin(), keys.end());
    REQUIRE(keys == std::vector<std::string>{"0.exp_avg", "0.exp_avg_sq", "0.max_exp_avg_sq", "1.exp_avg",
                                             "1.exp_avg_sq", "1.max_exp_avg_sq", "2.exp_avg", "2.exp_avg_sq",
                                             "2.max_exp_avg_sq", "lr", "step"});
    Three<float> whole, copy;
    tg::Adam<float> a(whole.all, {.lr = 0.02, .beta1 = 0.8, .amsgrad = true});
    for (int t = 0; t < 3; ++t) {
        whole.set_grads(t);
        a.step();
    }
    a.set_lr(0.015);
    for (std::size_t k = 0; k < whole.all.size(); ++k) copy.all[k]->set_value(whole.all[k]->value());
    tg::Adam<float> b(copy.all, {.lr = 0.5, .beta1 = 0.8, .amsgrad = true});
    tg::load(b, path);
    REQUIRE(b.lr() == 0.015);
    REQUIRE(b.steps() == 3);
    REQUIRE(b.options().beta1 == 0.8);  // not in the file: b's own
    require_same_state(b.state_dict(), a.state_dict());  // the old file holds what this code computes
    for (int t = 3; t < 5; ++t) {
        whole.set_grads(t);
        copy.set_grads(t);
        a.step();
        b.step();
    }
    for (std::size_t k = 0; k < whole.all.size(); ++k) REQUIRE(bitwise_equal(copy.all[k]->value(), whole.all[k]->value()));

    // Into two groups it cannot go; a bad old lr is refused by its key.
    const tg::StateDict old = tg::load_npz<double>(path);
    tg::Adam<float> grouped({{copy.encoder, {.amsgrad = true}}, {copy.head, {.amsgrad = true}}});
    const tg::StateDict grouped_before = grouped.state_dict();
    require_argument_error([&] { grouped.load_state_dict(old); },
                           {"saved before parameter groups (key 'lr')", "this optimizer has 2"});
    require_same_state(grouped.state_dict(), grouped_before);
    tg::StateDict bad = old;
    bad["lr"] = scalar(-1);
    require_argument_error([&] { b.load_state_dict(bad); }, {"key 'lr'", "-1"});
    bad = old;
    bad.erase("2.exp_avg");
    require_argument_error([&] { b.load_state_dict(bad); }, {"missing key '2.exp_avg'"});
    REQUIRE(b.lr() == 0.015);
}
