// Replicas over tapegrad::dist (built when the dist component is).
#include <algorithm>
#include <optional>
#include <string>
#include <span>
#include <stdexcept>

#include <tapegrad/optim/dist/data_parallel.hpp>

#include "replicas.hpp"

namespace tapegrad::tasks {

bool distributed_available() { return true; }
void abort_job(int code) { dist::abort(code); }

DistributedSession::DistributedSession(bool distributed, int& argc, char**& argv) {
    if (!distributed) return;
    started_ = !dist::initialized();
    dist::init(&argc, &argv);
}
DistributedSession::~DistributedSession() {
    if (started_) dist::finalize();
}

struct Replicas::Impl {
    bool distributed = false;
    std::optional<dist::DataParallel<float>> parallel;
};

Replicas::Replicas(bool distributed) : impl_(std::make_unique<Impl>()) {
    if (distributed && !dist::initialized())
        throw std::runtime_error("--distributed: MPI is not running (start it with dist::init or DistributedSession)");
    impl_->distributed = distributed;
}
Replicas::~Replicas() = default;

int Replicas::rank() const { return impl_->distributed ? dist::rank() : 0; }
int Replicas::world() const { return impl_->distributed ? dist::world_size() : 1; }

dist::Shard Replicas::shard(std::size_t global) const {
    return dist::shard_of(global, static_cast<std::size_t>(rank()), static_cast<std::size_t>(world()));
}

void Replicas::attach(const std::vector<Parameter<float>*>& params) {
    if (impl_->distributed) impl_->parallel.emplace(params);
}

void Replicas::backward(Tape<float>& tape, Var<float> loss, double share) {
    if (impl_->parallel)
        impl_->parallel->backward(tape, loss, share);
    else
        tape.backward(loss);
}

double Replicas::sum(double value) const {
    if (impl_->distributed) dist::allreduce_sum(std::span<double>(&value, 1));
    return value;
}

void Replicas::share_resume(Optimizer<float>& opt, std::int64_t& step) {
    if (!impl_->distributed) return;
    dist::broadcast(opt.params(), 0);
    StateDict state;
    if (root()) state = opt.state_dict();
    dist::broadcast(state, 0);
    if (!root()) opt.load_state_dict(state);
    dist::broadcast(step, 0);
}

// Each rank writes its rows into zeros of the global shape; the sum over
// the ranks is then every row exactly once (x + 0 = x in floating point).
Tensor<float> Replicas::gather_rows(const Tensor<float>& mine, std::size_t axis, std::size_t global) const {
    if (!impl_->distributed) return mine;
    const dist::Shard s = shard(global);
    auto shape = mine.shape();
    if (axis >= shape.size() || shape[axis] != s.rows())
        throw std::invalid_argument("Replicas::gather_rows: axis " + std::to_string(axis) + " of a tensor of " +
                                    std::to_string(mine.dimension()) + " dims does not hold this rank's " +
                                    std::to_string(s.rows()) + " rows");
    std::size_t outer = 1, inner = 1;
    for (std::size_t d = 0; d < axis; ++d) outer *= shape[d];
    for (std::size_t d = axis + 1; d < shape.size(); ++d) inner *= shape[d];
    shape[axis] = global;
    Tensor<float> all = Tensor<float>::from_shape(shape);
    all.fill(0.0f);
    for (std::size_t o = 0; o < outer; ++o)
        std::copy(mine.data() + o * s.rows() * inner, mine.data() + (o + 1) * s.rows() * inner,
                  all.data() + (o * global + s.begin) * inner);
    dist::allreduce_sum(std::span<float>(all.data(), all.size()));
    return all;
}

void Replicas::broadcast(Tensor<float>& tensor) const {
    if (impl_->distributed) dist::broadcast(tensor, 0);
}

void Replicas::check_in_sync(const std::string& who) const {
    if (impl_->parallel) dist::check_in_sync(impl_->parallel->params(), who);
}

double Replicas::last_wait_seconds() const { return impl_->parallel ? impl_->parallel->last_stats().wait_seconds : 0; }

}  // namespace tapegrad::tasks
