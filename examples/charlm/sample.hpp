#pragma once
/// \file
/// Generating text from a trained character model, one character at a time.

#include <string>

#include "model.hpp"

namespace tapegrad::charlm {

/// `prime` (a newline when empty) is read first; then `n` characters are drawn,
/// each from the model's distribution at `temperature` (0: always the most
/// likely character) and fed back. Returns only the drawn characters.
/// `ArgumentError` naming the character and its offset if `prime` holds a
/// character the vocabulary lacks.
std::string sample(CharModel& model, const Vocabulary& vocab, const std::string& prime, std::size_t n, double temperature,
                   Generator& gen);

}  // namespace tapegrad::charlm
