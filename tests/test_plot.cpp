// The plots of the example tasks: the numbers behind them (quantiles,
// per-bucket summaries, tick values) against hand-computed values, and the
// SVG documents' structure (one plot area per panel, one legend entry per
// label, bands, error bars and labelled reference lines).

#include <cmath>
#include <limits>
#include <string>
#include <vector>

#include "tasks/figures.hpp"
#include "tasks/plot.hpp"
#include "variants/dot_chart.hpp"
#include "test_util.hpp"

namespace tt = tapegrad::tasks;

namespace {

std::size_t count_of(const std::string& text, const std::string& what) {
    std::size_t n = 0;
    for (std::size_t at = text.find(what); at != std::string::npos; at = text.find(what, at + what.size())) ++n;
    return n;
}

void require_values(const std::vector<double>& actual, const std::vector<double>& expected) {
    INFO("actual size " << actual.size() << ", expected " << expected.size());
    REQUIRE(actual.size() == expected.size());
    for (std::size_t i = 0; i < actual.size(); ++i) {
        INFO("value " << i);
        REQUIRE(actual[i] == Approx(expected[i]).margin(1e-12));
    }
}

tt::Series series(const std::string& label, std::vector<double> x, std::vector<double> y) {
    tt::Series s;
    s.label = label;
    s.x = std::move(x);
    s.y = std::move(y);
    return s;
}

}  // namespace

TEST_CASE("quantile interpolates linearly between the nearest ranks", "[plot]") {
    const std::vector<double> v{1, 2, 3, 4};
    REQUIRE(tt::quantile(v, 0) == 1);
    REQUIRE(tt::quantile(v, 1) == 4);
    REQUIRE(tt::quantile(v, 0.5) == Approx(2.5));
    REQUIRE(tt::quantile(v, 0.25) == Approx(1.75));  // rank 0.75: 1 + 0.75·(2 − 1)
    REQUIRE(tt::quantile({7}, 0.3) == 7);
    REQUIRE_THROWS_AS(tt::quantile({}, 0.5), std::invalid_argument);
    REQUIRE_THROWS_AS(tt::quantile(v, 1.5), std::invalid_argument);
    REQUIRE_THROWS_AS(tt::quantile(v, std::nan("")), std::invalid_argument);
}

TEST_CASE("summarize_buckets: mean x, median and band of each run of points", "[plot]") {
    const std::vector<double> x{1, 2, 3, 4, 5, 6, 7, 8, 9, 10}, y{1, 2, 3, 4, 5, 6, 7, 8, 9, 10};
    SECTION("min and max: buckets of 3, 3 and 4 points") {
        const tt::BucketSummary s = tt::summarize_buckets(x, y, 3);
        require_values(s.x, {2, 5, 8.5});
        require_values(s.median, {2, 5, 8.5});
        require_values(s.lo, {1, 4, 7});
        require_values(s.hi, {3, 6, 10});
    }
    SECTION("quartiles") {
        const tt::BucketSummary s = tt::summarize_buckets(x, y, 3, 0.25);
        require_values(s.lo, {1.5, 4.5, 7.75});  // {7, 8, 9, 10}: rank 0.75
        require_values(s.hi, {2.5, 5.5, 9.25});  // rank 2.25
    }
    SECTION("non-finite values are left out, an empty bucket is dropped") {
        std::vector<double> z = y;
        z[1] = std::nan("");
        z[3] = z[4] = z[5] = std::numeric_limits<double>::infinity();
        const tt::BucketSummary s = tt::summarize_buckets(x, z, 3);
        require_values(s.x, {2, 8.5});  // bucket 0 without x = 2: mean of 1 and 3
        require_values(s.median, {2, 8.5});
    }
    SECTION("fewer points than buckets: one bucket per point; no points: nothing") {
        const tt::BucketSummary s = tt::summarize_buckets({1, 2}, {5, 3}, 10);
        require_values(s.x, {1, 2});
        require_values(s.median, {5, 3});
        require_values(s.lo, {5, 3});
        REQUIRE(tt::summarize_buckets({}, {}, 4).x.empty());
    }
    SECTION("bad arguments") {
        REQUIRE_THROWS_AS(tt::summarize_buckets({1, 2}, {1}, 1), std::invalid_argument);
        REQUIRE_THROWS_AS(tt::summarize_buckets(x, y, 0), std::invalid_argument);
        REQUIRE_THROWS_AS(tt::summarize_buckets(x, y, 2, 0.6), std::invalid_argument);
        REQUIRE_THROWS_AS(tt::summarize_buckets(x, y, 2, -0.1), std::invalid_argument);
    }
}

