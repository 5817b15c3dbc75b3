#pragma once
/// \file
/// Private to the dist component's sources (it includes <mpi.h>; not
/// installed): MPI error codes as exceptions, element counts that fit MPI's
/// int, and the MPI datatype of a float type.

#include <mpi.h>

#include <climits>
#include <cstddef>
#include <string>
#include <vector>

#include "dist.hpp"

namespace tapegrad::dist::detail {

/// Throws `DistError` "<who>: MPI error: <MPI's message>" unless `rc` is MPI_SUCCESS.
inline void check(int rc, const char* who) {
    if (rc == MPI_SUCCESS) return;
    char text[MPI_MAX_ERROR_STRING] = {};
    int length = 0;
    MPI_Error_string(rc, text, &length);
    throw DistError(std::string(who) + ": MPI error: " + std::string(text, static_cast<std::size_t>(length)));
}

/// Throws `DistError` unless MPI runs: a collective before `dist::init` (or
/// after `finalize`) would crash inside MPI instead.
inline void require_running(const char* who) {
    int running = 0, ended = 0;
    MPI_Initialized(&running);
    MPI_Finalized(&ended);
    if (!running || ended)
        throw DistError(std::string(who) + ": MPI is not running; call dist::init (or make a dist::Session) first");
}

/// MPI counts are ints: `fn(offset, count)` over [0, n) in runs of at most 2^30.
template <class Fn>
void in_chunks(std::size_t n, Fn&& fn) {
    constexpr std::size_t kMaxCount = std::size_t(1) << 30;
    for (std::size_t at = 0; at < n; at += kMaxCount) fn(at, static_cast<int>(n - at < kMaxCount ? n - at : kMaxCount));
}

template <class T>
MPI_Datatype mpi_type() {
    static_assert(std::is_same_v<T, float> || std::is_same_v<T, double>);
    return std::is_same_v<T, float> ? MPI_FLOAT : MPI_DOUBLE;
}

/// The message of a broadcast whose parameters' shapes differ from the root's
/// (`root_shapes`: per parameter its rank, then its dims).
template <class T>
std::string shape_mismatch(const char* who, const std::vector<Parameter<T>*>& params, const std::vector<std::int64_t>& root_shapes,
                           int root) {
    std::size_t at = 0;
    for (std::size_t i = 0; i < params.size(); ++i) {
        const auto& shape = params[i]->value().shape();
        bool same = at < root_shapes.size() && root_shapes[at] == static_cast<std::int64_t>(shape.size());
        for (std::size_t d = 0; same && d < shape.size(); ++d)
            same = at + 1 + d < root_shapes.size() && root_shapes[at + 1 + d] == static_cast<std::int64_t>(shape[d]);
        if (!same)
            return std::string(who) + ": parameter " + std::to_string(i) + " " + params[i]->state()->describe() +
                   " on rank " + std::to_string(rank()) + " does not match rank " + std::to_string(root) +
                   "'s; build the same model on every rank";
        at += 1 + shape.size();
    }
    if (at != root_shapes.size())
        return std::string(who) + ": rank " + std::to_string(rank()) + " has " + std::to_string(params.size()) +
               " parameters, rank " + std::to_string(root) + " more; build the same model on every rank";
    return std::string(who) + ": another rank's parameters do not match rank " + std::to_string(root) + "'s";
}

}  // namespace tapegrad::dist::detail
