// The checks the op table drives (op_table.hpp): every function of ops.hpp
// has a row; every row's forward matches its reference in double, passes
// gradcheck in double and the tape audit, and agrees in float and double,
// forward and backward. (The fifth check, the backward_reads contract, runs
// the same rows in test_contracts.cpp.)

#include <fstream>
#include <regex>
#include <set>
#include <sstream>

#include "op_table.hpp"
#include "test_util.hpp"

namespace tg = tapegrad;
using optable::OpCase;
using optable::Tens;

namespace {

bool is_constant(const OpCase& c, std::size_t k) { return std::find(c.constants.begin(), c.constants.end(), k) != c.constants.end(); }

template <class T>
tg::Var<T> call(const OpCase& c, const optable::In<T>& x) {
    if constexpr (std::is_same_v<T, double>)
        return c.record(x);
    else
        return c.record_float(x);
}

// Records the row on `t`: its gradient inputs as variables (returned in
// `vars`), its constants as constants.
template <class T>
tg::Var<T> record(tg::Tape<T>& t, const OpCase& c, std::vector<tg::Var<T>>& vars) {
    optable::In<T> x;
    for (std::size_t k = 0; k < c.inputs.size(); ++k) {
        const tg::Tensor<T> v = tgtest::as<T>(c.inputs[k]);
        x.push_back(is_constant(c, k) ? t.constant(v) : t.variable(v));
        if (!is_constant(c, k)) vars.push_back(x.back());
    }
    return call<T>(c, x);
}

// |a − e| ≤ atol + rtol·|e|, with NaN matching NaN and an infinity itself.
bool close(double a, double e, double rtol, double atol) {
    if (std::isnan(e)) return std::isnan(a);
    if (std::isinf(e)) return a == e;
    return std::abs(a - e) <= atol + rtol * std::abs(e);
}

template <class T>
void require_matches(const tg::Tensor<T>& actual, const Tens& expected, double rtol, double atol) {
    INFO("actual:   " << tgtest::describe(actual));
    INFO("expected: " << tgtest::describe(expected));
    REQUIRE(std::vector<std::size_t>(actual.shape().begin(), actual.shape().end()) ==
            std::vector<std::size_t>(expected.shape().begin(), expected.shape().end()));
    for (std::size_t i = 0; i < actual.size(); ++i) {
        INFO("element " << i);
        REQUIRE(close(double(actual.data()[i]), expected.data()[i], rtol, atol));
    }
}

double max_abs(const Tens& x) {
    double m = 0;
    for (std::size_t i = 0; i < x.size(); ++i)
        if (std::isfinite(x.data()[i])) m = std::max(m, std::abs(x.data()[i]));
    return m;
}

/// The public functions ops.hpp declares (operators aside), read from the
/// source so that a new op without a row fails the coverage test.
std::set<std::string> functions_in_ops_hpp() {
    std::ifstream in(TAPEGRAD_FIXTURES "/../../autodiff/ops.hpp");
    REQUIRE(in);
    std::stringstream text;
    text << in.rdbuf();
    const std::string src = text.str();
    const std::regex decl(R"(template <class T> (?:Var<T>|std::vector<Var<T>>) (\w+)\()");
    std::set<std::string> names;
    for (auto it = std::sregex_iterator(src.begin(), src.end(), decl); it != std::sregex_iterator(); ++it)
        names.insert((*it)[1].str());
    return names;
}

/// The OpDef names the library's op files define as `OpDef<T> def{"name", ...}`.
std::set<std::string> opdefs_in_sources() {
    std::set<std::string> names;
    const std::regex def(R"re(OpDef<T> def\{"(\w+)")re");
    for (const char* file : {"ops_elementwise", "ops_linalg", "ops_shape", "ops_reduce", "ops_compare", "ops_nn"}) {
        std::ifstream in(std::string(TAPEGRAD_FIXTURES "/../../autodiff/") + file + ".cpp");
        REQUIRE(in);
        std::stringstream text;
        text << in.rdbuf();
        const std::string src = text.str();
        for (auto it = std::sregex_iterator(src.begin(), src.end(), def); it != std::sregex_iterator(); ++it) names.insert((*it)[1].str());
    }
    return names;
}

}  // namespace

