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
#include <fstream>
#include <limits>
#include <random>
#include <sstream>
#include <stdexcept>

namespace tapegrad::tasks {

namespace {

const char* kColors[] = {"#1f77b4", "#d62728", "#2ca02c", "#ff7f0e", "#9467bd", "#8c564b", "#e377c2", "#17becf"};

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

}  // namespace

std::string svg_plot(const std::vector<Series>& series, const PlotOptions& o) {
    const double left = 70, right = 190, top = 40, bottom = 50;
    const double W = o.width - left - right, H = o.height - top - bottom;
    auto ty = [&](double v) { return o.log_y ? std::log10(v) : v; };
    auto usable = [&](double v) { return std::isfinite(v) && (!o.log_y || v > 0); };
    double x0 = std::numeric_limits<double>::infinity(), x1 = -x0, y0 = x0, y1 = -x0;
    for (const Series& s : series)
        for (std::size_t i = 0; i < s.x.size() && i < s.y.size(); ++i) {
            if (!usable(s.y[i])) continue;
            x0 = std::min(x0, s.x[i]);
            x1 = std::max(x1, s.x[i]);
            y0 = std::min(y0, ty(s.y[i]));
            y1 = std::max(y1, ty(s.y[i]));
        }
    for (auto& [label, v] : o.hlines)
        if (usable(v)) {
            y0 = std::min(y0, ty(v));
            y1 = std::max(y1, ty(v));
        }
    if (!std::isfinite(x0)) x0 = 0, x1 = 1, y0 = 0, y1 = 1;
    if (x1 == x0) x1 = x0 + 1;
    if (o.log_y) {
        y0 = std::floor(y0);
        y1 = std::ceil(y1);
    } else {
        const double pad = 0.05 * (y1 - y0);
        y0 -= pad;
        y1 += pad;
    }
    if (y1 == y0) y1 = y0 + 1;
    auto px = [&](double x) { return left + (x - x0) / (x1 - x0) * W; };
    auto py = [&](double yt) { return top + (1 - (yt - y0) / (y1 - y0)) * H; };

    std::ostringstream s;
    s << "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"" << o.width << "\" height=\"" << o.height
      << "\" font-family=\"sans-serif\" font-size=\"12\">\n";
    s << "<rect width=\"100%\" height=\"100%\" fill=\"white\"/>\n";
    s << "<text x=\"" << left + W / 2 << "\" y=\"22\" text-anchor=\"middle\" font-size=\"15\">" << esc(o.title) << "</text>\n";
    // Axes and ticks.
    s << "<rect x=\"" << left << "\" y=\"" << top << "\" width=\"" << W << "\" height=\"" << H
      << "\" fill=\"none\" stroke=\"#333\"/>\n";
    if (o.log_y) {
        for (int e = int(y0); e <= int(y1); ++e) {
            const double y = py(e);
            s << "<line x1=\"" << left << "\" x2=\"" << left + W << "\" y1=\"" << y << "\" y2=\"" << y
              << "\" stroke=\"#ddd\"/>\n<text x=\"" << left - 6 << "\" y=\"" << y + 4 << "\" text-anchor=\"end\">1e" << e
              << "</text>\n";
        }
    } else {
        for (int k = 0; k <= 5; ++k) {
            const double v = y0 + (y1 - y0) * k / 5, y = py(v);
            s << "<line x1=\"" << left << "\" x2=\"" << left + W << "\" y1=\"" << y << "\" y2=\"" << y
              << "\" stroke=\"#ddd\"/>\n<text x=\"" << left - 6 << "\" y=\"" << y + 4 << "\" text-anchor=\"end\">" << num(v)
              << "</text>\n";
        }
    }
    for (int k = 0; k <= 5; ++k) {
        const double v = x0 + (x1 - x0) * k / 5, x = px(v);
        s << "<text x=\"" << x << "\" y=\"" << top + H + 18 << "\" text-anchor=\"middle\">" << num(v) << "</text>\n";
    }
    s << "<text x=\"" << left + W / 2 << "\" y=\"" << o.height - 10 << "\" text-anchor=\"middle\">" << esc(o.xlabel)
      << "</text>\n";
    s << "<text transform=\"translate(16," << top + H / 2 << ") rotate(-90)\" text-anchor=\"middle\">" << esc(o.ylabel)
      << (o.log_y ? " (log scale)" : "") << "</text>\n";
    // Reference lines.
    int legend = 0;
    auto legend_entry = [&](const std::string& label, const char* color, bool dashed) {
        const double y = top + 10 + 18 * legend++;
        s << "<line x1=\"" << left + W + 12 << "\" x2=\"" << left + W + 36 << "\" y1=\"" << y << "\" y2=\"" << y
          << "\" stroke=\"" << color << "\" stroke-width=\"2\"" << (dashed ? " stroke-dasharray=\"6,4\"" : "") << "/>\n";
        s << "<text x=\"" << left + W + 42 << "\" y=\"" << y + 4 << "\">" << esc(label) << "</text>\n";
    };
    for (auto& [label, v] : o.hlines) {
        if (!usable(v)) continue;
        const double y = py(ty(v));
        s << "<line x1=\"" << left << "\" x2=\"" << left + W << "\" y1=\"" << y << "\" y2=\"" << y
          << "\" stroke=\"#555\" stroke-dasharray=\"3,3\"/>\n";
        legend_entry(label + " " + num(v), "#555", true);
    }
    for (std::size_t k = 0; k < series.size(); ++k) {
        const Series& se = series[k];
        const std::size_t pick = se.color >= 0 ? std::size_t(se.color) : k;
        const char* color = kColors[pick % (sizeof kColors / sizeof *kColors)];
        std::ostringstream pts;
        for (std::size_t i = 0; i < se.x.size() && i < se.y.size(); ++i)
            if (usable(se.y[i])) pts << px(se.x[i]) << "," << py(ty(se.y[i])) << " ";
        s << "<polyline fill=\"none\" stroke=\"" << color << "\" stroke-width=\"1.6\""
          << (se.dashed ? " stroke-dasharray=\"6,4\"" : "") << " points=\"" << pts.str() << "\"/>\n";
        legend_entry(se.label, color, se.dashed);
    }
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