TEST_CASE("linear_ticks: round steps inside the range", "[plot]") {
    require_values(tt::linear_ticks(0, 6000), {0, 1000, 2000, 3000, 4000, 5000, 6000});
    require_values(tt::linear_ticks(1, 6000), {1000, 2000, 3000, 4000, 5000, 6000});
    require_values(tt::linear_ticks(0.13, 0.97), {0.2, 0.4, 0.6, 0.8});  // raw step 0.14 → 0.2
    require_values(tt::linear_ticks(-1, 1, 4), {-1, -0.5, 0, 0.5, 1});
    require_values(tt::linear_ticks(0, 10, 4), {0, 2.5, 5, 7.5, 10});
    require_values(tt::linear_ticks(3, 3), {3});
    REQUIRE(tt::linear_ticks(0, std::nan("")).empty());
    REQUIRE(tt::linear_ticks(-0.3, 0.3)[3] == 0.0);  // exactly zero, not 1e-17
}

TEST_CASE("log_ticks: decades over two or more, else 1-2-5, 1..9 or linear steps", "[plot]") {
    require_values(tt::log_ticks(0.001, 10), {1e-3, 1e-2, 1e-1, 1, 10});
    require_values(tt::log_ticks(1e-12, 1e6), {1e-12, 1e-10, 1e-8, 1e-6, 1e-4, 1e-2, 1, 1e2, 1e4, 1e6});
    require_values(tt::log_ticks(0.15, 1.5), {0.2, 0.5, 1});
    require_values(tt::log_ticks(0.3, 1.2), {0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9, 1});
    require_values(tt::log_ticks(0.83, 1.01), {0.85, 0.9, 0.95, 1});  // raw step 0.045 → 0.05
    REQUIRE(tt::log_ticks(0, 1).empty());
    REQUIRE(tt::log_ticks(2, 1).empty());
}

TEST_CASE("svg_panels: one plot area per panel, one legend entry per label", "[plot]") {
    tt::Panel a, b, c;
    a.series = {series("lstm", {1, 2}, {0.5, 0.25}), series("gru", {1, 2}, {0.4, 0.3})};
    b.series = {series("lstm", {1, 2}, {2, 1})};
    c.series = {series("rnn", {1, 2}, {1, 1})};
    for (tt::Panel* p : {&a, &b, &c}) {
        p->options.width = 300;
        p->options.height = 250;
    }
    a.options.hlines = {{"baseline", 1.0}};
    const std::string svg = tt::svg_panels({a, b, c}, tt::FigureOptions{"three panels", 2});
    REQUIRE(svg.rfind("<svg", 0) == 0);
    REQUIRE(count_of(svg, "class=\"plot-area\"") == 3);
    REQUIRE(count_of(svg, ">lstm</text>") == 1);
    REQUIRE(count_of(svg, ">gru</text>") == 1);
    REQUIRE(count_of(svg, ">rnn</text>") == 1);
    REQUIRE(count_of(svg, ">baseline 1</text>") == 1);  // labelled on its panel
    REQUIRE(count_of(svg, "<polyline") == 4);
    REQUIRE(svg.find("width=\"600\"") != std::string::npos);  // two columns of 300
    REQUIRE_THROWS_AS(tt::svg_panels({}, tt::FigureOptions{}), std::invalid_argument);
    REQUIRE_THROWS_AS(tt::svg_panels({a}, tt::FigureOptions{"", 0}), std::invalid_argument);
}

TEST_CASE("svg_plot draws bands, error bars and markers", "[plot]") {
    tt::Series band = series("band", {1, 2, 3}, {1, 2, 3});
    band.lo = {0.5, 1.5, 2.5};
    band.hi = {1.5, 2.5, 3.5};
    tt::Series bars = series("bars", {1, 2, 3}, {2, 3, 4});
    bars.lo = {1, 2, 3};
    bars.hi = {3, 4, 5};
    bars.error_bars = true;
    bars.markers = true;
    tt::PlotOptions o;
    o.log_y = false;
    const std::string svg = tt::svg_plot({band, bars}, o);
    REQUIRE(count_of(svg, "<polygon") == 1);
    REQUIRE(count_of(svg, "<path") == 3);    // one error bar per point
    REQUIRE(count_of(svg, "<circle") == 4);  // three markers and the legend's
}

