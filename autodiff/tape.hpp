#pragma once
/// \file
/// `Tape<T>`: records every op in order and runs backward once, in reverse.
///
/// Nodes live in fixed-size chunks, so their addresses never move and a
/// `const Tensor<T>&` returned by `value()` stays valid until `clear()`. Every
/// node's parents have smaller positions than the node itself; walking the
/// positions downwards is therefore a reverse topological order: no graph
/// search, no recursion, no depth limit.
///
/// `clear()` forgets the nodes but keeps their tensor buffers: when a training
/// loop records the same shapes every step, a cleared tape reuses them and the
/// steady state allocates no tensor storage.
///
/// A tape is not thread-safe; use one tape per thread. Parameters may be read by
/// several tapes at once as long as nothing modifies them meanwhile. The first
/// thread that records on a tape after `clear()` (or construction) owns it until
/// the next `clear()`: recording or `backward` from any other thread meanwhile
/// throws `ConcurrentUseError` instead of corrupting the tape. Handing a tape to
/// another thread is fine once it has been cleared.

#include <array>
#include <cstring>
#include <atomic>
#include <cstdint>
#include <functional>
#include <memory>
#include <span>
#include <string>
#include <thread>
#include <type_traits>
#include <utility>
#include <vector>

#include "buffer_pool.hpp"
#include "errors.hpp"
#include "gemm_gatherer.hpp"
#include "grad_mode.hpp"
#include "parameter.hpp"
#include "tensor.hpp"
#include "transposed_leaves.hpp"
#include "var.hpp"

