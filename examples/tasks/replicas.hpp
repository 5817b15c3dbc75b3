#pragma once
/// \file
/// The example programs' data-parallel side. One process trains alone; with
/// `--distributed`, in a build that has `tapegrad::dist` (docs/distributed.md),
/// the process is one rank of an MPI job: it trains on its shard of every
/// global batch, its gradients are averaged with the other ranks', and rank 0
/// alone evaluates, logs and writes files. The programs' code is the same
/// either way: replicas_mpi.cpp or replicas_local.cpp implements this.

#include <cstdint>
#include <functional>
#include <iostream>
#include <memory>
#include <string>
#include <vector>

#include <tapegrad/autodiff/tape.hpp>
#include <tapegrad/optim/dist/shard.hpp>
#include <tapegrad/optim/optimizer.hpp>

namespace tapegrad::tasks {

/// Whether this build has the distributed component.
bool distributed_available();

/// For `run_cli`: starts MPI for `--distributed` (ended when the object goes),
/// nothing otherwise. Throws std::runtime_error if the build has no
/// distributed component.
class DistributedSession {
public:
    DistributedSession(bool distributed, int& argc, char**& argv);
    ~DistributedSession();
    DistributedSession(const DistributedSession&) = delete;
    DistributedSession& operator=(const DistributedSession&) = delete;

private:
    bool started_ = false;
};

/// Ends every rank of the job (MPI_Abort) after an error on this one.
[[noreturn]] void abort_job(int code);

/// The programs' main around `train`: MPI started for `--distributed`; an
/// error printed as "<program>: <what>" and exit code 1, and, distributed,
/// the whole job ended (the other ranks may wait in a collective this one
/// will not reach). Returns 0 when `train` returns.
inline int run_job(const char* program, bool distributed, int& argc, char**& argv, const std::function<void()>& train) {
    try {
        DistributedSession session(distributed, argc, argv);
        try {
            train();
        } catch (const std::exception& e) {
            std::cerr << program << ": " << e.what() << "\n";
            if (distributed) abort_job(1);
            return 1;
        }
    } catch (const std::exception& e) {  // MPI could not start
        std::cerr << program << ": " << e.what() << "\n";
        return 1;
    }
    return 0;
}

class Replicas {
public:
    /// `distributed`: join the running MPI job (`DistributedSession`, or the
    /// caller's `dist::init`); throws std::runtime_error if MPI is not running
    /// or the build has no distributed component.
    explicit Replicas(bool distributed);
    ~Replicas();
    Replicas(const Replicas&) = delete;
    Replicas& operator=(const Replicas&) = delete;

    int rank() const;
    int world() const;
    bool root() const { return rank() == 0; }
    /// The rows of a global batch this rank trains on (all of them alone).
    dist::Shard shard(std::size_t global) const;

    /// Collective: every rank takes rank 0's parameter values; from now on
    /// `backward` averages their gradients.
    void attach(const std::vector<Parameter<float>*>& params);
    /// `tape.backward(loss)`; distributed, then the gradients become the
    /// share-weighted sum over the ranks (`dist::DataParallel`).
    void backward(Tape<float>& tape, Var<float> loss, double share);
    /// Σ over the ranks of `value` (alone: `value`).
    double sum(double value) const;
    /// Collective: rank 0's optimizer state and step on every rank (after rank
    /// 0 alone read a checkpoint; the parameters come with it).
    void share_resume(Optimizer<float>& opt, std::int64_t& step);
    /// Collective: the global tensor whose rows [shard(global).begin, end)
    /// along `axis` are `mine` on each rank (the char LM's carried state,
    /// saved whole by rank 0). Alone: `mine`.
    Tensor<float> gather_rows(const Tensor<float>& mine, std::size_t axis, std::size_t global) const;
    /// Collective: rank 0's tensor on every rank.
    void broadcast(Tensor<float>& tensor) const;
    /// Collective: throws if the replicas' parameters are no longer bit-identical.
    void check_in_sync(const std::string& who) const;
    /// Seconds the last `backward` waited for communication after its walk.
    double last_wait_seconds() const;

private:
    struct Impl;
    std::unique_ptr<Impl> impl_;
};

}  // namespace tapegrad::tasks
