#include "graph_view.hpp"

#include <cmath>
#include <cstdio>
#include <set>
#include <sstream>
#include <utility>
#include <vector>

namespace tapegrad {

using detail::Node;

namespace {

constexpr std::uint32_t kNone = ~std::uint32_t(0);

// A DOT string literal's contents.
std::string escaped(const std::string& s) {
    std::string out;
    for (const char c : s) {
        if (c == '"' || c == '\\') out += '\\';
        out += c == '\n' ? ' ' : c;
    }
    return out;
}

// The positions `output` depends on: one pass down the tape.
template <class T>
std::vector<char> ancestors(const Tape<T>& tape, NodeId output) {
    std::vector<char> needed(std::size_t(output) + 1, 0);
    needed[output] = 1;
    for (NodeId id = output + 1; id-- > 0;) {
        if (!needed[id]) continue;
        for (const NodeId p : detail::TapeAccess<T>::parents(tape, detail::TapeAccess<T>::node(tape, id))) needed[p] = 1;
    }
    return needed;
}

// Where each position goes in the drawing: its step cluster (or none), or
// the node standing for the collapsed middle of a run of alike steps.
struct Layout {
    std::vector<std::uint32_t> cluster, placeholder;  // per position, kNone if not in one
    std::vector<std::string> cluster_labels;
    std::vector<std::pair<std::size_t, std::size_t>> placeholders;  // (steps, nodes) each stands for
};

// Two ranges of positions record the same ops in the same order.
template <class T>
bool alike(const Tape<T>& tape, NodeId a_begin, NodeId a_end, NodeId b_begin, NodeId b_end) {
    if (a_end - a_begin != b_end - b_begin) return false;
    for (NodeId k = 0; k < a_end - a_begin; ++k)
        if (detail::TapeAccess<T>::node(tape, a_begin + k).op != detail::TapeAccess<T>::node(tape, b_begin + k).op) return false;
    return true;
}

// Runs of consecutive steps: alike steps with alike gaps between them (a
// layer's masking ops); the next layer or direction starts with a different
// gap (its input projection), so it starts a new run.
template <class T>
std::vector<std::pair<std::size_t, std::size_t>> step_runs(const Tape<T>& tape, std::span<const typename Tape<T>::StepRange> s) {
    std::vector<std::pair<std::size_t, std::size_t>> runs;  // [first, last] indices into s
    for (std::size_t k = 0; k < s.size(); ++k) {
        if (!runs.empty()) {
            auto& [first, last] = runs.back();
            const bool same_step = last + 1 == k && alike(tape, s[last].begin, s[last].end, s[k].begin, s[k].end);
            const bool same_gap = last == first || alike(tape, s[first].end, s[first + 1].begin, s[last].end, s[k].begin);
            if (same_step && same_gap && s[last].end <= s[k].begin) {
                last = k;
                continue;
            }
        }
        runs.emplace_back(k, k);
    }
    return runs;
}

template <class T>
Layout plan_layout(const Tape<T>& tape, NodeId output, bool collapse) {
    Layout l;
    l.cluster.assign(std::size_t(output) + 1, kNone);
    l.placeholder.assign(std::size_t(output) + 1, kNone);
    std::span<const typename Tape<T>::StepRange> s = tape.steps();
    std::size_t n = 0;
    while (n < s.size() && s[n].end <= output + 1) ++n;  // steps recorded after the output are not drawn
    s = s.first(n);
    auto add_cluster = [&](const typename Tape<T>::StepRange& r, std::string label) {
        for (NodeId id = r.begin; id < r.end; ++id) l.cluster[id] = std::uint32_t(l.cluster_labels.size());
        l.cluster_labels.push_back(std::move(label));
    };
    for (const auto& [first, last] : step_runs(tape, s)) {
        const std::size_t count = last - first + 1;
        const std::string of = " of " + std::to_string(count);
        if (!collapse || count < 3) {
            for (std::size_t k = first; k <= last; ++k) add_cluster(s[k], "step " + std::to_string(k - first + 1) + of);
            continue;
        }
        add_cluster(s[first], "step 1" + of);
        add_cluster(s[last], "step " + std::to_string(count) + of);
        for (NodeId id = s[first].end; id < s[last].begin; ++id) l.placeholder[id] = std::uint32_t(l.placeholders.size());
        l.placeholders.emplace_back(count - 2, std::size_t(s[last].begin - s[first].end));
    }
    return l;
}

template <class T>
double l2_norm(const Tensor<T>& g, std::size_t unset) {
    double s = 0;  // elements [0, unset) hold no gradient yet: zeros (Node::grad_unset)
    for (std::size_t i = unset; i < g.size(); ++i) s += double(g.data()[i]) * double(g.data()[i]);
    return std::sqrt(s);
}

// One node's DOT statement: `n<id> [shape, label, style]`.
template <class T>
std::string node_statement(const Tape<T>& tape, NodeId id, NodeId output, const DotOptions& o) {
    const Node<T>& n = detail::TapeAccess<T>::node(tape, id);
    std::string label, attrs;
    if (n.op != nullptr) {
        label = escaped(detail::TapeAccess<T>::op_name(tape, n)) + " #" + std::to_string(id);
        attrs = "shape=box, style=\"rounded,filled\", fillcolor=\"#f4f4f4\"";
    } else if (n.param != nullptr) {
        label = n.param->name().empty() ? std::string("parameter") : escaped(n.param->name());
        attrs = "shape=ellipse, style=filled, fillcolor=\"#cfe2f3\"";
    } else {
        label = n.requires_grad ? "variable" : "constant";
        attrs = n.requires_grad ? "shape=ellipse, style=filled, fillcolor=\"#d9ead3\"" : "shape=ellipse, color=\"#999999\"";
    }
    if (o.shapes) label += "\\n" + shape_str(n.value.shape());
    char buf[64];
    if (o.profile != nullptr && n.op != nullptr) {
        const double ms = o.profile->node_ms(id);
        if (ms >= 1)
            std::snprintf(buf, sizeof buf, "\\n%.1f ms", ms);
        else
            std::snprintf(buf, sizeof buf, "\\n%.1f µs", ms * 1000);
        label += buf;
    }
    if (o.grad_norms && n.grad_live) {
        std::snprintf(buf, sizeof buf, "\\n|grad| %.3g", l2_norm(n.grad, n.grad_unset));
        label += buf;
    }
    if (id == output) attrs += ", penwidth=2";
    return "n" + std::to_string(id) + " [" + attrs + ", label=\"" + label + "\"];";
}

// The DOT name of position id: its own node, or the one standing for the
// collapsed steps it belongs to.
std::string dot_name(const Layout& l, NodeId id) {
    return l.placeholder[id] == kNone ? "n" + std::to_string(id) : "s" + std::to_string(l.placeholder[id]);
}

template <class T>
std::string dot_text(const Tape<T>& tape, NodeId out, const DotOptions& o) {
    const std::vector<char> needed = ancestors(tape, out);
    const Layout l = plan_layout(tape, out, o.collapse_steps);
    std::ostringstream dot;
    dot << "digraph tape {\n  rankdir=TB;\n  graph [fontname=\"Helvetica\", fontsize=12];\n"
        << "  node [fontname=\"Helvetica\", fontsize=10];\n  edge [color=\"#666666\"];\n";
    if (!o.title.empty()) dot << "  labelloc=t;\n  label=\"" << escaped(o.title) << "\";\n";
    // Step clusters with their nodes, then every other node.
    std::vector<std::vector<NodeId>> members(l.cluster_labels.size());
    for (NodeId id = 0; id <= out; ++id)
        if (needed[id] && l.placeholder[id] == kNone && l.cluster[id] != kNone) members[l.cluster[id]].push_back(id);
    for (std::size_t c = 0; c < members.size(); ++c) {
        if (members[c].empty()) continue;
        dot << "  subgraph cluster_" << c << " {\n    label=\"" << l.cluster_labels[c]
            << "\";\n    style=rounded;\n    color=\"#7f8fbf\";\n";
        for (const NodeId id : members[c]) dot << "    " << node_statement(tape, id, out, o) << '\n';
        dot << "  }\n";
    }
    for (NodeId id = 0; id <= out; ++id)
        if (needed[id] && l.placeholder[id] == kNone && l.cluster[id] == kNone) dot << "  " << node_statement(tape, id, out, o) << '\n';
    for (std::size_t p = 0; p < l.placeholders.size(); ++p)
        dot << "  s" << p << " [shape=box, style=\"dashed,rounded\", label=\"... " << l.placeholders[p].first
            << " more steps like these\\n(" << l.placeholders[p].second << " nodes)\"];\n";
    // Edges from inputs to the ops that read them; a collapsed node is its placeholder.
    std::set<std::pair<std::string, std::string>> edges;
    for (NodeId id = 0; id <= out; ++id) {
        if (!needed[id]) continue;
        for (const NodeId p : detail::TapeAccess<T>::parents(tape, detail::TapeAccess<T>::node(tape, id))) {
            std::pair<std::string, std::string> e{dot_name(l, p), dot_name(l, id)};
            if (e.first != e.second && edges.insert(e).second) dot << "  " << e.first << " -> " << e.second << ";\n";
        }
    }
    dot << "}\n";
    return dot.str();
}

}  // namespace

template <class T>
std::string to_dot(const Tape<T>& tape, Var<T> output, const DotOptions& options) {
    tape.check(output, "to_dot");
    return dot_text(tape, output.id(), options);
}

template std::string to_dot(const Tape<float>&, Var<float>, const DotOptions&);
template std::string to_dot(const Tape<double>&, Var<double>, const DotOptions&);

}  // namespace tapegrad