namespace tapegrad {

template <class T>
class OpContext;  // op_context.hpp: what an op's forward and backward see
class Profiler;   // profiler.hpp
namespace detail {
template <class T>
struct Node;
template <class T>
struct TapeAccess;  // the tape's internals, for the library's own tools (below)
}  // namespace detail

/// Small per-node constants of an op (an axis, bounds, an exponent), held as
/// the op's own struct: `OpAttrs::of(NarrowAttrs{axis, start, length})` when
/// recording, `op_attrs<NarrowAttrs>(c)` in its forward and backward. Any
/// trivially copyable struct of up to 48 bytes; variable-length constants
/// (a shape, indices) go with the node's indices (`Recording::add_indices`).
class OpAttrs {
public:
    static constexpr std::size_t kCapacity = 48;
    OpAttrs() = default;
    template <class A>
    static OpAttrs of(const A& attrs) {
        static_assert(std::is_trivially_copyable_v<A> && sizeof(A) <= kCapacity, "op attributes: a small plain struct");
        OpAttrs o;
        std::memcpy(o.bytes_, &attrs, sizeof(A));
        return o;
    }
    template <class A>
    A as() const {
        static_assert(std::is_trivially_copyable_v<A> && sizeof(A) <= kCapacity, "op attributes: a small plain struct");
        A attrs;
        std::memcpy(&attrs, bytes_, sizeof(A));
        return attrs;
    }

private:
    alignas(8) unsigned char bytes_[kCapacity] = {};
};

/// What every op provides: a name, and its forward and backward side by side.
///
/// `forward(c, out)` computes the node's value from its inputs' current
/// values and attributes (read through the `OpContext` c) into `out`
/// (resizing it with `c.fit`). The op's public
/// function calls it once when recording; the tape audit calls it again with
/// perturbed input values, so it must read nothing but its context.
///
/// `backward(c)` reads `c.grad()` (the gradient of the output) and adds each
/// input's vector-Jacobian product into that input with `c.accumulate(k, ...)`,
/// only for inputs that `c.needs_grad(k)`.
///
/// `backward_reads` says which values the backward reads: bit k for input k
/// (k < 30; bit 30 stands for input 30 and every input after it, so that a
/// concat of many inputs can say it reads none), `kReadsOutput` for the
/// node's own value. It lets the tape drop
/// values nobody will read (`Tape::drop_value`); the default, `kReadsAll`, is
/// always safe. Shapes stay readable after a drop; only the elements go.
/// The contract is checked, not trusted: a backward reads elements only
/// through `OpContext::input` and `OpContext::output`, which throw
/// `ContractError` naming the op when the value it asks for was dropped
/// (tests/test_contracts.cpp proves every built-in op's contract).
inline constexpr std::uint32_t kReadsOutput = 1u << 31;
inline constexpr std::uint32_t kReadsAll = ~0u;
inline constexpr std::uint32_t kReadsNothing = 0;
constexpr std::uint32_t reads_input(unsigned k) { return 1u << (k < 30 ? k : 30); }

template <class T>
struct OpDef {
    const char* name;
    void (*forward)(const OpContext<T>& c, Tensor<T>& out);
    void (*backward)(OpContext<T>& c);
    std::uint32_t backward_reads = kReadsAll;
};


/// The inputs a custom op sees: `in[k]` is the value of its k-th input.
template <class T>
class CustomInputs {
public:
    explicit CustomInputs(std::vector<const Tensor<T>*> values) : values_(std::move(values)) {}
    const Tensor<T>& operator[](std::size_t k) const { return *values_.at(k); }
    std::size_t size() const { return values_.size(); }

private:
    std::vector<const Tensor<T>*> values_;
};

/// A user-defined op recorded on a tape (see custom_op.hpp).
template <class T>
struct CustomOpRecord {
    std::string name;
    std::function<Tensor<T>(const CustomInputs<T>&)> forward;
    /// Returns one gradient per input (an empty tensor for "none").
    std::function<std::vector<Tensor<T>>(const CustomInputs<T>&, const Tensor<T>& out, const Tensor<T>& grad)> backward;
};

struct BackwardOptions {
    /// Allow a second `backward` on the same recording (pass it as
    /// `tape.backward(loss, tg::BackwardOptions{.retain_graph = true})`). Each backward
    /// recomputes the tape's gradients from scratch and adds once more into the
    /// parameters' gradients.
    bool retain_graph = false;
    /// Keep the gradient of every node, not just of leaves and of nodes marked
    /// with `Tape::retain_grad` (costs one gradient buffer per node).
    bool retain_grads = false;
};

/// The most nodes one tape holds between clears (node ids are 32-bit).
inline constexpr std::size_t kMaxTapeNodes = (std::size_t(1) << 32) - 1;

namespace detail {
/// One recorded value: private to the tape and its op contexts (op writers
/// read a node through `OpContext`, tools through `detail::TapeAccess`).
template <class T>
struct Node {
    Tensor<T> value;
    Tensor<T> grad;                  // meaningful only while grad_live
    const OpDef<T>* op = nullptr;    // nullptr for leaves
    ParameterState<T>* param = nullptr;  // set for parameter leaves (the tape holds the record: param_leaves_)
    std::uint64_t param_version = 0; // the version the forward pass read
    std::uint32_t parents_begin = 0, parents_count = 0;
    std::uint32_t saved_begin = 0, saved_count = 0;
    std::uint32_t index_begin = 0, index_count = 0;
    std::uint32_t custom = 0;  // index of the custom op record, for custom ops
    OpAttrs attrs;
    bool requires_grad = false;
    bool grad_live = false;
    bool grad_kept = false;      // retain_grad(): keep the gradient after backward used it
    bool grad_released = false;  // backward reached the node and gave its gradient buffer back
    bool value_dropped = false;  // drop_value() took the elements; the shape remains
    bool value_borrowed = false; // a parameter leaf: its elements are the parameter's own (no copy); the shape is kept here
    bool read_in_scope = false;  // release_since(): a later node of the step reads it in backward
    // Elements [0, grad_unset) of a live gradient hold no gradient yet: they
    // are zero, but not written (Tape::grad_block). Zeroed before anything
    // else reads or adds to the gradient (Tape::zero_unset_grad).
    std::size_t grad_unset = 0;
};

template <class U>
class Regeneration;  // regeneration.hpp: brings dropped values back for the audit
template <class U>
class SegmentRecompute;  // recompute.hpp: re-runs recompute segments in backward
/// A node limit in messages: "2^32 - 1" for `kMaxTapeNodes`, else the number.
inline std::string node_limit_str(std::size_t n) { return n == kMaxTapeNodes ? "2^32 - 1" : std::to_string(n); }
}  // namespace detail

template <class T = float>
class Tape {
public:
    using value_type = T;

    Tape();
    ~Tape();
    Tape(const Tape&) = delete;
    Tape& operator=(const Tape&) = delete;

    // ---- leaves -------------------------------------------------------------
    /// A value that gradients do not flow into (inputs, targets, masks).
    Var<T> constant(const Tensor<T>& value);
    /// A 0-d constant.
    Var<T> constant(T value);
    /// A constant of the given shape filled with `value`, written straight into
    /// the tape's buffer (no tensor to build first).
    Var<T> full(std::span<const std::size_t> shape, T value);
    Var<T> full(std::initializer_list<std::size_t> shape, T value) {
        return full(std::span<const std::size_t>(shape.begin(), shape.size()), value);
    }
    /// A leaf that gradients flow into; read them with `grad(v)` after backward.
    Var<T> variable(const Tensor<T>& value);
    /// The leaf of parameter `p` on this tape. Within one epoch every call
    /// returns the same leaf, so all uses share one accumulated gradient, added
    /// into `p.grad()` at the end of `backward`. The tape holds `p`'s record
    /// until `clear()`: if `p` is moved meanwhile, the gradient goes to the
    /// object it was moved into; if it is destroyed, `backward` throws
    /// `LifetimeError`. Throws `LifetimeError` for a moved-from `p`.
    ///
    /// The leaf copies nothing: ops read `p`'s elements where they are, so a
    /// tape costs no memory or time per parameter. Modifying `p` (an optimizer
    /// step, `mutable_value`, `set_value`) makes the leaf stale: an op that
    /// then reads it, `value()` of it and `backward` throw
    /// `ParameterModifiedError`, and a new call returns a new leaf that reads
    /// the new elements.
    Var<T> param(Parameter<T>& p);

