#include "model.hpp"

namespace tapegrad::charlm {

namespace {

RecurrentOptions recurrent_options(const ModelOptions& o) {
    RecurrentOptions ro{.input_size = o.embed, .hidden_size = o.hidden, .num_layers = o.layers, .dropout = o.dropout};
    if (accepts_forget_bias<float>(o.cell)) ro.forget_bias = o.forget_bias;
    return ro;
}

}  // namespace

CharModel::CharModel(const ModelOptions& o, Generator& gen)
    : o_(o),
      embed_(o.vocab, o.embed, gen),
      rnn_(make_recurrent<float>(o.cell, recurrent_options(o), gen)),
      drop_(o.dropout),
      head_(o.hidden, o.vocab, gen) {}

void CharModel::visit(ModuleVisitor<float>& v) {
    v.module("embed", embed_);
    v.module("rnn", *rnn_);
    v.module("head", head_);
    v.module("drop", drop_);  // no parameters: listed so that train()/eval() reach it
}

CharModel::Output CharModel::operator()(Tape<float>& tape, const Index& input, const RecurrentStateValues<float>& carried,
                                        Generator& dropout_gen) {
    RecurrentOutput<float> r = (*rnn_)(embed_(tape, input), constant_state(tape, carried), {}, &dropout_gen);
    const auto H = static_cast<std::int64_t>(o_.hidden);
    Var<float> logits = head_(reshape(drop_(r.output, dropout_gen), {-1, H}));
    return {logits, r};
}

}  // namespace tapegrad::charlm
