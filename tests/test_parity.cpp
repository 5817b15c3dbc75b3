// Parity with PyTorch 1.13: recurrent layers (outputs, final states and every
// gradient) and optimizer trajectories, against fixtures written by
// tools/make_fixtures.py. Double must agree to 1e-10 relative (parameter
// groups: 1e-12), float to 1e-5.
// The fixtures are plain .npz files: these tests never need torch.

#include <cmath>
#include <functional>
#include <optional>

#include "test_util.hpp"

namespace tg = tapegrad;

namespace {

const std::string kDir = TAPEGRAD_FIXTURES "/torch/";

enum class Kind { rnn_tanh, rnn_relu, lstm, gru };

struct Case {
    const char* file;
    Kind kind;
    std::size_t layers;
    bool bidirectional;
};

const Case kCases[] = {
    {"rnn_tanh", Kind::rnn_tanh, 1, false},
    {"rnn_relu_2layer_bidir", Kind::rnn_relu, 2, true},
    {"lstm", Kind::lstm, 1, false},
    {"lstm_lengths", Kind::lstm, 1, false},
    {"lstm_2layer_bidir_lengths", Kind::lstm, 2, true},
    {"gru", Kind::gru, 1, false},
    {"gru_2layer_bidir_lengths", Kind::gru, 2, true},
};

template <class T>
std::unique_ptr<tg::RecurrentLayer<T>> make_layer(const Case& c, std::size_t input, std::size_t hidden) {
    tg::RecurrentOptions o;
    o.input_size = input;
    o.hidden_size = hidden;
    o.num_layers = c.layers;
    o.bidirectional = c.bidirectional;
    tg::Generator gen(0);
    switch (c.kind) {
        case Kind::lstm: return std::make_unique<tg::LSTM<T>>(o, gen);
        case Kind::gru: return std::make_unique<tg::GRU<T>>(o, gen);
        case Kind::rnn_relu:
            o.nonlinearity = tg::RNNNonlinearity::relu;
            return std::make_unique<tg::RNN<T>>(o, gen);
        default: return std::make_unique<tg::RNN<T>>(o, gen);
    }
}

// |actual − expected| ≤ tol·max(1, |expected|) elementwise, in double.
template <class T>
void require_match(const std::string& what, const tg::Tensor<T>& actual, const tg::Tensor<double>& expected, double tol) {
    INFO(what << ": actual " << tgtest::describe(actual) << "\n expected " << tgtest::describe(expected));
    REQUIRE(std::vector<std::size_t>(actual.shape().begin(), actual.shape().end()) ==
            std::vector<std::size_t>(expected.shape().begin(), expected.shape().end()));
    double worst = 0;
    for (std::size_t i = 0; i < actual.size(); ++i) {
        const double e = expected.data()[i];
        worst = std::max(worst, std::abs(double(actual.data()[i]) - e) / std::max(1.0, std::abs(e)));
    }
    INFO("worst relative difference " << worst);
    REQUIRE(worst <= tol);
}

template <class T>
void check_recurrent(const Case& c, double tol) {
    INFO("fixture " << c.file);
    const auto ref = tg::load_npz<double>(kDir + c.file + ".npz");
    const tg::Tensor<double>& x0 = ref.at("x");
    const std::size_t hidden = ref.at("weight_hh_l0").shape()[1];
    auto layer = make_layer<T>(c, x0.shape()[2], hidden);
    tg::load(*layer, kDir + c.file + ".npz", {.strict = false});  // the file also holds inputs and results

    auto cast = [](const tg::Tensor<double>& v) { return tg::Tensor<T>(tg::Tensor<T>::from_shape(v.shape())); };
    auto convert = [&](const tg::Tensor<double>& v) {
        tg::Tensor<T> out = cast(v);
        for (std::size_t i = 0; i < v.size(); ++i) out.data()[i] = static_cast<T>(v.data()[i]);
        return out;
    };
    tg::Tape<T> t;
    auto x = t.variable(convert(x0));
    std::optional<tg::RecurrentState<T>> initial;
    if (ref.count("h0")) {
        initial = tg::RecurrentState<T>{t.variable(convert(ref.at("h0"))), {}};
        if (ref.count("c0")) initial->c = t.variable(convert(ref.at("c0")));
    }
    std::vector<std::int64_t> lengths;
    if (ref.count("lengths"))
        for (double l : ref.at("lengths")) lengths.push_back(static_cast<std::int64_t>(l));

    auto [out, state] = (*layer)(x, initial, lengths);
    auto loss = tg::sum(out * t.constant(convert(ref.at("r_output")))) + tg::sum(state.h * t.constant(convert(ref.at("r_h"))));
    if (state.c) loss = loss + tg::sum(state.c * t.constant(convert(ref.at("r_c"))));
    t.backward(loss);

    require_match("output", out.value(), ref.at("output"), tol);
    require_match("h_n", state.h.value(), ref.at("h_n"), tol);
    if (state.c) require_match("c_n", state.c.value(), ref.at("c_n"), tol);
    require_match("grad_x", x.grad(), ref.at("grad_x"), tol);
    if (initial) {
        require_match("grad_h0", initial->h.grad(), ref.at("grad_h0"), tol);
        if (initial->c) require_match("grad_c0", initial->c.grad(), ref.at("grad_c0"), tol);
    }
    std::size_t grads = 0;
    for (auto& [name, p] : layer->named_parameters()) {
        require_match("grad." + name, p->grad(), ref.at("grad." + name), tol);
        ++grads;
    }
    REQUIRE(grads == c.layers * (c.bidirectional ? 2 : 1) * 4);
}

template <class T>
using MakeOptimizer = std::function<std::unique_ptr<tg::Optimizer<T>>(std::vector<tg::Parameter<T>*>)>;

template <class T>
void check_trajectory(const std::string& name, const MakeOptimizer<T>& make, double tol) {
    INFO("optimizer fixture " << name);
    const auto ref = tg::load_npz<double>(kDir + "optim_" + name + ".npz");
    auto convert = [](const tg::Tensor<double>& v) {
        tg::Tensor<T> out = tg::Tensor<T>::from_shape(v.shape());
        for (std::size_t i = 0; i < v.size(); ++i) out.data()[i] = static_cast<T>(v.data()[i]);
        return out;
    };
    tg::Parameter<T> p0(convert(ref.at("p0.0"))), p1(convert(ref.at("p0.1")));
    auto opt = make({&p0, &p1});
    for (int k = 0; k < 10; ++k) {
        const std::string s = std::to_string(k);
        p0.mutable_grad() = convert(ref.at("grad." + s + ".0"));
        p1.mutable_grad() = convert(ref.at("grad." + s + ".1"));
        opt->step();
        require_match("step " + s + " param 0", p0.value(), ref.at("traj." + s + ".0"), tol);
        require_match("step " + s + " param 1", p1.value(), ref.at("traj." + s + ".1"), tol);
    }
}

template <class T>
void check_all_optimizers(double tol) {
    using P = std::vector<tg::Parameter<T>*>;
    using U = std::unique_ptr<tg::Optimizer<T>>;
    check_trajectory<T>("sgd", [](P p) -> U { return std::make_unique<tg::SGD<T>>(p, tg::SGDOptions{.lr = 0.1}); }, tol);
    check_trajectory<T>("sgd_momentum", [](P p) -> U {
        return std::make_unique<tg::SGD<T>>(p, tg::SGDOptions{.lr = 0.05, .momentum = 0.9, .dampening = 0.1, .weight_decay = 0.01});
    }, tol);
    check_trajectory<T>("sgd_nesterov", [](P p) -> U {
        return std::make_unique<tg::SGD<T>>(p, tg::SGDOptions{.lr = 0.05, .momentum = 0.9, .weight_decay = 0.01, .nesterov = true});
    }, tol);
    check_trajectory<T>("adam", [](P p) -> U { return std::make_unique<tg::Adam<T>>(p, tg::AdamOptions{.lr = 1e-2}); }, tol);
    check_trajectory<T>("adam_amsgrad", [](P p) -> U {
        return std::make_unique<tg::Adam<T>>(
            p, tg::AdamOptions{.lr = 1e-2, .beta1 = 0.8, .beta2 = 0.9, .weight_decay = 0.1, .amsgrad = true});
    }, tol);
    check_trajectory<T>("adamw", [](P p) -> U {
        return std::make_unique<tg::AdamW<T>>(p, tg::AdamWOptions{.lr = 1e-2, .weight_decay = 0.1});
    }, tol);
    check_trajectory<T>("rmsprop", [](P p) -> U { return std::make_unique<tg::RMSprop<T>>(p, tg::RMSpropOptions{.lr = 1e-2}); }, tol);
    check_trajectory<T>("rmsprop_centered", [](P p) -> U {
        return std::make_unique<tg::RMSprop<T>>(
            p, tg::RMSpropOptions{.lr = 1e-2, .alpha = 0.9, .weight_decay = 0.01, .momentum = 0.5, .centered = true});
    }, tol);
    check_trajectory<T>("adagrad", [](P p) -> U {
        return std::make_unique<tg::Adagrad<T>>(
            p, tg::AdagradOptions{.lr = 0.1, .lr_decay = 0.01, .weight_decay = 0.01, .initial_accumulator_value = 0.1});
    }, tol);
}

template <class T>
using Groups = std::vector<tg::Parameter<T>*>;
template <class T>
using MakeGrouped = std::function<std::unique_ptr<tg::Optimizer<T>>(Groups<T> group0, Groups<T> group1)>;

// optim_groups_<name>.npz: 20 steps of PyTorch's optimizer over two param_groups
// (parameters 0 and 1, then 2), each group's lr before every step, and the
// parameters after it. With `step_lr`, a StepLR(5, 0.5) steps after every step.
template <class T>
void check_grouped_trajectory(const std::string& name, const MakeGrouped<T>& make, double tol, bool step_lr = false) {
    INFO("optimizer fixture optim_groups_" << name);
    const auto ref = tg::load_npz<double>(kDir + "optim_groups_" + name + ".npz");
    auto convert = [](const tg::Tensor<double>& v) {
        tg::Tensor<T> out = tg::Tensor<T>::from_shape(v.shape());
        for (std::size_t i = 0; i < v.size(); ++i) out.data()[i] = static_cast<T>(v.data()[i]);
        return out;
    };
    std::vector<tg::Parameter<T>> params;
    for (int i = 0; i < 3; ++i) params.emplace_back(convert(ref.at("p0." + std::to_string(i))));
    auto opt = make({&params[0], &params[1]}, {&params[2]});
    REQUIRE(opt->num_groups() == 2);
    std::optional<tg::StepLR<T>> sched;
    if (step_lr) sched.emplace(*opt, 5, 0.5);
    for (int k = 0; k < 20; ++k) {
        const std::string s = std::to_string(k);
        for (std::size_t g = 0; g < 2; ++g) REQUIRE(opt->lr(g) == ref.at("lr." + s + "." + std::to_string(g)).data()[0]);
        for (int i = 0; i < 3; ++i) params[i].mutable_grad() = convert(ref.at("grad." + s + "." + std::to_string(i)));
        opt->step();
        if (sched) sched->step();
        for (int i = 0; i < 3; ++i)
            require_match("step " + s + " param " + std::to_string(i), params[i].value(),
                          ref.at("traj." + s + "." + std::to_string(i)), tol);
    }
}

template <class T>
void check_all_grouped_optimizers(double tol) {
    using G = Groups<T>;
    using U = std::unique_ptr<tg::Optimizer<T>>;
    check_grouped_trajectory<T>("sgd", [](G a, G b) -> U {
        return std::make_unique<tg::SGD<T>>(std::vector<tg::ParamGroup<T, tg::SGDOptions>>{
            {a, {.lr = 0.05, .momentum = 0.9, .dampening = 0.1, .weight_decay = 0.01}},
            {b, {.lr = 0.2, .momentum = 0.5, .nesterov = true}}});
    }, tol, true);
    check_grouped_trajectory<T>("adam", [](G a, G b) -> U {
        return std::make_unique<tg::Adam<T>>(std::vector<tg::ParamGroup<T, tg::AdamOptions>>{
            {a, {.lr = 1e-2, .weight_decay = 0.1}}, {b, {.lr = 3e-2, .beta1 = 0.8, .beta2 = 0.9, .amsgrad = true}}});
    }, tol);
    check_grouped_trajectory<T>("adamw", [](G a, G b) -> U {
        return std::make_unique<tg::AdamW<T>>(std::vector<tg::ParamGroup<T, tg::AdamWOptions>>{
            {a, {.lr = 1e-2, .weight_decay = 0.1}}, {b, {.lr = 5e-3, .weight_decay = 0}}});
    }, tol);
    check_grouped_trajectory<T>("rmsprop", [](G a, G b) -> U {
        return std::make_unique<tg::RMSprop<T>>(std::vector<tg::ParamGroup<T, tg::RMSpropOptions>>{
            {a, {.lr = 1e-2, .alpha = 0.9, .momentum = 0.5, .centered = true}}, {b, {.lr = 5e-3, .weight_decay = 0.01}}});
    }, tol);
    check_grouped_trajectory<T>("adagrad", [](G a, G b) -> U {
        return std::make_unique<tg::Adagrad<T>>(std::vector<tg::ParamGroup<T, tg::AdagradOptions>>{
            {a, {.lr = 0.1, .lr_decay = 0.01, .weight_decay = 0.01, .initial_accumulator_value = 0.3}},
            {b, {.lr = 0.05, .initial_accumulator_value = 0.3}}});
    }, tol);
}

}  // namespace

