// Issue 10, section 2: lifetimes of parameters, modules and optimizers.
// Moving a module (by hand or by a growing std::vector) keeps its gradients and
// optimizer updates flowing to the live object; destroying or reshaping a
// parameter that a tape or an optimizer still uses is a typed error that
// changes nothing. On the old code these cases read or wrote freed memory,
// overflowed the heap, or sent gradients to the moved-from object.

#include <memory>
#include <type_traits>
#include <vector>

#include "test_util.hpp"

namespace tg = tapegrad;
using Catch::Matchers::Contains;
using Catch::Matchers::Message;

namespace {

tg::Tensor<float> ramp(const tg::Shape& shape, float scale = 0.1f, float offset = 0.0f) {
    tg::Tensor<float> t = tg::Tensor<float>::from_shape(shape);
    for (std::size_t i = 0; i < t.size(); ++i) t.data()[i] = offset + scale * std::sin(1.3f * float(i) + 0.7f);
    return t;
}

tg::Var<float> linear_loss(tg::Tape<float>& t, tg::Linear<float>& m) {
    return tg::sum(tg::tanh(m(t.constant(ramp({4, 3}, 1.0f)))));
}

tg::Var<float> lstm_loss(tg::Tape<float>& t, tg::LSTM<float>& m) {
    return tg::sum(m(t.constant(ramp({5, 2, 3}, 1.0f))).output);
}

tg::RecurrentOptions lstm_options() { return {.input_size = 3, .hidden_size = 4}; }

// Gradients are bit-identical: same arithmetic, same order.
void require_same_grads(tg::Module<float>& actual, tg::Module<float>& expected) {
    const auto a = actual.named_parameters(), e = expected.named_parameters();
    REQUIRE(a.size() == e.size());
    for (std::size_t i = 0; i < a.size(); ++i) {
        INFO(a[i].first);
        REQUIRE(a[i].second->has_grad());
        tgtest::require_close(a[i].second->grad(), e[i].second->grad(), 0, 0);
    }
}

void require_same_values(tg::Module<float>& actual, tg::Module<float>& expected) {
    const auto a = actual.named_parameters(), e = expected.named_parameters();
    REQUIRE(a.size() == e.size());
    for (std::size_t i = 0; i < a.size(); ++i) {
        INFO(a[i].first);
        tgtest::require_close(a[i].second->value(), e[i].second->value(), 0, 0);
    }
}

// Three SGD-with-momentum steps through `opt` on `m` (wherever it lives now).
template <class Opt>
void train3(Opt& opt, tg::Linear<float>& m) {
    for (int step = 0; step < 3; ++step) {
        tg::Tape<float> t;
        t.backward(linear_loss(t, m));
        opt.step();
        opt.zero_grad();
    }
}

}  // namespace

TEST_CASE("modules and parameters move without throwing, so std::vector moves them", "[lifetime]") {
    // A vector copies elements whose move may throw: copies would be new
    // parameters, and the gradients of a forward pass would be lost.
    REQUIRE(std::is_nothrow_move_constructible_v<tg::Parameter<float>>);
    REQUIRE(std::is_nothrow_move_assignable_v<tg::Parameter<float>>);
    REQUIRE(std::is_nothrow_move_constructible_v<tg::Linear<float>>);
    REQUIRE(std::is_nothrow_move_constructible_v<tg::LSTM<float>>);
    REQUIRE(std::is_nothrow_move_constructible_v<tg::GRU<double>>);
    REQUIRE(std::is_nothrow_move_constructible_v<tg::Embedding<float>>);
    REQUIRE(std::is_nothrow_move_constructible_v<tg::LayerNorm<float>>);
}

