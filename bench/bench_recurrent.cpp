// Milliseconds per training step (zero_grad, forward over T steps, a
// Linear(H→I) head on the last hidden state, MSE, backward, Adam step) and per
// forward-only pass, for tapegrad's LSTM and GRU ("ours") and, when built with
// LibTorch, for torch::nn::LSTM / GRU doing the same computation ("theirs"), at
// the configurations of issue "Performance" (see ../shared/reference/PERF.md):
// small (B=16, I=8, H=64, T=100), medium (64, 128, 256, 50), large (64, 512, 512, 35).
//
// Per configuration × cell × thread count × mode, the two sides run
// interleaved, one step each (ours, theirs, ours, theirs, ...), `--warmup`
// steps each untimed, then `--steps` timed each; a record holds the median, min
// and max of each side, their ratio, GFLOP/s (PERF.md's convention: forward =
// 2·B·(I+H)·G·H·T, train = 3 × forward), that as a fraction of OpenBLAS sgemm
// measured in the same run (on the cell's GEMM shape M=B, N=G·H, K=I+H, and
// on 1024³), heap allocations per step of each side, and peak RSS.
//
// Threads: "1" is 1 OpenBLAS thread; "2" is 2 OpenBLAS threads. LibTorch's own
// intra-op and inter-op threads are always 1 (PERF.md: its best 2-core
// setting); both sides share the process's one OpenBLAS, whose thread count is
// set before each step.
//
// Peak RSS of the two sides can't be told apart in one process: with `--rss`,
// each record is also run by a child process per side (this executable with
// `--side ours|theirs`), and the record gets that child's peak RSS and its
// growth over the child's RSS at start (which holds the loaded libraries).
//
// `--cell peephole` times a user's peephole LSTM written against the Cell
// interface (tests/peephole_lstm_cell.hpp); its "theirs" is tapegrad's own
// built-in LSTM, so the ratio is what a cell from outside the library costs.
//
//   build/bench/bench_recurrent [--config small|medium|large|all] [--cell lstm|gru|peephole|all]
//        [--mode train|forward|all] [--threads 1,2] [--steps N] [--warmup N]
//        [--side ours|theirs|both] [--rss] [--no-sgemm] [--anomaly] [--json FILE] [--small-gemm on|off]

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <ctime>
#include <fstream>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include <fcntl.h>
#include <spawn.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cblas.h>

#include <CLI/CLI.hpp>
#include <nlohmann/json.hpp>

#include <tapegrad/autodiff/small_gemm.hpp>

#include "alloc_counter.hpp"
#include "sgemm.hpp"
#include "side.hpp"

extern char** environ;