    // ---- backward -----------------------------------------------------------
    /// Backpropagates from a one-element output (seed 1). Throws
    /// `NonScalarError` if `out` has more than one element,
    /// `ParameterModifiedError` if a parameter changed since it was used,
    /// `LifetimeError` if a parameter it read was destroyed since, `ShapeError`
    /// if a parameter's gradient no longer has its value's shape (all checked
    /// before any gradient is touched),
    /// `TapeConsumedError` on a second call without `retain_graph`, and
    /// `ArgumentError` if `out` does not depend on anything needing a gradient.
    void backward(Var<T> out, BackwardOptions options = {});
    /// Backpropagates from any output with an explicit seed gradient of the
    /// output's shape (`ShapeError` otherwise).
    void backward(Var<T> out, const Tensor<T>& seed, BackwardOptions options = {});

    // ---- reading ------------------------------------------------------------
    const Tensor<T>& value(Var<T> v) const;
    /// Gradient of the last backward with respect to `v`: zeros of v's shape
    /// if none reached it. Leaves (variables, parameters) keep their gradients
    /// until `clear()`. An intermediate node's gradient buffer goes back to a
    /// pool as soon as backward has passed through the node, so that backward
    /// holds only the gradients still in flight; reading it afterwards throws
    /// `ArgumentError` unless the node was marked with `retain_grad` before
    /// backward (or backward ran with `BackwardOptions{.retain_grads = true}`).
    const Tensor<T>& grad(Var<T> v);
    /// Keep `v`'s gradient after backward (e.g. dL/dh_t of every time step).
    void retain_grad(Var<T> v);
    /// Whether the last backward reached `v`.
    bool has_grad(Var<T> v) const;

    /// The shape of `v`'s value (also after `drop_value`).
    const typename Tensor<T>::shape_type& shape(Var<T> v) const;

    // ---- memory ---------------------------------------------------------------
    /// Declares that the caller will not read `v`'s value again, nor record new
    /// ops on it. Unless the backward of `v`'s own op or of an op recorded on
    /// `v` needs the elements (say, sigmoid's output or mul's inputs), they go
    /// back to the tape's pool, where the next value of that size takes them:
    /// a recurrent layer drops each step's temporaries (the step's slice of
    /// the input projection, the gate pre-activations) and records the whole
    /// sequence in less memory. Reading a dropped value, or recording an op on
    /// it, throws `ArgumentError`; its shape stays readable. Leaves are kept.
    /// Scans the nodes recorded after `v` for its users, so call it soon after.
    /// No-op while `keep_values()` is on.
    void drop_value(Var<T> v);
    /// Ends a step: drops the value of every node recorded at position `begin`
    /// or later (take `begin = size()` when the step starts) that no backward
    /// will read, except the nodes of `keep` (what the step returns; empty
    /// handles are ignored). A node's value stays when the backward of its own
    /// op reads it (`kReadsOutput`) or the backward of a node recorded after
    /// it in the step reads it (`OpDef::backward_reads`); under `NoGradGuard`
    /// no backward runs, so all but `keep` go. The step's nodes must have no
    /// users outside it but through `keep`: recording an op on a dropped value
    /// later throws `ArgumentError`. One pass over the step's nodes, no
    /// allocation once a loop repeats; leaves are kept. Releases nothing while
    /// `keep_values()` is on. Either way the range is remembered as a step
    /// (`steps()`). `ArgumentError` if `begin` lies past the tape's end
    /// (cleared since).
    void release_since(std::size_t begin, std::span<const Var<T>> keep);
    void release_since(std::size_t begin, std::initializer_list<Var<T>> keep) {
        release_since(begin, std::span<const Var<T>>(keep.begin(), keep.size()));
    }
    /// The ranges of positions [begin, end) that `release_since` closed since
    /// the last clear, in order: the time steps of the recurrent layers (and
    /// of a user's loop that ends its steps so). The graph view draws them.
    struct StepRange {
        NodeId begin, end;
    };
    std::span<const StepRange> steps() const { return steps_; }
    /// Ends a recompute segment (checkpointing, as torch.utils.checkpoint):
    /// drops the value of every node recorded at position `begin` or later
    /// except the nodes of `keep` (what the segment returns; empty handles are
    /// ignored) and leaves, also the values a backward will read. When
    /// `backward`'s walk reaches the segment it re-runs the recorded forwards
    /// in order (the same ops on the same inputs: bit-identical values), keeps
    /// what the segment's backward reads and drops each value again once the
    /// walk has passed its node. Memory then holds the segment's inputs and
    /// `keep` instead of all it would keep for backward, for one more forward
    /// of the segment. The segment's nodes must have no users outside it but
    /// through `keep` (as for `release_since`); the values it reads from
    /// before `begin` stay until backward (`drop_value` leaves them). A
    /// segment closed around earlier ones absorbs them. Under `NoGradGuard`
    /// (nothing to recompute) it drops as `release_since` does and records no
    /// segment; while `keep_values()` is on it does nothing. `ArgumentError`
    /// if `begin` lies past the tape's end. See also `tg::checkpoint`.
    void recompute_since(std::size_t begin, std::span<const Var<T>> keep);
    void recompute_since(std::size_t begin, std::initializer_list<Var<T>> keep) {
        recompute_since(begin, std::span<const Var<T>>(keep.begin(), keep.size()));
    }
    /// The recompute segments [begin, end) closed since the last clear, in order.
    std::span<const StepRange> recompute_segments() const { return segments_; }
    /// Bytes of element storage held by the values recorded since the last
    /// clear, dropped values excluded (not counted: gradients, the pool of
    /// spare buffers, saved masks). Scans every node: for tests and reports.
    std::size_t value_bytes() const;
    /// Keep every value (make `drop_value` a no-op), so that `audit` can re-run
    /// every node; off by default.
    void set_keep_values(bool on) { keep_values_ = on; }
    /// The most nodes this tape records between clears: `kMaxTapeNodes`
    /// unless lowered (at least 1), e.g. to bound what one request may cost a
    /// service, or a fuzzer's run. Past it `record` throws `Error`, and split
    /// and chunk refuse up front (`ArgumentError`); the tape is unchanged.
    void set_max_nodes(std::size_t n);
    std::size_t max_nodes() const { return max_nodes_; }
    bool keep_values() const { return keep_values_; }
    /// `n` empty handles in storage the tape owns, at a fixed address until
    /// `clear()` (which reclaims it, and whose reuse allocates nothing once a
    /// loop repeats): a layer builds and returns handle lists here instead of
    /// keeping them in per-call members, so one module can serve several tapes
    /// (threads) at once. E.g. `RecurrentOutput::step_hidden` lives here.
    std::span<Var<T>> handle_buffer(std::size_t n);

