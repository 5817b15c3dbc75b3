// The character-level language model of examples/charlm: the corpus split
// rule, the text properties and correlations of the unit analysis (values
// worked out by hand in the comments), exact resume, and sampling.
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <sstream>

#include <nlohmann/json.hpp>

#include "charlm/checkpoint.hpp"
#include "charlm/corpus.hpp"
#include "charlm/sample.hpp"
#include "charlm/train.hpp"
#include "charlm/units.hpp"
#include "test_util.hpp"

namespace tg = tapegrad;
namespace cl = tapegrad::charlm;
namespace fs = std::filesystem;

namespace {

fs::path fresh_dir(const std::string& name) {
    const fs::path dir = fs::temp_directory_path() / ("tapegrad_charlm_" + name + "_" + std::to_string(::getpid()));
    fs::remove_all(dir);
    fs::create_directories(dir);
    return dir;
}

// Where the runs' header and final lines go (tested by the smoke test instead).
std::ostream& quiet_log() {
    static std::ostringstream sink;
    sink.str("");
    return sink;
}

void write(const fs::path& p, const std::string& text) { std::ofstream(p, std::ios::binary) << text; }

const std::string kTiny = std::string(TAPEGRAD_FIXTURES) + "/charlm/tiny.txt";

cl::Options tiny_options(const fs::path& out) {
    cl::Options o;
    o.data = kTiny;
    o.model.embed = 4;
    o.model.hidden = 8;
    o.model.layers = 2;
    o.model.dropout = 0.3;  // masks drawn per step: a resumed run must replay them
    o.batch = 4;
    o.bptt = 16;
    o.steps = 6;
    o.eval_every = 3;
    o.checkpoint_every = 3;
    o.schedule = "constant";
    o.out = out.string();
    o.quiet = true;
    return o;
}

}  // namespace

TEST_CASE("charlm: the fortunes are split by record, k mod 20 = 18 validation, 19 test", "[charlm]") {
    const fs::path dir = fresh_dir("fortunes");
    std::string a;
    for (int k = 0; k < 20; ++k) a += "a" + std::to_string(k) + "\n" + (k < 19 ? "%\n" : "");
    write(dir / "a", a);
    write(dir / "b", "b0\nline two\n%\nb1");  // records 20, 21; the last without a newline
    write(dir / "a.dat", "index");
    write(dir / "ascii-art", "picture\n%\n");
    fs::create_symlink(dir / "a", dir / "a.u8");
    CHECK(cl::fortune_files(dir.string()) == std::vector<std::string>{(dir / "a").string(), (dir / "b").string()});
    const cl::Corpus c = cl::load_fortunes(dir.string());
    std::string train;
    for (int k = 0; k < 18; ++k) train += "a" + std::to_string(k) + "\n\n";
    train += "b0\nline two\n\nb1\n\n";
    CHECK(c.valid == "a18\n\n");
    CHECK(c.test == "a19\n\n");
    CHECK(c.train == train);
    fs::remove_all(dir);
    const fs::path empty = fresh_dir("empty");
    CHECK_THROWS_AS(cl::load_fortunes(empty.string()), tg::DataError);
    CHECK_THROWS_WITH(cl::load_fortunes(empty.string()), Catch::Matchers::Contains("'fortunes' package"));
    fs::remove_all(empty);
}

TEST_CASE("charlm: a text file is split 90/5/5 after line breaks", "[charlm]") {
    const fs::path dir = fresh_dir("text");
    std::string text;
    for (int i = 0; i < 40; ++i) text.append(99, char('a' + i % 26)).append(1, '\n');  // 4000 bytes
    write(dir / "t.txt", text);
    // 90 %: byte 3600, the next line break is at 3699 -> train 3700 bytes;
    // 95 %: byte 3800, the line break at 3899 -> validation 200, test 100.
    const cl::Corpus c = cl::load_text((dir / "t.txt").string());
    CHECK(c.train.size() == 3700);
    CHECK(c.valid.size() == 200);
    CHECK(c.test.size() == 100);
    CHECK(c.train + c.valid + c.test == text);
    write(dir / "short.txt", "too short\n");
    CHECK_THROWS_AS(cl::load_text((dir / "short.txt").string()), tg::DataError);
    CHECK_THROWS_WITH(cl::load_text((dir / "short.txt").string()), Catch::Matchers::Contains("short.txt") && Catch::Matchers::Contains("holds 10 bytes"));
    fs::remove_all(dir);
}

