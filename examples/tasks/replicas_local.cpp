// Replicas in a build without tapegrad::dist: one process, and a clear
// refusal of --distributed.
#include <cstdlib>
#include <stdexcept>

#include "replicas.hpp"

namespace tapegrad::tasks {

namespace {
[[noreturn]] void refuse() {
    throw std::runtime_error(
        "--distributed: this build has no distributed component (tapegrad::dist); install Open MPI "
        "(bash tools/setup.sh libopenmpi-dev openmpi-bin) and configure again");
}
}  // namespace

bool distributed_available() { return false; }
void abort_job(int code) { std::exit(code); }

DistributedSession::DistributedSession(bool distributed, int&, char**&) {
    if (distributed) refuse();
}
DistributedSession::~DistributedSession() = default;

struct Replicas::Impl {};

Replicas::Replicas(bool distributed) {
    if (distributed) refuse();
}
Replicas::~Replicas() = default;
int Replicas::rank() const { return 0; }
int Replicas::world() const { return 1; }
dist::Shard Replicas::shard(std::size_t global) const { return dist::shard_of(global, 0, 1); }
void Replicas::attach(const std::vector<Parameter<float>*>&) {}
void Replicas::backward(Tape<float>& tape, Var<float> loss, double) { tape.backward(loss); }
double Replicas::sum(double value) const { return value; }
void Replicas::share_resume(Optimizer<float>&, std::int64_t&) {}
Tensor<float> Replicas::gather_rows(const Tensor<float>& mine, std::size_t, std::size_t) const { return mine; }
void Replicas::broadcast(Tensor<float>&) const {}
void Replicas::check_in_sync(const std::string&) const {}
double Replicas::last_wait_seconds() const { return 0; }

}  // namespace tapegrad::tasks
