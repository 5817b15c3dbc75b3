#pragma once
/// \file
/// The character-level language model: Embedding → recurrent layer (any cell
/// registered by name, `tg::make_recurrent`) → dropout → Linear over the
/// vocabulary. Parameter names follow PyTorch's (`embed.weight`,
/// `rnn.weight_ih_l0`, `head.weight`...), so tools/charlm_torch.py loads the
/// same initial weights.

#include <cstdint>
#include <memory>
#include <string>

#include <tapegrad/tapegrad.hpp>

namespace tapegrad::charlm {

struct ModelOptions {
    std::string cell = "lstm";  ///< any name of tg::recurrent_names()
    std::size_t vocab = 0;
    std::size_t embed = 64;
    std::size_t hidden = 256;
    std::size_t layers = 1;
    double dropout = 0.0;      ///< between recurrent layers and before the head
    double forget_bias = 1.0;  ///< for cells with a forget gate; others ignore it
};

class CharModel : public Module<float> {
public:
    /// `ArgumentError` for an unknown cell or bad sizes.
    CharModel(const ModelOptions& options, Generator& gen);

    struct Output {
        Var<float> logits;          ///< (L·B, V), row l·B + b for step l of column b
        RecurrentOutput<float> rnn;  ///< the top layer's outputs (L, B, H) and the final state
    };
    /// input (L, B) character ids; `carried`: the state to start from (empty:
    /// zeros); `dropout_gen`: where the masks come from in training mode.
    Output operator()(Tape<float>& tape, const Index& input, const RecurrentStateValues<float>& carried,
                      Generator& dropout_gen);

    void visit(ModuleVisitor<float>& v) override;
    const ModelOptions& options() const { return o_; }

private:
    ModelOptions o_;
    Embedding<float> embed_;
    std::unique_ptr<RecurrentLayer<float>> rnn_;
    Dropout<float> drop_;
    Linear<float> head_;
};

}  // namespace tapegrad::charlm
