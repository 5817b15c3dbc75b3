#include "recompute.hpp"

#include <algorithm>
#include <string>
#include <utility>

#include "op_context.hpp"
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
    live_begin_ = seg.begin;
    live_end_ = end;
    Profiler* const profiler = tape_.profiler_;
    const Profiler::Mark mark = profiler != nullptr ? Profiler::mark() : Profiler::Mark{};
    plan(seg.begin, end);
    regenerate(seg.begin, end);
    if (profiler != nullptr) profiler->span_done("recompute", mark);
}

// Marks, per node of [begin, end), whether the segment's backward reads its
// value (kNeeded) and which node of the segment reads it last in forward.
template <class T>
void SegmentRecompute<T>::plan(NodeId begin, NodeId end) {
    const std::size_t n = end - begin;
    tape_.segment_state_.assign(n, 0);  // no allocation once a loop repeats
    tape_.segment_reader_.assign(n, kUnread);
    for (NodeId u = end; u-- > begin;) {
        const Node<T>& node = tape_.node(u);
        if (node.op == nullptr) continue;
        if (node.requires_grad && (node.op->backward_reads & kReadsOutput)) tape_.segment_state_[u - begin] |= kNeeded;
        for (std::size_t k = 0; k < node.parents_count; ++k) {
            const NodeId p = tape_.parent(node, k);
            if (p < begin) continue;
            if (node.requires_grad && Tape<T>::backward_reads_input(node, k)) tape_.segment_state_[p - begin] |= kNeeded;
            if (tape_.segment_reader_[p - begin] == kUnread) tape_.segment_reader_[p - begin] = u;  // descending: the last reader
        }
    }
}

// Re-runs the dropped nodes that are read, in recording order; a value only
// forwards read goes back to the pool after its last reader.
template <class T>
void SegmentRecompute<T>::regenerate(NodeId begin, NodeId end) {
    auto& state = tape_.segment_state_;
    const auto& reader = tape_.segment_reader_;
    for (NodeId u = begin; u < end; ++u) {
        Node<T>& node = tape_.node(u);
        if (node.op == nullptr || !node.value_dropped) continue;
        if (!(state[u - begin] & kNeeded) && reader[u - begin] == kUnread) continue;
        for (const NodeId p : tape_.parents(node))
            if (p < begin && tape_.node(p).value_dropped)
                throw ArgumentError("backward: the recompute segment at nodes [" + std::to_string(begin) + ", " +
                                    std::to_string(end) + ") reads node #" + std::to_string(p) + " ('" +
                                    tape_.op_name(tape_.node(p)) +
                                    "'), whose value was dropped after the segment was recorded; keep a segment's "
                                    "inputs until backward");
        // Into the tape's spare tensor first, then swapped in: the node stays
        // dropped if the forward throws. fit_value takes the storage from the
        // pool, and the spare keeps the node's empty husk for the next one:
        // no allocation (a default-constructed tensor would allocate one
        // element).
        Tensor<T>& value = tape_.segment_value_;
        node.op->forward(OpContext<T>(tape_, node), value);
        std::swap(node.value, value);
        node.value_dropped = false;
        state[u - begin] |= kLive;
        ++recomputed_;
        for (const NodeId p : tape_.parents(node))
            if (p >= begin && reader[p - begin] == u && !(state[p - begin] & kNeeded)) free_at(p);
    }
}

template class SegmentRecompute<float>;
template class SegmentRecompute<double>;

}  // namespace tapegrad::detail