TEST_CASE("every OpDef of the op files is recorded by some row of the op table", "[optable]") {
    const std::set<std::string> defined = opdefs_in_sources();
    REQUIRE(defined.size() >= 35);  // the parse found them
    std::set<std::string> recorded;
    for (const OpCase& c : optable::all_cases()) recorded.insert(c.op);
    for (const std::string& op : defined) {
        INFO("autodiff defines OpDef '" << op << "' but no row of tests/op_table.cpp records it");
        CHECK(recorded.count(op) == 1);
    }
}

TEST_CASE("every op of ops.hpp has a row in the op table", "[optable]") {
    const std::set<std::string> declared = functions_in_ops_hpp();
    REQUIRE(declared.size() >= 40);  // the parse found the declarations (ops.hpp has 50)
    std::set<std::string> covered;
    for (const OpCase& c : optable::all_cases()) covered.insert(c.fn);
    for (const std::string& fn : declared) {
        INFO("ops.hpp declares '" << fn << "' but tests/op_table.cpp has no row for it");
        CHECK(covered.count(fn) == 1);
    }
    for (const std::string& fn : covered) {
        INFO("tests/op_table.cpp has a row for '" << fn << "', which ops.hpp does not declare");
        CHECK(declared.count(fn) == 1);
    }
}

TEST_CASE("op table: every row's forward matches its reference in double", "[optable]") {
    for (const OpCase& c : optable::all_cases()) {
        INFO(optable::describe(c));
        tg::Tape<double> t;
        std::vector<tg::Var<double>> vars;
        const tg::Var<double> y = record(t, c, vars);
        REQUIRE(std::string(t.op_name(y)) == c.op);
        require_matches(y.value(), c.reference(c.inputs), 1e-12, 1e-12);
    }
}

TEST_CASE("op table: every differentiable row passes gradcheck in double", "[optable]") {
    std::size_t checked = 0;
    for (const OpCase& c : optable::all_cases()) {
        INFO(optable::describe(c));
        tg::Tape<double> probe;
        std::vector<tg::Var<double>> probe_vars;
        if (!record(probe, c, probe_vars).requires_grad()) continue;  // comparisons: no gradient to check
        std::vector<Tens> variables;
        for (std::size_t k = 0; k < c.inputs.size(); ++k)
            if (!is_constant(c, k)) variables.push_back(c.inputs[k]);
        const auto fn = [&](tg::Tape<double>& t, const std::vector<tg::Var<double>>& vars) {
            optable::In<double> x;
            for (std::size_t k = 0, v = 0; k < c.inputs.size(); ++k) x.push_back(is_constant(c, k) ? t.constant(c.inputs[k]) : vars[v++]);
            return c.record(x);
        };
        const tg::GradcheckResult r = tg::gradcheck(fn, variables);
        INFO(r.report());
        CHECK(r.ok);
        ++checked;
    }
    CHECK(checked >= 100);
}

TEST_CASE("op table: the tape audit passes every differentiable row", "[optable]") {
    for (const OpCase& c : optable::all_cases()) {
        INFO(optable::describe(c));
        tg::Tape<double> t;
        std::vector<tg::Var<double>> vars;
        const tg::Var<double> y = record(t, c, vars);
        if (!y.requires_grad()) continue;
        const tg::AuditResult r = tg::audit(t, y);
        INFO(r.report());
        CHECK(r.ok);
        CHECK(r.nodes_checked >= 1);
    }
}

TEST_CASE("op table: float and double agree on every row, forward and backward", "[optable]") {
    for (const OpCase& c : optable::all_cases()) {
        INFO(optable::describe(c));
        tg::Tape<double> td;
        tg::Tape<float> tf;
        std::vector<tg::Var<double>> vd;
        std::vector<tg::Var<float>> vf;
        const tg::Var<double> yd = record(td, c, vd);
        const tg::Var<float> yf = record(tf, c, vf);
        const Tens out = yd.value();
        require_matches(yf.value(), out, 1e-5, 1e-6 * (1 + max_abs(out)));
        if (!yd.requires_grad()) continue;
        const Tens seed = tgtest::smooth(tg::Shape(out.shape().begin(), out.shape().end()), 0.5, 0.25);
        td.backward(yd, seed);
        tf.backward(yf, tgtest::as<float>(seed));
        for (std::size_t k = 0; k < vd.size(); ++k) {
            INFO("gradient of variable " << k);
            const Tens gd = vd[k].grad();
            require_matches(vf[k].grad(), gd, 1e-4, 1e-5 * (1 + max_abs(gd)));
        }
    }
}
