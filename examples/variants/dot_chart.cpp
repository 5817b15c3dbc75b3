#include "dot_chart.hpp"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <limits>
#include <sstream>

namespace tapegrad::variants {

namespace {

constexpr double kLabelWidth = 120, kPanelWidth = 300, kGap = 50, kRowHeight = 22, kTop = 70, kBottom = 50;

std::string fmt(double v) {
    char buf[32];
    std::snprintf(buf, sizeof buf, "%.3g", v);
    return buf;
}

bool off_scale(const DotPanel& p, double v) { return p.off_scale_above > 0 && v > p.off_scale_above; }

// The x range of a panel: every mean ± std and the baseline, padded 5 %;
// off-scale rows and values left out.
std::pair<double, double> x_range(const DotPanel& p) {
    double lo = std::numeric_limits<double>::infinity(), hi = -lo;
    auto take = [&](double v) {
        if (std::isfinite(v) && (!p.log_x || v > 0) && !off_scale(p, v)) lo = std::min(lo, v), hi = std::max(hi, v);
    };
    for (const DotRow& r : p.rows) {
        if (off_scale(p, r.mean)) continue;
        take(r.mean - r.std);
        take(r.mean + r.std);
        take(r.mean);
    }
    if (p.baseline > 0) take(p.baseline);
    if (!std::isfinite(lo)) return {0, 1};
    if (p.log_x) return {std::log10(lo) - 0.1, std::log10(hi) + 0.1};
    const double pad = std::max(1e-12, 0.05 * (hi - lo));
    return {lo - pad, hi + pad};
}

// Ticks inside [lo, hi] (log10 units on a log axis): 1, 2 and 5 times each
// decade on a log axis (only the decades when it spans more than three; even
// steps when that gives fewer than three), five even steps otherwise.
std::vector<double> tick_values(const DotPanel& p, double lo, double hi) {
    std::vector<double> ticks;
    if (!p.log_x) {
        for (int k = 0; k <= 4; ++k) ticks.push_back(lo + (hi - lo) * (0.05 + 0.9 * k / 4));
        return ticks;
    }
    const bool many = hi - lo > 3;
    for (double d = std::floor(lo); d <= hi; d += 1)
        for (const double m : {1.0, 2.0, 5.0}) {
            const double t = d + std::log10(m);
            if (t >= lo && t <= hi && (m == 1.0 || !many)) ticks.push_back(std::pow(10, t));
        }
    if (ticks.size() < 3) {  // a narrow log range: even steps in log space
        ticks.clear();
        for (int k = 0; k <= 3; ++k) ticks.push_back(std::pow(10, lo + (hi - lo) * (0.05 + 0.9 * k / 3)));
    }
    return ticks;
}

void draw_panel(std::ostringstream& s, const DotPanel& p, double x0, std::size_t rows) {
    const auto [lo, hi] = x_range(p);
    auto px = [&, lo = lo, hi = hi](double v) {
        const double t = p.log_x ? std::log10(std::max(v, 1e-300)) : v;
        return x0 + (t - lo) / (hi - lo) * kPanelWidth;
    };
    const double bottom = kTop + double(rows) * kRowHeight;
    s << "<text x=\"" << x0 + kPanelWidth / 2 << "\" y=\"" << kTop - 14 << "\" text-anchor=\"middle\" font-weight=\"bold\">"
      << p.title << "</text>\n";
    s << "<rect x=\"" << x0 << "\" y=\"" << kTop - 4 << "\" width=\"" << kPanelWidth << "\" height=\"" << bottom - kTop + 8
      << "\" fill=\"none\" stroke=\"#999\"/>\n";
    for (std::size_t i = 0; i < p.rows.size(); ++i) {
        const DotRow& r = p.rows[i];
        const double y = kTop + (double(i) + 0.5) * kRowHeight;
        if (i % 2 == 0)
            s << "<rect x=\"" << x0 << "\" y=\"" << y - kRowHeight / 2 << "\" width=\"" << kPanelWidth << "\" height=\""
              << kRowHeight << "\" fill=\"#f3f3f3\"/>\n";
        if (!std::isfinite(r.mean)) continue;
        if (off_scale(p, r.mean)) {  // ▶ at the right edge, the mean written beside it
            const double e = x0 + kPanelWidth - 4;
            s << "<path d=\"M" << e - 9 << "," << y - 5 << " L" << e << "," << y << " L" << e - 9 << "," << y + 5
              << " Z\" fill=\"#d62728\"/><text x=\"" << e - 13 << "\" y=\"" << y + 4
              << "\" text-anchor=\"end\" font-size=\"11\" fill=\"#d62728\">off scale: " << fmt(r.mean) << "</text>\n";
            continue;
        }
        const auto inside = [&](double x) { return std::clamp(x, x0, x0 + kPanelWidth); };
        const double a = inside(px(p.log_x ? std::max(r.mean - r.std, 1e-300) : r.mean - r.std)), b = inside(px(r.mean + r.std));
        s << "<line x1=\"" << a << "\" y1=\"" << y << "\" x2=\"" << b << "\" y2=\"" << y
          << "\" stroke=\"#1f77b4\" stroke-width=\"2\"/><circle cx=\"" << px(r.mean) << "\" cy=\"" << y
          << "\" r=\"4\" fill=\"#1f77b4\"/>\n";
        for (const double v : r.seeds) {
            if (!std::isfinite(v) || (p.log_x && v <= 0)) continue;
            const double x = px(v);
            if (x == inside(x)) {
                s << "<circle cx=\"" << x << "\" cy=\"" << y << "\" r=\"3\" fill=\"none\" stroke=\"#d62728\"/>\n";
            } else {  // a seed beyond the axis (e.g. past an off-scale limit): a small arrowhead at the edge
                const double e = inside(x), d = x > e ? 6 : -6;
                s << "<path d=\"M" << e - d << "," << y - 3 << " L" << e << "," << y << " L" << e - d << "," << y + 3
                  << " Z\" fill=\"#d62728\"/>\n";
            }
        }
    }
    for (const double v : tick_values(p, lo, hi)) {
        const double x = px(v);
        s << "<line x1=\"" << x << "\" y1=\"" << bottom + 4 << "\" x2=\"" << x << "\" y2=\"" << bottom + 8
          << "\" stroke=\"#999\"/><text x=\"" << x << "\" y=\"" << bottom + 20 << "\" text-anchor=\"middle\" font-size=\"10\">"
          << fmt(v) << "</text>\n";
    }
    if (p.baseline > 0)  // over the rows, labelled below the axis
        s << "<line x1=\"" << px(p.baseline) << "\" y1=\"" << kTop - 4 << "\" x2=\"" << px(p.baseline) << "\" y2=\"" << bottom + 4
          << "\" stroke=\"#555\" stroke-dasharray=\"4 3\"/><text x=\"" << px(p.baseline) << "\" y=\"" << bottom + 32
          << "\" text-anchor=\"middle\" font-size=\"10\" fill=\"#555\">baseline</text>\n";
}

}  // namespace

std::string svg_dot_chart(const std::vector<DotPanel>& panels, const std::string& title) {
    std::size_t rows = 0;
    for (const DotPanel& p : panels) rows = std::max(rows, p.rows.size());
    const double width = kLabelWidth + double(panels.size()) * (kPanelWidth + kGap) + 10;
    const double height = kTop + double(rows) * kRowHeight + kBottom;
    std::ostringstream s;
    s << "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"" << width << "\" height=\"" << height
      << "\" font-family=\"sans-serif\" font-size=\"12\">\n<rect width=\"100%\" height=\"100%\" fill=\"white\"/>\n";
    s << "<text x=\"10\" y=\"22\" font-size=\"15\" font-weight=\"bold\">" << title << "</text>\n";
    if (!panels.empty())
        for (std::size_t i = 0; i < panels[0].rows.size(); ++i)
            s << "<text x=\"" << kLabelWidth - 8 << "\" y=\"" << kTop + (double(i) + 0.5) * kRowHeight + 4
              << "\" text-anchor=\"end\">" << panels[0].rows[i].label << "</text>\n";
    for (std::size_t k = 0; k < panels.size(); ++k) draw_panel(s, panels[k], kLabelWidth + double(k) * (kPanelWidth + kGap), rows);
    s << "</svg>\n";
    return s.str();
}

}  // namespace tapegrad::variants
