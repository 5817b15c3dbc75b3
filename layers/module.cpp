#include "module.hpp"

namespace tapegrad {

namespace {

template <class T>
struct Collect final : ModuleVisitor<T> {
    std::string prefix;
    NamedParameters<T>* out;
    void param(const std::string& name, Parameter<T>& p) override { out->emplace_back(prefix + name, &p); }
    void module(const std::string& name, Module<T>& m) override {
        Collect<T> child;
        child.prefix = prefix + name + ".";
        child.out = out;
        m.visit(child);
    }
};

template <class T>
struct SetMode final : ModuleVisitor<T> {
    bool on;
    void param(const std::string&, Parameter<T>&) override {}
    void module(const std::string&, Module<T>& m) override { m.train(on); }
};

}  // namespace

template <class T>
NamedParameters<T> Module<T>::named_parameters(const std::string& prefix) {
    NamedParameters<T> out;
    Collect<T> c;
    c.prefix = prefix.empty() ? std::string() : prefix + ".";
    c.out = &out;
    visit(c);
    return out;
}

template <class T>
std::vector<Parameter<T>*> Module<T>::parameters() {
    std::vector<Parameter<T>*> out;
    for (auto& [name, p] : named_parameters()) {
        p->set_name(name);
        out.push_back(p);
    }
    return out;
}

template <class T>
void Module<T>::zero_grad() {
    for (auto& [name, p] : named_parameters()) p->zero_grad();  // not parameters(): zeroing renames nothing
}

template <class T>
void Module<T>::train(bool on) {
    training_ = on;
    SetMode<T> s;
    s.on = on;
    visit(s);
}

template <class T>
void Module<T>::set_parameter_names(const std::string& prefix) {
    for (auto& [name, p] : named_parameters(prefix)) p->set_name(name);
}

template class Module<float>;
template class Module<double>;

}  // namespace tapegrad
