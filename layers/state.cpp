#include "state.hpp"

#include "../autodiff/ops.hpp"

namespace tapegrad {

template <class T>
RecurrentState<T> detach(const RecurrentState<T>& s) {
    RecurrentState<T> out;
    for (std::size_t k = 0; k < RecurrentState<T>::capacity; ++k)
        if (s[k]) out[k] = detach(s[k]);
    return out;
}

template <class T>
RecurrentStateValues<T> state_values(const RecurrentState<T>& s) {
    RecurrentStateValues<T> out;
    for (std::size_t k = 0; k < RecurrentState<T>::capacity; ++k)
        if (s[k]) out.values[k] = s[k].value();
    return out;
}

template <class T>
std::optional<RecurrentState<T>> constant_state(Tape<T>& tape, const RecurrentStateValues<T>& v) {
    RecurrentState<T> out;
    bool any = false;
    for (std::size_t k = 0; k < RecurrentState<T>::capacity; ++k)
        if (v.values[k]) {
            out[k] = tape.constant(*v.values[k]);
            any = true;
        }
    if (!any) return std::nullopt;
    return out;
}

#define TAPEGRAD_INSTANTIATE(T)                                                    \
    template RecurrentState<T> detach(const RecurrentState<T>&);                   \
    template RecurrentStateValues<T> state_values(const RecurrentState<T>&);       \
    template std::optional<RecurrentState<T>> constant_state(Tape<T>&, const RecurrentStateValues<T>&);
TAPEGRAD_INSTANTIATE(float)
TAPEGRAD_INSTANTIATE(double)

}  // namespace tapegrad