TEST_CASE("parameter groups follow PyTorch's param_groups trajectories in double to 1e-12", "[parity][optim][groups]") {
    check_all_grouped_optimizers<double>(1e-12);
}

TEST_CASE("parameter groups follow PyTorch's param_groups trajectories in float to 1e-5", "[parity][optim][groups]") {
    check_all_grouped_optimizers<float>(1e-5);
}

TEST_CASE("recurrent layers match PyTorch in double to 1e-10", "[parity][layers]") {
    for (const Case& c : kCases) check_recurrent<double>(c, 1e-10);
}

TEST_CASE("recurrent layers match PyTorch in float to 1e-5", "[parity][layers]") {
    for (const Case& c : kCases) check_recurrent<float>(c, 1e-5);
}

TEST_CASE("optimizers follow PyTorch's trajectories in double to 1e-10", "[parity][optim]") { check_all_optimizers<double>(1e-10); }

TEST_CASE("optimizers follow PyTorch's trajectories in float to 1e-5", "[parity][optim]") { check_all_optimizers<float>(1e-5); }

TEST_CASE("Linear and Embedding loaded from a PyTorch state_dict match PyTorch", "[parity][layers]") {
    const std::string path = kDir + "linear_embedding.npz";
    const auto ref = tg::load_npz<double>(path);
    tg::Generator gen(0);
    tg::Embedding<double> emb(7, 4, gen);
    tg::Linear<double> lin(4, 3, gen);
    tg::load(emb, path, {.prefix = "embedding", .strict = false});
    tg::load(lin, path, {.prefix = "linear", .strict = false});
    tg::Index idx = tg::Index::from_shape({2, 3});
    for (std::size_t i = 0; i < 6; ++i) idx.data()[i] = static_cast<std::int64_t>(ref.at("indices").data()[i]);
    tg::Tape<double> t;
    auto out = lin(emb(t, idx));
    t.backward(tg::sum(out * t.constant(ref.at("r_output"))));
    require_match("output", out.value(), ref.at("output"), 1e-10);
    require_match("grad.embedding.weight", emb.weight.grad(), ref.at("grad.embedding.weight"), 1e-10);
    require_match("grad.linear.weight", lin.weight.grad(), ref.at("grad.linear.weight"), 1e-10);
    require_match("grad.linear.bias", lin.bias.grad(), ref.at("grad.linear.bias"), 1e-10);
}
