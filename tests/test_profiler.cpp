// tg::Profiler (autodiff/profiler.hpp): per-op counts, GEMM FLOPs, bytes and
// elements computed by hand; attach and detach; the table; the trace JSON.
#include <filesystem>
#include <fstream>
#include <sstream>

#include <nlohmann/json.hpp>

#include "test_util.hpp"

namespace tg = tapegrad;
using Catch::Matchers::Contains;

namespace {

// A copy: callers pass prof.ops(), a temporary.
tg::OpProfile row(const std::vector<tg::OpProfile>& rows, const std::string& op) {
    for (const auto& r : rows)
        if (r.op == op) return r;
    FAIL("no row for op " << op);
    throw;  // unreachable
}

tg::Tensor<float> smooth_float(const tg::Shape& shape, double scale = 1.0) {
    const tg::Tensor<double> d = tgtest::smooth(shape, scale);
    tg::Tensor<float> f = tg::Tensor<float>::from_shape(d.shape());
    for (std::size_t i = 0; i < d.size(); ++i) f.data()[i] = static_cast<float>(d.data()[i]);
    return f;
}

// loss = sum(tanh(x·w)), x (3, 4) a constant, w (4, 5) a variable.
tg::Var<float> small_model(tg::Tape<float>& t) {
    const tg::Var<float> x = t.constant(smooth_float({3, 4}));
    const tg::Var<float> w = t.variable(smooth_float({4, 5}, 0.3));
    return tg::sum(tg::tanh(tg::matmul(x, w)));
}

}  // namespace

TEST_CASE("the profiler counts calls, elements, bytes and GEMM FLOPs of each op as computed by hand", "[profiler]") {
    tg::Tape<float> t;
    tg::Profiler prof(t);
    t.backward(small_model(t));
    const auto rows = prof.ops();
    REQUIRE(rows.size() == 3);  // matmul, tanh, sum: leaves are not ops
    const auto& mm = row(rows, "matmul");
    CHECK(mm.calls == 1);
    CHECK(mm.backward_calls == 1);
    CHECK(mm.elements == 15);
    // Forward 2·3·5·4 = 120; backward only dW = xᵀ·g (x needs no gradient): 2·4·5·3 = 120.
    CHECK(mm.gemm_flops == 240);
    // Forward reads x (12) and w (20), writes 15; backward reads g (15), x
    // and w (12 + 20: matmul's contract declares both inputs), adds into dW
    // (20). Floats: 4 bytes each.
    CHECK(mm.bytes == (12 + 20 + 15 + 15 + 12 + 20 + 20) * 4);
    const auto& th = row(rows, "tanh");
    CHECK(th.calls == 1);
    CHECK(th.elements == 15);
    CHECK(th.gemm_flops == 0);
    CHECK(th.gflops_per_s() == 0);
    // Forward: 15 in, 15 out; backward: g (15), its own output (15), dx (15).
    CHECK(th.bytes == (15 + 15 + 15 + 15 + 15) * 4);
    const auto& s = row(rows, "sum");
    CHECK(s.elements == 1);
    for (const auto& r : rows) {
        CHECK(r.forward_ms >= 0);
        CHECK(r.backward_ms >= 0);
        CHECK(r.total_ms() == r.forward_ms + r.backward_ms);
    }
    for (std::size_t k = 1; k < rows.size(); ++k) CHECK(rows[k - 1].total_ms() >= rows[k].total_ms());
}

TEST_CASE("the profiler sums over steps; forward-only runs count no backward; reset forgets", "[profiler]") {
    tg::Tape<float> t;
    tg::Profiler prof(t);
    for (int step = 0; step < 3; ++step) {
        t.clear();
        t.backward(small_model(t));
    }
    {
        tg::NoGradGuard no_grad;
        t.clear();
        (void)small_model(t);
    }
    const auto& mm = row(prof.ops(), "matmul");
    CHECK(mm.calls == 4);
    CHECK(mm.backward_calls == 3);
    CHECK(mm.gemm_flops == 4 * 120 + 3 * 120);
    prof.reset();
    CHECK(prof.ops().empty());
    t.clear();
    (void)small_model(t);
    CHECK(row(prof.ops(), "matmul").calls == 1);
}