    // ---- lifetime -----------------------------------------------------------
    /// Forgets every node (handles become stale) but keeps the buffers. Also
    /// releases the tape's thread ownership: another thread may use it next.
    void clear();
    /// `clear()` and release the memory of all buffers.
    void shrink();
    /// Number of nodes recorded since the last clear.
    std::size_t size() const { return size_; }
    std::uint32_t epoch() const { return epoch_; }
    /// Whether a backward without `retain_graph` has run since the last clear.
    bool consumed() const { return consumed_; }

    // ---- anomaly detection ----------------------------------------------------
    /// When on, every op's output is checked for NaN/Inf as it is recorded, and
    /// every gradient an op's backward adds into its inputs as backward runs; the
    /// first non-finite value throws `AnomalyError` naming the op, its position,
    /// its input shapes (and in backward, which input). A failing op records
    /// nothing. Off by default; when off it costs one branch per op.
    void set_detect_anomaly(bool on) { detect_anomaly_ = on; }
    bool detect_anomaly() const { return detect_anomaly_; }

    // ---- gradient-ready hook -------------------------------------------------
    /// Called by every `backward` for each parameter the backward reaches, as
    /// soon as its gradient is final: when the reverse walk passes the
    /// parameter's leaf, below every op that read it. `grad` is this
    /// backward's whole gradient for the parameter; it is added into
    /// `param.grad()` when the backward ends, as without a hook. Data-parallel
    /// training (`tapegrad::dist`, docs/distributed.md) starts averaging a
    /// bucket of gradients here, while the walk goes on through earlier steps.
    /// Parameters the backward does not reach get no call. Set an empty
    /// function to remove it; `clear()` keeps it.
    using GradReadyHook = std::function<void(ParameterState<T>& param, const Tensor<T>& grad)>;
    void set_grad_ready_hook(GradReadyHook hook) { grad_ready_hook_ = std::move(hook); }
    const GradReadyHook& grad_ready_hook() const { return grad_ready_hook_; }

    // ---- profiling ------------------------------------------------------------
    /// The `Profiler` attached to this tape (profiler.hpp), or nullptr: while
    /// one is, every op's forward and every backward node is timed.
    Profiler* profiler() const { return profiler_; }