TEST_CASE("a module in a std::vector that grows between forward and backward gets its gradients", "[lifetime]") {
    tg::Generator gen(7);
    SECTION("Linear") {
        const tg::Linear<float> proto(3, 2, gen);
        tg::Linear<float> ref = proto;
        tg::Tape<float> rt;
        rt.backward(linear_loss(rt, ref));

        std::vector<tg::Linear<float>> layers;
        layers.reserve(1);
        layers.push_back(proto);
        tg::Tape<float> t;
        const auto loss = linear_loss(t, layers[0]);
        const tg::Linear<float>* before = &layers[0];
        for (int k = 0; k < 8; ++k) layers.push_back(proto);  // reallocates: layers[0] moves
        REQUIRE(&layers[0] != before);
        t.backward(loss);
        require_same_grads(layers[0], ref);
        for (std::size_t k = 1; k < layers.size(); ++k) REQUIRE_FALSE(layers[k].weight.has_grad());
    }
    SECTION("LSTM") {
        const tg::LSTM<float> proto(lstm_options(), gen);
        tg::LSTM<float> ref = proto;
        tg::Tape<float> rt;
        rt.backward(lstm_loss(rt, ref));

        std::vector<tg::LSTM<float>> layers;
        layers.reserve(1);
        layers.push_back(proto);
        tg::Tape<float> t;
        const auto loss = lstm_loss(t, layers[0]);
        for (int k = 0; k < 4; ++k) layers.push_back(proto);
        t.backward(loss);
        require_same_grads(layers[0], ref);
    }
}

TEST_CASE("after a move between forward and backward the live module gets the gradients", "[lifetime]") {
    tg::Generator gen(11);
    const tg::Linear<float> proto(3, 2, gen);
    tg::Linear<float> ref = proto;
    tg::Tape<float> rt;
    rt.backward(linear_loss(rt, ref));

    SECTION("move construction") {
        tg::Linear<float> m1 = proto;
        tg::Tape<float> t;
        const auto loss = linear_loss(t, m1);
        tg::Linear<float> m2 = std::move(m1);
        t.backward(loss);
        require_same_grads(m2, ref);
        // The moved-from module has no parameters left to use: a typed error.
        REQUIRE_FALSE(m1.weight.has_state());
        REQUIRE_THROWS_MATCHES(m1.weight.value(), tg::LifetimeError, Message("Parameter::value: this Parameter was moved from and has no value; assign a Parameter to it before using it"));
        REQUIRE_THROWS_AS(m1.weight.grad(), tg::LifetimeError);
        tg::Tape<float> t2;
        REQUIRE_THROWS_AS(t2.param(m1.weight), tg::LifetimeError);
        REQUIRE(t2.size() == 0);
        // Assigning a module makes it usable again.
        m1 = proto;
        REQUIRE(m1.weight.has_state());
        tgtest::require_close(m1.weight.value(), proto.weight.value(), 0, 0);
    }
    SECTION("move assignment: the target's old parameters are orphaned") {
        tg::Linear<float> m1 = proto, m3(3, 2, gen);
        tg::Tape<float> t, t_old;
        const auto loss = linear_loss(t, m1);
        const auto old_loss = linear_loss(t_old, m3);
        m3 = std::move(m1);
        t.backward(loss);
        require_same_grads(m3, ref);
        REQUIRE_THROWS_WITH(t_old.backward(old_loss), Contains("was destroyed after the forward pass read it"));
        REQUIRE_THROWS_AS(t_old.backward(old_loss), tg::LifetimeError);
    }
}

TEST_CASE("a parameter destroyed between forward and backward is a LifetimeError that changes nothing", "[lifetime]") {
    auto w = std::make_unique<tg::Parameter<float>>(ramp({3, 4}), "w");
    tg::Parameter<float> b(ramp({4}), "b");
    b.mutable_grad().fill(7.0f);
    tg::Tape<float> t;
    const auto loss = tg::sum(tg::matmul(t.constant(ramp({2, 3}, 1.0f)), t.param(*w)) + t.param(b));
    w.reset();
    REQUIRE_THROWS_MATCHES(t.backward(loss), tg::LifetimeError,
                           Message("backward: parameter 'w' of shape (3, 4) was destroyed after the forward pass read it"));
    for (std::size_t i = 0; i < b.size(); ++i) REQUIRE(b.grad().data()[i] == 7.0f);
    REQUIRE_FALSE(t.consumed());
    // The tape is still usable once cleared.
    t.clear();
    t.backward(tg::sum(t.param(b)));
    for (std::size_t i = 0; i < b.size(); ++i) REQUIRE(b.grad().data()[i] == 8.0f);
}

