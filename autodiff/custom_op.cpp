#include "custom_op.hpp"

#include "op_support.hpp"

namespace tapegrad {

namespace {

template <class T>
CustomInputs<T> inputs_of(const Tape<T>& t, const Node<T>& n) {
    std::vector<const Tensor<T>*> values(n.parents_count);
    for (std::size_t k = 0; k < n.parents_count; ++k) values[k] = &t.parent_value(n, k);
    return CustomInputs<T>(std::move(values));
}

// One op definition serves every custom op; the node's record holds the
// user's name and functions.
template <class T>
struct CustomOp {
    static void forward(const Tape<T>& t, const Node<T>& n, Tensor<T>& out) { out = t.custom(n).forward(inputs_of(t, n)); }
    static void backward(Tape<T>& t, const Node<T>& n) {
        const CustomOpRecord<T>& r = t.custom(n);
        const std::vector<Tensor<T>> grads = r.backward(inputs_of(t, n), n.value, n.grad);
        if (grads.size() != n.parents_count)
            throw ShapeError("custom op '" + r.name + "': backward returned " + std::to_string(grads.size()) +
                             " gradients for " + std::to_string(n.parents_count) + " inputs");
        for (std::size_t k = 0; k < grads.size(); ++k) {
            const NodeId p = t.parent(n, k);
            if (!t.needs_grad(p) || (grads[k].size() == 0 && grads[k].dimension() > 0)) continue;
            detail::accumulate(t, n, p, grads[k]);
        }
    }
    static constexpr OpDef<T> def{"custom", forward, backward};
};

}  // namespace

template <class T>
Var<T> record_custom_op(CustomOpRecord<T> record, std::span<const Var<T>> inputs) {
    Tape<T>& t = detail::tape_of(record.name.c_str(), inputs);
    if (!record.forward || !record.backward)
        throw ArgumentError("custom op '" + record.name + "': both a forward and a backward function are required");
    const NodeId id = t.record(&CustomOp<T>::def, inputs);
    t.set_custom(id, std::move(record));
    return detail::finish(t, id);
}

template Var<float> record_custom_op(CustomOpRecord<float>, std::span<const Var<float>>);
template Var<double> record_custom_op(CustomOpRecord<double>, std::span<const Var<double>>);

}  // namespace tapegrad
