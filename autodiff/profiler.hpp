#pragma once
/// \file
/// `Profiler`: where a model's time goes, per op, in forward and backward.
///
///     tg::Profiler prof(tape);           // profiles `tape` until prof is destroyed
///     train_some_steps(tape);
///     std::cout << prof.table();         // per op: calls, ms, elements, bytes, GFLOP/s
///     prof.write_trace("trace.json");    // chrome://tracing or ui.perfetto.dev
///
/// While attached, every op's forward (as it is recorded) and every node's
/// backward is timed with a steady clock, and the GEMM floating-point
/// operations run inside it are counted (the library's one BLAS door counts
/// 2·m·n·k per call). Detached, a tape pays one pointer test per op and per
/// backward node; `bench_recurrent --profile` shows the cost either way.

#include <chrono>
#include <cstdint>
#include <string>
#include <unordered_map>
#include <vector>

#include "tape.hpp"

namespace tapegrad {

/// One op's totals over everything the profiler saw.
struct OpProfile {
    std::string op;                  ///< op name (a custom op's own name)
    std::size_t calls = 0;           ///< forwards recorded
    std::size_t backward_calls = 0;  ///< backwards run
    double forward_ms = 0, backward_ms = 0;
    std::uint64_t elements = 0;      ///< output elements, summed over forward calls
    /// Bytes the op touched: in forward its inputs and its output; in
    /// backward the output's gradient, each input gradient it adds into, and
    /// the values its `OpDef::backward_reads` declares.
    std::uint64_t bytes = 0;
    std::uint64_t gemm_flops = 0;    ///< 2·m·n·k of every GEMM run inside it, forward and backward
    double total_ms() const { return forward_ms + backward_ms; }
    /// GEMM rate over the op's whole time (0 for an op that runs no GEMM).
    double gflops_per_s() const { return total_ms() > 0 ? double(gemm_flops) / (total_ms() * 1e6) : 0; }
};

/// Options of a `Profiler`.
struct ProfilerOptions {
    /// Keep one trace event per forward and per backward (for `write_trace`),
    /// up to `max_events`; past it only the totals grow and the trace says so.
    bool trace = true;
    std::size_t max_events = 1'000'000;  ///< about 40 MB
};

class Profiler {
public:
    /// Profiles `tape` until destroyed or `detach()`ed. A tape has one
    /// profiler at a time: `ArgumentError` if it already has one.
    template <class T>
    explicit Profiler(Tape<T>& tape, ProfilerOptions options = {});
    ~Profiler();
    Profiler(const Profiler&) = delete;
    Profiler& operator=(const Profiler&) = delete;

    /// Stops profiling (what was collected stays readable). Idempotent; a
    /// tape destroyed first detaches itself.
    void detach();
    bool attached() const { return detach_ != nullptr; }
    /// Forgets what was collected; keeps profiling.
    void reset();

    /// One row per op, by total time, longest first.
    std::vector<OpProfile> ops() const;
    /// The rows as a text table with a total line (as PyTorch's
    /// `key_averages().table()`); `max_rows` 0 prints every op.
    std::string table(std::size_t max_rows = 0) const;
    /// Chrome trace event JSON: one complete event per forward (thread
    /// "forward") and per backward (thread "backward") with the node, its op
    /// and its output shape; times in µs since the profiler started.
    std::string trace_json() const;
    /// Writes `trace_json()` to `path` (a temporary file renamed over it);
    /// `Error` naming the path and the reason if it cannot.
    void write_trace(const std::string& path) const;
    /// The forward plus backward time of the node now at position `id`, in
    /// ms, from the latest recording there (0 if none): for the graph view.
    double node_ms(NodeId id) const;
    /// Events dropped because `max_events` was reached.
    std::size_t events_dropped() const { return events_dropped_; }

    // ---- for the tape (op_support.hpp's finish, Tape::backward) -------------
    struct Mark {
        std::chrono::steady_clock::time_point start;
        std::uint64_t flops = 0;
    };
    static Mark mark();
    template <class T>
    void forward_done(const Tape<T>& tape, NodeId id, const Mark& m);
    template <class T>
    void backward_done(const Tape<T>& tape, NodeId id, const Mark& m);
    /// Backward work that belongs to no single node (with OpenBLAS on several
    /// threads, the weight-gradient products gathered across time steps).
    void span_done(const char* name, const Mark& m);
    /// Called by a tape that is destroyed while attached.
    void tape_destroyed() { detach_ = nullptr; }

private:
    struct Event {
        std::uint32_t op;  // index into ops_
        bool backward;
        NodeId node;
        double start_us, duration_us;
        std::string shape;
    };
    OpProfile& row(const char* op_name, std::uint32_t& index);
    // What a timed piece of work that just ended adds to its op's row: the
    // row (its GEMM FLOPs already added), the row's index, the time in µs.
    struct Charge {
        OpProfile& row;
        std::uint32_t index;
        double us;
    };
    Charge charge(const char* op_name, const Mark& m);
    void add_event(std::uint32_t op, bool backward, NodeId node, const Mark& m, double duration_us, std::string shape);

    ProfilerOptions options_;
    std::chrono::steady_clock::time_point origin_;
    std::vector<OpProfile> ops_;
    std::unordered_map<std::string, std::uint32_t> index_;
    std::vector<Event> events_;
    std::vector<float> node_forward_us_, node_backward_us_;  // by position, latest recording
    std::size_t events_dropped_ = 0;
    // Detaches from the tape this was attached to (type-erased: float or double).
    void (*detach_)(void* tape) = nullptr;
    void* tape_ = nullptr;
};

extern template Profiler::Profiler(Tape<float>&, ProfilerOptions);
extern template Profiler::Profiler(Tape<double>&, ProfilerOptions);
extern template void Profiler::forward_done(const Tape<float>&, NodeId, const Mark&);
extern template void Profiler::forward_done(const Tape<double>&, NodeId, const Mark&);
extern template void Profiler::backward_done(const Tape<float>&, NodeId, const Mark&);
extern template void Profiler::backward_done(const Tape<double>&, NodeId, const Mark&);

}  // namespace tapegrad
