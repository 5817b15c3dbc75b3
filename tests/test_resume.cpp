// Resuming from a checkpoint continues exactly: train k steps, save model and
// optimizer, load both into fresh objects, continue; the result is bitwise
// identical to training without the interruption.

#include <cstdio>
#include <filesystem>

#include "test_util.hpp"

namespace tg = tapegrad;

namespace {

struct Model : tg::Module<float> {
    tg::LSTM<float> lstm;
    tg::Linear<float> head;
    explicit Model(tg::Generator&& gen)
        : lstm(tg::RecurrentOptions{.input_size = 2, .hidden_size = 8, .forget_bias = 1.0}, gen), head(8, 1, gen) {}
    void visit(tg::ModuleVisitor<float>& v) override {
        v.module("lstm", lstm);
        v.module("head", head);
    }
};

// Data depends only on the step number, as a data loader seeded per step would.
void train(Model& m, tg::Optimizer<float>& opt, int from, int to) {
    tg::Tape<float> t;
    for (int step = from; step < to; ++step) {
        tg::Generator data(1000 + static_cast<std::uint64_t>(step));
        tg::Tensor<float> x = tg::Tensor<float>::from_shape({6, 4, 2}), y = tg::Tensor<float>::from_shape({4, 1});
        tg::uniform_(x, -1.0, 1.0, data);
        tg::uniform_(y, 0.0, 1.0, data);
        auto [out, state] = m.lstm(t.constant(x));
        auto loss = tg::mse_loss(m.head(tg::select(state.h, 0, -1)), t.constant(y));
        t.backward(loss);
        tg::clip_grad_norm(opt.params(), 1.0);
        opt.step();
        opt.zero_grad();
        t.clear();
    }
}

}  // namespace

TEST_CASE("resuming from model and optimizer checkpoints is bitwise identical", "[checkpoint][resume]") {
    const auto dir = std::filesystem::temp_directory_path() / "tapegrad_resume_test";
    std::filesystem::create_directories(dir);
    const std::string model_path = (dir / "model.npz").string(), opt_path = (dir / "opt.npz").string();

    Model straight(tg::Generator(5));
    tg::Adam<float> straight_opt(straight.parameters(), {.lr = 1e-2, .amsgrad = true});
    train(straight, straight_opt, 0, 10);

    {
        Model first(tg::Generator(5));
        tg::Adam<float> first_opt(first.parameters(), {.lr = 1e-2, .amsgrad = true});
        train(first, first_opt, 0, 4);
        tg::save(first, model_path);
        tg::save(first_opt, opt_path);
    }
    Model resumed(tg::Generator(99));  // different initial weights: all must come from the files
    tg::Adam<float> resumed_opt(resumed.parameters(), {.lr = 1e-2, .amsgrad = true});
    tg::load(resumed, model_path);
    tg::load(resumed_opt, opt_path);
    REQUIRE(resumed_opt.steps() == 4);
    train(resumed, resumed_opt, 4, 10);

    auto a = straight.named_parameters(), b = resumed.named_parameters();
    REQUIRE(a.size() == b.size());
    for (std::size_t k = 0; k < a.size(); ++k) {
        INFO(a[k].first);
        REQUIRE(a[k].first == b[k].first);
        const auto& va = a[k].second->value();
        const auto& vb = b[k].second->value();
        REQUIRE(std::equal(va.begin(), va.end(), vb.begin(), vb.end()));
    }
    // Training really moved the weights (the comparison is not vacuous).
    Model fresh(tg::Generator(5));
    const auto& w0 = fresh.lstm.weights(0, 0).weight_hh.value();
    const auto& w10 = straight.lstm.weights(0, 0).weight_hh.value();
    REQUIRE_FALSE(std::equal(w0.begin(), w0.end(), w10.begin(), w10.end()));
    std::filesystem::remove_all(dir);
}
