#include "sample.hpp"

namespace tapegrad::charlm {

namespace {

// The last row of logits (L, V), as a (V) tensor.
Tensor<float> last_row(const Tensor<float>& logits) {
    const std::size_t L = logits.shape()[0], V = logits.shape()[1];
    Tensor<float> row = zeros<float>({V});
    std::copy(logits.begin() + static_cast<std::ptrdiff_t>((L - 1) * V), logits.end(), row.begin());
    return row;
}

// ids as a (L, 1) input: one stream of L steps.
Index column(const std::vector<std::int64_t>& ids) {
    Index x = zeros<std::int64_t>({ids.size(), std::size_t{1}});
    std::copy(ids.begin(), ids.end(), x.begin());
    return x;
}

}  // namespace

std::string sample(CharModel& model, const Vocabulary& vocab, const std::string& prime, std::size_t n, double temperature,
                   Generator& gen) {
    NoGradGuard no_grad;
    const bool was_training = model.training();
    model.eval();
    Tape<float> tape;
    Generator unused(0);  // evaluation mode draws no dropout masks
    std::vector<std::int64_t> ids = vocab.encode(prime.empty() ? std::string("\n") : prime);
    RecurrentStateValues<float> carried;
    std::string text;
    for (std::size_t i = 0; i < n; ++i) {
        const CharModel::Output out = model(tape, column(ids), carried, unused);
        const std::int64_t next = sample_logits(last_row(out.logits.value()), gen, temperature)();
        carried = state_values(out.rnn.state);
        tape.clear();
        text += vocab.token(next);
        ids = {next};
    }
    model.train(was_training);
    return text;
}

}  // namespace tapegrad::charlm
