// tg::to_dot (autodiff/graph_view.hpp): the nodes and edges of a small graph
// as drawn by hand, step clusters and the collapse of alike steps, the
// annotations, and DOT that Graphviz accepts.
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <regex>

#include "test_util.hpp"

namespace tg = tapegrad;
using Catch::Matchers::Contains;

namespace {

std::size_t count(const std::string& text, const std::string& what) {
    std::size_t n = 0;
    for (std::size_t at = text.find(what); at != std::string::npos; at = text.find(what, at + what.size())) ++n;
    return n;
}

// Runs Graphviz's dot on the text: it must parse and lay it out.
void require_dot_accepts(const std::string& text, const std::string& name) {
    const auto dir = std::filesystem::temp_directory_path() / ("tapegrad_dot_" + std::to_string(::getpid()));
    std::filesystem::create_directories(dir);
    const auto in = dir / (name + ".dot"), out = dir / (name + ".svg");
    std::ofstream(in) << text;
    INFO("dot is Graphviz's (Debian package graphviz, installed by tools/setup.sh)");
    const std::string cmd = "dot -Tsvg '" + in.string() + "' -o '" + out.string() + "' 2>&1";
    REQUIRE(std::system(cmd.c_str()) == 0);
    REQUIRE(std::filesystem::file_size(out) > 0);
    std::filesystem::remove_all(dir);
}

}  // namespace

TEST_CASE("to_dot draws every value the output depends on, and only those, with one edge per read", "[graph]") {
    tg::Tape<double> t;
    tg::Parameter<double> w(tgtest::smooth({4, 5}), "encoder.weight");
    const auto x = t.variable(tgtest::smooth({3, 4}));          // #0
    const auto wl = t.param(w);                                  // #1
    const auto unused = tg::exp(x);                              // #2: not an ancestor of the loss
    const auto h = tg::tanh(tg::matmul(x, wl));                  // #3 matmul, #4 tanh
    const auto loss = tg::sum(h * h);                            // #5 mul (h twice), #6 sum
    (void)unused;
    const std::string dot = tg::to_dot(t, loss);
    INFO(dot);
    CHECK(dot.rfind("digraph tape {", 0) == 0);
    CHECK_THAT(dot, Contains("n0 [shape=ellipse, style=filled, fillcolor=\"#d9ead3\", label=\"variable\\n(3, 4)\"];"));
    CHECK_THAT(dot, Contains("n1 [shape=ellipse, style=filled, fillcolor=\"#cfe2f3\", label=\"encoder.weight\\n(4, 5)\"];"));
    CHECK_THAT(dot, Contains("label=\"matmul #3\\n(3, 5)\""));
    CHECK_THAT(dot, Contains("label=\"sum #6\\n()\""));
    CHECK_THAT(dot, Contains("penwidth=2, label=\"sum #6"));  // the output stands out
    CHECK(count(dot, "n2 ") == 0);                            // exp is not drawn
    CHECK(count(dot, " -> ") == 5);                           // 0→3, 1→3, 3→4, 4→5 (once), 5→6
    for (const char* e : {"n0 -> n3;", "n1 -> n3;", "n3 -> n4;", "n4 -> n5;", "n5 -> n6;"}) CHECK_THAT(dot, Contains(e));
    require_dot_accepts(dot, "small");
}

TEST_CASE("to_dot: a recurrent layer's steps are clusters; a run of alike steps collapses to first, last and one node", "[graph]") {
    tg::Generator gen(2);
    tg::LSTM<float> lstm({.input_size = 3, .hidden_size = 4, .num_layers = 2}, gen);
    tg::Tape<float> t;
    auto [y, state] = lstm(t.constant(tg::randn<float>({10, 2, 3}, gen)));
    const auto loss = tg::mean(y);
    REQUIRE(t.steps().size() == 20);  // 10 steps in each of 2 layers
    const std::string folded = tg::to_dot(t, loss);
    CHECK(count(folded, "subgraph cluster_") == 4);                    // first and last step of each layer
    CHECK(count(folded, "label=\"step 1 of 10\"") == 2);
    CHECK(count(folded, "label=\"step 10 of 10\"") == 2);
    CHECK(count(folded, "... 8 more steps like these") == 2);
    const std::string all = tg::to_dot(t, loss, {.collapse_steps = false});
    CHECK(count(all, "subgraph cluster_") == 20);
    CHECK(count(all, "label=\"step 7 of 10\"") == 2);
    CHECK(count(folded, "[shape=") < count(all, "[shape=") / 3);        // far fewer nodes drawn
    require_dot_accepts(folded, "lstm");
    tg::LSTM<float> bi({.input_size = 3, .hidden_size = 4, .bidirectional = true}, gen);
    t.clear();
    auto [yb, sb] = bi(t.constant(tg::randn<float>({5, 2, 3}, gen)));
    const std::string two_ways = tg::to_dot(t, tg::mean(yb));
    CHECK(count(two_ways, "... 3 more steps like these") == 2);          // one run per direction
}

TEST_CASE("to_dot annotates profile times and gradient norms, escapes names, and refuses stale handles", "[graph]") {
    tg::Tape<double> t;
    tg::Profiler prof(t);
    tg::Parameter<double> w(tgtest::smooth({2, 2}), "w");
    const auto y = tg::custom_op(
        "quote\"op", {t.param(w)}, [](const auto& in) { return tg::Tensor<double>(in[0] * 2.0); },
        [](const auto&, const auto&, const auto& g) { return std::vector<tg::Tensor<double>>{tg::Tensor<double>(g * 2.0)}; });
    const auto loss = tg::sum(y);
    t.backward(loss);
    const std::string dot = tg::to_dot(t, loss, {.profile = &prof, .grad_norms = true, .title = "a \"titled\" graph"});
    INFO(dot);
    CHECK_THAT(dot, Contains("label=\"quote\\\"op #1"));
    CHECK_THAT(dot, Contains("label=\"a \\\"titled\\\" graph\";"));
    const std::regex time(R"(\d\.\d (µs|ms)\")");
    const auto times = std::distance(std::sregex_iterator(dot.begin(), dot.end(), time), std::sregex_iterator());
    CHECK(times == 2);  // on the two ops, not on the leaf
    // d loss / d w = 2 in each of 4 elements: norm 4.
    CHECK_THAT(dot, Contains("label=\"w\\n(2, 2)\\n|grad| 4\""));
    require_dot_accepts(dot, "annotated");
    t.clear();
    CHECK_THROWS_AS(tg::to_dot(t, loss), tg::StaleVarError);
}
