#include "data_parallel.hpp"

#include <mpi.h>

#include <chrono>
#include <cmath>
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
        bool started = false;
    };

    std::vector<Parameter<T>*> params;
    std::unordered_map<const ParameterState<T>*, std::size_t> index;
    std::vector<std::size_t> bucket_of, offset_of;
    std::vector<bool> ready;
    std::vector<Bucket> buckets;
    std::size_t next_start = 0;  // buckets start in order, the same on every rank
    double share = 1;
    DataParallelStats stats;

    void plan(std::size_t bucket_bytes);
    void reset(double new_share);
    void take(std::size_t i, const Tensor<T>* fresh);
    void on_ready(ParameterState<T>& p, const Tensor<T>& grad);
    void start_ready_buckets();
    void progress();
    void finish();
    void wait_started() noexcept;
};

// Buckets fill in reverse order of the list: a model's later parameters (the
// head) are read last in forward, so their gradients are final first.
template <class T>
void DataParallel<T>::Impl::plan(std::size_t bucket_bytes) {
    bucket_of.assign(params.size(), 0);
    offset_of.assign(params.size(), 0);
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
    for (Bucket& b : buckets) {
        b.ready = 0;
        b.started = false;
        b.requests.clear();
    }
    next_start = 0;
    stats = DataParallelStats{};
    stats.buckets = buckets.size();
}

// Parameter i's gradient, times this rank's share, into its bucket:
// the gradient accumulated before this backward plus `fresh` (this
// backward's, or nothing for a parameter the walk did not reach).
template <class T>
void DataParallel<T>::Impl::take(std::size_t i, const Tensor<T>* fresh) {
    Parameter<T>& p = *params[i];
    Bucket& b = buckets[bucket_of[i]];
    T* out = b.buffer.data() + offset_of[i];
    const std::size_t n = p.value().size();
    const T* before = p.state()->has_grad() ? p.state()->mutable_grad().data() : nullptr;
    const T* now = fresh != nullptr ? fresh->data() : nullptr;
    const T s = static_cast<T>(share);
    for (std::size_t j = 0; j < n; ++j) out[j] = ((before ? before[j] : T(0)) + (now ? now[j] : T(0))) * s;
    ready[i] = true;
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
            b.requests.emplace_back();
            detail::check(MPI_Iallreduce(MPI_IN_PLACE, b.buffer.data() + at, n, detail::mpi_type<T>(), MPI_SUM, MPI_COMM_WORLD,
                                         &b.requests.back()),
                          "DataParallel::backward (MPI_Iallreduce)");
        });
        b.started = true;
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

// After the walk: parameters it did not reach enter their buckets as they
// are, the rest of the buckets start, and the averages become the gradients.
template <class T>
void DataParallel<T>::Impl::finish() {
    for (std::size_t i = 0; i < params.size(); ++i)
        if (!ready[i]) take(i, nullptr);
    start_ready_buckets();
    const auto t0 = std::chrono::steady_clock::now();
    for (Bucket& b : buckets) {
        if (b.requests.empty()) continue;
        detail::check(MPI_Waitall(static_cast<int>(b.requests.size()), b.requests.data(), MPI_STATUSES_IGNORE),
                      "DataParallel::backward (MPI_Waitall)");
        b.requests.clear();
    }
    stats.wait_seconds = seconds_since(t0);
    for (std::size_t i = 0; i < params.size(); ++i) {
        Tensor<T>& g = params[i]->state()->mutable_grad();
        const T* in = buckets[bucket_of[i]].buffer.data() + offset_of[i];
        std::copy(in, in + g.size(), g.data());
    }
}

// On an error in the walk: the reductions already started are completed (not
// cancelled: MPI cannot cancel a collective), so that the buffers are not
// freed under MPI. Every rank runs the same model, so the others started the
// same buckets and fail the same way.
template <class T>
void DataParallel<T>::Impl::wait_started() noexcept {
    for (Bucket& b : buckets)
        if (!b.requests.empty()) MPI_Waitall(static_cast<int>(b.requests.size()), b.requests.data(), MPI_STATUSES_IGNORE);
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
    if (!(share > 0.0 && share <= 1.0))
        throw ArgumentError("DataParallel::backward: share " + std::to_string(share) + " is not in (0, 1]");
    impl_->reset(share);
    // The hook lives only for this backward; the tape's own hook comes back after it.
    struct HookScope {
        Tape<T>& tape;
        typename Tape<T>::GradReadyHook saved;
        ~HookScope() { tape.set_grad_ready_hook(std::move(saved)); }
    } scope{tape, tape.grad_ready_hook()};
    tape.set_grad_ready_hook([this](ParameterState<T>& p, const Tensor<T>& g) { impl_->on_ready(p, g); });
    const auto t0 = std::chrono::steady_clock::now();
    try {
        tape.backward(loss);
    } catch (...) {
        impl_->wait_started();
        throw;
    }
    impl_->stats.backward_seconds = seconds_since(t0);
    impl_->stats.started_in_backward = impl_->next_start;
    impl_->finish();
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
