#pragma once
/// \file
/// `detail::SegmentRecompute<T>`: during `backward`, brings back the values
/// of each recompute segment (`Tape::recompute_since`) when the walk reaches
/// it, and drops them again as the walk passes their nodes.
///
/// Entering a segment, one backward scan over its nodes marks what the
/// segment's backward reads (as `release_since` does), which dropped nodes
/// must be re-run for it, and where each value's last re-run reader is; one
/// forward scan then re-runs those nodes in recording order and gives a value
/// that only forwards read back to the pool after its last reader. So the walk holds what the
/// segment's backward reads, not its whole forward. The forwards are the
/// recorded ones on the same inputs, so the values, and every gradient, are
/// bit-identical to a run that kept them.

#include <cstddef>
#include <cstdint>

#include "tape.hpp"

namespace tapegrad::detail {

template <class T>
class SegmentRecompute {
public:
    /// For a backward from node `root`: the segments that begin at or below it.
    SegmentRecompute(Tape<T>& tape, NodeId root);
    /// Drops again whatever is still recomputed (also when backward throws).
    ~SegmentRecompute();
    SegmentRecompute(const SegmentRecompute&) = delete;
    SegmentRecompute& operator=(const SegmentRecompute&) = delete;

    /// Call at the start of the walk's visit of position `id` (positions
    /// descend one by one): drops the recomputed value at id + 1, whose
    /// readers have all run, and recomputes the segment that `id` enters.
    void at(NodeId id) {
        if (id + 1 < live_end_) pass(id);
        if (id < next_end_) enter();
    }
    /// How many values were recomputed so far.
    std::size_t recomputed() const { return recomputed_; }

private:
    static constexpr NodeId kUnread = ~NodeId(0);
    static constexpr std::uint8_t kNeeded = 1, kLive = 2, kRegen = 4, kReadByRegen = 8;
    void enter();
    void plan(NodeId begin, NodeId end);
    void regenerate(NodeId begin, NodeId end);
    void pass(NodeId id);
    void free_at(NodeId id);
    void set_next();

    Tape<T>& tape_;
    NodeId root_;
    std::size_t next_ = 0;                       // segments_[next_ - 1] is the next one down
    NodeId next_end_ = 0;                        // its end (0: none left)
    NodeId live_begin_ = 0, live_end_ = 0;       // the segment whose values are back
    std::size_t recomputed_ = 0;
};

extern template class SegmentRecompute<float>;
extern template class SegmentRecompute<double>;

}  // namespace tapegrad::detail