TEST_CASE("an optimizer over a module that is moved afterwards updates the live module", "[lifetime][optim]") {
    tg::Generator gen(3);
    tg::Linear<float> proto(3, 2, gen);
    tg::Linear<float> ref = proto;
    tg::SGD<float> ref_opt(ref.parameters(), {.lr = 0.1, .momentum = 0.9});
    train3(ref_opt, ref);

    SECTION("std::move into another variable") {
        tg::Linear<float> a = proto;
        tg::SGD<float> opt(a.parameters(), {.lr = 0.1, .momentum = 0.9});
        tg::Linear<float> b = std::move(a);
        train3(opt, b);
        require_same_values(b, ref);
        REQUIRE(opt.params() == b.parameters());
    }
    SECTION("a growing std::vector") {
        std::vector<tg::Linear<float>> layers;
        layers.reserve(1);
        layers.push_back(proto);
        tg::SGD<float> opt(layers[0].parameters(), {.lr = 0.1, .momentum = 0.9});
        for (int k = 0; k < 8; ++k) layers.push_back(proto);
        train3(opt, layers[0]);
        require_same_values(layers[0], ref);
        require_same_values(layers[1], proto);  // untouched
        // Clipping through params() reaches the live parameters too.
        tg::Tape<float> t;
        t.backward(linear_loss(t, layers[0]));
        REQUIRE(tg::clip_grad_norm(opt.params(), 1e-3) > 0);
        REQUIRE(tg::clip_grad_norm(layers[0].parameters(), INFINITY) <= 1.001e-3);
    }
    SECTION("Adam, moved between steps") {
        tg::Linear<float> ref2 = proto, a = proto;
        tg::Adam<float> ref_adam(ref2.parameters(), {.lr = 0.01});
        tg::Adam<float> adam(a.parameters(), {.lr = 0.01});
        train3(ref_adam, ref2);
        train3(adam, a);
        tg::Linear<float> b = std::move(a);
        train3(ref_adam, ref2);
        train3(adam, b);
        require_same_values(b, ref2);
    }
}

TEST_CASE("an optimizer over a destroyed parameter is a LifetimeError that changes nothing", "[lifetime][optim]") {
    auto w = std::make_unique<tg::Parameter<float>>(ramp({3, 2}), "w");
    tg::Parameter<float> b(ramp({2}), "b");
    b.mutable_grad().fill(1.0f);
    const tg::Tensor<float> b_before = b.value();
    tg::SGD<float> sgd({&b, w.get()}, {.lr = 0.1});
    tg::Adam<float> adam({&b, w.get()}, {.lr = 0.1});
    w.reset();
    REQUIRE_THROWS_MATCHES(sgd.step(), tg::LifetimeError,
                           Message("SGD::step: parameter 1 ('w') of shape (3, 2) was destroyed while the optimizer still "
                                   "refers to it; build the optimizer over parameters that outlive it"));
    REQUIRE_THROWS_WITH(adam.step(), Contains("Adam::step: parameter 1 ('w')"));
    REQUIRE_THROWS_WITH(sgd.zero_grad(), Contains("SGD::zero_grad: parameter 1 ('w')"));
    REQUIRE_THROWS_WITH(sgd.params(), Contains("SGD::params: parameter 1 ('w')"));
    REQUIRE(sgd.steps() == 0);
    REQUIRE(adam.steps() == 0);
    tgtest::require_close(b.value(), b_before, 0, 0);
    for (std::size_t i = 0; i < b.size(); ++i) REQUIRE(b.grad().data()[i] == 1.0f);
    // A moved-from parameter is refused up front.
    tg::Parameter<float> c(ramp({2}), "c");
    tg::Parameter<float> d = std::move(c);
    REQUIRE_THROWS_MATCHES(tg::SGD<float>({&d, &c}, {.lr = 0.1}), tg::LifetimeError,
                           Message("SGD: parameter 1 was moved from (it has no value)"));
}

