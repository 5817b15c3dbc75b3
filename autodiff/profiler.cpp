#include "profiler.hpp"

#include <algorithm>
#include <cerrno>
#include <cstdio>
#include <cstring>
#include <fstream>
#include <sstream>
#include <unistd.h>

#include "blas.hpp"

namespace tapegrad {

using detail::Node;

namespace {

using Clock = std::chrono::steady_clock;

double us_between(Clock::time_point a, Clock::time_point b) { return std::chrono::duration<double, std::micro>(b - a).count(); }

// A JSON string literal's contents: op names can be a user's custom op names.
std::string json_escaped(const std::string& s) {
    std::string out;
    for (const char c : s) {
        if (c == '"' || c == '\\') {
            out += '\\';
            out += c;
        } else if (static_cast<unsigned char>(c) < 0x20) {
            char buf[8];
            std::snprintf(buf, sizeof buf, "\\u%04x", c);
            out += buf;
        } else {
            out += c;
        }
    }
    return out;
}

template <class T>
std::uint64_t elements_of(const Tensor<T>& v) {
    return shape_size(v.shape());  // also for a dropped value, whose shape stays
}

// Bytes a backward touches: the output's gradient, the gradient of each
// input that needs one, and the values its contract says it reads.
template <class T>
std::uint64_t backward_bytes(const Tape<T>& tape, const Node<T>& n) {
    std::uint64_t elements = elements_of(n.value);
    if (n.op->backward_reads & kReadsOutput) elements += elements_of(n.value);
    for (std::size_t k = 0; k < n.parents_count; ++k) {
        const NodeId p = detail::TapeAccess<T>::parent(tape, n, k);
        const std::uint64_t size = shape_size(detail::TapeAccess<T>::parent_shape(tape, n, k));
        if (detail::TapeAccess<T>::needs_grad(tape, p)) elements += size;
        if (n.op->backward_reads & reads_input(k < 30 ? unsigned(k) : 30u)) elements += size;
    }
    return elements * sizeof(T);
}

}  // namespace

template <class T>
Profiler::Profiler(Tape<T>& tape, ProfilerOptions options) : options_(options), origin_(Clock::now()) {
    if (tape.profiler_ != nullptr) throw ArgumentError("Profiler: this tape already has a profiler attached; detach it first");
    tape.profiler_ = this;
    tape_ = &tape;
    detach_ = [](void* t) { static_cast<Tape<T>*>(t)->profiler_ = nullptr; };
}

Profiler::~Profiler() { detach(); }

void Profiler::detach() {
    if (detach_ != nullptr) detach_(tape_);
    detach_ = nullptr;
    tape_ = nullptr;
}

void Profiler::reset() {
    ops_.clear();
    index_.clear();
    events_.clear();
    node_forward_us_.clear();
    node_backward_us_.clear();
    events_dropped_ = 0;
    origin_ = Clock::now();
}

Profiler::Mark Profiler::mark() { return {Clock::now(), detail::gemm_flops()}; }

OpProfile& Profiler::row(const char* op_name, std::uint32_t& index) {
    const auto [it, added] = index_.try_emplace(op_name, std::uint32_t(ops_.size()));
    if (added) ops_.push_back(OpProfile{.op = op_name});
    index = it->second;
    return ops_[index];
}

void Profiler::add_event(std::uint32_t op, bool backward, NodeId node, const Mark& m, double duration_us, std::string shape) {
    if (!options_.trace) return;
    if (events_.size() >= options_.max_events) {
        ++events_dropped_;
        return;
    }
    events_.push_back(Event{op, backward, node, us_between(origin_, m.start), duration_us, std::move(shape)});
}

Profiler::Charge Profiler::charge(const char* op_name, const Mark& m) {
    const Clock::time_point end = Clock::now();
    const std::uint64_t flops = detail::gemm_flops() - m.flops;
    std::uint32_t index = 0;
    OpProfile& r = row(op_name, index);
    r.gemm_flops += flops;
    return {r, index, us_between(m.start, end)};
}

template <class T>
void Profiler::forward_done(const Tape<T>& tape, NodeId id, const Mark& m) {
    const Charge c = charge(detail::TapeAccess<T>::op_name(tape, detail::TapeAccess<T>::node(tape, id)), m);
    const Node<T>& n = detail::TapeAccess<T>::node(tape, id);
    const std::uint64_t out = elements_of(n.value);
    std::uint64_t touched = out;
    for (std::size_t k = 0; k < n.parents_count; ++k) touched += shape_size(detail::TapeAccess<T>::parent_shape(tape, n, k));
    ++c.row.calls;
    c.row.forward_ms += c.us / 1000;
    c.row.elements += out;
    c.row.bytes += touched * sizeof(T);
    if (node_forward_us_.size() <= id) {
        node_forward_us_.resize(std::size_t(id) + 1);
        node_backward_us_.resize(std::size_t(id) + 1);
    }
    node_forward_us_[id] = float(c.us);
    node_backward_us_[id] = 0;
    add_event(c.index, false, id, m, c.us, options_.trace ? shape_str(n.value.shape()) : std::string());
}

template <class T>
void Profiler::backward_done(const Tape<T>& tape, NodeId id, const Mark& m) {
    const Charge c = charge(detail::TapeAccess<T>::op_name(tape, detail::TapeAccess<T>::node(tape, id)), m);
    const Node<T>& n = detail::TapeAccess<T>::node(tape, id);
    ++c.row.backward_calls;
    c.row.backward_ms += c.us / 1000;
    c.row.bytes += backward_bytes(tape, n);
    if (id < node_backward_us_.size()) node_backward_us_[id] = float(c.us);
    add_event(c.index, true, id, m, c.us, options_.trace ? shape_str(n.value.shape()) : std::string());
}

void Profiler::span_done(const char* name, const Mark& m) {
    const Charge c = charge(name, m);
    ++c.row.backward_calls;
    c.row.backward_ms += c.us / 1000;
    add_event(c.index, true, 0, m, c.us, std::string());
}

double Profiler::node_ms(NodeId id) const {
    return id < node_forward_us_.size() ? (double(node_forward_us_[id]) + node_backward_us_[id]) / 1000 : 0;
}

std::vector<OpProfile> Profiler::ops() const {
    std::vector<OpProfile> rows = ops_;
    std::stable_sort(rows.begin(), rows.end(), [](const OpProfile& a, const OpProfile& b) { return a.total_ms() > b.total_ms(); });
    return rows;
}

std::string Profiler::table(std::size_t max_rows) const {
    const std::vector<OpProfile> rows = ops();
    OpProfile total{.op = "total"};
    for (const OpProfile& r : rows) {
        total.calls += r.calls;
        total.backward_calls += r.backward_calls;
        total.forward_ms += r.forward_ms;
        total.backward_ms += r.backward_ms;
        total.elements += r.elements;
        total.bytes += r.bytes;
        total.gemm_flops += r.gemm_flops;
    }
    std::size_t width = 5;
    for (const OpProfile& r : rows) width = std::max(width, r.op.size());
    std::ostringstream os;
    char line[320];
    auto print = [&](const OpProfile& r) {
        const double share = total.total_ms() > 0 ? 100 * r.total_ms() / total.total_ms() : 0;
        std::snprintf(line, sizeof line, "%-*s %8zu %8zu %11.3f %11.3f %11.3f %6.1f %12llu %10.2f %9.3f %8.2f\n", int(width),
                      r.op.c_str(), r.calls, r.backward_calls, r.forward_ms, r.backward_ms, r.total_ms(), share,
                      static_cast<unsigned long long>(r.elements), double(r.bytes) / 1e6, double(r.gemm_flops) / 1e9,
                      r.gflops_per_s());
        os << line;
    };
    std::snprintf(line, sizeof line, "%-*s %8s %8s %11s %11s %11s %6s %12s %10s %9s %8s\n", int(width), "op", "calls", "bw calls",
                  "forward ms", "backward ms", "total ms", "%", "elements", "MB moved", "GEMM GF", "GFLOP/s");
    os << line << std::string(std::string(line).size() - 1, '-') << '\n';
    const std::size_t shown = max_rows == 0 ? rows.size() : std::min(max_rows, rows.size());
    for (std::size_t k = 0; k < shown; ++k) print(rows[k]);
    if (shown < rows.size()) os << "... " << rows.size() - shown << " more ops\n";
    print(total);
    return os.str();
}

std::string Profiler::trace_json() const {
    std::ostringstream os;
    os.precision(3);
    os << std::fixed << "{\"displayTimeUnit\": \"ms\", \"traceEvents\": [\n";
    os << "{\"name\": \"thread_name\", \"ph\": \"M\", \"pid\": 1, \"tid\": 1, \"args\": {\"name\": \"forward\"}},\n";
    os << "{\"name\": \"thread_name\", \"ph\": \"M\", \"pid\": 1, \"tid\": 2, \"args\": {\"name\": \"backward\"}}";
    for (const Event& e : events_) {
        os << ",\n{\"name\": \"" << json_escaped(ops_[e.op].op) << "\", \"cat\": \"" << (e.backward ? "backward" : "forward")
           << "\", \"ph\": \"X\", \"pid\": 1, \"tid\": " << (e.backward ? 2 : 1) << ", \"ts\": " << e.start_us
           << ", \"dur\": " << e.duration_us << ", \"args\": {\"node\": " << e.node << ", \"shape\": \"" << e.shape << "\"}}";
    }
    os << "\n], \"otherData\": {\"events_dropped\": " << events_dropped_ << "}}\n";
    return os.str();
}

void Profiler::write_trace(const std::string& path) const {
    const std::string tmp = path + ".tmp" + std::to_string(::getpid());
    {
        std::ofstream out(tmp, std::ios::binary | std::ios::trunc);
        const std::string text = trace_json();
        out.write(text.data(), std::streamsize(text.size()));
        out.flush();
        if (!out) {
            const int err = errno;
            std::remove(tmp.c_str());
            throw Error("Profiler::write_trace: cannot write '" + path + "': " + std::strerror(err));
        }
    }
    if (std::rename(tmp.c_str(), path.c_str()) != 0) {
        const int err = errno;
        std::remove(tmp.c_str());
        throw Error("Profiler::write_trace: cannot write '" + path + "': " + std::strerror(err));
    }
}

template Profiler::Profiler(Tape<float>&, ProfilerOptions);
template Profiler::Profiler(Tape<double>&, ProfilerOptions);
template void Profiler::forward_done(const Tape<float>&, NodeId, const Mark&);
template void Profiler::forward_done(const Tape<double>&, NodeId, const Mark&);
template void Profiler::backward_done(const Tape<float>&, NodeId, const Mark&);
template void Profiler::backward_done(const Tape<double>&, NodeId, const Mark&);

}  // namespace tapegrad
