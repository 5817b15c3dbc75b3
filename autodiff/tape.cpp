#include "tape.hpp"

#include <algorithm>
#include <atomic>
#include <cmath>
#include <cstring>
#include <optional>
#include <sstream>

#include <xtensor/xnoalias.hpp>

#include "blas.hpp"
#include "op_context.hpp"
#include "profiler.hpp"
#include "recompute.hpp"

namespace tapegrad {

using detail::Node;

namespace {
template <class T>
std::span<const std::size_t> dims_of(const Tensor<T>& t) {
    return {t.shape().data(), t.shape().size()};
}

// Epochs come from one process-wide counter, so a tape constructed at the
// address of a destroyed one never accepts the old tape's handles.
std::atomic<std::uint32_t> g_next_epoch{1};
std::uint32_t fresh_epoch() { return g_next_epoch.fetch_add(1, std::memory_order_relaxed); }

}  // namespace

template <class T>
Tape<T>::Tape() : epoch_(fresh_epoch()) {}

template <class T>
Tape<T>::~Tape() {
    if (profiler_ != nullptr) profiler_->tape_destroyed();
}

template <class T>
void Tape<T>::check(Var<T> v, const char* op) const {
    if (v.tape() == nullptr) throw StaleVarError(std::string(op) + ": empty handle (default-constructed Var)");
    if (v.tape() != this)
        throw TapeMismatchError(std::string(op) + ": handle #" + std::to_string(v.id()) + " belongs to another tape");
    if (v.epoch() != epoch_ || v.id() >= size_)
        throw StaleVarError(std::string(op) + ": handle #" + std::to_string(v.id()) +
                            " was recorded before the tape was cleared");
}

namespace {

// Position of the first NaN/Inf in t, or t.size() if all are finite.
template <class T>
std::size_t first_non_finite(const Tensor<T>& t) {
    const T* d = t.data();
    for (std::size_t i = 0, e = t.size(); i < e; ++i)
        if (!std::isfinite(d[i])) return i;
    return t.size();
}

template <class T>
std::string element_str(const Tensor<T>& t, std::size_t flat) {
    std::vector<std::size_t> idx(t.dimension());
    for (std::size_t d = t.dimension(); d-- > 0;) {
        idx[d] = flat % t.shape()[d];
        flat /= t.shape()[d];
    }
    std::string s = "[";
    for (std::size_t k = 0; k < idx.size(); ++k) s += (k ? ", " : "") + std::to_string(idx[k]);
    return s + "]";
}

template <class T>
std::string value_str(T v) {
    return std::isnan(v) ? "NaN" : (v > 0 ? "inf" : "-inf");
}

}  // namespace

template <class T>
std::string Tape<T>::describe_inputs(const Node<T>& n) const {
    if (n.parents_count == 0) return "no inputs";
    // Runs of equal shapes once, with a count: a concat of 300 segments stays one line.
    std::string s = "inputs of shapes ";
    for (std::size_t k = 0; k < n.parents_count;) {
        const auto& shape = parent_shape(n, k);  // also for a dropped input
        std::size_t run = 1;
        while (k + run < n.parents_count && std::ranges::equal(parent_shape(n, k + run), shape)) ++run;
        s += (k ? ", " : "") + shape_str(shape) + (run > 1 ? " ×" + std::to_string(run) : "");
        k += run;
    }
    return s;
}

template <class T>
void Tape<T>::check_forward_anomaly(NodeId id) {
    const Node<T>& n = node(id);
    const std::size_t bad = first_non_finite(n.value);
    if (bad == n.value.size()) return;
    std::string msg = std::string("anomaly in forward: op '") + op_name(n) + "' (node #" + std::to_string(id) + ", " +
                      describe_inputs(n) + ") produced " + value_str(n.value.data()[bad]) + " at " + element_str(n.value, bad) +
                      " of its output of shape " + shape_str(n.value.shape());
    std::string inputs_note = "; its inputs were finite";
    for (std::size_t k = 0; k < n.parents_count; ++k)
        if (first_non_finite(parent_value(n, k)) != parent_value(n, k).size()) {
            inputs_note = "; input " + std::to_string(k) + " already contained non-finite values";
            break;
        }
    truncate(id);
    throw AnomalyError(msg + inputs_note);
}

template <class T>
void Tape<T>::check_backward_anomaly(const Node<T>& n, NodeId id) {
    for (std::size_t k = 0; k < n.parents_count; ++k) {
        Node<T>& p = node(parent(n, k));
        if (!p.grad_live) continue;
        zero_unset_grad(p);
        const std::size_t bad = first_non_finite(p.grad);
        if (bad == p.grad.size()) continue;
        const bool incoming_finite = first_non_finite(n.grad) == n.grad.size();
        throw AnomalyError(std::string("anomaly in backward: op '") + op_name(n) + "' (node #" + std::to_string(id) + ", " +
                           describe_inputs(n) + ") produced a gradient with " + value_str(p.grad.data()[bad]) + " at " +
                           element_str(p.grad, bad) + " for input " + std::to_string(k) + " of shape " +
                           shape_str(p.value.shape()) +
                           (incoming_finite ? "; the gradient it received was finite"
                                            : "; the gradient it received already contained non-finite values"));
    }
}

template <class T>
NodeId Tape<T>::record(const OpDef<T>* op, std::span<const Var<T>> parents, const OpAttrs& attrs) {
    check_thread("Tape::record");
    if (size_ >= max_nodes_)
        throw Error("Tape::record: more than " + detail::node_limit_str(max_nodes_) + " nodes on one tape");
    if (parents.size() > kMaxTapeNodes - parents_.size())  // parents_begin and parents_count are 32-bit
        throw ArgumentError("Tape::record: " + std::to_string(parents.size()) + " inputs would exceed the tape's limit of 2^32 - 1 inputs in all");
    const NodeId id = static_cast<NodeId>(size_);
    if ((id >> kChunkBits) >= chunks_.size()) chunks_.push_back(std::make_unique<Node<T>[]>(std::size_t(1) << kChunkBits));
    Node<T>& n = node(id);
    n.op = op;
    n.param = nullptr;
    n.attrs = attrs;
    n.parents_begin = static_cast<std::uint32_t>(parents_.size());
    n.parents_count = static_cast<std::uint32_t>(parents.size());
    n.saved_begin = static_cast<std::uint32_t>(saved_size_);
    n.saved_count = 0;
    n.index_begin = static_cast<std::uint32_t>(indices_.size());
    n.index_count = 0;
    n.custom = 0;
    n.grad_live = false;
    n.grad_kept = false;
    n.grad_released = false;
    n.value_dropped = false;
    n.value_borrowed = false;
    n.read_in_scope = false;
    bool rg = false;
    for (const Var<T>& p : parents) {
        parents_.push_back(p.id());
        rg = rg || node(p.id()).requires_grad;
    }
    n.requires_grad = rg && grad_enabled();
    ++size_;
    return id;
}

template <class T>
void Tape<T>::truncate(NodeId id) {
    if (id >= size_) return;
    const Node<T>& n = node(id);
    parents_.resize(n.parents_begin);
    saved_size_ = n.saved_begin;
    indices_.resize(n.index_begin);
    for (std::size_t k = id; k < size_; ++k)
        if (node(static_cast<NodeId>(k)).op != nullptr && node(static_cast<NodeId>(k)).custom != 0) {
            custom_size_ = node(static_cast<NodeId>(k)).custom;
            break;
        }
    while (!param_leaves_.empty() && param_leaves_.back().second >= id) param_leaves_.pop_back();
    transposed_.forget_from(id);
    while (!steps_.empty() && steps_.back().end > id) steps_.pop_back();
    while (!segments_.empty() && segments_.back().end > id) segments_.pop_back();
    size_ = id;
}

template <class T>
Tensor<T>& Tape<T>::add_saved(NodeId id) {
    Node<T>& n = node(id);
    if (saved_size_ == saved_.size()) saved_.emplace_back();
    ++n.saved_count;
    return saved_[saved_size_++];
}

template <class T>
std::int64_t* Tape<T>::add_indices(NodeId id, std::size_t count) {
    Node<T>& n = node(id);
    const std::size_t at = indices_.size();
    // index_begin and index_count are 32-bit: a larger count would wrap and
    // misplace the node's integers. Called right after record(), so a refusal
    // removes the node, as a failing op must.
    if (count > kMaxTapeNodes - at) {
        const std::string op = op_name(n);
        truncate(id);
        throw ArgumentError(op + ": " + std::to_string(count) + " indices would exceed the tape's limit of 2^32 - 1 indices in all (" +
                            std::to_string(at) + " recorded)");
    }
    try {
        indices_.resize(at + count);
    } catch (const std::bad_alloc&) {
        const std::string op = op_name(n);
        truncate(id);
        throw ShapeError(op + ": cannot allocate " + std::to_string(count) + " indices");
    }
    n.index_count += static_cast<std::uint32_t>(count);
    return indices_.data() + at;
}

template <class T>
void Tape<T>::set_custom(NodeId id, CustomOpRecord<T> record) {
    // Slot 0 is never used so that `custom == 0` means "not a custom op".
    if (custom_size_ == 0) custom_size_ = 1;
    if (custom_size_ >= custom_.size()) custom_.resize(custom_size_ + 1);
    custom_[custom_size_] = std::move(record);
    node(id).custom = static_cast<std::uint32_t>(custom_size_++);
}

template <class T>
const char* Tape<T>::op_name(Var<T> v) const {
    check(v, "Tape::op_name");
    return op_name(node(v.id()));
}

template <class T>
bool Tape<T>::value_dropped(Var<T> v) const {
    check(v, "Tape::value_dropped");
    return node(v.id()).value_dropped;
}

template <class T>
const char* Tape<T>::op_name(const Node<T>& n) const {
    if (n.op == nullptr) return n.param ? "parameter" : "leaf";
    if (n.custom != 0) return custom_[n.custom].name.c_str();
    return n.op->name;
}

template <class T>
NodeId Tape<T>::id_of(const Node<T>& n) const {
    for (std::size_t c = 0; c < chunks_.size(); ++c) {
        const Node<T>* first = chunks_[c].get();
        if (&n >= first && &n < first + (std::size_t(1) << kChunkBits))
            return static_cast<NodeId>((c << kChunkBits) + static_cast<std::size_t>(&n - first));
    }
    return static_cast<NodeId>(size_);  // not on this tape: cannot happen for a node backward was given
}

template <class T>
const T* Tape<T>::transposed_parent(const Node<T>& n, std::size_t k, bool first_too) const {
    const Node<T>& p = node(parent(n, k));
    // An owned leaf (the audit perturbing a copy) is read as it is, never from a copy of the parameter.
    if (!p.value_borrowed || p.value.dimension() != 2) return nullptr;
    return transposed_.get(parent(n, k), id_of(n), borrowed_value(p, op_name(n), &n), first_too);
}

template <class T>
const Tensor<T>& Tape<T>::unusual_parent_value(const Node<T>& n, std::size_t k) const {
    const Node<T>& p = node(parent(n, k));
    if (p.value_borrowed) return borrowed_value(p, op_name(n), &n);
    throw_dropped_read(n, k);
}

template <class T>
const Tensor<T>& Tape<T>::borrowed_value(const Node<T>& leaf, const char* reader, const Node<T>* reader_node) const {
    const ParameterState<T>& p = *leaf.param;
    if (leaf_current(leaf)) [[likely]]  // so no read runs past the elements
        return p.value();
    std::string who = reader;
    if (reader_node) who = "'" + who + "' (node #" + std::to_string(id_of(*reader_node)) + ")";
    throw ParameterModifiedError(who + ": parameter " + p.describe() +
                                     " was modified after this tape recorded its leaf (version " +
                                     std::to_string(leaf.param_version) + " -> " + std::to_string(p.version()) +
                                     ", shape then " + shape_str(leaf.value.shape()) +
                                     "); clear() the tape and run the forward pass again");
}

template <class T>
Tensor<T>& Tape<T>::own_value(Node<T>& n, const char* who) {
    if (!n.value_borrowed) return n.value;
    const Tensor<T>& source = borrowed_value(n, who);
    fit_value(n.value, source.shape());
    std::copy(source.storage().begin(), source.storage().end(), n.value.storage().begin());
    n.value_borrowed = false;
    return n.value;
}

template <class T>
void Tape<T>::borrow_again(Node<T>& n) {
    if (n.param == nullptr || n.value_borrowed) return;  // only parameter leaves have a parameter
    pool_.give(n.value.storage());
    n.value_borrowed = true;
}

template <class T>
void Tape<T>::shape_without_storage(Node<T>& n, std::span<const std::size_t> shape) {
    pool_.give(n.value.storage());  // what the slot held (a buffer of one element stays, unread)
    // The slot usually held this parameter's leaf last epoch too, shape and
    // all. Otherwise a husk of that shape over no elements: it allocates
    // nothing for shapes of up to 4 axes (xarray's shape and strides keep
    // those inline).
    if (std::ranges::equal(n.value.shape(), shape)) return;
    typename Tensor<T>::shape_type dims(shape.begin(), shape.end());
    typename Tensor<T>::strides_type strides(shape.size());
    xt::compute_strides(dims, xt::layout_type::row_major, strides);
    n.value = Tensor<T>(typename Tensor<T>::storage_type(), std::move(dims), std::move(strides));
}

template <class T>
void Tape<T>::throw_dropped_read(const Node<T>& n, std::size_t k) const {
    std::string msg = std::string("backward of '") + op_name(n) + "' (node #" + std::to_string(id_of(n)) + ") read ";
    if (k == kOutputSlot) {
        msg += "its own output (shape " + shape_str(n.value.shape()) +
               "), which was dropped: its OpDef::backward_reads does not declare kReadsOutput";
    } else {
        const NodeId p = parent(n, k);
        msg += "its input " + std::to_string(k) + " (node #" + std::to_string(p) + ", '" + op_name(node(p)) + "', shape " +
               shape_str(node(p).value.shape()) + "), which was dropped: its OpDef::backward_reads does not declare reads_input(" +
               std::to_string(k) + ")";
    }
    throw ContractError(msg);
}

template <class T>
NodeId Tape<T>::push_leaf(const char* who, std::span<const std::size_t> shape, const Tensor<T>* value, bool requires_grad,
                          bool borrow) {
    // A user's tensor may carry a shape whose product wrapped around (xtensor
    // allocates the wrapped count): its storage must hold exactly the checked count.
    const std::size_t count = shape_size(who, shape);
    if (value && value->storage().size() != count)
        throw ShapeError(std::string(who) + ": a tensor of shape " + shape_str(shape) + " holds " +
                         std::to_string(value->storage().size()) + " elements, not " + std::to_string(count));
    const NodeId id = record(nullptr, std::span<const Var<T>>{});
    Node<T>& n = node(id);
    try {
        // Through the pool: this slot's buffer may have been dropped (or given
        // away) in an earlier epoch while its shape stayed.
        if (borrow)
            shape_without_storage(n, shape);
        else
            fit_value(n.value, shape);
    } catch (const detail::TensorTooLarge& e) {
        truncate(id);
        throw ShapeError(std::string(who) + ": " + e.what());
    } catch (...) {  // a husk of more than 4 axes allocates its shape: the tape stays as it was
        truncate(id);
        throw;
    }
    n.value_borrowed = borrow;
    if (value && count != 0 && !borrow) std::memcpy(n.value.data(), value->data(), count * sizeof(T));
    n.requires_grad = requires_grad;
    return id;
}

template <class T>
Var<T> Tape<T>::constant(const Tensor<T>& value) {
    return Var<T>(this, push_leaf("Tape::constant", dims_of(value), &value, false), epoch_);
}

template <class T>
Var<T> Tape<T>::constant(T value) {
    const NodeId id = push_leaf("Tape::constant", {}, nullptr, false);
    node(id).value.data()[0] = value;
    return Var<T>(this, id, epoch_);
}

template <class T>
Var<T> Tape<T>::full(std::span<const std::size_t> shape, T value) {
    const NodeId id = push_leaf("Tape::full", shape, nullptr, false);
    node(id).value.fill(value);
    return Var<T>(this, id, epoch_);
}

template <class T>
Var<T> Tape<T>::variable(const Tensor<T>& value) {
    return Var<T>(this, push_leaf("Tape::variable", dims_of(value), &value, true), epoch_);
}

template <class T>
Var<T> Tape<T>::param(Parameter<T>& p) {
    const std::shared_ptr<ParameterState<T>>& state = p.state();  // LifetimeError if p was moved from
    // The newest leaf of p, unless p changed since it was recorded: then a new
    // leaf, so that the forward reads p's current elements (the old leaf stays
    // listed, and a backward through this recording refuses it).
    for (auto it = param_leaves_.rbegin(); it != param_leaves_.rend(); ++it)
        if (it->first == state) {
            if (leaf_current(node(it->second))) return Var<T>(this, it->second, epoch_);
            break;
        }
    if (param_leaves_.size() == param_leaves_.capacity()) param_leaves_.reserve(2 * param_leaves_.size() + 8);
    // The leaf reads the parameter's elements where they are (no copy): a
    // modification before they are read again is refused by version and shape.
    const NodeId id = push_leaf("Tape::param", dims_of(state->value()), &state->value(), true, /*borrow=*/true);
    Node<T>& n = node(id);
    n.param = state.get();
    n.param_version = state->version();
    param_leaves_.emplace_back(state, id);  // cannot throw: capacity reserved above
    return Var<T>(this, id, epoch_);
}

template <class T>
const Tensor<T>& Tape<T>::value(Var<T> v) const {
    check(v, "Tape::value");
    const Node<T>& n = node(v.id());
    if (n.value_borrowed) return borrowed_value(n, "Tape::value");
    if (n.value_dropped)
        throw ArgumentError("Tape::value: the value of node #" + std::to_string(v.id()) + " ('" + op_name(n) + "', shape " +
                            shape_str(n.value.shape()) +
                            ") was dropped to save memory (drop_value, release_since or recompute_since); use "
                            "set_keep_values(true) to keep it");
    return n.value;
}

template <class T>
const typename Tensor<T>::shape_type& Tape<T>::shape(Var<T> v) const {
    check(v, "Tape::shape");
    return node(v.id()).value.shape();
}

template <class T>
void Tape<T>::drop_value(Var<T> v) {
    check(v, "Tape::drop_value");
    Node<T>& n = node(v.id());
    if (keep_values_ || n.op == nullptr || n.value_dropped) return;
    if (n.requires_grad && (n.op->backward_reads & kReadsOutput)) return;
    for (std::size_t u = v.id() + 1; u < size_; ++u) {
        const Node<T>& user = node(static_cast<NodeId>(u));
        if (!user.requires_grad) continue;  // its backward never runs
        for (std::size_t k = 0; k < user.parents_count; ++k)
            if (parent(user, k) == v.id() && backward_reads_input(user, k)) return;
    }
    if (read_by_segment(v.id())) return;  // a recompute segment's forward reads it again in backward
    free_value(n);
}

template <class T>
bool Tape<T>::read_by_segment(NodeId id) const {
    // Sorted and disjoint: skip the segments that end before id.
    const auto first = std::ranges::partition_point(segments_, [id](const StepRange& seg) { return seg.end <= id; });
    for (auto it = first; it != segments_.end(); ++it) {
        const StepRange& seg = *it;
        for (NodeId u = std::max(seg.begin, id); u < seg.end; ++u) {
            const Node<T>& user = node(u);
            if (user.op == nullptr) continue;
            for (const NodeId p : parents(user))
                if (p == id) return true;
        }
    }
    return false;
}

template <class T>
void Tape<T>::free_value(Node<T>& n) {
    pool_.give(n.value.storage());  // the shape stays
    n.value_dropped = true;
}

template <class T>
void Tape<T>::check_since(const char* who, const char* range, std::size_t begin, std::span<const Var<T>> keep) const {
    if (begin > size_)
        throw ArgumentError(std::string(who) + ": the " + range + " began at position " + std::to_string(begin) +
                            ", past the tape's " + std::to_string(size_) + " nodes (was the tape cleared?)");
    for (const Var<T>& v : keep)
        if (v) check(v, who);
}

template <class T>
bool Tape<T>::in_keep(std::span<const Var<T>> keep, std::size_t id) {
    return std::ranges::any_of(keep, [id](const Var<T>& v) { return v && v.id() == id; });
}

template <class T>
void Tape<T>::rerun_forward(Node<T>& n) {
    // Into the spare tensor, then swapped in: a forward that throws leaves
    // the node dropped. fit_value takes the storage from the pool, and the
    // spare keeps the node's empty husk for the next one, so a repeating
    // loop allocates nothing (a default-constructed tensor would allocate an
    // element).
    n.op->forward(OpContext<T>(*this, n), spare_value_);
    std::swap(n.value, spare_value_);
    n.value_dropped = false;
}

template <class T>
void Tape<T>::release_since(std::size_t begin, std::span<const Var<T>> keep) {
    check_since("Tape::release_since", "step", begin, keep);
    if (begin < size_) steps_.push_back({static_cast<NodeId>(begin), static_cast<NodeId>(size_)});
    if (keep_values_) return;
    // A recompute segment closed inside the step (tg::checkpoint in a cell)
    // re-reads its inputs in backward: those stay.
    const bool segment_inside = !segments_.empty() && segments_.back().end > begin;
    // Backwards: every reader of node u inside the step comes after u, so by
    // the time the scan reaches u, each one has marked it if its backward
    // reads it. The mark is cleared as it is read.
    for (std::size_t u = size_; u-- > begin;) {
        Node<T>& n = node(static_cast<NodeId>(u));
        const bool read_later = n.read_in_scope;
        n.read_in_scope = false;
        if (n.op == nullptr) continue;  // leaves are kept
        if (n.requires_grad)  // its backward will run: mark what it reads
            for (std::size_t k = 0; k < n.parents_count; ++k) {
                const NodeId p = parent(n, k);
                if (p >= begin && backward_reads_input(n, k)) node(p).read_in_scope = true;
            }
        if (n.value_dropped || read_later || (n.requires_grad && (n.op->backward_reads & kReadsOutput))) continue;
        if (!in_keep(keep, u) && !(segment_inside && read_by_segment(static_cast<NodeId>(u)))) free_value(n);
    }
}

template <class T>
void Tape<T>::recompute_since(std::size_t begin, std::span<const Var<T>> keep) {
    check_since("Tape::recompute_since", "segment", begin, keep);
    if (keep_values_ || begin == size_) return;
    bool recompute = false;
    for (std::size_t u = begin; u < size_; ++u) recompute = recompute || node(static_cast<NodeId>(u)).requires_grad;
    if (!recompute) {  // no backward runs through it: what release_since drops is all there is to drop
        const std::size_t steps = steps_.size();
        release_since(begin, keep);
        steps_.resize(steps);  // not a time step
        return;
    }
    // Reserve first, so that nothing below can throw once values are dropped.
    if (segments_.size() == segments_.capacity()) segments_.reserve(2 * segments_.size() + 8);
    for (std::size_t u = begin; u < size_; ++u) {
        Node<T>& n = node(static_cast<NodeId>(u));
        if (n.op == nullptr || n.value_dropped) continue;  // leaves are kept
        if (!in_keep(keep, u)) free_value(n);
    }
    // A segment closed around earlier ones (a checkpointed call inside a
    // checkpointed loop) absorbs them: one recompute brings all of it back.
    auto b = static_cast<NodeId>(begin);
    while (!segments_.empty() && segments_.back().end > b) {
        b = std::min(b, segments_.back().begin);
        segments_.pop_back();
    }
    segments_.push_back({b, static_cast<NodeId>(size_)});
}

template <class T>
std::size_t Tape<T>::value_bytes() const {
    std::size_t bytes = 0;
    for (std::size_t k = 0; k < size_; ++k) {
        const Node<T>& n = node(static_cast<NodeId>(k));
        if (!n.value_dropped && !n.value_borrowed) bytes += n.value.storage().size() * sizeof(T);
    }
    return bytes;
}

template <class T>
void Tape<T>::fit_value(Tensor<T>& out, std::span<const std::size_t> shape) const {
    const std::size_t need = shape_size(shape);  // refuses a shape too large (TensorTooLarge)
    pool_.take(out.storage(), need);
    if (!detail::shapes_equal(out.shape(), shape) || out.storage().size() != need) detail::resize_tensor(out, shape);
}

template <class T>
Tensor<T>& Tape<T>::acquire_grad(NodeId id) {
    Node<T>& n = node(id);
    const std::size_t need = shape_size(n.value.shape());  // from the shape: a dropped value has no elements
    pool_.take(n.grad.storage(), need);
    // Usually the slot's gradient had this shape last epoch too: then only
    // its buffer changed, and xtensor's resize (which recomputes the
    // strides) is skipped. Otherwise no allocation when the size fits.
    if (!detail::shapes_equal(n.grad.shape(), n.value.shape()) || n.grad.storage().size() != need)
        detail::resize_tensor(n.grad, n.value.shape());
    n.grad_live = true;
    n.grad_released = false;
    n.grad_unset = 0;
    return n.grad;
}

template <class T>
Tensor<T>& Tape<T>::grad_block(NodeId id, std::size_t begin, std::size_t end, bool& assign) {
    Node<T>& n = node(id);
    if (!n.grad_live) {
        Tensor<T>& g = acquire_grad(id);
        if (end < g.size()) std::memset(g.data() + end, 0, (g.size() - end) * sizeof(T));
        n.grad_unset = begin;
        assign = true;
        return g;
    }
    if (n.grad_unset != 0 && end == n.grad_unset) {  // the block right below the written part
        n.grad_unset = begin;
        assign = true;
        return n.grad;
    }
    zero_unset_grad(n);
    assign = false;
    return n.grad;
}

template <class T>
void Tape<T>::release_grad(Node<T>& n) {
    n.grad_live = false;
    n.grad_released = true;
    n.grad_unset = 0;
    pool_.give(n.grad.storage());
}

template <class T>
void Tape<T>::accumulate_atb(NodeId target, const T* a, const T* b, std::size_t rows, std::size_t m, std::size_t n) {
    gather_.accumulate(*this, target, a, b, rows, m, n);
}

template <class T>
void Tape<T>::flush_batches_profiled(NodeId id) {
    if (profiler_ == nullptr || !gather_.pending()) return gather_.flush_from(*this, id);
    const Profiler::Mark mark = Profiler::mark();
    gather_.flush_from(*this, id);
    profiler_->span_done("gathered_atb", mark);
}

template <class T>
Tensor<T>& Tape<T>::grad_buffer(NodeId id) {
    Node<T>& n = node(id);
    if (!n.grad_live)
        acquire_grad(id).fill(T(0));
    else
        zero_unset_grad(n);
    return n.grad;
}

template <class T>
const Tensor<T>& Tape<T>::grad(Var<T> v) {
    check(v, "Tape::grad");
    const Node<T>& n = node(v.id());
    if (n.grad_released)
        throw ArgumentError("Tape::grad: the gradient of node #" + std::to_string(v.id()) + " ('" + op_name(n) +
                            "') was released once backward had passed it; call tape.retain_grad(v) before backward, "
                            "or pass BackwardOptions{.retain_grads = true}");
    return grad_buffer(v.id());
}

template <class T>
void Tape<T>::retain_grad(Var<T> v) {
    check(v, "Tape::retain_grad");
    node(v.id()).grad_kept = true;
}

template <class T>
bool Tape<T>::has_grad(Var<T> v) const {
    check(v, "Tape::has_grad");
    return node(v.id()).grad_live || node(v.id()).grad_released;
}

template <class T>
void Tape<T>::backward(Var<T> out, BackwardOptions options) {
    run_backward(out, nullptr, options);
}

template <class T>
void Tape<T>::backward(Var<T> out, const Tensor<T>& seed, BackwardOptions options) {
    run_backward(out, &seed, options);
}

template <class T>
void Tape<T>::check_param_leaves() const {
    for (const auto& [p, id] : param_leaves_) {
        const Node<T>& leaf = node(id);
        if (!p->alive())
            throw LifetimeError("backward: parameter " + p->describe() + " was destroyed after the forward pass read it");
        if (p->version() != leaf.param_version)
            throw ParameterModifiedError("backward: parameter " + p->describe() +
                                         " was modified after the forward pass read it (version " +
                                         std::to_string(leaf.param_version) + " -> " + std::to_string(p->version()) +
                                         "); run the forward pass again before backward");
        // Same version but another shape: resized through a reference kept from an earlier mutable_value().
        if (p->shape() != leaf.value.shape())
            throw ParameterModifiedError("backward: parameter " + p->describe() + " was reshaped after the forward pass read it as " +
                                         shape_str(leaf.value.shape()) + "; run the forward pass again before backward");
        // Reshaped through mutable_value() before the forward pass, leaving its gradient at the old shape.
        if (p->grad_stale()) throw ShapeError("backward: " + p->grad_shape_problem());
    }
}

template <class T>
void Tape<T>::run_backward(Var<T> out, const Tensor<T>* seed, BackwardOptions options) {
    check_thread("backward");
    check(out, "backward");
    if (consumed_)
        throw TapeConsumedError(
            "backward: this tape's graph was already consumed by an earlier backward; "
            "clear() the tape and record again, or pass BackwardOptions{.retain_graph = true} to the first backward");
    Node<T>& root = node(out.id());
    if (seed) {
        if (seed->shape() != root.value.shape())
            throw ShapeError("backward: seed gradient of shape " + shape_str(seed->shape()) +
                             " does not match the output's shape " + shape_str(root.value.shape()));
    } else if (shape_size(root.value.shape()) != 1) {
        throw NonScalarError("backward: output of shape " + shape_str(root.value.shape()) +
                             " is not a scalar; reduce it (e.g. sum or mean) or pass a seed gradient of that shape");
    }
    if (!root.requires_grad)
        throw ArgumentError(std::string("backward: the output (node #") + std::to_string(out.id()) + ", op '" +
                            op_name(root) + "') does not depend on any variable or parameter that requires a gradient");
    check_param_leaves();

    for (std::size_t k = 0; k < size_; ++k) {
        Node<T>& n = node(static_cast<NodeId>(k));
        if (n.grad_live && n.op != nullptr && !n.grad_kept) release_grad(n);  // kept from an earlier backward
        n.grad_live = false;
        n.grad_released = false;
        n.grad_unset = 0;
    }
    // Gathered products never outlive this call, even when a backward throws.
    struct GatherScope {
        detail::GemmGatherer<T>& g;
        ~GatherScope() { g.end(); }
    } scope{gather_};
    gather_.begin(!detect_anomaly_ && detail::blas_threads() > 1);
    acquire_grad(out.id());
    if (seed) {
        // memcpy from a zero-element seed's null data() is undefined, even for 0 bytes.
        if (seed->size() != 0) std::memcpy(root.grad.data(), seed->data(), seed->size() * sizeof(T));
    } else
        root.grad.data()[0] = T(1);

    std::optional<detail::SegmentRecompute<T>> recompute;  // only when there are segments: no cost otherwise
    if (!segments_.empty()) recompute.emplace(*this, out.id());
    for (NodeId id = out.id() + 1; id-- > 0;) {
        if (gather_.pending_at(id)) flush_batches_profiled(id);
        if (recompute) recompute->at(id);
        Node<T>& n = node(id);
        if (!n.grad_live || !n.requires_grad) continue;
        zero_unset_grad(n);  // every reader is above it: its gradient is complete
        if (n.op == nullptr) {  // a leaf: every reader is above it, so its gradient is final
            if (n.param != nullptr && grad_ready_hook_) grad_ready_hook_(*n.param, n.grad);
            continue;
        }
        OpContext<T> c(*this, n);
        if (profiler_ != nullptr) [[unlikely]] {
            const Profiler::Mark mark = Profiler::mark();
            n.op->backward(c);
            profiler_->backward_done(*this, id, mark);
        } else {
            n.op->backward(c);
        }
        if (detect_anomaly_) check_backward_anomaly(n, id);
        if (!options.retain_grads && !n.grad_kept) release_grad(n);
    }
    flush_batches_profiled(0);

    for (const auto& [p, id] : param_leaves_) {
        const Node<T>& leaf = node(id);
        if (!leaf.grad_live) continue;
        // check_param_leaves made sure it has the leaf's shape.
        Tensor<T>& g = p->mutable_grad();
        T* gd = g.data();
        const T* ld = leaf.grad.data();
        for (std::size_t i = 0, e = g.size(); i < e; ++i) gd[i] += ld[i];
    }
    consumed_ = !options.retain_graph;
}

template <class T>
void Tape<T>::clear() {
    size_ = 0;
    saved_size_ = 0;
    custom_size_ = 0;
    parents_.clear();
    indices_.clear();
    param_leaves_.clear();
    transposed_.clear();
    steps_.clear();
    segments_.clear();
    consumed_ = false;
    epoch_ = fresh_epoch();
    handle_blocks_used_ = 0;
    owner_.store(std::thread::id{}, std::memory_order_release);
}

template <class T>
void Tape<T>::claim_thread(const char* who) {
    const std::thread::id me = std::this_thread::get_id();
    std::thread::id owner{};
    if (owner_.compare_exchange_strong(owner, me, std::memory_order_acq_rel)) return;  // first use since clear()
    if (owner == me) return;
    std::ostringstream msg;
    msg << who << ": tape used from two threads at once (owner thread " << owner << ", this thread " << me
        << "); use one tape per thread, or clear() it before handing it to another thread";
    throw ConcurrentUseError(msg.str());
}

template <class T>
std::span<Var<T>> Tape<T>::handle_buffer(std::size_t n) {
    check_thread("Tape::handle_buffer");
    if (handle_blocks_used_ == handle_blocks_.size()) handle_blocks_.emplace_back();
    std::vector<Var<T>>& block = handle_blocks_[handle_blocks_used_];
    const auto fail = [n] {  // e.g. the handles of an empty batch of 2^30 steps
        return ShapeError("Tape::handle_buffer: cannot allocate " + std::to_string(n) + " handles of " +
                          std::to_string(sizeof(Var<T>)) + " bytes");
    };
    try {
        block.assign(n, Var<T>());  // no allocation once the block has held n
    } catch (const std::bad_alloc&) {
        throw fail();
    } catch (const std::length_error&) {
        throw fail();
    }
    ++handle_blocks_used_;
    return block;
}

template <class T>
void Tape<T>::set_max_nodes(std::size_t n) {
    if (n == 0 || n > kMaxTapeNodes)
        throw ArgumentError("Tape::set_max_nodes: " + std::to_string(n) + " is not in [1, 2^32 - 1]");
    max_nodes_ = n;
}

template <class T>
void Tape<T>::shrink() {
    clear();
    chunks_.clear();
    chunks_.shrink_to_fit();
    saved_.clear();
    saved_.shrink_to_fit();
    custom_.clear();
    parents_.shrink_to_fit();
    indices_.shrink_to_fit();
    param_leaves_.shrink_to_fit();
    steps_.shrink_to_fit();
    segments_.shrink_to_fit();
    segment_reader_ = {};
    segment_state_ = {};
    spare_value_ = Tensor<T>();
    scratch_ = Tensor<T>();
    pool_.release();
    transposed_.release();
    gather_ = detail::GemmGatherer<T>();  // frees the gathered copies' buffers
    handle_blocks_.clear();
    handle_blocks_.shrink_to_fit();
}

template class Tape<float>;
template class Tape<double>;

}  // namespace tapegrad
