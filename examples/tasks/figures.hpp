#pragma once
/// \file
/// The figures of the example programs, built on plot.hpp: the results grid
/// (one panel per task) and the gradient norm against the clipping threshold
/// (one panel per cell).

#include <string>
#include <vector>

#include "plot.hpp"

namespace tapegrad::tasks {

/// One cell's final metric at each T (or L) of a task, divided by the task's
/// baseline at that T: the mean over seeds and its standard deviation (0 for
/// one seed). x, mean and std have the same length.
struct CellCurve {
    std::string cell;  ///< rnn, lstm, gru, ...: the cell's color is the same in every panel
    std::vector<double> x, mean, std;
};

struct TaskPanel {
    std::string title;           ///< e.g. "adding (MSE / baseline)"
    std::string xlabel = "T";
    std::vector<CellCurve> cells;
    std::vector<HLine> hlines;  ///< e.g. {"baseline", 1}
};

/// One panel per task, side by side: x = T on a log axis with a tick at every
/// T, y = metric / baseline on a log axis, a line with markers per cell, and
/// error bars mean ± std wherever std > 0 (shifted a few pixels per cell so
/// that they do not hide each other). Throws std::invalid_argument for no
/// tasks, or a curve whose x, mean and std differ in length.
std::string results_figure(const std::vector<TaskPanel>& tasks, const std::string& title);

/// The global gradient norm before clipping at steps 1, 2, ... of one cell's
/// training run.
struct NormTrace {
    std::string cell;
    std::vector<double> norms;
};

/// One panel per cell, on one shared log y axis: per bucket of consecutive
/// steps (`buckets` of them) the median norm as a line, the 10th to 90th
/// percentile as a band and the largest norm as dots, against a labelled
/// line at `clip` (none if clip <= 0). Each panel's title gives the share of
/// steps above the threshold. Throws std::invalid_argument for no traces or
/// zero buckets.
std::string clipping_figure(const std::vector<NormTrace>& traces, double clip, std::size_t buckets = 100);

}  // namespace tapegrad::tasks
