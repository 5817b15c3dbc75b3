#include "sequential.hpp"

namespace tapegrad {

template <class T>
Var<T> Sequential<T>::operator()(Var<T> x) {
    for (std::size_t i = 0; i < stages_.size(); ++i) {
        Stage& s = stages_[i];
        const std::string where = "Sequential stage " + std::to_string(i) + ": ";
        // Rethrown as the same type, so callers still catch ShapeError & co.
        try {
            x = s.module ? s.call(*s.module, x) : s.function(x);
        } catch (const ShapeError& e) {
            throw ShapeError(where + e.what());
        } catch (const ArgumentError& e) {
            throw ArgumentError(where + e.what());
        }
    }
    return x;
}

template <class T>
void Sequential<T>::visit(ModuleVisitor<T>& v) {
    for (std::size_t i = 0; i < stages_.size(); ++i)
        if (stages_[i].module) v.module(std::to_string(i), *stages_[i].module);
}

template <class T>
void Sequential<T>::copy_stages(const Sequential& other) {
    for (const Stage& s : other.stages_) {
        Stage st;
        st.call = s.call;
        st.clone = s.clone;
        st.function = s.function;
        if (s.module) st.module = s.clone(*s.module);
        stages_.push_back(std::move(st));
    }
}

template class Sequential<float>;
template class Sequential<double>;

}  // namespace tapegrad
