#pragma once
/// \file
/// Small, dependency-free SVG line plots (loss curves, gradient norms).

#include <string>
#include <utility>
#include <vector>

namespace tapegrad::tasks {

struct Series {
    std::string label;
    std::vector<double> x, y;
    bool dashed = false;
    int color = -1;  ///< index into the palette; -1: the series' position
};

struct PlotOptions {
    std::string title, xlabel, ylabel;
    bool log_y = true;  ///< non-positive values are left out on a log axis
    /// Horizontal reference lines (label, value), e.g. a task's baseline.
    std::vector<std::pair<std::string, double>> hlines;
    int width = 760, height = 440;
};

/// A complete SVG document. Series get distinct colors in order.
std::string svg_plot(const std::vector<Series>& series, const PlotOptions& options);

/// Writes `content` to `path` atomically (temporary file, then rename).
void write_file_atomic(const std::string& path, const std::string& content);

}  // namespace tapegrad::tasks