TEST_CASE("a value reshaped through mutable_value() leaves a stale gradient: a ShapeError everywhere, nothing changed", "[lifetime]") {
    tg::Parameter<float> p(ramp({3}), "w");
    tg::Parameter<float> q(ramp({4}), "q");
    p.mutable_grad().fill(1.0f);
    q.mutable_grad().fill(100.0f);
    p.mutable_value() = ramp({5}, 1.0f);  // 5 elements, gradient still 3
    const tg::Tensor<float> p_before = p.value();
    const std::string problem =
        "parameter 'w': value has shape (5,) but its gradient has shape (3,); reshape with set_value(), or zero_grad() "
        "to discard the gradient";

    REQUIRE_THROWS_MATCHES(p.grad(), tg::ShapeError, Message("Parameter::grad: " + problem));
    REQUIRE_THROWS_AS(p.mutable_grad(), tg::ShapeError);
    tg::SGD<float> sgd({&q, &p}, {.lr = 0.1});
    REQUIRE_THROWS_MATCHES(sgd.step(), tg::ShapeError, Message("SGD::step: " + problem));
    tg::Adam<float> adam({&q, &p}, {.lr = 0.1});
    REQUIRE_THROWS_MATCHES(adam.step(), tg::ShapeError, Message("Adam::step: " + problem));
    REQUIRE_THROWS_MATCHES(tg::clip_grad_norm<float>({&q, &p}, 1.0), tg::ShapeError, Message("clip_grad_norm: " + problem));
    REQUIRE_THROWS_MATCHES(tg::clip_grad_value<float>({&q, &p}, 1.0), tg::ShapeError, Message("clip_grad_value: " + problem));
    {
        tg::Tape<float> t;
        const auto loss = tg::sum(t.param(q)) + tg::sum(t.param(p));
        REQUIRE_THROWS_MATCHES(t.backward(loss), tg::ShapeError, Message("backward: " + problem));
    }
    // Nothing changed: values, q's gradient (clipping would have scaled it), steps.
    tgtest::require_close(p.value(), p_before, 0, 0);
    tgtest::require_close(q.value(), tg::Tensor<float>(ramp({4})), 0, 0);
    for (std::size_t i = 0; i < q.size(); ++i) REQUIRE(q.grad().data()[i] == 100.0f);
    REQUIRE(sgd.steps() == 0);

    // zero_grad() discards the stale gradient; everything works at the new shape.
    p.zero_grad();
    REQUIRE_FALSE(p.has_grad());
    REQUIRE(p.grad().size() == 5);
    tg::Tape<float> t;
    t.backward(tg::sum(t.param(p)));
    for (std::size_t i = 0; i < 5; ++i) REQUIRE(p.grad().data()[i] == 1.0f);
    q.zero_grad();
    sgd.step();
    REQUIRE(p.value().data()[4] == p_before.data()[4] - 0.1f);
    REQUIRE_NOTHROW(tg::clip_grad_value<float>({&q, &p}, 0.5));
}

TEST_CASE("a value resized after the forward pass through a kept reference is refused by backward", "[lifetime]") {
    tg::Parameter<float> p(ramp({3}), "w");
    tg::Tensor<float>& v = p.mutable_value();
    tg::Tape<float> t;
    const auto loss = tg::sum(t.param(p));
    v = ramp({6});  // no version bump: the reference was taken before the forward pass
    REQUIRE_THROWS_MATCHES(t.backward(loss), tg::ParameterModifiedError,
                           Message("backward: parameter 'w' of shape (6,) was reshaped after the forward pass read it as "
                                   "(3,); run the forward pass again before backward"));
    REQUIRE_FALSE(p.has_grad());
}

