#include "dist.hpp"

#include <mpi.h>

#include <algorithm>
#include <climits>
#include <cstdlib>
#include <cstring>

#include "mpi_support.hpp"

namespace tapegrad::dist {

namespace {
bool started_here = false;  // init() started MPI, so finalize() ends it

// Serialized StateDict: entry count, then per entry the key's length and
// bytes, the rank and dims, and the elements (doubles), all native-endian:
// every rank of one job runs the same build.
void put(std::vector<char>& out, const void* p, std::size_t n) {
    const char* c = static_cast<const char*>(p);
    out.insert(out.end(), c, c + n);
}
std::vector<char> serialize(const StateDict& state) {
    std::vector<char> out;
    const std::uint64_t count = state.size();
    put(out, &count, sizeof count);
    for (const auto& [key, tensor] : state) {
        const std::uint64_t key_size = key.size(), dims = tensor.dimension();
        put(out, &key_size, sizeof key_size);
        put(out, key.data(), key.size());
        put(out, &dims, sizeof dims);
        for (std::size_t d : tensor.shape()) {
            const std::uint64_t extent = d;
            put(out, &extent, sizeof extent);
        }
        put(out, tensor.data(), tensor.size() * sizeof(double));
    }
    return out;
}

// Reads what serialize() wrote; the bytes come from rank 0 of the same
// build, but every length is still checked against what is left.
class Reader {
public:
    explicit Reader(const std::vector<char>& bytes) : bytes_(bytes) {}
    void get(void* p, std::size_t n) {
        if (n > bytes_.size() - at_) throw DistError("dist::broadcast(StateDict): the state sent by the root is truncated");
        std::memcpy(p, bytes_.data() + at_, n);
        at_ += n;
    }
    std::uint64_t u64() {
        std::uint64_t v = 0;
        get(&v, sizeof v);
        return v;
    }
    std::size_t left() const { return bytes_.size() - at_; }

private:
    const std::vector<char>& bytes_;
    std::size_t at_ = 0;
};

StateDict deserialize(const std::vector<char>& bytes) {
    Reader r(bytes);
    StateDict state;
    for (std::uint64_t i = 0, count = r.u64(); i < count; ++i) {
        const std::uint64_t key_size = r.u64();
        if (key_size > r.left()) throw DistError("dist::broadcast(StateDict): a key runs past the end of the state");
        std::string key(key_size, '\0');
        r.get(key.data(), key_size);
        const std::uint64_t dims = r.u64();
        if (dims > 32) throw DistError("dist::broadcast(StateDict): entry '" + key + "' has " + std::to_string(dims) + " dims");
        std::vector<std::size_t> shape(dims);
        std::size_t elements = 1;
        for (auto& d : shape) {
            d = r.u64();
            if (d != 0 && elements > r.left() / d) throw DistError("dist::broadcast(StateDict): entry '" + key + "' is too large");
            elements *= d;
        }
        if (elements > r.left() / sizeof(double)) throw DistError("dist::broadcast(StateDict): entry '" + key + "' is truncated");
        Tensor<double> t = Tensor<double>::from_shape(shape);
        r.get(t.data(), elements * sizeof(double));
        state.emplace(std::move(key), std::move(t));
    }
    return state;
}

void broadcast_bytes(std::vector<char>& bytes, int root, const char* who) {
    detail::require_running(who);
    std::int64_t size = static_cast<std::int64_t>(bytes.size());
    detail::check(MPI_Bcast(&size, 1, MPI_INT64_T, root, MPI_COMM_WORLD), who);
    if (size < 0) throw DistError(std::string(who) + ": the root sent a negative size");
    bytes.resize(static_cast<std::size_t>(size));
    detail::in_chunks(bytes.size(), [&](std::size_t at, int n) {
        detail::check(MPI_Bcast(bytes.data() + at, n, MPI_CHAR, root, MPI_COMM_WORLD), who);
    });
}

// FNV-1a over the bytes of every value: equal replicas hash equally.
template <class T>
std::uint64_t hash_values(const std::vector<Parameter<T>*>& params) {
    std::uint64_t h = 1469598103934665603ull;
    for (const Parameter<T>* p : params) {
        const auto* c = reinterpret_cast<const unsigned char*>(p->value().data());
        for (std::size_t i = 0, n = p->value().size() * sizeof(T); i < n; ++i) h = (h ^ c[i]) * 1099511628211ull;
    }
    return h;
}
}  // namespace

void init(int* argc, char*** argv) {
    int running = 0;
    detail::check(MPI_Initialized(&running), "dist::init");
    if (!running) {
        int provided = 0;
        detail::check(MPI_Init_thread(argc, argv, MPI_THREAD_FUNNELED, &provided), "dist::init");
        started_here = true;
        if (provided < MPI_THREAD_FUNNELED) {
            finalize();
            throw DistError("dist::init: this MPI gives no thread support (MPI_THREAD_FUNNELED); the library's "
                            "threads (OpenBLAS) would be unsafe next to it");
        }
    }
    // Errors come back as codes (turned into DistError), not as an abort.
    detail::check(MPI_Comm_set_errhandler(MPI_COMM_WORLD, MPI_ERRORS_RETURN), "dist::init");
}

void finalize() {
    int ended = 0;
    MPI_Finalized(&ended);
    if (started_here && !ended) MPI_Finalize();
    started_here = false;
}

bool initialized() {
    int running = 0, ended = 0;
    MPI_Initialized(&running);
    MPI_Finalized(&ended);
    return running && !ended;
}

int rank() {
    if (!initialized()) return 0;
    int r = 0;
    detail::check(MPI_Comm_rank(MPI_COMM_WORLD, &r), "dist::rank");
    return r;
}

int world_size() {
    if (!initialized()) return 1;
    int n = 1;
    detail::check(MPI_Comm_size(MPI_COMM_WORLD, &n), "dist::world_size");
    return n;
}

void abort(int code) {
    if (initialized()) MPI_Abort(MPI_COMM_WORLD, code);
    std::exit(code);
}

void barrier() {
    detail::require_running("dist::barrier");
    detail::check(MPI_Barrier(MPI_COMM_WORLD), "dist::barrier");
}

template <class T>
void broadcast(const std::vector<Parameter<T>*>& params, int root) {
    detail::require_running("dist::broadcast");
    // The root's shapes first, so that a mismatch is an error on every rank
    // rather than a buffer overrun on one.
    std::vector<std::int64_t> shapes;
    for (const Parameter<T>* p : params) {
        shapes.push_back(static_cast<std::int64_t>(p->value().dimension()));
        for (std::size_t d : p->value().shape()) shapes.push_back(static_cast<std::int64_t>(d));
    }
    std::vector<std::int64_t> root_shapes = shapes;
    std::int64_t count = static_cast<std::int64_t>(shapes.size());
    detail::check(MPI_Bcast(&count, 1, MPI_INT64_T, root, MPI_COMM_WORLD), "dist::broadcast");
    root_shapes.resize(static_cast<std::size_t>(std::max<std::int64_t>(count, 0)));
    detail::in_chunks(root_shapes.size(), [&](std::size_t at, int n) {
        detail::check(MPI_Bcast(root_shapes.data() + at, n, MPI_INT64_T, root, MPI_COMM_WORLD), "dist::broadcast");
    });
    int same = root_shapes == shapes ? 1 : 0;
    detail::check(MPI_Allreduce(MPI_IN_PLACE, &same, 1, MPI_INT, MPI_MIN, MPI_COMM_WORLD), "dist::broadcast");
    if (!same) throw DistError(detail::shape_mismatch("dist::broadcast", params, root_shapes, root));
    for (Parameter<T>* p : params) {
        T* data = p->mutable_value().data();
        detail::in_chunks(p->value().size(), [&](std::size_t at, int n) {
            detail::check(MPI_Bcast(data + at, n, detail::mpi_type<T>(), root, MPI_COMM_WORLD), "dist::broadcast");
        });
    }
}

template <class T>
void broadcast(Tensor<T>& tensor, int root) {
    detail::require_running("dist::broadcast(Tensor)");
    std::vector<std::int64_t> shape(tensor.shape().begin(), tensor.shape().end());
    std::int64_t dims = static_cast<std::int64_t>(shape.size());
    detail::check(MPI_Bcast(&dims, 1, MPI_INT64_T, root, MPI_COMM_WORLD), "dist::broadcast(Tensor)");
    if (dims < 0 || dims > 32) throw DistError("dist::broadcast(Tensor): the root sent " + std::to_string(dims) + " dims");
    shape.resize(static_cast<std::size_t>(dims));
    detail::check(MPI_Bcast(shape.data(), static_cast<int>(dims), MPI_INT64_T, root, MPI_COMM_WORLD), "dist::broadcast(Tensor)");
    if (rank() != root) {
        std::vector<std::size_t> extents;
        for (std::int64_t d : shape) {
            if (d < 0) throw DistError("dist::broadcast(Tensor): the root sent a negative extent");
            extents.push_back(static_cast<std::size_t>(d));
        }
        tensor = Tensor<T>::from_shape(extents);  // the root's size: it holds a tensor of that shape
    }
    detail::in_chunks(tensor.size(), [&](std::size_t at, int n) {
        detail::check(MPI_Bcast(tensor.data() + at, n, detail::mpi_type<T>(), root, MPI_COMM_WORLD), "dist::broadcast(Tensor)");
    });
}

void broadcast(StateDict& state, int root) {
    std::vector<char> bytes;
    if (rank() == root) bytes = serialize(state);
    broadcast_bytes(bytes, root, "dist::broadcast(StateDict)");
    if (rank() != root) state = deserialize(bytes);
}

void broadcast(std::string& text, int root) {
    std::vector<char> bytes(text.begin(), text.end());
    broadcast_bytes(bytes, root, "dist::broadcast(string)");
    text.assign(bytes.begin(), bytes.end());
}

void broadcast(std::int64_t& value, int root) {
    detail::require_running("dist::broadcast(int64)");
    detail::check(MPI_Bcast(&value, 1, MPI_INT64_T, root, MPI_COMM_WORLD), "dist::broadcast(int64)");
}

void allreduce_sum(std::span<double> values) {
    detail::require_running("dist::allreduce_sum");
    detail::in_chunks(values.size(), [&](std::size_t at, int n) {
        detail::check(MPI_Allreduce(MPI_IN_PLACE, values.data() + at, n, MPI_DOUBLE, MPI_SUM, MPI_COMM_WORLD),
                      "dist::allreduce_sum");
    });
}

void allreduce_sum(std::span<float> values) {
    detail::require_running("dist::allreduce_sum");
    detail::in_chunks(values.size(), [&](std::size_t at, int n) {
        detail::check(MPI_Allreduce(MPI_IN_PLACE, values.data() + at, n, MPI_FLOAT, MPI_SUM, MPI_COMM_WORLD),
                      "dist::allreduce_sum");
    });
}

template <class T>
void check_in_sync(const std::vector<Parameter<T>*>& params, const std::string& who) {
    detail::require_running("dist::check_in_sync");
    const std::uint64_t h = hash_values(params);
    std::uint64_t low = h, high = h;
    detail::check(MPI_Allreduce(MPI_IN_PLACE, &low, 1, MPI_UINT64_T, MPI_MIN, MPI_COMM_WORLD), "dist::check_in_sync");
    detail::check(MPI_Allreduce(MPI_IN_PLACE, &high, 1, MPI_UINT64_T, MPI_MAX, MPI_COMM_WORLD), "dist::check_in_sync");
    if (low != high)
        throw DistError(who + ": the ranks' parameters differ (rank " + std::to_string(rank()) +
                        " holds a replica that is not bit-identical to every other rank's)");
}

template void broadcast(const std::vector<Parameter<float>*>&, int);
template void broadcast(const std::vector<Parameter<double>*>&, int);
template void broadcast(Tensor<float>&, int);
template void broadcast(Tensor<double>&, int);
template void check_in_sync(const std::vector<Parameter<float>*>&, const std::string&);
template void check_in_sync(const std::vector<Parameter<double>*>&, const std::string&);

}  // namespace tapegrad::dist
