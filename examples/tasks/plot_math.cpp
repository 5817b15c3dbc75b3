// The numbers behind the plots: per-bucket summaries of long series and round
// tick values. Declared in plot.hpp; kept apart from the SVG drawing so that
// they can be tested against hand-computed values.

#include <algorithm>
#include <cmath>
#include <stdexcept>
#include <string>

#include "plot.hpp"

namespace tapegrad::tasks {

double quantile(const std::vector<double>& sorted, double q) {
    if (sorted.empty()) throw std::invalid_argument("quantile: no values");
    if (!(q >= 0 && q <= 1)) throw std::invalid_argument("quantile: q must be in [0, 1], got " + std::to_string(q));
    const double pos = q * double(sorted.size() - 1);
    const auto i = static_cast<std::size_t>(std::floor(pos));
    if (i + 1 >= sorted.size()) return sorted.back();
    return sorted[i] + (pos - double(i)) * (sorted[i + 1] - sorted[i]);
}

BucketSummary summarize_buckets(const std::vector<double>& x, const std::vector<double>& y, std::size_t buckets,
                                double band) {
    if (x.size() != y.size())
        throw std::invalid_argument("summarize_buckets: x has " + std::to_string(x.size()) + " values but y has " +
                                    std::to_string(y.size()));
    if (buckets == 0) throw std::invalid_argument("summarize_buckets: buckets must be at least 1");
    if (!(band >= 0 && band <= 0.5))
        throw std::invalid_argument("summarize_buckets: band must be in [0, 0.5], got " + std::to_string(band));
    BucketSummary out;
    const std::size_t n = x.size(), count = std::min(buckets, n);
    std::vector<double> ys;
    for (std::size_t b = 0; b < count; ++b) {
        // Bucket b holds points [b·n/count, (b+1)·n/count): sizes differ by at most one.
        const std::size_t begin = b * n / count, end = (b + 1) * n / count;
        ys.clear();
        double x_sum = 0;
        for (std::size_t i = begin; i < end; ++i)
            if (std::isfinite(y[i]) && std::isfinite(x[i])) {
                ys.push_back(y[i]);
                x_sum += x[i];
            }
        if (ys.empty()) continue;
        std::sort(ys.begin(), ys.end());
        out.x.push_back(x_sum / double(ys.size()));
        out.median.push_back(quantile(ys, 0.5));
        out.lo.push_back(quantile(ys, band));
        out.hi.push_back(quantile(ys, 1 - band));
    }
    return out;
}

std::vector<double> linear_ticks(double lo, double hi, int count) {
    if (!std::isfinite(lo) || !std::isfinite(hi) || count < 1) return {};
    if (hi <= lo) return {lo};
    const double raw = (hi - lo) / count, magnitude = std::pow(10.0, std::floor(std::log10(raw)));
    double step = 10 * magnitude;
    for (double m : {1.0, 2.0, 2.5, 5.0})
        if (m * magnitude >= raw * (1 - 1e-9)) {
            step = m * magnitude;
            break;
        }
    std::vector<double> ticks;
    const double eps = 1e-9 * step;
    for (double k = std::ceil((lo - eps) / step); k * step <= hi + eps; k += 1)
        ticks.push_back(std::abs(k) < 0.5 ? 0.0 : k * step);  // no -0 or 1e-17 for the tick at zero
    return ticks;
}

std::vector<double> log_ticks(double lo, double hi) {
    if (!(lo > 0) || !std::isfinite(hi) || hi < lo) return {};
    const double a = std::log10(lo), b = std::log10(hi), eps = 1e-9;
    std::vector<double> ticks;
    if (b - a >= 2) {
        // Every decade, or every other one when there are more than eight.
        const int first = int(std::ceil(a - eps)), last = int(std::floor(b + eps)), every = last - first > 8 ? 2 : 1;
        for (int e = first; e <= last; e += every) ticks.push_back(std::pow(10.0, e));
        return ticks;
    }
    for (const std::vector<double>& multiples : {std::vector<double>{1, 2, 5}, std::vector<double>{1, 2, 3, 4, 5, 6, 7, 8, 9}}) {
        ticks.clear();
        for (int e = int(std::floor(a)); e <= int(std::ceil(b)); ++e)
            for (double m : multiples) {
                const double v = m * std::pow(10.0, e);
                if (v >= lo * (1 - eps) && v <= hi * (1 + eps)) ticks.push_back(v);
            }
        if (ticks.size() >= 3) return ticks;
    }
    return linear_ticks(lo, hi, 4);  // less than a third of a decade: round linear steps
}

}  // namespace tapegrad::tasks
