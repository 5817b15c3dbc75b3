#pragma once
/// \file
/// A dot chart for comparing many variants at a glance: one panel per task,
/// one row per variant, a dot at the mean, a whisker of ± one standard
/// deviation (cut at the panel's edge: on a log axis mean − std may be ≤ 0)
/// and a ring per seed (an arrowhead at the edge for a seed beyond the axis),
/// so that one failed seed among solved ones shows as
/// what it is; the rows in the same order in every panel, a dashed line at
/// the task's baseline. Plain SVG, no dependency.

#include <string>
#include <vector>

namespace tapegrad::variants {

struct DotRow {
    std::string label;
    double mean = 0, std = 0;  ///< a NaN mean draws nothing (the run is missing)
    std::vector<double> seeds;  ///< each seed's value, drawn as a ring
};

struct DotPanel {
    std::string title;  ///< e.g. "adding T = 100: test MSE (lower is better)"
    std::vector<DotRow> rows;
    double baseline = 0;  ///< drawn when > 0
    bool log_x = false;
    /// When > 0, means above it are off the scale (a run that diverged): the
    /// axis leaves them out, and the row shows its mean as text at the right
    /// edge beside a ▶, so that one failure does not flatten the others.
    double off_scale_above = 0;
};

std::string svg_dot_chart(const std::vector<DotPanel>& panels, const std::string& title);

}  // namespace tapegrad::variants
