#pragma once
// Checks every recurrent cell must pass, shared by test_cells.cpp (a user's
// cell) and test_cell_variants.cpp (the library's cells): a gradcheck over a
// 2-layer bidirectional run with lengths, and the tape bytes a forward pass
// holds (what the step scope releases).

#include <optional>
#include <vector>

#include "test_util.hpp"

namespace tgtest {

/// Gradcheck of `layer` (2 layers, both directions; any cell, any sizes) on
/// inputs of 4 steps and a batch of 2 with lengths {4, 2}, through the
/// output and every final state tensor of the cell, against the inputs, an
/// initial value of each state tensor, and every parameter. The dropout
/// generator is reseeded on each call: the same mask every time.
template <class Layer>
void require_sequence_gradcheck(Layer& layer) {
    const tg::RecurrentOptions& o = layer.options();
    REQUIRE(o.num_layers == 2);
    REQUIRE(o.bidirectional);
    const std::size_t states = layer.spec().states, LD = 4, B = 2;
    const std::vector<std::int64_t> lengths = {4, 2};
    std::vector<tg::Tensor<double>> inputs = {smooth({4, B, o.input_size})};
    for (std::size_t k = 0; k < states; ++k) inputs.push_back(smooth({LD, B, o.hidden_size}, 0.3 + 0.1 * double(k), 0.1 * double(k)));
    const tg::GradcheckResult r = tg::gradcheck(
        [&](tg::Tape<double>&, const std::vector<tg::Var<double>>& in) {
            layer.dropout_generator().seed(o.dropout_seed);
            tg::RecurrentState<double> initial;
            for (std::size_t k = 0; k < states; ++k) initial[k] = in[1 + k];
            auto [out, state] = layer(in[0], initial, lengths);
            std::vector<tg::Var<double>> flat = {tg::reshape(out, {-1})};
            for (std::size_t k = 0; k < states; ++k) flat.push_back(tg::reshape(state[k], {-1}));
            return tg::concat(flat, 0);
        },
        inputs, layer.parameters());
    INFO(r.report());
    REQUIRE(r.ok);
    REQUIRE(r.elements_checked > 0);
}

/// Bytes the tape holds in values right after a forward pass over T steps
/// (the peak: backward records nothing and only releases), for a float
/// layer of input size 3 and a batch of 4.
template <class Layer>
std::size_t forward_bytes(Layer& layer, std::size_t steps, bool grad) {
    tg::Tensor<float> x = tg::Tensor<float>::from_shape({steps, 4, 3});
    tg::Generator gen(3);
    tg::uniform_(x, -1, 1, gen);
    tg::Tape<float> t;
    std::optional<tg::NoGradGuard> no_grad;
    if (!grad) no_grad.emplace();
    (void)layer(grad ? t.variable(x) : t.constant(x));
    return t.value_bytes();
}

}  // namespace tgtest
