#include "custom_op.hpp"

#include "op_support.hpp"

namespace tapegrad {

namespace {

template <class T>
CustomInputs<T> inputs_of(const OpContext<T>& c) {
    std::vector<const Tensor<T>*> values(c.inputs());
    for (std::size_t k = 0; k < c.inputs(); ++k) values[k] = &c.input(k);
    return CustomInputs<T>(std::move(values));
}

// One op definition serves every custom op; the node's record holds the
// user's name and functions.
// "No gradient for this input" (see custom_op.hpp): a gradient without
// elements, or a default-constructed Tensor<T>() — 0-d, holding 0 — for an
// input that is not 0-d. A 0-d non-zero value there stays a shape error: it is
// more likely a mistakenly reduced gradient than a request for none.
template <class T>
bool means_no_gradient(const Tensor<T>& grad, const Tensor<T>& input) {
    return grad.size() == 0 || (grad.dimension() == 0 && input.dimension() != 0 && grad.data()[0] == T(0));
}

template <class T>
struct CustomOp {
    static void forward(const OpContext<T>& c, Tensor<T>& out) {
        out = c.custom().forward(inputs_of(c));
        // The user's tensor may carry a shape whose product wrapped around.
        if (out.storage().size() != shape_size(out.shape()))
            throw ShapeError("custom op '" + c.custom().name + "': forward returned a tensor of shape " + shape_str(out.shape()) +
                             " holding " + std::to_string(out.storage().size()) + " elements");
    }
    static void backward(OpContext<T>& c) {
        const CustomOpRecord<T>& r = c.custom();
        const std::vector<Tensor<T>> grads = r.backward(inputs_of(c), c.output(), c.grad());
        if (grads.size() != c.inputs())
            throw ShapeError("custom op '" + r.name + "': backward returned " + std::to_string(grads.size()) +
                             " gradients for " + std::to_string(c.inputs()) +
                             " inputs (return one per input, in a list; an empty tensor for none)");
        for (std::size_t k = 0; k < grads.size(); ++k) {
            if (!c.needs_grad(k) || means_no_gradient(grads[k], c.input(k))) continue;
            c.accumulate(k, grads[k]);
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
    detail::Recording<T> r(t, CustomOp<T>::def, inputs);
    r.set_custom(std::move(record));
    return r.finish();
}

template Var<float> record_custom_op(CustomOpRecord<float>, std::span<const Var<float>>);
template Var<double> record_custom_op(CustomOpRecord<double>, std::span<const Var<double>>);

}  // namespace tapegrad
