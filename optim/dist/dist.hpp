#pragma once
/// \file
/// The distributed component (`tapegrad::dist`, CMake target
/// `tapegrad::dist`): Open MPI's process group, and what data-parallel
/// training sends through it. MPI stays inside the component's sources: this
/// header does not include <mpi.h>, and the core library has no MPI
/// dependency. See docs/distributed.md.
///
/// Every call here is collective unless it says otherwise: all ranks make
/// it, in the same order. An MPI failure throws `DistError` naming the call
/// and MPI's message (the component sets MPI_ERRORS_RETURN, so that an error
/// is an exception, not an abort).

#include <cstdint>
#include <span>
#include <string>
#include <vector>

#include "../../autodiff/errors.hpp"
#include "../../autodiff/parameter.hpp"
#include "../optimizer.hpp"

namespace tapegrad::dist {

/// An MPI call failed, or ranks disagree (parameters out of sync).
struct DistError : Error {
    using Error::Error;
};

/// Starts MPI (MPI_Init_thread, funneled: only the thread that called `init`
/// may use the component) unless it runs already; started outside a launcher
/// (`mpirun`), it is a world of one. Not collective.
void init(int* argc, char*** argv);
/// Ends MPI if `init` started it (idempotent).
void finalize();
/// Whether MPI runs (between `init` and `finalize`).
bool initialized();
/// This process's rank and the number of ranks; 0 and 1 without MPI.
int rank();
int world_size();

/// `init` in the constructor, `finalize` in the destructor.
class Session {
public:
    Session(int& argc, char**& argv) { init(&argc, &argv); }
    ~Session() { finalize(); }
    Session(const Session&) = delete;
    Session& operator=(const Session&) = delete;
};

/// Ends every rank at once (MPI_Abort), for an error that leaves the ranks
/// unable to agree: another rank may be waiting in a collective this one will
/// never reach. Not collective.
[[noreturn]] void abort(int code);

void barrier();

/// Every rank's parameters become rank `root`'s values. The shapes must agree
/// (checked first: `DistError` names the first parameter that differs).
template <class T>
void broadcast(const std::vector<Parameter<T>*>& params, int root = 0);
/// Rank `root`'s optimizer state (`Optimizer::state_dict`) on every rank.
void broadcast(StateDict& state, int root = 0);
/// Rank `root`'s tensor, shape and values, on every rank.
template <class T>
void broadcast(Tensor<T>& tensor, int root = 0);
void broadcast(std::string& text, int root = 0);
void broadcast(std::int64_t& value, int root = 0);

/// Elementwise sum over the ranks, in place.
void allreduce_sum(std::span<double> values);
void allreduce_sum(std::span<float> values);

/// Throws `DistError` (on every rank) unless every rank holds bit-identical
/// values of `params`: a cheap check (one 64-bit hash per rank) that the
/// replicas have not drifted apart.
template <class T>
void check_in_sync(const std::vector<Parameter<T>*>& params, const std::string& who);

extern template void broadcast(const std::vector<Parameter<float>*>&, int);
extern template void broadcast(const std::vector<Parameter<double>*>&, int);
extern template void broadcast(Tensor<float>&, int);
extern template void broadcast(Tensor<double>&, int);
extern template void check_in_sync(const std::vector<Parameter<float>*>&, const std::string&);
extern template void check_in_sync(const std::vector<Parameter<double>*>&, const std::string&);

}  // namespace tapegrad::dist
