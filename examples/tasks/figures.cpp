#include "figures.hpp"

#include <algorithm>
#include <cstdio>
#include <stdexcept>

namespace tapegrad::tasks {

namespace {

// The palette index of a cell: rnn, lstm and gru keep the colors of the
// vanishing-gradient plot in every figure; other cells follow in order.
int cell_color(const std::string& cell, std::vector<std::string>& others) {
    if (cell == "rnn") return 0;
    if (cell == "lstm") return 1;
    if (cell == "gru") return 2;
    auto it = std::find(others.begin(), others.end(), cell);
    if (it == others.end()) it = others.insert(others.end(), cell);
    return 3 + int(it - others.begin());
}

Series cell_series(const CellCurve& c, int color, double nudge) {
    if (c.x.size() != c.mean.size() || c.x.size() != c.std.size())
        throw std::invalid_argument("results_figure: cell '" + c.cell + "' has " + std::to_string(c.x.size()) + " x, " +
                                    std::to_string(c.mean.size()) + " means and " + std::to_string(c.std.size()) +
                                    " standard deviations");
    Series s;
    s.label = c.cell;
    s.x = c.x;
    s.y = c.mean;
    s.color = color;
    s.markers = true;
    s.nudge = nudge;
    if (std::any_of(c.std.begin(), c.std.end(), [](double v) { return v > 0; })) {
        s.error_bars = true;
        for (std::size_t i = 0; i < c.x.size(); ++i) {
            s.lo.push_back(c.mean[i] - c.std[i]);
            s.hi.push_back(c.mean[i] + c.std[i]);
        }
    }
    return s;
}

}  // namespace

std::string results_figure(const std::vector<TaskPanel>& tasks, const std::string& title) {
    if (tasks.empty()) throw std::invalid_argument("results_figure: no tasks");
    std::vector<std::string> others;
    std::vector<Panel> panels;
    for (const TaskPanel& t : tasks) {
        Panel p;
        p.options.title = t.title;
        p.options.xlabel = t.xlabel;
        p.options.ylabel = "final metric / baseline";
        p.options.log_x = true;
        p.options.hlines = t.hlines;
        p.options.width = 340;
        p.options.height = 330;
        const double n = double(t.cells.size());
        for (std::size_t k = 0; k < t.cells.size(); ++k) {
            const CellCurve& c = t.cells[k];
            p.series.push_back(cell_series(c, cell_color(c.cell, others), 5.0 * (double(k) - (n - 1) / 2)));
            for (double x : c.x)
                if (std::find(p.options.xticks.begin(), p.options.xticks.end(), x) == p.options.xticks.end())
                    p.options.xticks.push_back(x);
        }
        std::sort(p.options.xticks.begin(), p.options.xticks.end());
        panels.push_back(std::move(p));
    }
    return svg_panels(panels, FigureOptions{title, tasks.size()});
}

std::string clipping_figure(const std::vector<NormTrace>& traces, double clip, std::size_t buckets) {
    if (traces.empty()) throw std::invalid_argument("clipping_figure: no traces");
    if (buckets == 0) throw std::invalid_argument("clipping_figure: buckets must be at least 1");
    std::vector<std::string> others;
    std::vector<Panel> panels;
    std::vector<double> extent;  // every panel's values: one y range for all
    std::size_t per_bucket = 1;
    for (const NormTrace& t : traces) {
        std::vector<double> steps(t.norms.size());
        for (std::size_t i = 0; i < steps.size(); ++i) steps[i] = double(i + 1);
        const BucketSummary spread = summarize_buckets(steps, t.norms, buckets, 0.1), range = summarize_buckets(steps, t.norms, buckets);
        per_bucket = std::max<std::size_t>(per_bucket, (t.norms.size() + buckets - 1) / buckets);
        const int color = cell_color(t.cell, others);
        Series median, largest;
        median.label = "median per bucket, 10th to 90th percentile shaded";
        median.x = spread.x;
        median.y = spread.median;
        median.lo = spread.lo;
        median.hi = spread.hi;
        median.color = color;
        largest.label = "largest in the bucket";
        largest.x = range.x;
        largest.y = range.hi;
        largest.color = color;
        largest.line = false;
        largest.markers = true;
        largest.marker_radius = 2.5;
        const std::size_t above = std::size_t(std::count_if(t.norms.begin(), t.norms.end(), [&](double v) { return clip > 0 && v > clip; }));
        Panel p;
        char title[128];
        std::snprintf(title, sizeof title, "%s: clipped on %zu of %zu steps", t.cell.c_str(), above, t.norms.size());
        p.options.title = title;
        p.options.xlabel = "training step";
        p.options.ylabel = "gradient norm before clipping";
        p.options.width = 340;
        p.options.height = 330;
        if (clip > 0) p.options.hlines = {{"clip at", clip}};
        extent.insert(extent.end(), spread.lo.begin(), spread.lo.end());
        extent.insert(extent.end(), range.hi.begin(), range.hi.end());
        p.series = {median, largest};
        panels.push_back(std::move(p));
    }
    for (Panel& p : panels) p.options.y_extent = extent;
    FigureOptions fig;
    fig.title = "Global gradient norm before clipping, in buckets of " + std::to_string(per_bucket) + " steps";
    fig.columns = traces.size();
    return svg_panels(panels, fig);
}

}  // namespace tapegrad::tasks