namespace {

using nlohmann::json;

struct Config {
    const char* name;
    bench::Shape shape;
};
const Config kConfigs[] = {{"small", {16, 8, 64, 100}}, {"medium", {64, 128, 256, 50}}, {"large", {64, 512, 512, 35}}};

#ifdef TAPEGRAD_BENCH_WITH_TORCH
constexpr bool kWithTorch = true;
#else
constexpr bool kWithTorch = false;
#endif

std::string torch_version() {
#ifdef TAPEGRAD_BENCH_WITH_TORCH
    return bench::torch_version();
#else
    return "";
#endif
}

struct Stats {
    double median, min, max;
};

Stats summarize(std::vector<double> v) {
    std::sort(v.begin(), v.end());
    const std::size_t n = v.size();
    const double median = n % 2 ? v[n / 2] : 0.5 * (v[n / 2 - 1] + v[n / 2]);
    return {median, v.front(), v.back()};
}

// Peak resident set of this process's address space: VmHWM, not getrusage's
// ru_maxrss, which a child started by posix_spawn (vfork + exec) inherits from
// the parent whose address space it briefly shared.
double peak_rss_mib() {
    std::ifstream status("/proc/self/status");
    std::string line;
    while (std::getline(status, line))
        if (line.rfind("VmHWM:", 0) == 0) return std::stod(line.substr(6)) / 1024.0;  // "VmHWM:  123456 kB"
    rusage u{};
    getrusage(RUSAGE_SELF, &u);
    return double(u.ru_maxrss) / 1024.0;
}

// FLOPs as PERF.md counts them: forward = 2·B·(I+H)·G·H·T, train = 3 × forward.
double step_gflop(const bench::Shape& s, std::size_t gates, bool train) {
    return (train ? 3.0 : 1.0) * 2.0 * double(s.B) * double(s.I + s.H) * double(gates) * double(s.H) * double(s.T) / 1e9;
}

// One side's timed steps of one record.
struct Samples {
    std::vector<double> ms, allocs, blas_allocs, own_allocs;
    bool finite = true;
};

// Runs one step of `side` with OpenBLAS on `threads` threads; appends its time
// and heap allocations when `keep`.
void run_step(bench::Side& side, bool train, int threads, bool keep, Samples& out) {
    openblas_set_num_threads(threads);
    const long a0 = bench::heap_allocations(), b0 = bench::openblas_heap_allocations();
    const auto t0 = std::chrono::steady_clock::now();
    if (train) {
        if (!std::isfinite(side.train_step())) out.finite = false;
    } else {
        side.forward();
    }
    const auto t1 = std::chrono::steady_clock::now();
    const long a1 = bench::heap_allocations(), b1 = bench::openblas_heap_allocations();
    if (keep) {
        out.ms.push_back(std::chrono::duration<double, std::milli>(t1 - t0).count());
        out.allocs.push_back(double(a1 - a0));
        out.blas_allocs.push_back(double(b1 - b0));
        out.own_allocs.push_back(double((a1 - a0) - (b1 - b0)));
    }
}

json side_fields(const std::string& prefix, const Samples& s, double gflop, double sgemm_shape, double sgemm_1024) {
    json j;
    if (s.ms.empty()) {
        for (const char* k : {"ms_median", "ms_min", "ms_max", "gflops", "frac_sgemm_shape", "frac_sgemm_1024", "allocs_per_step",
                              "allocs_per_step_max", "own_allocs_per_step", "openblas_allocs_per_step"})
            j[prefix + k] = nullptr;
        return j;
    }
    const Stats t = summarize(s.ms), a = summarize(s.allocs);
    const double rate = gflop / (t.median / 1e3);
    j[prefix + "ms_median"] = t.median;
    j[prefix + "ms_min"] = t.min;
    j[prefix + "ms_max"] = t.max;
    j[prefix + "gflops"] = rate;
    j[prefix + "frac_sgemm_shape"] = sgemm_shape > 0 ? json(rate / sgemm_shape) : json(nullptr);
    j[prefix + "frac_sgemm_1024"] = sgemm_1024 > 0 ? json(rate / sgemm_1024) : json(nullptr);
    if (bench::counting_allocations()) {
        j[prefix + "allocs_per_step"] = a.median;
        j[prefix + "allocs_per_step_max"] = a.max;
        j[prefix + "own_allocs_per_step"] = summarize(s.own_allocs).median;
        j[prefix + "openblas_allocs_per_step"] = summarize(s.blas_allocs).median;
    } else {
        for (const char* k : {"allocs_per_step", "allocs_per_step_max", "own_allocs_per_step", "openblas_allocs_per_step"})
            j[prefix + k] = nullptr;
    }
    return j;
}

// Runs this executable again for one record and one side, its stdout to
// /dev/null, and returns the record it wrote (null on failure).
json run_child(const std::string& side, const json& rec) {
    char tmpl[] = "/tmp/bench_recurrent_rss_XXXXXX";
    const int fd = mkstemp(tmpl);
    if (fd < 0) return nullptr;
    close(fd);
    const std::string path = tmpl;
    std::vector<std::string> args = {"bench_recurrent",
                                     "--side",
                                     side,
                                     "--config",
                                     rec["config"].get<std::string>(),
                                     "--cell",
                                     rec["cell"].get<std::string>(),
                                     "--mode",
                                     rec["mode"].get<std::string>(),
                                     "--threads",
                                     std::to_string(rec["threads"].get<int>()),
                                     "--steps",
                                     "2",
                                     "--warmup",
                                     "1",
                                     "--no-sgemm",
                                     "--json",
                                     path};
    if (rec["anomaly"].get<bool>()) args.push_back("--anomaly");
    // The child measures the same library setup as its parent.
    if (!tapegrad::detail::small_gemm_enabled()) args.insert(args.end(), {"--small-gemm", "off"});
    std::vector<char*> argv;
    for (auto& a : args) argv.push_back(a.data());
    argv.push_back(nullptr);
    posix_spawn_file_actions_t actions;
    posix_spawn_file_actions_init(&actions);
    posix_spawn_file_actions_addopen(&actions, STDOUT_FILENO, "/dev/null", O_WRONLY, 0);
    pid_t pid = 0;
    const int rc = posix_spawn(&pid, "/proc/self/exe", &actions, nullptr, argv.data(), environ);
    posix_spawn_file_actions_destroy(&actions);
    json out = nullptr;
    int status = 0;
    if (rc == 0 && waitpid(pid, &status, 0) == pid && WIFEXITED(status) && WEXITSTATUS(status) == 0) {
        std::ifstream in(path);
        json doc = json::parse(in, nullptr, false);
        if (!doc.is_discarded() && doc.contains("records") && doc["records"].size() == 1) out = doc["records"][0];
    }
    std::remove(path.c_str());
    if (out.is_null()) std::fprintf(stderr, "bench_recurrent: the --side %s child for this record failed\n", side.c_str());
    return out;
}

std::string fmt(const json& v, const char* f) {
    if (v.is_null()) return "-";
    char buf[64];
    std::snprintf(buf, sizeof buf, f, v.get<double>());
    return buf;
}

std::string pct(const json& v) { return v.is_null() ? "-" : fmt(json(100 * v.get<double>()), "%.0f%%"); }

std::string range(const json& r, const std::string& side) {
    if (r[side + "ms_median"].is_null()) return "-";
    return fmt(r[side + "ms_median"], "%.2f") + " (" + fmt(r[side + "ms_min"], "%.1f") + "-" + fmt(r[side + "ms_max"], "%.1f") + ")";
}

std::string allocs(const json& r, const std::string& side) {
    if (r[side + "allocs_per_step"].is_null()) return "-";
    return fmt(r[side + "own_allocs_per_step"], "%.0f") + "+" + fmt(r[side + "openblas_allocs_per_step"], "%.0f");
}

constexpr const char* kRow = "%-6s %-4s %-7s %3s | %-24s | %-24s | %5s | %5s %5s | %5s %5s | %5s %5s | %-9s | %-11s\n";

void print_header() {
    std::printf(kRow, "config", "cell", "mode", "thr", "ours ms", "LibTorch ms", "ratio", "GF/s", "", "%sgemm", "shape",
                "%sgemm", "1024", "allocs", "");
    std::printf(kRow, "", "", "", "", "", "", "", "ours", "torch", "ours", "torch", "ours", "torch", "ours", "torch");
}

void print_row(const json& r) {
    std::printf(kRow, r["config"].get<std::string>().c_str(), r["cell"].get<std::string>().c_str(), r["mode"].get<std::string>().c_str(),
                std::to_string(r["threads"].get<int>()).c_str(), range(r, "ours_").c_str(), range(r, "theirs_").c_str(),
                fmt(r["ratio_ours_over_theirs"], "%.2f").c_str(), fmt(r["ours_gflops"], "%.1f").c_str(),
                fmt(r["theirs_gflops"], "%.1f").c_str(), pct(r["ours_frac_sgemm_shape"]).c_str(), pct(r["theirs_frac_sgemm_shape"]).c_str(),
                pct(r["ours_frac_sgemm_1024"]).c_str(), pct(r["theirs_frac_sgemm_1024"]).c_str(), allocs(r, "ours_").c_str(),
                allocs(r, "theirs_").c_str());
    std::fflush(stdout);
}

// --profile: tapegrad's op table for each selected configuration, cell,
// thread count and mode (no comparison, no timing records).
int print_profiles(const std::string& config, const std::string& cell, const std::string& mode,
                   const std::vector<int>& threads_list, int warmup, int steps) {
    for (const Config& c : kConfigs) {
        if (config != "all" && config != c.name) continue;
        for (const std::string kind : {"lstm", "gru", "peephole"}) {
            if (cell != "all" && cell != kind) continue;
            const bench::Cell k = kind == "lstm" ? bench::Cell::lstm : kind == "gru" ? bench::Cell::gru : bench::Cell::peephole;
            for (int threads : threads_list)
                for (const std::string m : {"train", "forward"}) {
                    if (mode != "all" && mode != m) continue;
                    openblas_set_num_threads(threads);
                    std::printf("\n== %s %s, %s, %d OpenBLAS thread(s): %d steps after %d warm-up\n", c.name, kind.c_str(), m.c_str(),
                                threads, steps, warmup);
                    std::fputs(bench::profile_tapegrad(c.shape, k, m == "train", warmup, steps).c_str(), stdout);
                    std::fflush(stdout);
                }
        }
    }
    return 0;
}

}  // namespace

