#include "data_parallel.hpp"

#include <mpi.h>

#include <array>
#include <chrono>
#include <cmath>
#include <exception>
#include <unordered_map>

#include "mpi_support.hpp"

namespace tapegrad::dist {

namespace {
double seconds_since(std::chrono::steady_clock::time_point t0) {
    return std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
}
}  // namespace

template <class T>
struct DataParallel<T>::Impl {
    struct Bucket {
        std::vector<std::size_t> members;  // indices into params
        std::vector<T> buffer;             // the members' gradients side by side
        std::size_t ready = 0;             // members whose gradient is in the buffer
        std::vector<MPI_Request> requests;
    };

    std::vector<Parameter<T>*> params;
    std::unordered_map<const ParameterState<T>*, std::size_t> index;
    std::vector<std::size_t> bucket_of, offset_of, size_of;
    std::vector<bool> ready;
    std::size_t ready_count = 0;
    std::vector<Bucket> buckets;
    std::size_t next_start = 0;  // buckets start in order, the same on every rank
    double share = 1;
    // After the buckets: {ranks that failed, Σ share}, summed over the ranks.
    std::array<double, 2> status{};
    MPI_Request status_request = MPI_REQUEST_NULL;
    DataParallelStats stats;

    void plan(std::size_t bucket_bytes);
    void reset(double new_share);
    void check_sizes() const;
    void take(std::size_t i, const Tensor<T>* fresh);
    void on_ready(ParameterState<T>& p, const Tensor<T>& grad);
    void start_ready_buckets();
    void progress();
    void take_unreached();
    void zero_unready();
    void complete(bool failed);
    void average_into_grads();
};

// Buckets fill in reverse order of the list: a model's later parameters (the
// head) are read last in forward, so their gradients are final first.
template <class T>
void DataParallel<T>::Impl::plan(std::size_t bucket_bytes) {
    bucket_of.assign(params.size(), 0);
    offset_of.assign(params.size(), 0);
    size_of.assign(params.size(), 0);
    std::size_t bytes = 0;
    for (std::size_t k = params.size(); k-- > 0;) {
        const std::size_t size = params[k]->value().size();
        if (buckets.empty() || (bytes > 0 && bytes + size * sizeof(T) > bucket_bytes)) {
            buckets.emplace_back();
            bytes = 0;
        }
        Bucket& b = buckets.back();
        bucket_of[k] = buckets.size() - 1;
        offset_of[k] = b.buffer.size();
        size_of[k] = size;
        b.members.push_back(k);
        b.buffer.resize(b.buffer.size() + size);
        bytes += size * sizeof(T);
    }
    ready.assign(params.size(), false);
}

template <class T>
void DataParallel<T>::Impl::reset(double new_share) {
    share = new_share;
    ready.assign(params.size(), false);
    ready_count = 0;
    for (Bucket& b : buckets) {
        b.ready = 0;
        b.requests.clear();  // every request of the last backward completed
    }
    next_start = 0;
    stats = DataParallelStats{};
    stats.buckets = buckets.size();
}

// The buckets were laid out for the sizes at construction: a parameter
// resized since would overrun its slot.
template <class T>
void DataParallel<T>::Impl::check_sizes() const {
    for (std::size_t i = 0; i < params.size(); ++i)
        if (params[i]->value().size() != size_of[i])
            throw ArgumentError("DataParallel::backward: parameter " + std::to_string(i) + " " + params[i]->state()->describe() +
                                " had " + std::to_string(size_of[i]) +
                                " elements when the DataParallel was built; build it again after resizing a parameter");
}

// Parameter i's gradient, times this rank's share, into its bucket:
// the gradient accumulated before this backward plus `fresh` (this
// backward's, or nothing for a parameter the walk did not reach).
template <class T>
void DataParallel<T>::Impl::take(std::size_t i, const Tensor<T>* fresh) {
    Parameter<T>& p = *params[i];
    Bucket& b = buckets[bucket_of[i]];
    T* out = b.buffer.data() + offset_of[i];
    const std::size_t n = size_of[i];
    const T* before = p.state()->has_grad() ? p.state()->mutable_grad().data() : nullptr;
    const T* now = fresh != nullptr ? fresh->data() : nullptr;
    const T s = static_cast<T>(share);
    for (std::size_t j = 0; j < n; ++j) out[j] = ((before ? before[j] : T(0)) + (now ? now[j] : T(0))) * s;
    ready[i] = true;
    ++ready_count;
    ++b.ready;
}

template <class T>
void DataParallel<T>::Impl::on_ready(ParameterState<T>& p, const Tensor<T>& grad) {
    const auto it = index.find(&p);
    if (it == index.end())
        throw DistError("DataParallel::backward: parameter " + p.describe() +
                        " is on the tape but not in the DataParallel's list; its replicas would drift apart");
    if (ready[it->second]) return;
    take(it->second, &grad);
    start_ready_buckets();
    progress();
}

template <class T>
void DataParallel<T>::Impl::start_ready_buckets() {
    while (next_start < buckets.size() && buckets[next_start].ready == buckets[next_start].members.size()) {
        Bucket& b = buckets[next_start++];
        detail::in_chunks(b.buffer.size(), [&](std::size_t at, int n) {
            b.requests.emplace_back(MPI_REQUEST_NULL);
            detail::check(MPI_Iallreduce(MPI_IN_PLACE, b.buffer.data() + at, n, detail::mpi_type<T>(), MPI_SUM, MPI_COMM_WORLD,
                                         &b.requests.back()),
                          "DataParallel::backward (MPI_Iallreduce)");
        });
        if (ready_count < params.size()) ++stats.started_early;
        stats.bytes += b.buffer.size() * sizeof(T);
    }
}

// Without a progress thread, MPI moves a nonblocking reduction forward only
// inside MPI calls: one test per ready parameter keeps it moving during the walk.
template <class T>
void DataParallel<T>::Impl::progress() {
    for (std::size_t k = 0; k < next_start; ++k) {
        Bucket& b = buckets[k];
        if (b.requests.empty()) continue;
        int done = 0;
        detail::check(MPI_Testall(static_cast<int>(b.requests.size()), b.requests.data(), &done, MPI_STATUSES_IGNORE),
                      "DataParallel::backward (MPI_Testall)");
        if (done) b.requests.clear();
    }
}

// After the walk: parameters it did not reach enter their buckets as they are.
template <class T>
void DataParallel<T>::Impl::take_unreached() {
    for (std::size_t i = 0; i < params.size(); ++i)
        if (!ready[i]) take(i, nullptr);
}

// After an error: the buckets still go out (zeros where nothing was taken),
// so that the other ranks' reductions complete and they learn of the error.
template <class T>
void DataParallel<T>::Impl::zero_unready() {
    for (std::size_t i = 0; i < params.size(); ++i) {
        if (ready[i]) continue;
        std::fill_n(buckets[bucket_of[i]].buffer.data() + offset_of[i], size_of[i], T(0));
        ready[i] = true;
        ++ready_count;
        ++buckets[bucket_of[i]].ready;
    }
}

// Starts what is left and the status, and waits for all of it. Throws
// `DistError` if another rank failed or the shares do not sum to 1.
template <class T>
void DataParallel<T>::Impl::complete(bool failed) {
    start_ready_buckets();
    status = {failed ? 1.0 : 0.0, share};
    detail::check(MPI_Iallreduce(MPI_IN_PLACE, status.data(), 2, MPI_DOUBLE, MPI_SUM, MPI_COMM_WORLD, &status_request),
                  "DataParallel::backward (MPI_Iallreduce)");
    const auto t0 = std::chrono::steady_clock::now();
    for (Bucket& b : buckets) {
        if (b.requests.empty()) continue;
        detail::check(MPI_Waitall(static_cast<int>(b.requests.size()), b.requests.data(), MPI_STATUSES_IGNORE),
                      "DataParallel::backward (MPI_Waitall)");
        b.requests.clear();
    }
    detail::check(MPI_Wait(&status_request, MPI_STATUS_IGNORE), "DataParallel::backward (MPI_Wait)");
    stats.wait_seconds = seconds_since(t0);
    if (failed) return;  // the caller rethrows this rank's own error
    if (status[0] > 0)
        throw DistError("DataParallel::backward: " + std::to_string(std::lround(status[0])) +
                        " other rank(s) failed in this backward (see their error); the gradients here are this rank's "
                        "own, not averaged");
    if (std::abs(status[1] - 1.0) > 1e-9)
        throw DistError("DataParallel::backward: the ranks' shares sum to " + std::to_string(status[1]) +
                        ", not 1 (this rank's: " + std::to_string(share) + "); pass each rank's dist::shard_of(...).share");
}

template <class T>
void DataParallel<T>::Impl::average_into_grads() {
    for (std::size_t i = 0; i < params.size(); ++i) {
        Tensor<T>& g = params[i]->state()->mutable_grad();
        const T* in = buckets[bucket_of[i]].buffer.data() + offset_of[i];
        std::copy(in, in + g.size(), g.data());
    }
}

template <class T>
DataParallel<T>::DataParallel(std::vector<Parameter<T>*> params, DataParallelOptions options) : impl_(std::make_unique<Impl>()) {
    if (options.bucket_bytes == 0) throw ArgumentError("DataParallel: bucket_bytes must be > 0");
    for (std::size_t i = 0; i < params.size(); ++i) {
        if (params[i] == nullptr) throw ArgumentError("DataParallel: parameter " + std::to_string(i) + " is null");
        if (!impl_->index.emplace(params[i]->state().get(), i).second)
            throw ArgumentError("DataParallel: parameter " + std::to_string(i) + " " + params[i]->state()->describe() +
                                " is listed twice");
    }
    impl_->params = std::move(params);
    impl_->plan(options.bucket_bytes);
    broadcast(impl_->params, 0);
}

template <class T>
DataParallel<T>::~DataParallel() = default;

template <class T>
void DataParallel<T>::backward(Tape<T>& tape, Var<T> loss, double share) {
    detail::require_running("DataParallel::backward");
    impl_->reset(share);
    // The hook lives only for this backward; the tape's own hook comes back after it.
    struct HookScope {
        Tape<T>& tape;
        typename Tape<T>::GradReadyHook saved;
        ~HookScope() { tape.set_grad_ready_hook(std::move(saved)); }
    } scope{tape, tape.grad_ready_hook()};
    tape.set_grad_ready_hook([this](ParameterState<T>& p, const Tensor<T>& g) { impl_->on_ready(p, g); });
    const auto t0 = std::chrono::steady_clock::now();
    std::exception_ptr error;
    try {
        if (!(share > 0.0 && share <= 1.0))
            throw ArgumentError("DataParallel::backward: share " + std::to_string(share) + " is not in (0, 1]");
        impl_->check_sizes();
        tape.backward(loss);
        impl_->take_unreached();
    } catch (...) {
        error = std::current_exception();
        impl_->zero_unready();
    }
    impl_->stats.backward_seconds = seconds_since(t0);
    impl_->complete(error != nullptr);
    if (error) std::rethrow_exception(error);
    impl_->average_into_grads();
}

template <class T>
void DataParallel<T>::backward(Tape<T>& tape, Var<T> loss) {
    backward(tape, loss, 1.0 / double(world_size()));
}

template <class T>
const std::vector<Parameter<T>*>& DataParallel<T>::params() const {
    return impl_->params;
}

template <class T>
const DataParallelStats& DataParallel<T>::last_stats() const {
    return impl_->stats;
}

template class DataParallel<float>;
template class DataParallel<double>;

}  // namespace tapegrad::dist
