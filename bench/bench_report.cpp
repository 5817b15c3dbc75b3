// Turns bench_recurrent's JSON into a Markdown table and an SVG chart of the
// ratio ours/LibTorch per config × cell × mode × threads (log scale, a line at
// 1.0: left of it tapegrad is faster).
//
//   bench_report --json latest.json --md latest.md --svg latest.svg
//                [--alone alone.json] [--machine machine.txt] [--command "how it was run"]
//
// --alone: bench_recurrent's JSON of tapegrad's side run alone on several
// threads; the Markdown then puts those times beside the interleaved ones.

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <fstream>
#include <sstream>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

using nlohmann::json;

namespace {

std::string num(const json& v, const char* f, double scale = 1.0) {
    if (v.is_null()) return "–";
    char buf[64];
    std::snprintf(buf, sizeof buf, f, v.get<double>() * scale);
    return buf;
}

std::string timing(const json& r, const std::string& side) {
    if (r[side + "_ms_median"].is_null()) return "–";
    return num(r[side + "_ms_median"], "%.2f") + " (" + num(r[side + "_ms_min"], "%.2f") + "–" + num(r[side + "_ms_max"], "%.2f") + ")";
}

std::string rss(const json& r, const std::string& side) {
    if (r[side + "_peak_rss_mib"].is_null()) return "–";
    return num(r[side + "_peak_rss_mib"], "%.0f") + " (+" + num(r[side + "_rss_growth_mib"], "%.0f") + ")";
}

std::string allocs(const json& r, const std::string& side) {
    if (r[side + "_allocs_per_step"].is_null()) return "–";
    return num(r[side + "_own_allocs_per_step"], "%.0f") + " + " + num(r[side + "_openblas_allocs_per_step"], "%.0f");
}

std::string label(const json& r) {
    return r["config"].get<std::string>() + " " + r["cell"].get<std::string>() + " " + r["mode"].get<std::string>() + " " +
           std::to_string(r["threads"].get<int>()) + "t";
}

std::string xml_escape(const std::string& s) {
    std::string o;
    for (char ch : s) {
        if (ch == '&') o += "&amp;";
        else if (ch == '<') o += "&lt;";
        else if (ch == '>') o += "&gt;";
        else o += ch;
    }
    return o;
}

// A `--cell peephole` record: a user's cell through the Cell interface, timed
// against tapegrad's built-in LSTM (no LibTorch side).
bool against_own_lstm(const json& r) { return r.contains("theirs") && r["theirs"] == "tapegrad LSTM"; }

void write_cell_table(std::ostream& md, const json& recs) {
    bool any = false;
    for (const json& r : recs) any = any || against_own_lstm(r);
    if (!any) return;
    md << "\n## A user's cell: peephole LSTM through the Cell interface vs the built-in LSTM\n\n"
          "The peephole LSTM of tests/peephole_lstm_cell.hpp (written against the public interface, as a user would), "
          "interleaved with tapegrad's built-in LSTM of the same sizes (3 more (B, H) products and sums per step).\n\n"
          "| config | mode | threads | peephole ms | built-in LSTM ms | peephole/LSTM | peephole allocs/step |\n"
          "|---|---|---|---|---|---|---|\n";
    for (const json& r : recs) {
        if (!against_own_lstm(r)) continue;
        md << "| " << r["config"].get<std::string>() << " | " << r["mode"].get<std::string>() << " | " << r["threads"].get<int>()
           << " | " << timing(r, "ours") << " | " << timing(r, "theirs") << " | **" << num(r["ratio_ours_over_theirs"], "%.2f")
           << "** | " << allocs(r, "ours") << " |\n";
    }
}

// The record of `alone` with r's config, cell, mode and threads; null if none.
const json* same_record(const json& alone, const json& r) {
    for (const json& a : alone["records"])
        if (a["config"] == r["config"] && a["cell"] == r["cell"] && a["mode"] == r["mode"] && a["threads"] == r["threads"] &&
            !against_own_lstm(a))
            return &a;
    return nullptr;
}

// On several threads, tapegrad alone against tapegrad beside LibTorch: in the
// interleaved run each of our steps starts while OpenBLAS's idle thread still
// polls from LibTorch's step (its thread timeout, about 0.13 s, is longer
// than our steps), on a core our helper thread or our caller needs.
void write_alone_table(std::ostream& md, const json& doc, const json& alone) {
    const json& meta = doc["meta"];
    md << "\n## tapegrad alone on several threads\n\n"
          "In the interleaved run above, OpenBLAS's idle thread still polls for work from LibTorch's step (for OpenBLAS's "
          "thread timeout, 2^28 time-stamp ticks, about 0.13 s) when each of our steps starts, on a core that our caller or "
          "our helper thread needs (docs/performance.md, \"Two threads\"). Here tapegrad's side runs alone, the same steps, "
          "in a second process right after (`"
       << alone["meta"].value("command", std::string("?"))
       << "`); % sgemm 1024³ against the main run's sgemm.\n\n"
          "| config | cell | mode | threads | alone ms | beside LibTorch ms | alone / beside | alone GFLOP/s | alone % sgemm 1024³ |\n"
          "|---|---|---|---|---|---|---|---|---|\n";
    for (const json& r : doc["records"]) {
        if (against_own_lstm(r) || r["threads"].get<int>() < 2) continue;
        const json* a = same_record(alone, r);
        if (a == nullptr || (*a)["ours_ms_median"].is_null() || r["ours_ms_median"].is_null()) continue;
        const double ms = (*a)["ours_ms_median"].get<double>(), beside = r["ours_ms_median"].get<double>();
        const double rate = (*a)["ours_gflops"].get<double>();
        const std::string t = std::to_string(r["threads"].get<int>());
        const json sgemm = meta.contains("sgemm_1024_gflops") && meta["sgemm_1024_gflops"].contains(t)
                               ? json(rate / meta["sgemm_1024_gflops"][t].get<double>())
                               : json(nullptr);
        md << "| " << r["config"].get<std::string>() << " | " << r["cell"].get<std::string>() << " | " << r["mode"].get<std::string>()
           << " | " << t << " | " << timing(*a, "ours") << " | " << num(r["ours_ms_median"], "%.2f") << " | "
           << num(json(ms / beside), "%.2f") << " | " << num((*a)["ours_gflops"], "%.1f") << " | " << num(sgemm, "%.0f%%", 100)
           << " |\n";
    }
}

void write_markdown(std::ostream& md, const json& doc, const std::string& machine, const std::string& command,
                    const json& alone) {
    const json& meta = doc["meta"];
    const json& recs = doc["records"];
    md << "# tapegrad vs LibTorch: LSTM/GRU step times\n\n";
    md << "Generated by `tools/bench.sh` on " << meta.value("date", std::string("?")) << ".\n\n";
    if (!command.empty()) md << "Command: `" << command << "`\n\n";
    md << "bench_recurrent: `" << meta.value("command", std::string("?")) << "`\n\n";
    md << "- ours = tapegrad; theirs = LibTorch "
       << (meta["torch_version"].is_null() ? std::string("(not built)") : meta["torch_version"].get<std::string>())
       << " (torch::nn::LSTM / GRU, Linear head, mse_loss, optim::Adam lr 1e-3; forward under NoGradGuard).\n";
    md << "- " << meta["warmup"].get<int>() << " warm-up + " << meta["steps"].get<int>()
       << " timed steps per side, " << (meta["interleaved"].get<bool>() ? "interleaved one step each (ours, theirs, ...)" : "not interleaved")
       << "; ms: median (min–max).\n";
    md << "- threads = OpenBLAS threads for both sides; LibTorch's intra-op and inter-op threads are 1 (PERF.md's best 2-core setting).\n";
    md << "- GFLOP/s by PERF.md's convention: " << meta.value("flop_convention", std::string("")) << ".\n";
    md << "- % sgemm: GFLOP/s as a fraction of OpenBLAS cblas_sgemm measured in the same run, on the cell's GEMM shape "
          "(M=B, N=G·H, K=I+H) and on 1024³.";
    if (meta.contains("sgemm_1024_gflops"))
        for (auto& [t, g] : meta["sgemm_1024_gflops"].items()) md << " sgemm 1024³, " << t << " thread(s): " << num(g, "%.1f") << " GFLOP/s.";
    md << "\n";
    md << "- allocs/step: heap allocations per steady-state step (median), counted by a malloc interposer in the benchmark "
          "executable, as the side's own + OpenBLAS's (its threaded GEMM driver allocates a work array per call on 2 threads).\n";
    md << "- peak RSS (MiB): one child process per record and side (`--side ours|theirs`); in parentheses its growth over the "
          "child's RSS at start, which already holds the loaded libraries (LibTorch's included, on both sides).\n";
    md << "- The host is noisy (PERF.md: 1.0–1.7× from one process to the next): read the ratios, measured interleaved, rather "
          "than the absolute times.\n\n";

    md << "| config | cell | mode | threads | ours ms | LibTorch ms | ours/LibTorch | ours GFLOP/s | LibTorch GFLOP/s | sgemm shape GFLOP/s "
          "| ours % sgemm shape | ours % sgemm 1024³ | LibTorch % sgemm shape | LibTorch % sgemm 1024³ | ours allocs/step "
          "| LibTorch allocs/step | ours peak RSS | LibTorch peak RSS |\n";
    md << "|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|\n";
    for (const json& r : recs) {
        if (against_own_lstm(r)) continue;
        md << "| " << r["config"].get<std::string>() << " | " << r["cell"].get<std::string>() << " | " << r["mode"].get<std::string>()
           << " | " << r["threads"].get<int>() << " | " << timing(r, "ours") << " | " << timing(r, "theirs") << " | "
           << (r["ratio_ours_over_theirs"].is_null() ? std::string("–") : "**" + num(r["ratio_ours_over_theirs"], "%.2f") + "**") << " | " << num(r["ours_gflops"], "%.1f") << " | "
           << num(r["theirs_gflops"], "%.1f") << " | " << num(r["sgemm_shape_gflops"], "%.1f") << " | "
           << num(r["ours_frac_sgemm_shape"], "%.0f%%", 100) << " | " << num(r["ours_frac_sgemm_1024"], "%.0f%%", 100) << " | "
           << num(r["theirs_frac_sgemm_shape"], "%.0f%%", 100) << " | " << num(r["theirs_frac_sgemm_1024"], "%.0f%%", 100) << " | "
           << allocs(r, "ours") << " | " << allocs(r, "theirs") << " | " << rss(r, "ours")
           << " | " << rss(r, "theirs") << " |\n";
    }
    md << "\n![ratio ours/LibTorch](latest.svg)\n";
    if (alone.contains("records")) write_alone_table(md, doc, alone);
    write_cell_table(md, recs);
    if (!machine.empty()) md << "\n## Machine\n\n```\n" << machine << (machine.back() == '\n' ? "" : "\n") << "```\n";
}

// Horizontal bars from 1.0 to the ratio on a log axis, one row per record.
void write_svg(std::ostream& svg, const json& doc) {
    std::vector<const json*> rows;
    for (const json& r : doc["records"])
        if (!r["ratio_ours_over_theirs"].is_null() && !against_own_lstm(r)) rows.push_back(&r);
    double lo = 0.5, hi = 2.0;
    for (const json* r : rows) {
        const double v = (*r)["ratio_ours_over_theirs"].get<double>();
        lo = std::min(lo, v);
        hi = std::max(hi, v);
    }
    // A margin past the extremes leaves room for the value labels.
    const double l0 = std::floor(std::log2(lo / 1.2)), l1 = std::ceil(std::log2(hi * 1.2));
    const int left = 190, plot_w = 560, right = 70, top = 56, row_h = 22, bottom = 54;
    const int height = top + row_h * int(std::max<std::size_t>(rows.size(), 1)) + bottom, width = left + plot_w + right;
    auto x = [&](double v) { return left + (std::log2(v) - l0) / (l1 - l0) * plot_w; };
    svg << "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"" << width << "\" height=\"" << height << "\" viewBox=\"0 0 " << width
        << " " << height << "\" font-family=\"sans-serif\" font-size=\"12\">\n";
    svg << "<rect width=\"100%\" height=\"100%\" fill=\"white\"/>\n";
    svg << "<text x=\"" << width / 2 << "\" y=\"22\" text-anchor=\"middle\" font-size=\"15\" font-weight=\"bold\">"
        << "Time per step, tapegrad / LibTorch (median, log scale)</text>\n";
    svg << "<text x=\"" << width / 2 << "\" y=\"40\" text-anchor=\"middle\" fill=\"#555\">left of 1.0: tapegrad faster (green); "
        << "right: LibTorch faster (red); t = OpenBLAS threads</text>\n";
    const int y_axis = top + row_h * int(rows.size());
    for (double e = l0; e <= l1 + 1e-9; e += 1.0) {
        const double v = std::exp2(e), xv = x(v);
        char lab[32];
        std::snprintf(lab, sizeof lab, v < 1 ? "%.3g" : "%.0f", v);
        svg << "<line x1=\"" << xv << "\" y1=\"" << top << "\" x2=\"" << xv << "\" y2=\"" << y_axis << "\" stroke=\"#ddd\"/>\n";
        svg << "<text x=\"" << xv << "\" y=\"" << y_axis + 16 << "\" text-anchor=\"middle\">" << lab << "</text>\n";
    }
    if (l1 - l0 <= 3)  // a narrow range: also 1.5·2^e (0.75, 1.5, 3, ...)
        for (double e = l0; e < l1; e += 1.0) {
            const double v = 1.5 * std::exp2(e), xv = x(v);
            char lab[32];
            std::snprintf(lab, sizeof lab, "%.3g", v);
            svg << "<line x1=\"" << xv << "\" y1=\"" << top << "\" x2=\"" << xv << "\" y2=\"" << y_axis << "\" stroke=\"#eee\"/>\n";
            svg << "<text x=\"" << xv << "\" y=\"" << y_axis + 16 << "\" text-anchor=\"middle\" fill=\"#777\">" << lab << "</text>\n";
        }
    svg << "<text x=\"" << left + plot_w / 2 << "\" y=\"" << y_axis + 36 << "\" text-anchor=\"middle\">ours / LibTorch</text>\n";
    for (std::size_t i = 0; i < rows.size(); ++i) {
        const json& r = *rows[i];
        const double v = r["ratio_ours_over_theirs"].get<double>();
        const double y = top + row_h * double(i);
        const double x1 = x(1.0), xv = x(v);
        if (i > 0 && r["config"] != (*rows[i - 1])["config"])
            svg << "<line x1=\"10\" y1=\"" << y << "\" x2=\"" << width - 10 << "\" y2=\"" << y << "\" stroke=\"#bbb\"/>\n";
        svg << "<text x=\"" << left - 8 << "\" y=\"" << y + row_h * 0.68 << "\" text-anchor=\"end\">" << xml_escape(label(r)) << "</text>\n";
        svg << "<rect x=\"" << std::min(x1, xv) << "\" y=\"" << y + 4 << "\" width=\"" << std::max(std::abs(xv - x1), 1.0)
            << "\" height=\"" << row_h - 8 << "\" fill=\"" << (v <= 1.0 ? "#2e8b57" : "#c0392b") << "\"/>\n";
        char val[32];
        std::snprintf(val, sizeof val, "%.2f", v);
        const bool right_side = v > 1.0;
        svg << "<text x=\"" << (right_side ? xv + 4 : xv - 4) << "\" y=\"" << y + row_h * 0.68 << "\" text-anchor=\""
            << (right_side ? "start" : "end") << "\" fill=\"#333\">" << val << "</text>\n";
    }
    svg << "<line x1=\"" << x(1.0) << "\" y1=\"" << top - 4 << "\" x2=\"" << x(1.0) << "\" y2=\"" << y_axis + 4
        << "\" stroke=\"black\" stroke-width=\"1.5\"/>\n";
    if (rows.empty())
        svg << "<text x=\"" << left + plot_w / 2 << "\" y=\"" << top + 14 << "\" text-anchor=\"middle\">no LibTorch comparison in this run</text>\n";
    svg << "</svg>\n";
}

std::string slurp(const std::string& path) {
    std::ifstream in(path);
    std::stringstream s;
    s << in.rdbuf();
    return s.str();
}

}  // namespace

