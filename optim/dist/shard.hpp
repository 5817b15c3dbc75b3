#pragma once
/// \file
/// `dist::shard_of`: which rows of a global batch a rank trains on. Pure
/// arithmetic, no MPI: it builds without the dist component too.

#include <cstddef>
#include <string>

#include "../../autodiff/errors.hpp"

namespace tapegrad::dist {

/// Rows [begin, end) of a global batch of `global` rows. `share` =
/// (end − begin) / global, the weight of this rank's mean loss in the global
/// mean (`DataParallel::backward`).
struct Shard {
    std::size_t begin = 0, end = 0;
    double share = 1.0;
    std::size_t rows() const { return end - begin; }
};

/// Rank `rank` of `world` gets a contiguous run of the global batch: the
/// first `global % world` ranks one row more than the rest, so every row is
/// trained on exactly once and the union over ranks is the batch one process
/// would draw. The rows depend only on (global, rank, world), so a batch drawn
/// from (seed, step) splits the same way on every run. Throws `ArgumentError`
/// unless 0 ≤ rank < world and global ≥ world (a rank with no rows would have
/// no loss to differentiate).
inline Shard shard_of(std::size_t global, std::size_t rank, std::size_t world) {
    if (world == 0 || rank >= world)
        throw ArgumentError("dist::shard_of: rank " + std::to_string(rank) + " is not in [0, " + std::to_string(world) +
                            ")");
    if (global < world)
        throw ArgumentError("dist::shard_of: a global batch of " + std::to_string(global) + (global == 1 ? " row" : " rows") +
                            " cannot give each of " +
                            std::to_string(world) + " ranks a row; use a batch of at least " + std::to_string(world));
    const std::size_t base = global / world, extra = global % world;
    Shard s;
    // rank ≤ world ≤ global: neither product can overflow.
    s.begin = rank * base + (rank < extra ? rank : extra);
    s.end = s.begin + base + (rank < extra ? 1 : 0);
    s.share = double(s.rows()) / double(global);
    return s;
}

}  // namespace tapegrad::dist