TEST_CASE("charlm: text properties after each character", "[charlm]") {
    // s a y ␠ " h ( i ) " \n \n ( "
    const std::vector<std::string> chars{"s", "a", "y", " ", "\"", "h", "(", "i", ")", "\"", "\n", "\n", "(", "\""};
    const auto p = cl::text_properties(chars);
    REQUIRE(p.size() == 4);
    CHECK(p[0].values == std::vector<double>{0, 0, 0, 0, 1, 1, 1, 1, 1, 0, 0, 0, 0, 1});
    CHECK(p[1].values == std::vector<double>{0, 0, 0, 0, 0, 0, 1, 1, 0, 0, 0, 0, 1, 1});
    CHECK(p[2].values == std::vector<double>{1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 0, 0, 1, 2});
    CHECK(p[3].values == std::vector<double>(14, 0.0));
    // a - - ␠ T \n b: an attribution from the second dash to the line's end.
    const auto r = cl::text_properties({"a", "-", "-", " ", "T", "\n", "b"});
    CHECK(r[3].values == std::vector<double>{0, 0, 1, 1, 1, 0, 0});
    // An unbalanced quote does not leak past a blank line.
    const auto q = cl::text_properties({"\"", "x", "\n", "\n", "y"});
    CHECK(q[0].values == std::vector<double>{1, 1, 1, 0, 0});
}

TEST_CASE("charlm: correlation and the best unit per property", "[charlm]") {
    // Unit 0 = 1, 2, 3, 4 against 1, 0, 1, 0: deviations (−1.5, −.5, .5, 1.5)
    // and (.5, −.5, .5, −.5): cov −1, var 5 and 1, r = −1/√5.
    tg::Tensor<float> a = tg::zeros<float>({4, 3});
    for (std::size_t t = 0; t < 4; ++t) {
        a(t, 0) = float(t + 1);
        a(t, 1) = 7;                      // constant: r = 0
        a(t, 2) = t % 2 == 0 ? 1.f : 0.f;  // the property itself: r = 1
    }
    const std::vector<double> v{1, 0, 1, 0};
    CHECK(cl::correlation(a, 0, v) == Approx(-1 / std::sqrt(5.0)).epsilon(1e-12));
    CHECK(cl::correlation(a, 1, v) == 0);
    CHECK(cl::correlation(a, 2, v) == Approx(1.0).epsilon(1e-12));
    const auto best = cl::best_units(a, {{"p", "a property", v}, {"flat", "constant", {3, 3, 3, 3}}});
    REQUIRE(best.size() == 1);  // the constant property is left out
    CHECK(best[0].unit == 2);
    CHECK_THROWS_AS(cl::correlation(a, 3, v), tg::ShapeError);
    CHECK_THROWS_AS(cl::correlation(a, 0, {1, 2}), tg::ShapeError);
}