int main(int argc, char** argv) {
    std::string json_path, md_path, svg_path, machine_path, command, alone_path;
    for (int i = 1; i + 1 < argc; i += 2) {
        const std::string a = argv[i], v = argv[i + 1];
        if (a == "--json") json_path = v;
        else if (a == "--md") md_path = v;
        else if (a == "--svg") svg_path = v;
        else if (a == "--machine") machine_path = v;
        else if (a == "--command") command = v;
        else if (a == "--alone") alone_path = v;
        else {
            std::fprintf(stderr, "bench_report: unknown option %s\n", a.c_str());
            return 2;
        }
    }
    if (json_path.empty() || (argc - 1) % 2 != 0) {
        std::fprintf(stderr, "usage: bench_report --json FILE [--md FILE] [--svg FILE] [--alone FILE] [--machine FILE] [--command TEXT]\n");
        return 2;
    }
    std::ifstream in(json_path);
    const json doc = json::parse(in, nullptr, false);
    if (doc.is_discarded() || !doc.contains("records") || !doc.contains("meta")) {
        std::fprintf(stderr, "bench_report: %s is not bench_recurrent's JSON\n", json_path.c_str());
        return 1;
    }
    json alone = json::object();
    if (!alone_path.empty()) {
        std::ifstream alone_in(alone_path);
        alone = json::parse(alone_in, nullptr, false);
        if (alone.is_discarded() || !alone.contains("records") || !alone.contains("meta")) {
            std::fprintf(stderr, "bench_report: %s is not bench_recurrent's JSON\n", alone_path.c_str());
            return 1;
        }
    }
    if (!md_path.empty()) {
        std::ofstream md(md_path);
        write_markdown(md, doc, machine_path.empty() ? "" : slurp(machine_path), command, alone);
    }
    if (!svg_path.empty()) {
        std::ofstream svg(svg_path);
        write_svg(svg, doc);
    }
    return 0;
}
