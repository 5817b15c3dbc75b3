#pragma once
/// \file
/// Small, dependency-free SVG line plots (loss curves, gradient norms, the
/// results grid): single plots, grids of panels with one shared legend, and
/// the helpers that make long or noisy series readable (per-bucket summaries,
/// round axis ticks).

#include <cstddef>
#include <string>
#include <utility>
#include <vector>

namespace tapegrad::tasks {

struct Series {
    std::string label;
    std::vector<double> x, y;
    bool dashed = false;
    int color = -1;  ///< index into the palette; -1: the series' position
    /// Optional spread around y, one value per point (both empty, or both as
    /// long as y): drawn as a light band, or with `error_bars` as a vertical
    /// bar with caps at every point (e.g. mean ± std over seeds).
    std::vector<double> lo, hi;
    bool error_bars = false;
    bool markers = false;  ///< a dot at every point (for a few points)
    double marker_radius = 3.5;
    bool line = true;      ///< false: markers (and spread) only
    /// Horizontal shift in pixels, so that the error bars of several series at
    /// the same x do not hide each other.
    double nudge = 0;
};

/// A horizontal reference line (a task's baseline, a clipping threshold):
/// drawn across the plot and labelled on the plot itself.
using HLine = std::pair<std::string, double>;

struct PlotOptions {
    std::string title, xlabel, ylabel;
    bool log_y = true;   ///< non-positive values are left out on a log axis
    bool log_x = false;  ///< the same for x
    std::vector<HLine> hlines;
    /// Where x ticks go; empty: about six round values (1, 2 or 5 × 10^k).
    std::vector<double> xticks;
    /// Values the y axis covers as well as the data (e.g. one range for
    /// several panels).
    std::vector<double> y_extent;
    int width = 760, height = 440;  ///< of the whole image (svg_plot) or one panel (svg_panels)
};

/// A complete SVG document with the legend at the right. Series get distinct
/// colors in order unless they name one.
std::string svg_plot(const std::vector<Series>& series, const PlotOptions& options);

/// One plot of a multi-panel figure; its options' width and height are the
/// panel's size.
struct Panel {
    std::vector<Series> series;
    PlotOptions options;
};

struct FigureOptions {
    std::string title;
    std::size_t columns = 3;  ///< panels per row
};

/// A grid of panels (row by row, `columns` per row), each with its own title,
/// axes and reference lines, and one legend below them all: one entry per
/// distinct series label, in order of first appearance. Throws
/// std::invalid_argument for no panels or zero columns.
std::string svg_panels(const std::vector<Panel>& panels, const FigureOptions& figure);

/// A long series summarized bucket by bucket: for each of `buckets` runs of
/// consecutive points (sizes differ by at most one), the mean x, the median y,
/// and the `band` and 1 − `band` quantiles of y (band 0: min and max).
struct BucketSummary {
    std::vector<double> x, median, lo, hi;
};

/// Non-finite y values are left out of their bucket; a bucket left empty is
/// dropped. Fewer points than buckets: one bucket per point. Throws
/// std::invalid_argument if x and y differ in length, buckets is 0 or band is
/// outside [0, 0.5].
BucketSummary summarize_buckets(const std::vector<double>& x, const std::vector<double>& y, std::size_t buckets,
                                double band = 0);

/// The q-quantile of sorted values, interpolated linearly between the two
/// nearest ranks (NumPy's default). Throws std::invalid_argument if `sorted`
/// is empty or q is outside [0, 1].
double quantile(const std::vector<double>& sorted, double q);

/// Round tick values covering [lo, hi] on a linear axis: multiples of 1, 2,
/// 2.5 or 5 × 10^k, about `count` of them, all inside [lo, hi].
std::vector<double> linear_ticks(double lo, double hi, int count = 6);

/// Tick values for a log axis over [lo, hi] (lo > 0): the powers of ten in the
/// range when it spans at least two decades (every other one beyond eight),
/// otherwise 1, 2 and 5 × 10^k, or 1, 2, ..., 9 × 10^k if that gives fewer
/// than three, or `linear_ticks(lo, hi, 4)` if that still does.
std::vector<double> log_ticks(double lo, double hi);

/// Writes `content` to `path` atomically (temporary file, then rename).
void write_file_atomic(const std::string& path, const std::string& content);

}  // namespace tapegrad::tasks