TEST_CASE("copies of parameters and modules are independent", "[lifetime]") {
    tg::Generator gen(5);
    tg::Linear<float> a(3, 2, gen);
    a.set_parameter_names();
    a.weight.mutable_grad().fill(2.0f);

    tg::Linear<float> b = a;  // deep: new records
    REQUIRE(b.weight.name() == "weight");
    REQUIRE(b.weight.state() != a.weight.state());
    for (std::size_t i = 0; i < b.weight.size(); ++i) REQUIRE(b.weight.grad().data()[i] == 2.0f);
    b.weight.mutable_value().fill(0.0f);
    b.weight.mutable_grad().fill(3.0f);
    REQUIRE(a.weight.value().data()[0] != 0.0f);
    REQUIRE(a.weight.grad().data()[0] == 2.0f);

    // A tape reading a sends its gradients to a only.
    b.zero_grad();
    a.zero_grad();
    tg::Tape<float> t;
    t.backward(linear_loss(t, a));
    REQUIRE(a.weight.grad().data()[0] != 0.0f);
    REQUIRE(b.weight.grad().data()[0] == 0.0f);

    // Copy assignment copies into the existing record: identity kept, version
    // bumped, so a tape that read the old value refuses to backpropagate.
    tg::Tape<float> t2;
    const auto loss = linear_loss(t2, b);
    const auto record = b.weight.state();
    const auto version = b.weight.version();
    b = a;
    REQUIRE(b.weight.state() == record);
    REQUIRE(b.weight.version() > version);
    tgtest::require_close(b.weight.value(), a.weight.value(), 0, 0);
    REQUIRE_THROWS_AS(t2.backward(loss), tg::ParameterModifiedError);
    b.weight.mutable_value().fill(1.0f);
    REQUIRE(a.weight.value().data()[0] != 1.0f);

    // Copying a moved-from parameter is a typed error, not a copy of nothing.
    tg::Parameter<float> src(ramp({2}), "src");
    tg::Parameter<float> dst = std::move(src);
    REQUIRE_THROWS_AS(tg::Parameter<float>(src), tg::LifetimeError);
    REQUIRE_THROWS_AS(dst = src, tg::LifetimeError);
    REQUIRE(dst.size() == 2);
}

// A parameter leaf reads the parameter's elements where they are (no copy),
// so everything that could change them under a recording is refused by name.
TEST_CASE("a parameter leaf reads the parameter in place and refuses it once modified", "[lifetime]") {
    tg::Parameter<float> p(ramp({3}), "w");
    tg::Tape<float> t;
    const auto w = t.param(p);
    REQUIRE(t.value_bytes() == 0);  // the tape holds no copy of the parameter
    REQUIRE(t.value(w).data() == p.value().data());
    const auto y = w * 2.0f;
    REQUIRE(t.value_bytes() == 3 * sizeof(float));  // only the product's own elements

    p.mutable_value().data()[0] = 10.0f;  // a modification bumps the version
    // An op that reads the stale leaf, its value and backward are refused.
    REQUIRE_THROWS_MATCHES(w + 1.0f, tg::ParameterModifiedError,
                           Message("'add_scalar' (node #2): parameter 'w' of shape (3,) was modified after this tape recorded its "
                                   "leaf (version 0 -> 1, shape then (3,)); clear() the tape and run the forward pass again"));
    REQUIRE(t.size() == 2);  // the refused op left nothing on the tape
    REQUIRE_THROWS_AS(t.value(w), tg::ParameterModifiedError);
    REQUIRE_THROWS_AS(t.backward(tg::sum(y)), tg::ParameterModifiedError);
    REQUIRE_FALSE(p.has_grad());

    // A new call gives a new leaf that reads the new elements.
    const auto w2 = t.param(p);
    REQUIRE(w2.id() != w.id());
    REQUIRE(t.value(w2).data()[0] == 10.0f);
    REQUIRE(t.param(p).id() == w2.id());  // and the same leaf while p stays as it is
}

TEST_CASE("a parameter resized through a kept reference is never read past its elements", "[lifetime]") {
    tg::Parameter<float> p(ramp({3}), "w");
    tg::Tensor<float>& v = p.mutable_value();
    tg::Tape<float> t;
    const auto w = t.param(p);
    v = ramp({1});  // no version bump: only the shape tells
    REQUIRE_THROWS_WITH(tg::sum(w), Contains("shape then (3,)"));
    REQUIRE_THROWS_AS(t.value(w), tg::ParameterModifiedError);
    REQUIRE(t.value(t.param(p)).size() == 1);  // a new leaf of the new shape
}

TEST_CASE("a parameter leaf outlives its parameter's destruction safely", "[lifetime]") {
    tg::Tape<float> t;
    tg::Var<float> y;
    {
        tg::Parameter<float> p(ramp({3}), "w");
        y = tg::sum(t.param(p) * t.param(p));
    }
    // The tape holds the orphaned record, so nothing is freed under it;
    // backward refuses to send a gradient to a destroyed parameter.
    REQUIRE_THROWS_AS(t.backward(y), tg::LifetimeError);
}
