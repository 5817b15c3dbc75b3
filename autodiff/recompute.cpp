#include "recompute.hpp"

#include <algorithm>
#include <string>
#include <utility>

#include "profiler.hpp"

namespace tapegrad::detail {

template <class T>
SegmentRecompute<T>::SegmentRecompute(Tape<T>& tape, NodeId root) : tape_(tape), root_(root) {
    const auto& segs = tape_.segments_;
    next_ = static_cast<std::size_t>(std::ranges::upper_bound(segs, root, {}, &Tape<T>::StepRange::begin) - segs.begin());
    set_next();
}

template <class T>
SegmentRecompute<T>::~SegmentRecompute() {
    for (NodeId id = live_begin_; id < live_end_; ++id) free_at(id);
}

template <class T>
void SegmentRecompute<T>::set_next() {
    next_end_ = next_ == 0 ? 0 : tape_.segments_[next_ - 1].end;
}

template <class T>
void SegmentRecompute<T>::free_at(NodeId id) {
    std::uint8_t& s = tape_.segment_state_[id - live_begin_];
    if (!(s & kLive)) return;
    tape_.free_value(tape_.node(id));
    s = static_cast<std::uint8_t>(s & ~kLive);
}

template <class T>
void SegmentRecompute<T>::pass(NodeId id) {
    if (id + 1 >= live_begin_) free_at(id + 1);
    if (id < live_begin_) {  // left the segment: nothing of it is read any more
        for (NodeId k = live_begin_; k < live_end_; ++k) free_at(k);
        live_begin_ = live_end_ = 0;
    }
}

template <class T>
void SegmentRecompute<T>::enter() {
    for (NodeId k = live_begin_; k < live_end_; ++k) free_at(k);  // an earlier segment still back (cannot overlap)
    const typename Tape<T>::StepRange seg = tape_.segments_[--next_];
    set_next();
    const NodeId end = std::min<NodeId>(seg.end, root_ + 1);
    live_begin_ = live_end_ = 0;  // nothing is back until the plan is made (it may throw)
    Profiler* const profiler = tape_.profiler_;
    const Profiler::Mark mark = profiler != nullptr ? Profiler::mark() : Profiler::Mark{};
    plan(seg.begin, end);
    live_begin_ = seg.begin;
    live_end_ = end;
    regenerate(seg.begin, end);
    if (profiler != nullptr) profiler->span_done("recompute", mark);
}

// One backward scan over [begin, end) decides, per node: whether the
// segment's backward reads its value (kNeeded), whether it is re-run
// (kRegen: dropped, and needed or read by a node that is re-run), and which
// re-run node reads it last. A value read only by kept nodes, or by nodes
// that are not re-run, is not recomputed. Readers come after what they read,
// so each node's marks are final when the scan reaches it.
template <class T>
void SegmentRecompute<T>::plan(NodeId begin, NodeId end) {
    auto& state = tape_.segment_state_;
    auto& reader = tape_.segment_reader_;
    const std::size_t n = end - begin;
    state.assign(n, 0);  // no allocation once a loop repeats
    reader.assign(n, kUnread);
    for (NodeId u = end; u-- > begin;) {
        const Node<T>& node = tape_.node(u);
        if (node.op == nullptr) continue;
        std::uint8_t& s = state[u - begin];
        if (node.requires_grad && (node.op->backward_reads & kReadsOutput)) s |= kNeeded;
        const bool regen = node.value_dropped && (s & (kNeeded | kReadByRegen));
        if (regen) s |= kRegen;
        for (std::size_t k = 0; k < node.parents_count; ++k) {
            const NodeId p = tape_.parent(node, k);
            if (p < begin) continue;
            if (node.requires_grad && Tape<T>::backward_reads_input(node, k)) state[p - begin] |= kNeeded;
            if (regen && reader[p - begin] == kUnread) {  // descending: the last re-run reader
                reader[p - begin] = u;
                state[p - begin] |= kReadByRegen;
            }
        }
    }
}

// Re-runs the nodes the plan marked, in recording order; a value only
// forwards read goes back to the pool after its last re-run reader.
template <class T>
void SegmentRecompute<T>::regenerate(NodeId begin, NodeId end) {
    auto& state = tape_.segment_state_;
    const auto& reader = tape_.segment_reader_;
    for (NodeId u = begin; u < end; ++u) {
        if (!(state[u - begin] & kRegen)) continue;
        Node<T>& node = tape_.node(u);
        for (const NodeId p : tape_.parents(node))
            if (p < begin && tape_.node(p).value_dropped)
                throw ArgumentError("backward: the recompute segment at nodes [" + std::to_string(begin) + ", " +
                                    std::to_string(end) + ") reads node #" + std::to_string(p) + " ('" +
                                    tape_.op_name(tape_.node(p)) +
                                    "'), whose value was dropped after the segment was recorded; keep a segment's "
                                    "inputs until backward");
        tape_.rerun_forward(node);
        state[u - begin] |= kLive;
        ++recomputed_;
        for (const NodeId p : tape_.parents(node))
            if (p >= begin && reader[p - begin] == u && !(state[p - begin] & kNeeded)) free_at(p);
    }
}

template class SegmentRecompute<float>;
template class SegmentRecompute<double>;

}  // namespace tapegrad::detail
