#pragma once
/// \file
/// `dist::DataParallel`: every rank trains a replica of the model on its
/// shard of each global batch; after `backward` every rank holds the same
/// gradient, that of the global batch's loss. Gradients travel in buckets of
/// parameters, each averaged (MPI_Iallreduce) as soon as its parameters'
/// gradients are final in backward, so that communication overlaps the rest
/// of the backward walk. See docs/distributed.md.

#include <cstddef>
#include <memory>
#include <vector>

#include "../../autodiff/tape.hpp"
#include "dist.hpp"

namespace tapegrad::dist {

struct DataParallelOptions {
    /// Gradients are averaged in buckets of about this many bytes (a
    /// parameter larger than that is a bucket of its own). Smaller buckets
    /// start communicating earlier; larger ones pay the per-call cost less.
    std::size_t bucket_bytes = std::size_t(1) << 20;
};

/// What the last `backward` sent and waited for.
struct DataParallelStats {
    std::size_t buckets = 0;
    /// Buckets whose averaging started while the walk still had gradients to
    /// finish (some listed parameter not yet final): the communication that
    /// could overlap the rest of the backward. The others started at or
    /// after the last parameter.
    std::size_t started_early = 0;
    std::size_t bytes = 0;            ///< gradient bytes this rank sent into the reductions
    double wait_seconds = 0;          ///< time blocked on communication after the walk
    double backward_seconds = 0;      ///< the walk itself (its share of MPI progress calls included)
};

template <class T = float>
class DataParallel {
public:
    /// The parameters to average, in the optimizer's order (`opt.params()`).
    /// Collective: broadcasts rank 0's values, so that every replica starts
    /// equal. Throws `ArgumentError` for a null or repeated parameter or a
    /// zero bucket size, `DistError` if the ranks' shapes differ.
    explicit DataParallel(std::vector<Parameter<T>*> params, DataParallelOptions options = {});
    ~DataParallel();
    DataParallel(const DataParallel&) = delete;
    DataParallel& operator=(const DataParallel&) = delete;

    /// `tape.backward(loss)`, then every listed parameter's gradient becomes
    /// Σ_r share_r · g_r over the ranks, where g_r is rank r's gradient
    /// (what `param.grad()` would hold after a plain backward, gradients
    /// accumulated before included). With `loss` the mean over this rank's
    /// rows of a global batch and `share` = rows / global rows
    /// (`dist::shard_of`), that is the gradient of the global mean. Collective.
    ///
    /// Errors reach every rank: if the backward throws on one rank (a
    /// parameter of the tape not in the list, which would let the replicas
    /// drift; a parameter resized since construction; an anomaly; a bad
    /// `share`, which must be in (0, 1]), that rank still completes the
    /// reductions and rethrows its error, and every other rank throws
    /// `DistError` saying that a rank failed, its gradients then its own,
    /// not averaged. The shares must sum to 1 over the ranks (`DistError`
    /// on every rank otherwise).
    void backward(Tape<T>& tape, Var<T> loss, double share);
    /// The same with equal shares (1 / world size).
    void backward(Tape<T>& tape, Var<T> loss);

    const std::vector<Parameter<T>*>& params() const;
    const DataParallelStats& last_stats() const;

private:
    struct Impl;
    std::unique_ptr<Impl> impl_;
};

extern template class DataParallel<float>;
extern template class DataParallel<double>;

}  // namespace tapegrad::dist