    // ---- inspecting ---------------------------------------------------------------
    /// The name of the op that produced `v` (a custom op's own name):
    /// "parameter" for a parameter's leaf, "leaf" for other leaves.
    const char* op_name(Var<T> v) const;
    /// Whether `v`'s elements were released (`drop_value`, `release_since`).
    bool value_dropped(Var<T> v) const;
    /// A constant of `shape` whose elements `fill(std::span<T>)` writes
    /// straight into the tape's buffer (a mask, a step index): no tensor to
    /// build first, no allocation once the tape's pool holds that size.
    template <class F>
    Var<T> constant_from(std::span<const std::size_t> shape, F fill) {
        const Var<T> v = full(shape, T(0));
        Tensor<T>& value = node(v.id()).value;
        fill(std::span<T>(value.data(), value.size()));
        return v;
    }
    /// Throws `StaleVarError` or `TapeMismatchError` unless `v` belongs to
    /// this tape's current epoch. `op` names the caller in the message.
    void check(Var<T> v, const char* op) const;

private:
    // Op writers reach what follows through `OpContext` (op_context.hpp) and
    // `detail::record` / `detail::Recording` (op_support.hpp); the library's
    // tools (audit, profiler, graph view) through `detail::TapeAccess`.
    template <class U>
    using Node = detail::Node<U>;
    friend class OpContext<T>;
    friend struct detail::TapeAccess<T>;

    /// Gives `out` storage for `shape`, from the tape's pool of buffers when
    /// its own does not fit (for op forwards: `OpContext::fit`).
    void fit_value(Tensor<T>& out, std::span<const std::size_t> shape) const;
    /// Throws `AnomalyError` (after removing the node) if node `id`'s value is
    /// not finite; called by `detail::finish` in anomaly mode.
    void check_forward_anomaly(NodeId id);
    /// Appends a node for `op` with the given parents (already checked) and
    /// returns its position. `requires_grad` is set from the parents and the
    /// grad mode. The value is left for the op's forward to fill.
    NodeId record(const OpDef<T>* op, std::span<const Var<T>> parents, const OpAttrs& attrs = {});
    NodeId record(const OpDef<T>* op, std::initializer_list<Var<T>> parents, const OpAttrs& attrs = {}) {
        return record(op, std::span<const Var<T>>(parents.begin(), parents.size()), attrs);
    }
    /// Removes every node from position `id` on (used to undo a failed op).
    void truncate(NodeId id);
    /// Attaches a scratch tensor to the most recently recorded node `id`
    /// (masks and other values backward needs besides values on the tape).
    Tensor<T>& add_saved(NodeId id);
    /// Attaches `count` integers (indices, targets) to the most recent node.
    /// Beyond 2^32 - 1 integers on the tape it removes node `id` and throws
    /// `ArgumentError` naming its op.
    std::int64_t* add_indices(NodeId id, std::size_t count);
    /// Attaches a custom op record to the most recent node.
    void set_custom(NodeId id, CustomOpRecord<T> record);

