#pragma once
/// \file
/// Long-range evidence on real text, after Karpathy, Johnson and Fei-Fei 2015
/// ("Visualizing and understanding recurrent networks"): which hidden units
/// track a property that depends on characters far back (inside quotation
/// marks, inside parentheses, the position in the line), measured by the
/// correlation of each unit's activation with the property over the test
/// text, and an HTML page that colours the text by a unit's activation.

#include <string>
#include <vector>

#include "model.hpp"

namespace tapegrad::charlm {

/// A property of the text after each character, one value per character.
struct TextProperty {
    std::string name;         ///< "quote", "parentheses", "line_position", "attribution"
    std::string description;  ///< for the page and the report
    std::vector<double> values;
};

/// The properties of `chars` (one string per character): inside "..."
/// (1/0), inside (...) (1/0, nesting counted), the characters since the
/// last line break, and inside an attribution (1/0: from a "--" to the end
/// of its line, as "-- Mark Twain" closes a fortune). Quote and parenthesis state restart at every blank line
/// (a new fortune), so that one unbalanced mark cannot flip the rest of the
/// text.
std::vector<TextProperty> text_properties(const std::vector<std::string>& chars);

/// The top layer's hidden state after each character of `ids` (n), read as
/// one stream: (n, H).
Tensor<float> unit_activations(CharModel& model, const Index& ids);

struct UnitMatch {
    std::string property, description;
    std::size_t unit = 0;
    double correlation = 0;  ///< Pearson r of the unit's activation with the property
};

/// For each property, the unit whose activation has the largest |r|,
/// strongest first; a property that is constant over the text is left out.
std::vector<UnitMatch> best_units(const Tensor<float>& activations, const std::vector<TextProperty>& properties);

/// Pearson's r of column `unit` of `activations` with `values`; 0 when
/// either is constant.
double correlation(const Tensor<float>& activations, std::size_t unit, const std::vector<double>& values);

/// A self-contained HTML page: for each match (and `extra_unit` if it is
/// below H), the first `chars_shown` characters coloured by that unit's
/// activation (red positive, blue negative, strength |a| / max |a|).
std::string units_html(const std::vector<std::string>& chars, const Tensor<float>& activations,
                       const std::vector<UnitMatch>& matches, std::size_t extra_unit, std::size_t chars_shown);

}  // namespace tapegrad::charlm
