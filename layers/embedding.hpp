#pragma once
/// \file
/// `Embedding<T>`: a lookup table of vectors, indexed by integers.

#include "../autodiff/tape.hpp"
#include "init.hpp"
#include "module.hpp"

namespace tapegrad {

template <class T = float>
class Embedding : public Module<T> {
public:
    Parameter<T> weight;  ///< (num_embeddings, embedding_dim), initialized N(0, 1) as in PyTorch

    Embedding(std::size_t num_embeddings, std::size_t embedding_dim, Generator& gen);
    /// The same from the default generator (`tg::manual_seed`).
    Embedding(std::size_t num_embeddings, std::size_t embedding_dim)
        : Embedding(num_embeddings, embedding_dim, detail::DefaultGenerator().get()) {}

    /// Indices of any shape S, each in [0, num_embeddings) (`ArgumentError`
    /// otherwise) → vectors of shape S + (embedding_dim). Rows that are looked
    /// up several times accumulate their gradients.
    Var<T> operator()(Tape<T>& tape, const Index& indices);
    /// The same for indices held in a handle, like every other layer's input
    /// (`emb(tape.constant(tokens))`): each value must be a whole number in
    /// [0, num_embeddings) (`ArgumentError` naming the first that is not).
    /// No gradient flows to the indices.
    Var<T> operator()(Var<T> indices);
    void visit(ModuleVisitor<T>& v) override { v.param("weight", weight); }
};

extern template class Embedding<float>;
extern template class Embedding<double>;

}  // namespace tapegrad