    Node<T>& node(NodeId id) { return chunks_[id >> kChunkBits][id & kChunkMask]; }
    const Node<T>& node(NodeId id) const { return chunks_[id >> kChunkBits][id & kChunkMask]; }
    NodeId parent(const Node<T>& n, std::size_t k) const { return parents_[n.parents_begin + k]; }
    std::span<const NodeId> parents(const Node<T>& n) const {
        return {parents_.data() + n.parents_begin, n.parents_count};
    }
    /// The value of node `n`'s input k: the only way an op's forward or
    /// backward reads an input's elements. A backward that reads an input its
    /// `OpDef::backward_reads` does not declare finds it dropped whenever the
    /// tape released it, and gets `ContractError` naming the op instead of
    /// freed storage (forwards never see a dropped input: recording refuses
    /// one). One flag test; the throw is out of line.
    const Tensor<T>& parent_value(const Node<T>& n, std::size_t k) const {
        const Node<T>& p = node(parent(n, k));
        if (p.value_dropped || p.value_borrowed) [[unlikely]]
            return unusual_parent_value(n, k);
        return p.value;
    }
    /// The shape of node `n`'s input k, readable also after its value was
    /// dropped: for code that needs the shape, not the elements.
    const typename Tensor<T>::shape_type& parent_shape(const Node<T>& n, std::size_t k) const {
        return node(parent(n, k)).value.shape();
    }
    /// Node `n`'s own value, for a backward that reads it (`kReadsOutput`):
    /// `ContractError` if it was dropped, as for `parent_value`. Its shape is
    /// readable without this (`n.value.shape()`), also after a drop.
    const Tensor<T>& output_value(const Node<T>& n) const {
        if (n.value_dropped) [[unlikely]]
            throw_dropped_read(n, kOutputSlot);
        return n.value;
    }
    const Tensor<T>& saved(const Node<T>& n, std::size_t k) const { return saved_[n.saved_begin + k]; }
    std::span<const std::int64_t> indices(const Node<T>& n) const {
        return {indices_.data() + n.index_begin, n.index_count};
    }
    const CustomOpRecord<T>& custom(const Node<T>& n) const { return custom_[n.custom]; }
    /// The op's name, or the user's name for a custom op; "leaf" for leaves.
    const char* op_name(const Node<T>& n) const;
    /// "inputs of shapes (2, 3), (3,)" (or "no inputs"), for error messages.
    std::string describe_inputs(const Node<T>& n) const;
    /// Whether backward must compute a gradient for node `id`.
    bool needs_grad(NodeId id) const { return node(id).requires_grad; }
    /// The gradient buffer of node `id`, sized like its value and zero-filled
    /// on first touch in this backward. For ops that accumulate in place
    /// (GEMM with beta = 1, slices writing into their block).
    Tensor<T>& grad_buffer(NodeId id);
    /// Makes node `id`'s gradient live with its value's shape and returns it,
    /// contents unspecified (for the first write of an op that assigns).
    Tensor<T>& acquire_grad(NodeId id);
    /// Node `id`'s gradient, about to receive its contiguous elements
    /// [begin, end) (a slice along the first axis). `assign` says whether
    /// they hold no gradient yet (write them) or must be added to. A first
    /// touch zeros only what lies after the block and leaves what lies before
    /// it unset; a next block that ends where the unset part does is written
    /// too (a recurrent layer's steps select their slice of the input
    /// projection, and backward reaches them last step first): the
    /// projection's gradient is then written once, never zeroed first.
    Tensor<T>& grad_block(NodeId id, std::size_t begin, std::size_t end, bool& assign);
    /// Zeros the unset elements of n's gradient (`Node::grad_unset`): before
    /// anything but `grad_block` reads it or adds to it.
    void zero_unset_grad(Node<T>& n) {
        if (n.grad_unset != 0) [[unlikely]] {
            std::memset(n.grad.data(), 0, n.grad_unset * sizeof(T));
            n.grad_unset = 0;
        }
    }
    /// A scratch tensor for backward functions (reused, never shrunk).
    Tensor<T>& scratch() { return scratch_; }
    /// Adds aᵀ·b into node `target`'s gradient (m × n), for a (rows × m) and
    /// b (rows × n), both row-major: the weight gradient of a product. When
    /// OpenBLAS runs on several threads, thin products (few rows, like one
    /// time step's batch) aimed at the same large target are gathered during
    /// `backward` and run as one GEMM over all their rows, which spreads over
    /// the threads far better than many thin ones (on one thread the thin
    /// ones are as fast, and run at once). A gathered sum is added before the
    /// target's own backward runs and before `backward` returns. `a` and `b`
    /// are copied, so they may change afterwards.
    void accumulate_atb(NodeId target, const T* a, const T* b, std::size_t rows, std::size_t m, std::size_t n);

    friend class detail::Regeneration<T>;  // sets and clears value_dropped around a recompute
    friend class detail::SegmentRecompute<T>;  // re-runs recompute segments during backward
    friend class Profiler;                  // attaches and detaches itself
    static constexpr unsigned kChunkBits = 10;
    static constexpr NodeId kChunkMask = (NodeId(1) << kChunkBits) - 1;

