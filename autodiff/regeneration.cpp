#include "regeneration.hpp"

#include <algorithm>
#include <utility>


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
    if (live_.size() == live_.capacity()) live_.reserve(2 * live_.size() + 16);  // push_back below cannot throw
    tape_.rerun_forward(n);
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
