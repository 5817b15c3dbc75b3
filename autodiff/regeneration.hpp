#pragma once
/// \file
/// `detail::Regeneration<T>`: brings dropped values back for a walk over the
/// tape in recording order (the audit), and drops each again after its last
/// reader.
///
/// A dropped value can always be recomputed: leaves are never dropped, and
/// every op's forward is re-runnable from its parents' values and the tape's
/// records (dropout masks, indices). Walking the positions upwards, a dropped
/// node is regenerated at its own position, when its parents are all present
/// (they come before it and have not yet passed their last reader), and given
/// back to the pool after the last node that reads it: the walk holds what
/// the forward pass held, not the whole tape (ggml's last-use freeing).

#include <cstddef>
#include <vector>

#include "tape.hpp"

namespace tapegrad::detail {

template <class T>
class Regeneration {
public:
    /// Plans the walk over positions 0..upto: which dropped nodes a later
    /// node (up to `upto`) reads, and where their last reader is.
    Regeneration(Tape<T>& tape, NodeId upto);
    /// Drops again whatever is still regenerated (also when the walk throws).
    ~Regeneration();
    Regeneration(const Regeneration&) = delete;
    Regeneration& operator=(const Regeneration&) = delete;

    /// Call before using position `id`: recomputes its value if it was
    /// dropped and a node up to `upto` reads it.
    void before(NodeId id);
    /// Call after position `id`: drops again the values whose last reader it was.
    void after(NodeId id);
    /// How many values the walk has recomputed so far.
    std::size_t regenerated() const { return regenerated_; }

private:
    static constexpr NodeId kUnread = ~NodeId(0);
    Tape<T>& tape_;
    std::vector<NodeId> last_reader_;  // per position: kUnread, or the last position reading it
    std::vector<NodeId> live_;         // regenerated and not yet dropped again
    std::size_t regenerated_ = 0;
};

extern template class Regeneration<float>;
extern template class Regeneration<double>;

}  // namespace tapegrad::detail