    // A leaf of `shape` holding a copy of `value` (if any), or with `borrow`
    // no elements of its own (a parameter leaf: readers get the parameter's);
    // `who` names the public function in errors (a shape too large, a failed
    // allocation).
    NodeId push_leaf(const char* who, std::span<const std::size_t> shape, const Tensor<T>* value, bool requires_grad,
                     bool borrow = false);
    void check_backward_anomaly(const Node<T>& n, NodeId id);
    void run_backward(Var<T> out, const Tensor<T>* seed, BackwardOptions options);
    // Every parameter read is alive, unmodified and has a gradient of its shape.
    void check_param_leaves() const;
    void release_grad(Node<T>& n);
    // Gives a value's elements to the pool; its shape stays readable.
    void free_value(Node<T>& n);
    // `ContractError` for a read of a dropped value by node n's op: input k,
    // or its own output for kOutputSlot. Finds n's position by its address.
    static constexpr std::size_t kOutputSlot = ~std::size_t(0);
    [[noreturn]] void throw_dropped_read(const Node<T>& n, std::size_t k) const;
    // Input k of node n as Wᵀ (cols × rows, row-major), for a product that
    // reads it transposed at every step (a Linear layer's x·Wᵀ): a copy made
    // at the second such read of a 2-D parameter leaf in this epoch, or at
    // the first if `first_too`; nullptr at the first otherwise and for
    // anything else (transposed_leaves.hpp).
    const T* transposed_parent(const Node<T>& n, std::size_t k, bool first_too) const;
    // parent_value's out-of-line path: input k of node n is a parameter leaf
    // (its parameter's elements) or was dropped (ContractError).
    const Tensor<T>& unusual_parent_value(const Node<T>& n, std::size_t k) const;
    // The elements of parameter leaf `leaf`, read by `reader` (a function, or
    // the op of `reader_node`): the parameter's own, after checking that it
    // still has the version and shape the leaf recorded
    // (ParameterModifiedError, naming the reader, otherwise).
    const Tensor<T>& borrowed_value(const Node<T>& leaf, const char* reader, const Node<T>* reader_node = nullptr) const;
    // Whether parameter leaf `leaf` still matches its parameter: the version
    // and the shape it recorded (a resize through a reference kept from
    // mutable_value() leaves the version, so the shape is compared too).
    static bool leaf_current(const Node<T>& leaf) {
        return leaf.param->version() == leaf.param_version && leaf.param->shape() == leaf.value.shape();
    }
    // Node n's value as its own elements: a parameter leaf gets a copy of its
    // parameter's (checked as borrowed_value does, for `who`), for a tool that
    // writes into a leaf's value (the audit's perturbations).
    Tensor<T>& own_value(Node<T>& n, const char* who);
    // Undoes own_value: parameter leaf n reads its parameter's elements again
    // (its copy goes to the pool).
    void borrow_again(Node<T>& n);
    // Gives node n's value the shape `shape` without elements of its own (a
    // parameter leaf's): any storage it holds goes to the pool.
    void shape_without_storage(Node<T>& n, std::span<const std::size_t> shape);
    NodeId id_of(const Node<T>& n) const;
    // Whether the backward of op node `user` reads its input k.
    static bool backward_reads_input(const Node<T>& user, std::size_t k) {
        return (user.op->backward_reads & reads_input(k < 30 ? unsigned(k) : 30u)) != 0;
    }
    // Adds the gathered products aimed at id or after; timed as "gathered_atb" when profiling.
    void flush_batches_profiled(NodeId id);

    std::vector<std::unique_ptr<Node<T>[]>> chunks_;
    std::size_t size_ = 0;
    std::size_t max_nodes_ = kMaxTapeNodes;
    std::uint32_t epoch_ = 0;
    bool consumed_ = false;
    bool detect_anomaly_ = false;
    Profiler* profiler_ = nullptr;
    GradReadyHook grad_ready_hook_;
    std::vector<StepRange> steps_;  // capacity kept across clear(): no allocation once a loop repeats
    std::vector<StepRange> segments_;  // recompute_since(): sorted, disjoint
    // SegmentRecompute's per-node plan of the segment being recomputed, kept
    // here so that a repeating loop allocates nothing.
    std::vector<NodeId> segment_reader_;
    std::vector<std::uint8_t> segment_state_;
    mutable detail::TransposedLeaves<T> transposed_;  // see transposed_parent
    Tensor<T> spare_value_;  // rerun_forward writes here, then swaps it into the node
    // Recomputes dropped node n's value from its inputs (the audit's
    // Regeneration and SegmentRecompute both bring values back this way).
    void rerun_forward(Node<T>& n);
    // ArgumentError unless `begin` is on the tape; each non-empty handle of `keep` checked.
    void check_since(const char* who, const char* range, std::size_t begin, std::span<const Var<T>> keep) const;
    static bool in_keep(std::span<const Var<T>> keep, std::size_t id);
    // Whether a node recorded inside a recompute segment reads `id` (its
    // forward re-runs in backward, so drop_value must keep `id`).
    bool read_by_segment(NodeId id) const;
    std::vector<NodeId> parents_;
    std::vector<Tensor<T>> saved_;
    std::size_t saved_size_ = 0;
    std::vector<std::int64_t> indices_;
    std::vector<CustomOpRecord<T>> custom_;
    std::size_t custom_size_ = 0;
    // Shared records keep every parameter read since the last clear() alive
    // (not the Parameter objects: backward checks they still exist).
    std::vector<std::pair<std::shared_ptr<ParameterState<T>>, NodeId>> param_leaves_;
    Tensor<T> scratch_;
    // Spare element buffers for values and gradients (buffer_pool.hpp).
    // Mutable: op forwards get a const tape.
    mutable detail::BufferPool<typename Tensor<T>::storage_type> pool_;
    bool keep_values_ = false;
    // Thin weight-gradient products gathered during backward (gemm_gatherer.hpp).
    detail::GemmGatherer<T> gather_;
    // Handle lists handed out by handle_buffer(): the first handle_blocks_used_
    // are in use until clear(). Each block is its own vector, so growing the
    // outer one moves blocks without moving their elements.
    std::vector<std::vector<Var<T>>> handle_blocks_;
    std::size_t handle_blocks_used_ = 0;

