#include "embedding.hpp"

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

template class Embedding<float>;
template class Embedding<double>;

}  // namespace tapegrad
