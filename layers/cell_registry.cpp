#include "cell_registry.hpp"

#include <algorithm>
#include <map>
#include <mutex>

#include "cells/ablated_lstm_cell.hpp"
#include "cells/cifg_lstm_cell.hpp"
#include "cells/layer_norm_lstm_cell.hpp"
#include "cells/peephole_lstm_cell.hpp"

namespace tapegrad {

namespace {

template <class Layer, class T>
RecurrentFactory<T> layer_factory() {
    return [](const RecurrentOptions& o, Generator& gen) -> std::unique_ptr<RecurrentLayer<T>> {
        return std::make_unique<Layer>(o, gen);
    };
}

// A factory of `Layer` that adjusts the options first (the ablation or the
// nonlinearity a name stands for).
template <class Layer, class T, class Adjust>
RecurrentFactory<T> adjusted_factory(Adjust adjust) {
    return [adjust](const RecurrentOptions& o, Generator& gen) -> std::unique_ptr<RecurrentLayer<T>> {
        RecurrentOptions with = o;
        adjust(with);
        return std::make_unique<Layer>(with, gen);
    };
}

template <class T>
RecurrentFactory<T> ablated_factory(LSTMAblation a) {
    return adjusted_factory<AblatedLSTM<T>, T>([a](RecurrentOptions& o) { o.lstm_ablation = a; });
}

template <class T>
RecurrentFactory<T> rnn_factory(RNNNonlinearity n) {
    return adjusted_factory<RNN<T>, T>([n](RecurrentOptions& o) { o.nonlinearity = n; });
}

// The names and factories, built-ins first; one registry per element type.
template <class T>
struct RecurrentRegistry {
    std::mutex lock;
    std::map<std::string, RecurrentFactory<T>> factories{
        {"rnn", rnn_factory<T>(RNNNonlinearity::tanh)},
        {"rnn_relu", rnn_factory<T>(RNNNonlinearity::relu)},
        {"lstm", layer_factory<LSTM<T>, T>()},
        {"gru", layer_factory<GRU<T>, T>()},
        {"peephole", layer_factory<PeepholeLSTM<T>, T>()},
        {"cifg", layer_factory<CIFGLSTM<T>, T>()},
        {"layernorm_lstm", layer_factory<LayerNormLSTM<T>, T>()},
        {"nig", ablated_factory<T>(LSTMAblation::no_input_gate)},
        {"nfg", ablated_factory<T>(LSTMAblation::no_forget_gate)},
        {"nog", ablated_factory<T>(LSTMAblation::no_output_gate)},
        {"niaf", ablated_factory<T>(LSTMAblation::no_input_activation)},
        {"noaf", ablated_factory<T>(LSTMAblation::no_output_activation)},
    };

    static RecurrentRegistry& get() {
        static RecurrentRegistry r;
        return r;
    }
};

std::string comma_list(const std::vector<std::string>& names) {
    std::string s;
    for (const std::string& n : names) s += (s.empty() ? "" : ", ") + n;
    return s;
}

}  // namespace

template <class T>
std::vector<std::string> recurrent_names() {
    RecurrentRegistry<T>& r = RecurrentRegistry<T>::get();
    std::lock_guard guard(r.lock);
    std::vector<std::string> names;
    for (const auto& [name, factory] : r.factories) names.push_back(name);
    return names;  // std::map keeps them sorted
}

template <class T>
bool has_recurrent(const std::string& name) {
    RecurrentRegistry<T>& r = RecurrentRegistry<T>::get();
    std::lock_guard guard(r.lock);
    return r.factories.count(name) != 0;
}

template <class T>
std::unique_ptr<RecurrentLayer<T>> make_recurrent(const std::string& name, const RecurrentOptions& options, Generator& gen) {
    RecurrentFactory<T> factory;
    {
        RecurrentRegistry<T>& r = RecurrentRegistry<T>::get();
        std::lock_guard guard(r.lock);
        const auto it = r.factories.find(name);
        if (it != r.factories.end()) factory = it->second;
    }
    // Built outside the lock: a factory may be slow, or register another name.
    if (!factory) throw ArgumentError("make_recurrent: no recurrent layer named '" + name + "' (known: " +
                                      comma_list(recurrent_names<T>()) + ")");
    return factory(options, gen);
}

template <class T>
bool accepts_forget_bias(const std::string& name) {
    Generator gen(0);
    // An unknown name is an error (naming the known ones), not "no forget gate".
    if (!has_recurrent<T>(name)) make_recurrent<T>(name, {}, gen);
    try {
        make_recurrent<T>(name, {.input_size = 1, .hidden_size = 1, .forget_bias = 1.0}, gen);
        return true;
    } catch (const ArgumentError&) {
        return false;  // the layer refuses the option: no forget gate
    }
}

template <class T>
void register_recurrent(const std::string& name, RecurrentFactory<T> factory) {
    const bool valid = !name.empty() && std::all_of(name.begin(), name.end(), [](char ch) {
        return (ch >= 'a' && ch <= 'z') || (ch >= '0' && ch <= '9') || ch == '_';
    });
    if (!valid)
        throw ArgumentError("register_recurrent: name '" + name +
                            "' must be non-empty and use only lower-case letters, digits and '_'");
    if (!factory) throw ArgumentError("register_recurrent: the factory for '" + name + "' is empty");
    RecurrentRegistry<T>& r = RecurrentRegistry<T>::get();
    std::lock_guard guard(r.lock);
    r.factories[name] = std::move(factory);
}

#define TAPEGRAD_INSTANTIATE(T)                                                                                     \
    template std::unique_ptr<RecurrentLayer<T>> make_recurrent<T>(const std::string&, const RecurrentOptions&,     \
                                                                  Generator&);                                     \
    template void register_recurrent<T>(const std::string&, RecurrentFactory<T>);                                   \
    template std::vector<std::string> recurrent_names<T>();                                                         \
    template bool has_recurrent<T>(const std::string&);                                                             \
    template bool accepts_forget_bias<T>(const std::string&);
TAPEGRAD_INSTANTIATE(float)
TAPEGRAD_INSTANTIATE(double)

}  // namespace tapegrad