    // Thread ownership (see the file comment): the thread that recorded first
    // since the last clear(), empty while nobody has. Checked on entry to
    // record(), backward() and handle_buffer(): one relaxed load and a compare
    // with std::this_thread::get_id() (a thread-local read) per op, so the
    // common case costs nothing measurable; claiming and refusing are out of line.
    std::atomic<std::thread::id> owner_{};
    void check_thread(const char* who) {
        if (owner_.load(std::memory_order_relaxed) != std::this_thread::get_id()) claim_thread(who);
    }
    void claim_thread(const char* who);
};

namespace detail {
/// The tape's internals for the library's own tools: the audit, the profiler,
/// the graph view, `detail::record` and the tests that check contracts. Op
/// writers use `OpContext` instead; user code needs neither.
template <class T>
struct TapeAccess {
    static Node<T>& node(Tape<T>& t, NodeId id) { return t.node(id); }
    static const Node<T>& node(const Tape<T>& t, NodeId id) { return t.node(id); }
    static std::span<const NodeId> parents(const Tape<T>& t, const Node<T>& n) { return t.parents(n); }
    static NodeId parent(const Tape<T>& t, const Node<T>& n, std::size_t k) { return t.parent(n, k); }
    static const Tensor<T>& parent_value(const Tape<T>& t, const Node<T>& n, std::size_t k) { return t.parent_value(n, k); }
    static const typename Tensor<T>::shape_type& parent_shape(const Tape<T>& t, const Node<T>& n, std::size_t k) {
        return t.parent_shape(n, k);
    }
    static bool needs_grad(const Tape<T>& t, NodeId id) { return t.needs_grad(id); }
    static Tensor<T>& grad_buffer(Tape<T>& t, NodeId id) { return t.grad_buffer(id); }
    static void zero_unset_grad(Tape<T>& t, Node<T>& n) { t.zero_unset_grad(n); }
    static Tensor<T>& own_value(Tape<T>& t, NodeId id, const char* who) { return t.own_value(t.node(id), who); }
    static void borrow_again(Tape<T>& t, NodeId id) { t.borrow_again(t.node(id)); }
    static std::size_t transposed_copies(const Tape<T>& t) { return t.transposed_.copies(); }
    static const char* op_name(const Tape<T>& t, const Node<T>& n) { return t.op_name(n); }
    static std::string describe_inputs(const Tape<T>& t, const Node<T>& n) { return t.describe_inputs(n); }
    // Recording (see `detail::Recording` in op_support.hpp).
    static NodeId record(Tape<T>& t, const OpDef<T>* op, std::span<const Var<T>> parents, const OpAttrs& attrs) {
        return t.record(op, parents, attrs);
    }
    static void truncate(Tape<T>& t, NodeId id) { t.truncate(id); }
    static Tensor<T>& add_saved(Tape<T>& t, NodeId id) { return t.add_saved(id); }
    static std::int64_t* add_indices(Tape<T>& t, NodeId id, std::size_t count) { return t.add_indices(id, count); }
    static void set_custom(Tape<T>& t, NodeId id, CustomOpRecord<T> record) { t.set_custom(id, std::move(record)); }
    static void check_forward_anomaly(Tape<T>& t, NodeId id) { t.check_forward_anomaly(id); }
    // Gives v's elements back to the pool without drop_value's scan for
    // readers, for a caller that knows no backward and no recompute segment
    // reads them (the sequence layer's per-segment outputs once concatenated).
    static void free_unread_value(Tape<T>& t, Var<T> v) {
        Node<T>& n = t.node(v.id());
        if (!t.keep_values_ && n.op != nullptr && !n.value_dropped) t.free_value(n);
    }
};
}  // namespace detail

// ---- Var's accessors, which need the tape --------------------------------

template <class T>
const Tensor<T>& Var<T>::value() const {
    if (!tape_) throw StaleVarError("Var::value: empty handle");
    return tape_->value(*this);
}

template <class T>
const Tensor<T>& Var<T>::grad() const {
    if (!tape_) throw StaleVarError("Var::grad: empty handle");
    return tape_->grad(*this);
}

template <class T>
const typename Tensor<T>::shape_type& Var<T>::shape() const {
    if (!tape_) throw StaleVarError("Var::shape: empty handle");
    return tape_->shape(*this);
}

template <class T>
std::size_t Var<T>::size() const {
    return shape_size(shape());
}

template <class T>
T Var<T>::item() const {
    const Tensor<T>& v = value();
    if (v.size() != 1) throw ShapeError("Var::item: value of shape " + shape_str(v.shape()) + " has " + std::to_string(v.size()) + " elements, not 1");
    return v.data()[0];
}

template <class T>
bool Var<T>::requires_grad() const {
    if (!tape_) throw StaleVarError("Var::requires_grad: empty handle");
    tape_->check(*this, "Var::requires_grad");
    return detail::TapeAccess<T>::node(*tape_, id_).requires_grad;
}

extern template class Tape<float>;
extern template class Tape<double>;

}  // namespace tapegrad
