#include "embedding.hpp"

#include <cmath>
#include <string>

#include "../autodiff/ops.hpp"

namespace tapegrad {

template <class T>
Embedding<T>::Embedding(std::size_t num_embeddings, std::size_t embedding_dim, Generator& gen)
    : weight(detail::new_tensor<T>("Embedding", Shape{num_embeddings, embedding_dim}), "weight") {
    normal_(weight.mutable_value(), 0.0, 1.0, gen);
}

template <class T>
Var<T> Embedding<T>::operator()(Tape<T>& tape, const Index& indices) {
    const std::vector<std::int64_t> flat(indices.data(), indices.data() + indices.size());
    Var<T> rows = index_select(tape.param(weight), 0, flat);  // (N, E)
    std::vector<std::int64_t> shape(indices.shape().begin(), indices.shape().end());
    shape.push_back(static_cast<std::int64_t>(weight.shape()[1]));
    return reshape(rows, shape);
}

template <class T>
Var<T> Embedding<T>::operator()(Var<T> indices) {
    if (!indices) throw StaleVarError("Embedding: empty input handle");
    const Tensor<T>& v = indices.value();
    Index idx = Index::from_shape(v.shape());
    const auto rows = static_cast<double>(weight.shape()[0]);
    for (std::size_t i = 0; i < v.size(); ++i) {
        const double d = static_cast<double>(v.data()[i]);
        if (!(d >= 0 && d < rows && d == std::floor(d)))
            throw ArgumentError("Embedding: index " + std::to_string(i) + " of " + shape_str(v.shape()) + " is " +
                                std::to_string(d) + "; indices must be whole numbers in [0, " + std::to_string(weight.shape()[0]) + ")");
        idx.data()[i] = static_cast<std::int64_t>(d);
    }
    return (*this)(*indices.tape(), idx);
}

template class Embedding<float>;
template class Embedding<double>;

}  // namespace tapegrad
