// Module and optimizer checkpoints over the .npz reader and writer. A module
// load settles everything the file can get wrong first (keys, shapes, then the
// data itself, read into tensors held aside) and only then assigns: nothing
// after the first set_value depends on the file.

#include "checkpoint.hpp"

#include <algorithm>
#include <set>

namespace tapegrad {

namespace {

// "'a', 'b', 'c'", cut short for a message about a whole model.
std::string key_list(const std::vector<std::string>& keys) {
    constexpr std::size_t kShown = 8;
    std::string out;
    for (std::size_t i = 0; i < keys.size() && i < kShown; ++i) out += (i ? ", '" : "'") + keys[i] + "'";
    if (keys.size() > kShown) out += " and " + std::to_string(keys.size() - kShown) + " more";
    return out;
}

std::string count_of(const std::vector<std::string>& keys, const char* what) {
    return keys.size() == 1 ? std::string(what) + " key " + key_list(keys)
                            : std::to_string(keys.size()) + " " + what + " keys: " + key_list(keys);
}

template <class A, class B>
bool shapes_equal(const A& a, const B& b) {
    return a.size() == b.size() && std::equal(a.begin(), a.end(), b.begin(), [](auto x, auto y) {
               return static_cast<std::size_t>(x) == static_cast<std::size_t>(y);
           });
}

}  // namespace

template <class T>
void save(Module<T>& module, const std::string& path) {
    std::vector<std::pair<std::string, const Tensor<T>*>> arrays;
    std::set<std::string> names;
    for (const auto& [name, p] : module.named_parameters()) {
        // Two entries of one name would make the file ambiguous for numpy and for load.
        if (!names.insert(name).second) throw CheckpointError(path + ": two parameters of the module are named '" + name + "'");
        arrays.emplace_back(name, &p->value());
    }
    save_npz<T>(path, arrays);
}

template <class T>
void load(Module<T>& module, const std::string& path, const LoadOptions& options) {
    NpzReader file(path);
    load(module, file, options);
}

template <class T>
void load(Module<T>& module, NpzReader& file, const LoadOptions& options) {
    const std::string& path = file.path();
    // named_parameters(prefix) spells the keys exactly as the file should: "prefix.name".
    const NamedParameters<T> params = module.named_parameters(options.prefix);
    const std::string under = options.prefix.empty() ? std::string() : options.prefix + ".";

    std::vector<std::string> problems, missing, unexpected;
    std::set<std::string> expected;
    for (const auto& [key, p] : params) {
        expected.insert(key);
        if (!file.contains(key)) missing.push_back(key);
    }
    if (options.strict)
        for (const std::string& name : file.names())
            if (name.compare(0, under.size(), under) == 0 && !expected.count(name)) unexpected.push_back(name);
    if (!missing.empty()) problems.push_back(count_of(missing, "missing"));
    if (!unexpected.empty()) problems.push_back(count_of(unexpected, "unexpected"));
    if (problems.empty())
        for (const auto& [key, p] : params) {
            const NpyInfo& info = file.info(key);
            if (!shapes_equal(info.shape, p->shape()))
                problems.push_back(key + ": file has " + shape_str(info.shape) + ", module expects " + shape_str(p->shape()));
        }
    if (!problems.empty()) {
        std::string msg = path + ": ";
        for (std::size_t i = 0; i < problems.size(); ++i) msg += (i ? "; " : "") + problems[i];
        throw CheckpointError(msg);
    }

    std::vector<Tensor<T>> values;
    values.reserve(params.size());
    for (const auto& [key, p] : params) values.push_back(file.read<T>(key));
    for (std::size_t i = 0; i < params.size(); ++i) params[i].second->set_value(values[i]);
}

template <class T>
void save(const Optimizer<T>& optimizer, const std::string& path) {
    const StateDict state = optimizer.state_dict();
    std::vector<std::pair<std::string, const Tensor<double>*>> arrays;
    arrays.reserve(state.size());
    for (const auto& [key, value] : state) arrays.emplace_back(key, &value);
    save_npz<double>(path, arrays);
}

template <class T>
void load(Optimizer<T>& optimizer, const std::string& path) {
    NpzReader file(path);
    load(optimizer, file);
}

template <class T>
void load(Optimizer<T>& optimizer, NpzReader& file) {
    const std::string& path = file.path();
    const StateDict state = load_npz<double>(file);
    try {
        optimizer.load_state_dict(state);
    } catch (const CheckpointError&) {
        throw;
    } catch (const Error& e) {
        // The optimizer names the key; the caller also needs to know which file.
        throw CheckpointError(path + ": " + e.what());
    }
}

#define TAPEGRAD_INSTANTIATE(T)                                                   \
    template void save<T>(Module<T>&, const std::string&);                        \
    template void load<T>(Module<T>&, const std::string&, const LoadOptions&);    \
    template void load<T>(Module<T>&, NpzReader&, const LoadOptions&);            \
    template void save<T>(const Optimizer<T>&, const std::string&);               \
    template void load<T>(Optimizer<T>&, const std::string&);                     \
    template void load<T>(Optimizer<T>&, NpzReader&);
TAPEGRAD_INSTANTIATE(float)
TAPEGRAD_INSTANTIATE(double)

}  // namespace tapegrad