TEST_CASE("charlm: a resumed run ends exactly where the uninterrupted run ends", "[charlm][resume]") {
    const fs::path whole = fresh_dir("whole"), split = fresh_dir("split");
    const cl::Result full = cl::train(tiny_options(whole), quiet_log());
    cl::Options first = tiny_options(split);
    first.steps = 3;  // a constant lr: the run may go on with more steps
    cl::train(first, quiet_log());
    cl::Options rest = tiny_options(split);
    rest.resume = true;
    const cl::Result resumed = cl::train(rest, quiet_log());
    CHECK(resumed.steps == 6);
    CHECK(resumed.test_bits == full.test_bits);  // bit for bit
    CHECK(resumed.valid_bits == full.valid_bits);
    const auto a = tg::load_npz<float>(cl::latest_checkpoint(whole.string()) + "/model.npz");
    const auto b = tg::load_npz<float>(cl::latest_checkpoint(split.string()) + "/model.npz");
    REQUIRE(a.size() == b.size());
    for (const auto& [name, value] : a) {
        INFO(name);
        CHECK((value == b.at(name)));
    }
    cl::Options other = tiny_options(split);
    other.resume = true;
    other.model.hidden = 9;
    CHECK_THROWS_WITH(cl::train(other, quiet_log()), Catch::Matchers::Contains("hidden = 8, this run asks for 9"));
    fs::remove_all(whole);
    fs::remove_all(split);
}

TEST_CASE("charlm: a doctored state.json is refused naming the field", "[charlm][resume]") {
    const fs::path dir = fresh_dir("doctored");
    cl::Options o = tiny_options(dir);
    o.steps = 3;
    cl::train(o, quiet_log());
    const std::string state = cl::latest_checkpoint(dir.string()) + "/state.json";
    nlohmann::json j = nlohmann::json::parse(tg::read_text_file(state));
    j["step"] = -5;
    write(state, j.dump());
    o.resume = true;
    CHECK_THROWS_WITH(cl::train(o, quiet_log()), Catch::Matchers::Contains("field 'step' must be an integer"));
    write(cl::latest_checkpoint(dir.string()) + "/../latest", "../../etc\n");
    CHECK_THROWS_WITH(cl::train(o, quiet_log()), Catch::Matchers::Contains("does not name a checkpoint"));
    fs::remove_all(dir);
}

TEST_CASE("charlm: sampling is seeded, greedy at temperature 0, and refuses unknown characters", "[charlm]") {
    const fs::path dir = fresh_dir("sample");
    cl::Options o = tiny_options(dir);
    o.steps = 3;
    cl::train(o, quiet_log());
    cl::Trained t = cl::load_trained(dir.string());
    tg::Generator g1(5), g2(5), g3(6);
    const std::string s1 = cl::sample(*t.model, t.vocab, "The ", 40, 1.0, g1);
    CHECK(t.vocab.encode(s1).size() == 40);
    CHECK(s1 == cl::sample(*t.model, t.vocab, "The ", 40, 1.0, g2));
    CHECK(cl::sample(*t.model, t.vocab, "The ", 20, 0.0, g1) == cl::sample(*t.model, t.vocab, "The ", 20, 0.0, g3));
    CHECK_THROWS_AS(cl::sample(*t.model, t.vocab, "The Z", 5, 1.0, g1), tg::ArgumentError);
    CHECK_THROWS_WITH(cl::sample(*t.model, t.vocab, "The Z", 5, 1.0, g1), Catch::Matchers::Contains("'Z' at byte offset 4"));
    fs::remove_all(dir);
}

TEST_CASE("charlm: options out of range are refused naming the flag", "[charlm]") {
    cl::Options o;
    o.steps = -1;
    CHECK_THROWS_WITH(cl::validate(o), Catch::Matchers::Contains("--steps must not be negative, got -1"));
    o = {};
    o.model.cell = "transformer";
    CHECK_THROWS_WITH(cl::validate(o), Catch::Matchers::Contains("--cell must be one of cifg, gru,") &&
                                           Catch::Matchers::Contains("got 'transformer'"));
    o = {};
    o.bptt = 4096;
    o.batch = 4096;
    CHECK_THROWS_WITH(cl::validate(o), Catch::Matchers::Contains("more than 2^28"));
    o = {};
    o.resume = true;
    CHECK_THROWS_WITH(cl::validate(o), Catch::Matchers::Contains("--resume needs --out"));
    CHECK_NOTHROW(cl::validate(cl::Options{}));
}