TEST_CASE("results_figure: a panel per task, error bars where std > 0", "[plot]") {
    tt::TaskPanel adding{"adding", "T", {{"lstm", {50, 100}, {0.01, 0.02}, {0, 0}}, {"gru", {50, 100}, {0.5, 1}, {0, 0}}}, {}};
    tt::TaskPanel copy{"copy", "T", {{"lstm", {10, 20}, {0.8, 0.9}, {0.1, 0.05}}}, {{"baseline", 1}}};
    tt::TaskPanel ntm{"ntm", "L", {{"lstm", {10}, {0.1}, {0}}}, {}};
    const std::string svg = tt::results_figure({adding, copy, ntm}, "grid");
    REQUIRE(count_of(svg, "class=\"plot-area\"") == 3);
    REQUIRE(count_of(svg, "<path") == 2);  // copy's two points only
    REQUIRE(count_of(svg, ">lstm</text>") == 1);
    REQUIRE(count_of(svg, ">gru</text>") == 1);
    tt::TaskPanel bad = copy;
    bad.cells[0].std.pop_back();
    REQUIRE_THROWS_AS(tt::results_figure({bad}, ""), std::invalid_argument);
    REQUIRE_THROWS_AS(tt::results_figure({}, ""), std::invalid_argument);
}

TEST_CASE("clipping_figure: a panel per cell with the clipped share and a labelled clip line", "[plot]") {
    const std::vector<tt::NormTrace> traces{{"rnn", {0.5, 2, 3, 0.1}}, {"lstm", {0.2, 0.3, 0.4, 5}}};
    const std::string svg = tt::clipping_figure(traces, 1.0, 2);
    REQUIRE(count_of(svg, "class=\"plot-area\"") == 2);
    REQUIRE(count_of(svg, "rnn: clipped on 2 of 4 steps") == 1);
    REQUIRE(count_of(svg, "lstm: clipped on 1 of 4 steps") == 1);
    REQUIRE(count_of(svg, ">clip at 1</text>") == 2);
    REQUIRE(svg.find("buckets of 2 steps") != std::string::npos);
    REQUIRE(tt::clipping_figure(traces, 0, 2).find("clip at") == std::string::npos);
    REQUIRE_THROWS_AS(tt::clipping_figure({}, 1.0), std::invalid_argument);
    REQUIRE_THROWS_AS(tt::clipping_figure(traces, 1.0, 0), std::invalid_argument);
}

// The variants study's dot chart (examples/variants/dot_chart.cpp): a row
// whose mean is off the scale (a diverged run) is written out at the edge,
// and the axis is drawn for the other rows only.
TEST_CASE("variants dot chart: an off-scale mean is labelled at the edge and leaves the axis alone", "[plot]") {
    namespace tv = tapegrad::variants;
    tv::DotPanel p{"char LM: test bits/char", {}, 0, false, 8.0};
    p.rows.push_back({"lstm", 2.30, 0.02, {2.28, 2.30, 2.32}});
    p.rows.push_back({"noaf", 1563.0, 610.0, {975.0, 1500.0, 2214.0}});
    p.rows.push_back({"gru", 2.50, 0.05, {2.45, 2.50, 2.55}});
    const std::string svg = tv::svg_dot_chart({p}, "test");
    CHECK(count_of(svg, "off scale: 1.56e+03") == 1);
    CHECK(count_of(svg, "<circle") == 2 * 4);  // a dot and three rings for each of the two rows on the scale
    // Tick labels span the rows on the scale (2.28 to 2.55), nothing near 1563.
    std::size_t ticks = 0;
    for (std::size_t at = svg.find("font-size=\"10\">"); at != std::string::npos; at = svg.find("font-size=\"10\">", at + 1)) {
        const double tick = std::stod(svg.substr(at + 15));
        CHECK(tick > 2.0);
        CHECK(tick < 3.0);
        ++ticks;
    }
    CHECK(ticks == 5);
    p.off_scale_above = 0;  // without the limit the axis reaches the diverged row
    CHECK(count_of(tv::svg_dot_chart({p}, "test"), "off scale") == 0);
}
