#include "units.hpp"

#include <algorithm>
#include <cmath>
#include <cstdio>

namespace tapegrad::charlm {

std::vector<TextProperty> text_properties(const std::vector<std::string>& chars) {
    TextProperty quote{"quote", "inside quotation marks \"...\"", {}};
    TextProperty paren{"parentheses", "inside parentheses (...)", {}};
    TextProperty column{"line_position", "characters since the last line break", {}};
    TextProperty attribution{"attribution", "in an attribution: after \"--\" until the line ends", {}};
    bool in_quote = false, in_attribution = false;
    int depth = 0;
    double since_newline = 0;
    std::string previous;
    for (const std::string& ch : chars) {
        if (ch == "\n" && previous == "\n") {  // a blank line: a new record starts
            in_quote = false;
            depth = 0;
        }
        if (ch == "\"") in_quote = !in_quote;
        if (ch == "(") ++depth;
        if (ch == ")" && depth > 0) --depth;
        if (ch == "-" && previous == "-") in_attribution = true;
        if (ch == "\n") in_attribution = false;
        since_newline = ch == "\n" ? 0 : since_newline + 1;
        quote.values.push_back(in_quote ? 1 : 0);
        paren.values.push_back(depth > 0 ? 1 : 0);
        column.values.push_back(since_newline);
        attribution.values.push_back(in_attribution ? 1 : 0);
        previous = ch;
    }
    return {quote, paren, column, attribution};
}

Tensor<float> unit_activations(CharModel& model, const Index& ids) {
    NoGradGuard no_grad;
    const bool was_training = model.training();
    model.eval();
    const std::size_t n = ids.size(), H = model.options().hidden, chunk = 256;
    Tensor<float> acts = zeros<float>({n, H});
    Tape<float> tape;
    Generator unused(0);
    RecurrentStateValues<float> carried;
    for (std::size_t start = 0; start < n; start += chunk) {
        const std::size_t L = std::min(chunk, n - start);
        Index x = zeros<std::int64_t>({L, std::size_t{1}});
        std::copy(ids.begin() + static_cast<std::ptrdiff_t>(start), ids.begin() + static_cast<std::ptrdiff_t>(start + L),
                  x.begin());
        const CharModel::Output out = model(tape, x, carried, unused);
        const Tensor<float>& h = out.rnn.output.value();  // (L, 1, H)
        std::copy(h.begin(), h.end(), acts.begin() + static_cast<std::ptrdiff_t>(start * H));
        carried = state_values(out.rnn.state);
        tape.clear();
    }
    model.train(was_training);
    return acts;
}

double correlation(const Tensor<float>& a, std::size_t unit, const std::vector<double>& values) {
    const std::size_t n = values.size();
    if (a.dimension() != 2 || a.shape()[0] != n || unit >= a.shape()[1])
        throw ShapeError("correlation: activations of shape " + shape_str(a.shape()) + " for " + std::to_string(n) +
                         " values and unit " + std::to_string(unit));
    double ma = 0, mv = 0;
    for (std::size_t t = 0; t < n; ++t) {
        ma += a(t, unit);
        mv += values[t];
    }
    ma /= double(n);
    mv /= double(n);
    double cov = 0, va = 0, vv = 0;
    for (std::size_t t = 0; t < n; ++t) {
        const double da = a(t, unit) - ma, dv = values[t] - mv;
        cov += da * dv;
        va += da * da;
        vv += dv * dv;
    }
    return va > 0 && vv > 0 ? cov / std::sqrt(va * vv) : 0.0;
}

std::vector<UnitMatch> best_units(const Tensor<float>& a, const std::vector<TextProperty>& properties) {
    std::vector<UnitMatch> matches;
    for (const TextProperty& p : properties) {
        UnitMatch best{p.name, p.description, 0, 0.0};
        for (std::size_t u = 0; u < a.shape()[1]; ++u) {
            const double r = correlation(a, u, p.values);
            if (std::abs(r) > std::abs(best.correlation)) best = {p.name, p.description, u, r};
        }
        if (best.correlation != 0) matches.push_back(best);
    }
    std::stable_sort(matches.begin(), matches.end(), [](const UnitMatch& a, const UnitMatch& b) {
        return std::abs(a.correlation) > std::abs(b.correlation);
    });
    return matches;
}

namespace {

std::string html_escaped(const std::string& ch) {
    if (ch == "&") return "&amp;";
    if (ch == "<") return "&lt;";
    if (ch == ">") return "&gt;";
    if (ch == "\"") return "&quot;";
    return ch;
}

// One section: a heading and the text, each character's background the
// unit's activation (red positive, blue negative), scaled by the largest
// |activation| in the excerpt so that a unit with a small range still shows.
std::string section(const std::vector<std::string>& chars, const Tensor<float>& a, std::size_t unit, std::size_t shown,
                    const std::string& heading) {
    double peak = 1e-12;
    for (std::size_t t = 0; t < shown; ++t) peak = std::max(peak, double(std::abs(a(t, unit))));
    std::string s = "<h2>" + heading + "</h2>\n<div class=\"text\">";
    for (std::size_t t = 0; t < shown; ++t) {
        const double v = double(a(t, unit)) / peak;
        char style[96];
        std::snprintf(style, sizeof style, "<span style=\"background:rgba(%s,%.2f)\" title=\"%.3f\">",
                      v >= 0 ? "214,39,40" : "31,119,180", std::min(1.0, std::abs(v)), double(a(t, unit)));
        s += style + html_escaped(chars[t]) + "</span>";
    }
    return s + "</div>\n";
}

}  // namespace

std::string units_html(const std::vector<std::string>& chars, const Tensor<float>& a, const std::vector<UnitMatch>& matches,
                       std::size_t extra_unit, std::size_t chars_shown) {
    const std::size_t shown = std::min(chars_shown, chars.size());
    std::string page =
        "<!DOCTYPE html>\n<html><head><meta charset=\"utf-8\"><title>charlm: hidden units on the test text</title>\n"
        "<style>body{font-family:sans-serif;max-width:62em;margin:2em auto;color:#222}"
        ".text{font-family:monospace;white-space:pre-wrap;line-height:1.45;border:1px solid #ccc;padding:.6em}"
        "h2{font-size:1.05em;margin-top:1.6em}</style></head><body>\n"
        "<h1>Hidden units of the character language model on held-out text</h1>\n<p>Each character's background is one "
        "unit's activation after reading it: <span style=\"background:rgba(214,39,40,.8)\">red</span> positive, <span "
        "style=\"background:rgba(31,119,180,.8)\">blue</span> negative, the strength relative to the unit's largest "
        "|activation| in the excerpt (hover for the value). For each property, the unit shown is the one whose activation "
        "correlates best (Pearson r) with it over the whole test text; after Karpathy et al. 2015.</p>\n";
    char heading[256];
    for (const UnitMatch& m : matches) {
        std::snprintf(heading, sizeof heading, "unit %zu: %s (r = %.2f)", m.unit, m.description.c_str(), m.correlation);
        page += section(chars, a, m.unit, shown, heading);
    }
    if (extra_unit < a.shape()[1]) {
        std::snprintf(heading, sizeof heading, "unit %zu (chosen with --unit)", extra_unit);
        page += section(chars, a, extra_unit, shown, heading);
    }
    return page + "</body></html>\n";
}

}  // namespace tapegrad::charlm