int main(int argc, char** argv) {
    std::string config = "all", cell = "all", mode = "all", side = kWithTorch ? "both" : "ours", json_path;
    std::vector<int> threads_list{1};
    int steps = 15, warmup = 3;
    bool anomaly = false, rss = false, no_sgemm = false, profile = false;
    std::string small_gemm = "on";
    CLI::App app{"tapegrad (and LibTorch) LSTM/GRU training-step and forward timings, interleaved."};
    app.add_option("--config", config)->check(CLI::IsMember({"small", "medium", "large", "all"}));
    app.add_option("--cell", cell, "peephole: a user's cell through the Cell interface, against tapegrad's LSTM")
        ->check(CLI::IsMember({"lstm", "gru", "peephole", "all"}));
    app.add_option("--mode", mode)->check(CLI::IsMember({"train", "forward", "all"}));
    app.add_option("--threads", threads_list, "OpenBLAS thread counts, e.g. 1,2 (LibTorch's own: always 1)")
        ->delimiter(',')
        ->check(CLI::Range(1, 64));
    app.add_option("--steps", steps, "timed steps per side (medians want >= 10)")->check(CLI::Range(1, 100000));
    app.add_option("--warmup", warmup, "untimed steps per side first")->check(CLI::Range(0, 1000));
    app.add_option("--side", side, "ours, theirs (LibTorch) or both interleaved")->check(CLI::IsMember({"ours", "theirs", "both"}));
    app.add_flag("--rss", rss, "also measure peak RSS per side, in one child process per record and side");
    app.add_flag("--no-sgemm", no_sgemm, "skip the sgemm reference measurement");
    app.add_flag("--anomaly", anomaly, "turn on tapegrad's anomaly detection");
    app.add_option("--json", json_path, "also write the records as JSON");
    app.add_option("--small-gemm", small_gemm, "libxsmm's kernels for small products (autodiff/small_gemm.hpp): on or off")
        ->check(CLI::IsMember({"on", "off"}));
    app.add_flag("--profile", profile, "print tapegrad's per-op profile table (tg::Profiler) for each record instead of timing");
    CLI11_PARSE(app, argc, argv);
    tapegrad::detail::set_small_gemm_enabled(small_gemm == "on");
    if (profile) {
        bench::locate_openblas();
        return print_profiles(config, cell, mode, threads_list, warmup, steps);
    }
    if (!kWithTorch && side != "ours" && cell != "peephole") {
        std::fprintf(stderr, "bench_recurrent: built without LibTorch (CMake did not find Torch): only --side ours (or --cell peephole)\n");
        return 2;
    }
    const bool run_ours = side != "theirs", run_theirs = side != "ours";
    std::string command;
    for (int i = 0; i < argc; ++i) command += (i ? " " : "") + std::string(argv[i]);

    bench::locate_openblas();
    // RSS at start: the libraries loaded (LibTorch's too, on either side) and
    // OpenBLAS's work buffers touched by the selected GEMM shapes, so that a
    // record's growth over it is the models' and the steps' memory.
    for (const Config& c : kConfigs)
        if (config == "all" || config == c.name)
            for (int t : threads_list)
                for (int gates : {4, 3}) bench::sgemm_touch(int(c.shape.B), int(gates * c.shape.H), int(c.shape.I + c.shape.H), t);
    const double start_rss = peak_rss_mib();

    // sgemm on 1024³, once per thread count.
    std::map<int, double> sgemm_1024;
    if (!no_sgemm)
        for (int t : threads_list) sgemm_1024[t] = bench::sgemm_gflops(1024, 1024, 1024, t);

    std::printf("ours = tapegrad, theirs = LibTorch %s; %d warm-up + %d timed steps per side%s; threads = OpenBLAS threads\n",
                kWithTorch ? torch_version().c_str() : "(not built)", warmup, steps,
                run_ours && run_theirs ? ", interleaved" : "");
    for (auto [t, g] : sgemm_1024) std::printf("OpenBLAS sgemm 1024^3, %d thread(s): %.1f GFLOP/s\n", t, g);
    std::printf("small products (m*n*k <= 2^18): %s\n",
                !tapegrad::detail::small_gemm_built() ? "OpenBLAS (built without libxsmm)"
                : tapegrad::detail::small_gemm_enabled() ? "libxsmm where it has a kernel"
                                                         : "OpenBLAS (--small-gemm off)");
    print_header();

    json records = json::array();
    for (const Config& c : kConfigs) {
        if (config != "all" && config != c.name) continue;
        for (const std::string kind : {"lstm", "gru", "peephole"}) {
            if (cell != "all" && cell != kind) continue;
            const bench::Cell k = kind == "lstm" ? bench::Cell::lstm : kind == "gru" ? bench::Cell::gru : bench::Cell::peephole;
            const std::size_t gates = kind == "gru" ? 3 : 4;
            std::unique_ptr<bench::Side> ours, theirs;
            if (run_ours) ours = bench::make_tapegrad_side(c.shape, k, anomaly);
            if (run_theirs && k == bench::Cell::peephole) theirs = bench::make_tapegrad_side(c.shape, bench::Cell::lstm, anomaly);
#ifdef TAPEGRAD_BENCH_WITH_TORCH
            else if (run_theirs) theirs = bench::make_torch_side(c.shape, k);
#endif
            const int M = int(c.shape.B), N = int(gates * c.shape.H), K = int(c.shape.I + c.shape.H);
            for (int threads : threads_list) {
                const double sg_shape = no_sgemm ? 0.0 : bench::sgemm_gflops(M, N, K, threads);
                const double sg_1024 = no_sgemm ? 0.0 : sgemm_1024[threads];
                for (const std::string m : {"train", "forward"}) {
                    if (mode != "all" && mode != m) continue;
                    const bool train = m == "train";
                    Samples us, them;
                    for (int rep = 0; rep < warmup + steps; ++rep) {
                        const bool keep = rep >= warmup;
                        if (ours) run_step(*ours, train, threads, keep, us);
                        if (theirs) run_step(*theirs, train, threads, keep, them);
                    }
                    if (!us.finite || !them.finite) std::fprintf(stderr, "bench_recurrent: a non-finite loss (%s %s)\n", c.name, kind.c_str());
                    const double gflop = step_gflop(c.shape, gates, train);
                    json rec = {{"config", c.name},
                                {"B", c.shape.B},
                                {"I", c.shape.I},
                                {"H", c.shape.H},
                                {"T", c.shape.T},
                                {"cell", kind},
                                {"theirs", k == bench::Cell::peephole ? "tapegrad LSTM" : "LibTorch"},
                                {"mode", m},
                                {"threads", threads},
                                {"torch_threads", 1},
                                {"steps", steps},
                                {"warmup", warmup},
                                {"anomaly", anomaly},
                                {"gflop_per_step", gflop},
                                {"sgemm_shape", {M, N, K}},
                                {"sgemm_shape_gflops", no_sgemm ? json(nullptr) : json(sg_shape)},
                                {"sgemm_1024_gflops", no_sgemm ? json(nullptr) : json(sg_1024)}};
                    rec.update(side_fields("ours_", us, gflop, sg_shape, sg_1024));
                    rec.update(side_fields("theirs_", them, gflop, sg_shape, sg_1024));
                    rec["ratio_ours_over_theirs"] =
                        (us.ms.empty() || them.ms.empty()) ? json(nullptr) : json(summarize(us.ms).median / summarize(them.ms).median);
                    rec["process_start_rss_mib"] = start_rss;
                    rec["process_peak_rss_mib"] = peak_rss_mib();
                    for (const char* s : {"ours_", "theirs_"}) {
                        rec[std::string(s) + "peak_rss_mib"] = nullptr;
                        rec[std::string(s) + "rss_growth_mib"] = nullptr;
                    }
                    print_row(rec);
                    std::fflush(stdout);
                    records.push_back(rec);
                }
            }
        }
    }
    std::printf("\nms: median (min-max); ratio = ours/theirs (medians); %%sgemm = GFLOP/s as a fraction of OpenBLAS sgemm\n"
                "on the shape M=B, N=G*H, K=I+H and on 1024^3; allocs = heap allocations per step (median), own+OpenBLAS's.\n"
                "Peak RSS of this process: %.1f MiB (both sides; %.1f at start).\n",
                peak_rss_mib(), start_rss);

    if (rss) {
        std::printf("\npeak RSS per side, one child process per record and side (MiB: peak, and growth over the child's start)\n");
        std::printf("%-6s %-4s %-7s %3s | %9s %9s | %9s %9s\n", "config", "cell", "mode", "thr", "ours", "+growth", "torch", "+growth");
        for (json& rec : records) {
            for (const std::string s : {"ours", "theirs"}) {
                if ((s == "ours" && !run_ours) || (s == "theirs" && !run_theirs)) continue;
                const json child = run_child(s, rec);
                if (child.is_null()) continue;
                rec[s + "_peak_rss_mib"] = child["process_peak_rss_mib"];
                rec[s + "_rss_growth_mib"] = child["process_peak_rss_mib"].get<double>() - child["process_start_rss_mib"].get<double>();
            }
            std::printf("%-6s %-4s %-7s %3d | %9s %9s | %9s %9s\n", rec["config"].get<std::string>().c_str(),
                        rec["cell"].get<std::string>().c_str(), rec["mode"].get<std::string>().c_str(), rec["threads"].get<int>(),
                        fmt(rec["ours_peak_rss_mib"], "%.1f").c_str(), fmt(rec["ours_rss_growth_mib"], "%.1f").c_str(),
                        fmt(rec["theirs_peak_rss_mib"], "%.1f").c_str(), fmt(rec["theirs_rss_growth_mib"], "%.1f").c_str());
            std::fflush(stdout);
        }
    }

    if (!json_path.empty()) {
        const std::time_t now = std::time(nullptr);
        char stamp[32];
        std::strftime(stamp, sizeof stamp, "%Y-%m-%dT%H:%M:%SZ", std::gmtime(&now));
        json meta = {{"command", command},
                     {"date", stamp},
                     {"side", side},
                     {"torch_version", kWithTorch ? json(torch_version()) : json(nullptr)},
                     {"torch_threads", 1},
                     {"threads", threads_list},
                     {"steps", steps},
                     {"warmup", warmup},
                     {"interleaved", run_ours && run_theirs},
                     {"flop_convention", "forward = 2*B*(I+H)*G*H*T (G = 4 LSTM, 3 GRU), train = 3 * forward"},
                     {"sgemm_1024_gflops", json::object()}};
        for (auto [t, g] : sgemm_1024) meta["sgemm_1024_gflops"][std::to_string(t)] = g;
        meta["small_gemm"] = !tapegrad::detail::small_gemm_built() ? "openblas" : tapegrad::detail::small_gemm_enabled() ? "libxsmm" : "off";
        std::ofstream(json_path) << json{{"meta", meta}, {"records", records}}.dump(2) << "\n";
    }
    return 0;
}
