#include "plot.hpp"

#include <fcntl.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <limits>
#include <map>
#include <ostream>
#include <random>
#include <sstream>
#include <stdexcept>

namespace tapegrad::tasks {

namespace {

const char* kColors[] = {"#1f77b4", "#d62728", "#2ca02c", "#ff7f0e", "#9467bd", "#8c564b", "#e377c2", "#17becf"};
constexpr double kInf = std::numeric_limits<double>::infinity();

const char* color_of(const Series& s, std::size_t position) {
    const std::size_t pick = s.color >= 0 ? std::size_t(s.color) : position;
    return kColors[pick % (sizeof kColors / sizeof *kColors)];
}

std::string esc(const std::string& s) {
    std::string o;
    for (char c : s) {
        if (c == '<') o += "&lt;";
        else if (c == '>') o += "&gt;";
        else if (c == '&') o += "&amp;";
        else o += c;
    }
    return o;
}

std::string num(double v) {
    char buf[32];
    std::snprintf(buf, sizeof buf, "%.4g", v);
    return buf;
}

// A tick label: plain numbers where they are short, 1e-5 style for powers of
// ten far from 1.
std::string tick_label(double v) {
    const double e = std::log10(std::abs(v));
    if (v != 0 && (e < -3 || e > 4) && std::abs(e - std::round(e)) < 1e-9)
        return (v < 0 ? "-1e" : "1e") + std::to_string(int(std::lround(e)));
    return num(v);
}

// Rough width of a label in pixels at font size 12 (no font metrics here).
double text_width(const std::string& s) { return 6.8 * double(s.size()); }

struct Axis {
    bool log = false;
    double lo = kInf, hi = -kInf;  // in axis coordinates (log10 of the value on a log axis)
    bool usable(double v) const { return std::isfinite(v) && (!log || v > 0); }
    double to_axis(double v) const { return log ? std::log10(v) : v; }
    void include(double v) {
        if (!usable(v)) return;
        lo = std::min(lo, to_axis(v));
        hi = std::max(hi, to_axis(v));
    }
};

// Pads the data range by `share` of its width on each side, so that nothing
// sits on the frame; a single value gets a range around it.
void pad(Axis& a, double share) {
    if (!std::isfinite(a.lo)) a.lo = a.log ? -1 : 0, a.hi = a.log ? 0 : 1;
    if (a.hi == a.lo) {
        const double w = a.log ? 0.2 : std::max(1e-9, 0.1 * std::abs(a.lo));
        a.lo -= w;
        a.hi += w;
    } else {
        const double p = share * (a.hi - a.lo);
        a.lo -= p;
        a.hi += p;
    }
}

// Where one plot's data goes on the page: its frame in pixels and its axes.
struct Frame {
    double left, top, W, H;
    Axis x, y;
    double px(double v) const { return left + (x.to_axis(v) - x.lo) / (x.hi - x.lo) * W; }
    double py(double v) const { return top + (1 - (y.to_axis(v) - y.lo) / (y.hi - y.lo)) * H; }
    double bottom() const { return top + H; }
};

Frame make_frame(const std::vector<Series>& series, const PlotOptions& o, double left, double top, double W, double H) {
    Frame f{left, top, W, H, Axis{o.log_x}, Axis{o.log_y}};
    bool markers = false;
    for (const Series& s : series) {
        markers = markers || s.markers || s.error_bars;
        for (std::size_t i = 0; i < s.x.size() && i < s.y.size(); ++i) {
            if (!f.y.usable(s.y[i]) || !f.x.usable(s.x[i])) continue;
            f.x.include(s.x[i]);
            f.y.include(s.y[i]);
            if (i < s.hi.size()) f.y.include(s.hi[i]);
            if (i < s.lo.size()) f.y.include(s.lo[i]);
        }
    }
    for (const auto& [label, v] : o.hlines) f.y.include(v);
    for (double t : o.xticks) f.x.include(t);
    for (double v : o.y_extent) f.y.include(v);
    pad(f.x, markers ? 0.06 : 0);
    pad(f.y, 0.05);
    return f;
}

std::vector<double> ticks_of(const Axis& a, const std::vector<double>& explicit_ticks) {
    if (!explicit_ticks.empty()) return explicit_ticks;
    return a.log ? log_ticks(std::pow(10.0, a.lo), std::pow(10.0, a.hi)) : linear_ticks(a.lo, a.hi);
}

void draw_axes(std::ostream& s, const Frame& f, const PlotOptions& o, double title_size) {
    s << "<text x=\"" << f.left + f.W / 2 << "\" y=\"" << f.top - 12 << "\" text-anchor=\"middle\" font-size=\""
      << title_size << "\">" << esc(o.title) << "</text>\n";
    s << "<rect class=\"plot-area\" x=\"" << f.left << "\" y=\"" << f.top << "\" width=\"" << f.W << "\" height=\"" << f.H
      << "\" fill=\"none\" stroke=\"#333\"/>\n";
    for (double v : ticks_of(f.y, {})) {
        const double y = f.py(v);
        s << "<line x1=\"" << f.left << "\" x2=\"" << f.left + f.W << "\" y1=\"" << y << "\" y2=\"" << y
          << "\" stroke=\"#e3e3e3\"/>\n<text x=\"" << f.left - 6 << "\" y=\"" << y + 4 << "\" text-anchor=\"end\">"
          << tick_label(v) << "</text>\n";
    }
    for (double v : ticks_of(f.x, o.xticks)) {
        if (!f.x.usable(v)) continue;
        const double x = f.px(v);
        s << "<line x1=\"" << x << "\" x2=\"" << x << "\" y1=\"" << f.bottom() << "\" y2=\"" << f.bottom() + 4
          << "\" stroke=\"#333\"/>\n<text x=\"" << x << "\" y=\"" << f.bottom() + 17 << "\" text-anchor=\"middle\">"
          << tick_label(v) << "</text>\n";
    }
    s << "<text x=\"" << f.left + f.W / 2 << "\" y=\"" << f.bottom() + 36 << "\" text-anchor=\"middle\">" << esc(o.xlabel)
      << (o.log_x ? " (log scale)" : "") << "</text>\n";
    s << "<text transform=\"translate(" << f.left - 50 << "," << f.top + f.H / 2
      << ") rotate(-90)\" text-anchor=\"middle\">" << esc(o.ylabel) << (o.log_y ? " (log scale)" : "") << "</text>\n";
}

// Reference lines: dark, dashed, and labelled at their right end, on a white
// halo so that the label stays readable over the data.
void draw_hlines(std::ostream& s, const Frame& f, const std::vector<HLine>& hlines) {
    for (const auto& [label, v] : hlines) {
        if (!f.y.usable(v)) continue;
        const double y = f.py(v);
        s << "<line x1=\"" << f.left << "\" x2=\"" << f.left + f.W << "\" y1=\"" << y << "\" y2=\"" << y
          << "\" stroke=\"#111\" stroke-width=\"1.5\" stroke-dasharray=\"7,4\"/>\n";
        s << "<text x=\"" << f.left + f.W - 4 << "\" y=\"" << y - 5
          << "\" text-anchor=\"end\" font-size=\"11\" stroke=\"white\" stroke-width=\"3\" paint-order=\"stroke\">"
          << esc(label + " " + num(v)) << "</text>\n";
    }
}

// The band (a light polygon between lo and hi) or the error bars of a series.
// A lo that a log axis cannot show is drawn at the frame's bottom.
void draw_spread(std::ostream& s, const Frame& f, const Series& se, const char* color) {
    const std::size_t n = std::min({se.x.size(), se.y.size(), se.lo.size(), se.hi.size()});
    auto low = [&](std::size_t i) { return f.y.usable(se.lo[i]) ? f.py(se.lo[i]) : f.bottom(); };
    std::vector<std::size_t> shown;
    for (std::size_t i = 0; i < n; ++i)
        if (f.x.usable(se.x[i]) && f.y.usable(se.hi[i])) shown.push_back(i);
    if (shown.empty()) return;
    if (!se.error_bars) {
        s << "<polygon fill=\"" << color << "\" fill-opacity=\"0.18\" stroke=\"none\" points=\"";
        for (std::size_t i : shown) s << f.px(se.x[i]) + se.nudge << "," << f.py(se.hi[i]) << " ";
        for (auto it = shown.rbegin(); it != shown.rend(); ++it) s << f.px(se.x[*it]) + se.nudge << "," << low(*it) << " ";
        s << "\"/>\n";
        return;
    }
    for (std::size_t i : shown) {
        const double x = f.px(se.x[i]) + se.nudge, top = f.py(se.hi[i]), bottom = low(i);
        s << "<path stroke=\"" << color << "\" stroke-width=\"1.4\" fill=\"none\" d=\"M" << x << "," << top << "V" << bottom
          << "M" << x - 4 << "," << top << "h8M" << x - 4 << "," << bottom << "h8\"/>\n";
    }
}

void draw_series(std::ostream& s, const Frame& f, const Series& se, std::size_t position) {
    const char* color = color_of(se, position);
    if (!se.lo.empty() || !se.hi.empty()) draw_spread(s, f, se, color);
    std::vector<std::pair<double, double>> points;
    for (std::size_t i = 0; i < se.x.size() && i < se.y.size(); ++i)
        if (f.x.usable(se.x[i]) && f.y.usable(se.y[i])) points.emplace_back(f.px(se.x[i]) + se.nudge, f.py(se.y[i]));
    if (se.line) {
        s << "<polyline fill=\"none\" stroke=\"" << color << "\" stroke-width=\"1.8\""
          << (se.dashed ? " stroke-dasharray=\"6,4\"" : "") << " points=\"";
        for (const auto& [x, y] : points) s << x << "," << y << " ";
        s << "\"/>\n";
    }
    if (se.markers)
        for (const auto& [x, y] : points) s << "<circle cx=\"" << x << "\" cy=\"" << y << "\" r=\"" << se.marker_radius << "\" fill=\"" << color
                  << "\"/>\n";
}

struct LegendEntry {
    std::string label;
    const char* color;
    bool dashed, band, markers, line;
    double marker_radius;
};

// One entry per distinct label, in order of first appearance.
std::vector<LegendEntry> legend_entries(const std::vector<const std::vector<Series>*>& lists) {
    std::vector<LegendEntry> entries;
    for (const auto* list : lists)
        for (std::size_t k = 0; k < list->size(); ++k) {
            const Series& se = (*list)[k];
            const bool seen = std::any_of(entries.begin(), entries.end(), [&](const LegendEntry& e) { return e.label == se.label; });
            if (se.label.empty() || seen) continue;
            const bool band = !se.error_bars && !se.lo.empty();
            entries.push_back({se.label, color_of(se, k), se.dashed, band, se.markers, se.line, se.marker_radius});
        }
    return entries;
}

// A legend entry's sample (24 px wide) and label, with its left end at x.
void draw_legend_entry(std::ostream& s, const LegendEntry& e, double x, double y) {
    if (e.band)
        s << "<rect x=\"" << x << "\" y=\"" << y - 7 << "\" width=\"24\" height=\"14\" fill=\"" << e.color
          << "\" fill-opacity=\"0.18\"/>\n";
    if (e.line)
        s << "<line x1=\"" << x << "\" x2=\"" << x + 24 << "\" y1=\"" << y << "\" y2=\"" << y << "\" stroke=\"" << e.color
          << "\" stroke-width=\"2\"" << (e.dashed ? " stroke-dasharray=\"6,4\"" : "") << "/>\n";
    if (e.markers) s << "<circle cx=\"" << x + 12 << "\" cy=\"" << y << "\" r=\"" << e.marker_radius << "\" fill=\"" << e.color << "\"/>\n";
    s << "<text x=\"" << x + 30 << "\" y=\"" << y + 4 << "\">" << esc(e.label) << "</text>\n";
}

void svg_open(std::ostream& s, double width, double height) {
    s << "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"" << width << "\" height=\"" << height
      << "\" font-family=\"sans-serif\" font-size=\"12\">\n<rect width=\"100%\" height=\"100%\" fill=\"white\"/>\n";
}

// Margins of a plot area inside its panel: room for tick labels, axis labels
// and the title.
constexpr double kLeft = 72, kRight = 18, kTop = 40, kBottom = 50;

}  // namespace

std::string svg_plot(const std::vector<Series>& series, const PlotOptions& o) {
    constexpr double legend_width = 172;
    const Frame f = make_frame(series, o, kLeft, kTop, o.width - kLeft - kRight - legend_width, o.height - kTop - kBottom);
    std::ostringstream s;
    svg_open(s, o.width, o.height);
    draw_axes(s, f, o, 15);
    for (std::size_t k = 0; k < series.size(); ++k) draw_series(s, f, series[k], k);
    draw_hlines(s, f, o.hlines);
    double y = kTop + 10;
    for (const LegendEntry& e : legend_entries({&series})) {
        draw_legend_entry(s, e, f.left + f.W + 14, y);
        y += 18;
    }
    s << "</svg>\n";
    return s.str();
}

std::string svg_panels(const std::vector<Panel>& panels, const FigureOptions& fig) {
    if (panels.empty()) throw std::invalid_argument("svg_panels: no panels");
    if (fig.columns == 0) throw std::invalid_argument("svg_panels: columns must be at least 1");
    const std::size_t columns = std::min(fig.columns, panels.size()), rows = (panels.size() + columns - 1) / columns;
    double panel_w = 0, panel_h = 0;
    for (const Panel& p : panels) panel_w = std::max(panel_w, double(p.options.width)), panel_h = std::max(panel_h, double(p.options.height));
    const double title_h = fig.title.empty() ? 0 : 30, width = double(columns) * panel_w;
    std::vector<const std::vector<Series>*> lists;
    for (const Panel& p : panels) lists.push_back(&p.series);
    const std::vector<LegendEntry> entries = legend_entries(lists);
    // The legend's rows: entries left to right, wrapped at the figure's width.
    std::vector<std::pair<double, double>> at;  // (x, row) of each entry
    double x = kLeft, row = 0;
    for (const LegendEntry& e : entries) {
        const double w = 30 + text_width(e.label) + 24;
        if (x + w > width && x > kLeft) x = kLeft, row += 1;
        at.emplace_back(x, row);
        x += w;
    }
    const double legend_h = entries.empty() ? 0 : 20 * (row + 1) + 12;
    std::ostringstream s;
    svg_open(s, width, title_h + double(rows) * panel_h + legend_h);
    if (!fig.title.empty())
        s << "<text x=\"" << width / 2 << "\" y=\"21\" text-anchor=\"middle\" font-size=\"15\">" << esc(fig.title) << "</text>\n";
    for (std::size_t k = 0; k < panels.size(); ++k) {
        const Panel& p = panels[k];
        const double ox = double(k % columns) * panel_w, oy = title_h + double(k / columns) * panel_h;
        const Frame f = make_frame(p.series, p.options, ox + kLeft, oy + kTop, panel_w - kLeft - kRight, panel_h - kTop - kBottom);
        draw_axes(s, f, p.options, 13);
        for (std::size_t i = 0; i < p.series.size(); ++i) draw_series(s, f, p.series[i], i);
        draw_hlines(s, f, p.options.hlines);
    }
    const double legend_top = title_h + double(rows) * panel_h + 10;
    for (std::size_t k = 0; k < entries.size(); ++k) draw_legend_entry(s, entries[k], at[k].first, legend_top + 20 * at[k].second);
    s << "</svg>\n";
    return s.str();
}

namespace {

// Removes the temporary file in its destructor unless the rename took it:
// every failure path of write_file_atomic leaves nothing behind.
struct TempGuard {
    std::string path;
    bool armed = false;
    ~TempGuard() {
        if (armed) ::unlink(path.c_str());
    }
};

// An exclusive new file next to `path` with a fixed-length name
// (".tg-XXXXXXXX.tmp"), so that a target name of NAME_MAX characters still
// works; mode 0666 under the umask, as std::ofstream would create it.
int create_temp_next_to(const std::string& path, TempGuard& guard) {
    static thread_local std::mt19937_64 rng(std::random_device{}() ^ static_cast<std::uint64_t>(::getpid()));
    static constexpr char alphabet[] = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789";
    const std::filesystem::path dir = std::filesystem::path(path).parent_path();
    int e = 0;
    for (int attempt = 0; attempt < 100; ++attempt) {
        std::string name = ".tg-";
        for (int k = 0; k < 8; ++k) name += alphabet[rng() % (sizeof alphabet - 1)];
        const std::string candidate = (dir / (name + ".tmp")).string();
        const int fd = ::open(candidate.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0666);
        if (fd >= 0) {
            guard.path = candidate;
            guard.armed = true;
            return fd;
        }
        if ((e = errno) != EEXIST) break;
    }
    throw std::runtime_error("cannot write " + path + ": cannot create a temporary file: " + std::strerror(e));
}

}  // namespace

void write_file_atomic(const std::string& path, const std::string& content) {
    TempGuard tmp;
    const int fd = create_temp_next_to(path, tmp);
    const char* p = content.data();
    std::size_t left = content.size();
    while (left) {
        const ssize_t w = ::write(fd, p, left);
        if (w < 0 && errno == EINTR) continue;
        if (w <= 0) {
            const int e = w < 0 ? errno : EIO;
            ::close(fd);
            throw std::runtime_error("cannot write " + path + ": " + std::strerror(e));
        }
        p += w;
        left -= static_cast<std::size_t>(w);
    }
    if (::close(fd) != 0) throw std::runtime_error("cannot write " + path + ": " + std::strerror(errno));
    if (std::rename(tmp.path.c_str(), path.c_str()) != 0)
        throw std::runtime_error("cannot rename " + tmp.path + " to " + path + ": " + std::strerror(errno));
    tmp.armed = false;
}

}  // namespace tapegrad::tasks