TEST_CASE("a detached profiler sees nothing; a tape takes one profiler; either may go first", "[profiler]") {
    tg::Tape<float> t;
    {
        tg::Profiler prof(t);
        CHECK(t.profiler() == &prof);
        CHECK_THROWS_AS(tg::Profiler(t), tg::ArgumentError);
        CHECK_THROWS_WITH(tg::Profiler(t), Contains("already has a profiler"));
        prof.detach();
        CHECK_FALSE(prof.attached());
        CHECK(t.profiler() == nullptr);
        (void)small_model(t);
        CHECK(prof.ops().empty());
        prof.detach();  // idempotent
    }
    CHECK(t.profiler() == nullptr);
    tg::Profiler second(t);  // the tape is free again
    (void)small_model(t);
    CHECK(second.ops().size() == 3);  // matmul, tanh, sum
    auto tape = std::make_unique<tg::Tape<double>>();
    tg::Profiler outlived(*tape);
    tape.reset();  // the tape goes first: the profiler is detached, not dangling
    CHECK_FALSE(outlived.attached());
    outlived.detach();
}

TEST_CASE("the profiler's table: a header, one row per op by total time, a total line, max_rows", "[profiler]") {
    tg::Tape<double> t;
    tg::Profiler prof(t);
    const tg::Var<double> x = t.variable(tgtest::smooth({4, 3}));
    const tg::Var<double> loss = tg::mean(tg::sigmoid(x) * tg::exp(x) + tg::tanh(x));
    t.backward(loss);
    const std::string table = prof.table();
    INFO(table);
    CHECK_THAT(table, Contains("op") && Contains("calls") && Contains("forward ms") && Contains("GFLOP/s"));
    for (const char* op : {"sigmoid", "exp", "mul", "tanh", "add", "mean"}) CHECK_THAT(table, Contains(op));
    std::istringstream lines(table);
    std::string line;
    std::vector<std::string> all;
    while (std::getline(lines, line)) all.push_back(line);
    REQUIRE(all.size() == 2 + 6 + 1);  // header, rule, six ops, total
    CHECK(all.back().rfind("total", 0) == 0);
    CHECK(all.back().find(" 6 ") != std::string::npos);  // six forward calls in all
    const std::string top = prof.table(2);
    CHECK_THAT(top, Contains("... 4 more ops"));
}

TEST_CASE("the trace is Chrome trace JSON: one event per forward and per backward, names escaped", "[profiler]") {
    tg::Tape<double> t;
    tg::Profiler prof(t);
    const tg::Var<double> x = t.variable(tgtest::smooth({2, 2}));
    const tg::Var<double> y = tg::custom_op(
        "say \"hi\"\\now", {x}, [](const auto& in) { return tg::Tensor<double>(in[0] * 2.0); },
        [](const auto&, const auto&, const auto& g) { return std::vector<tg::Tensor<double>>{tg::Tensor<double>(g * 2.0)}; });
    t.backward(tg::sum(y));
    const auto j = nlohmann::json::parse(prof.trace_json());
    const auto& events = j.at("traceEvents");
    std::size_t forward = 0, backward = 0;
    bool named = false;
    for (const auto& e : events) {
        if (e.at("ph") == "M") continue;
        REQUIRE(e.at("ph") == "X");
        CHECK(e.at("ts").get<double>() >= 0);
        CHECK(e.at("dur").get<double>() >= 0);
        (e.at("cat") == "forward" ? forward : backward) += 1;
        named = named || e.at("name") == "say \"hi\"\\now";
        if (e.at("name") == "sum") CHECK(e.at("args").at("shape") == "()");
    }
    CHECK(forward == 2);
    CHECK(backward == 2);
    CHECK(named);
    CHECK(j.at("otherData").at("events_dropped") == 0);
}

TEST_CASE("the trace keeps at most max_events; the totals count everything", "[profiler]") {
    tg::Tape<float> t;
    tg::Profiler prof(t, {.max_events = 3});
    t.backward(small_model(t));
    CHECK(prof.events_dropped() == 3);  // 3 forwards kept, 3 backwards dropped
    const auto j = nlohmann::json::parse(prof.trace_json());
    CHECK(j.at("traceEvents").size() == 2 + 3);
    CHECK(j.at("otherData").at("events_dropped") == 3);
    CHECK(row(prof.ops(), "matmul").backward_calls == 1);
}

TEST_CASE("write_trace writes the trace, and names the path when it cannot", "[profiler]") {
    tg::Tape<float> t;
    tg::Profiler prof(t);
    (void)small_model(t);
    const auto dir = std::filesystem::temp_directory_path() / ("tapegrad_profiler_" + std::to_string(::getpid()));
    std::filesystem::create_directories(dir);
    const std::string path = (dir / "trace.json").string();
    prof.write_trace(path);
    std::ifstream in(path);
    std::stringstream text;
    text << in.rdbuf();
    CHECK(text.str() == prof.trace_json());
    const std::string bad = (dir / "missing" / "trace.json").string();
    CHECK_THROWS_AS(prof.write_trace(bad), tg::Error);
    CHECK_THROWS_WITH(prof.write_trace(bad), Contains(bad) && Contains("No such file"));
    std::filesystem::remove_all(dir);
}
