#include "regeneration.hpp"

#include <algorithm>
#include <utility>

#include "op_context.hpp"

namespace tapegrad::detail {

template <class T>
Regeneration<T>::Regeneration(Tape<T>& tape, NodeId upto) : tape_(tape), last_reader_(std::size_t(upto) + 1, kUnread) {
    for (NodeId u = 0; u <= upto; ++u) {
        const Node<T>& n = tape_.node(u);
        if (n.op == nullptr) continue;
        for (const NodeId p : tape_.parents(n))
            if (tape_.node(p).value_dropped) last_reader_[p] = u;  // positions rise: the last write is the last reader
    }
}

template <class T>
Regeneration<T>::~Regeneration() {
    for (const NodeId id : live_) tape_.free_value(tape_.node(id));
}

template <class T>
void Regeneration<T>::before(NodeId id) {
    Node<T>& n = tape_.node(id);
    if (!n.value_dropped || last_reader_[id] == kUnread) return;
    // Into a fresh tensor first: the forward reads the node and must not see
    // its own value half written. fit_value takes the storage from the pool.
    Tensor<T> value;
    const OpContext<T> c(tape_, n);
    n.op->forward(c, value);
    if (live_.size() == live_.capacity()) live_.reserve(2 * live_.size() + 16);  // free_value below cannot throw
    std::swap(n.value, value);
    n.value_dropped = false;
    live_.push_back(id);
    ++regenerated_;
}

template <class T>
void Regeneration<T>::after(NodeId id) {
    // Few values are live at once (a step's worth), so a sweep is cheap.
    for (std::size_t k = live_.size(); k-- > 0;) {
        if (last_reader_[live_[k]] != id) continue;
        tape_.free_value(tape_.node(live_[k]));
        live_[k] = live_.back();
        live_.pop_back();
    }
}

template class Regeneration<float>;
template class Regeneration<double>;

}  // namespace tapegrad::detail
