// The data helpers (io/sequences, text, batching, minibatch, csv) and the
// recurrent-state helpers of truncated BPTT (layers/state): expected values
// are worked out by hand in the comments; the shuffle's permutation for seed 1
// was derived step by step (draws below(10..2) = 8, 6, 2, 5, 0, 4, 0, 0, 0).

#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <limits>
#include <numeric>

#include <tapegrad/optim/dist/shard.hpp>

#include "test_util.hpp"

namespace tg = tapegrad;
using Catch::Matchers::Contains;
using tgtest::require_close;

namespace {

using Ids = std::vector<std::int64_t>;

std::vector<std::size_t> shape_of(const tg::Index& t) { return {t.shape().begin(), t.shape().end()}; }
template <class T>
std::vector<std::size_t> shape_of(const tg::Tensor<T>& t) { return {t.shape().begin(), t.shape().end()}; }
Ids elements(const tg::Index& t) { return Ids(t.data(), t.data() + t.size()); }

/// A file in a fresh temporary folder, removed with the object.
class TempFile {
public:
    TempFile(const std::string& name, const std::string& content) {
        dir_ = std::filesystem::temp_directory_path() /
               ("tapegrad_data_" + std::to_string(::getpid()) + "_" + std::to_string(counter()++));
        std::filesystem::create_directories(dir_);
        path_ = (dir_ / name).string();
        std::ofstream(path_, std::ios::binary) << content;
    }
    ~TempFile() { std::filesystem::remove_all(dir_); }
    const std::string& path() const { return path_; }
    std::string dir() const { return dir_.string(); }

private:
    static int& counter() {
        static int n = 0;
        return n;
    }
    std::filesystem::path dir_;
    std::string path_;
};

std::string file_text(const std::string& path) {
    std::ifstream in(path, std::ios::binary);
    return std::string(std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>());
}

}  // namespace

// ---- pad_sequences ------------------------------------------------------------------------

TEST_CASE("pad_sequences: token sequences, time-major and batch-first, with a length-0 sequence", "[data_io]") {
    const std::vector<Ids> seqs{{5, 6, 7}, {8}, {}};
    const tg::PaddedTokens p = tg::pad_sequences(seqs);
    // T_max = 3, B = 3: column b is sequence b then zeros.
    REQUIRE(shape_of(p.tokens) == std::vector<std::size_t>{3, 3});
    REQUIRE(elements(p.tokens) == Ids{5, 8, 0, 6, 0, 0, 7, 0, 0});
    REQUIRE(p.lengths == Ids{3, 1, 0});
    const tg::PaddedTokens q = tg::pad_sequences(seqs, -1, /*batch_first=*/true);
    REQUIRE(shape_of(q.tokens) == std::vector<std::size_t>{3, 3});
    REQUIRE(elements(q.tokens) == Ids{5, 6, 7, 8, -1, -1, -1, -1, -1});
    REQUIRE(q.lengths == Ids{3, 1, 0});
    // Only empty sequences: T_max = 0.
    const tg::PaddedTokens e = tg::pad_sequences(std::vector<Ids>{{}, {}});
    REQUIRE(shape_of(e.tokens) == std::vector<std::size_t>{0, 2});
    REQUIRE(e.lengths == Ids{0, 0});
}

TEMPLATE_TEST_CASE("pad_sequences: feature sequences into (T_max, B, F)", "[data_io]", float, double) {
    const std::vector<tg::Tensor<TestType>> seqs{tgtest::as<TestType>(tgtest::m2({{1, 2}, {3, 4}})),
                                                tg::Tensor<TestType>::from_shape({0, 2}),
                                                tgtest::as<TestType>(tgtest::m2({{5, 6}}))};
    const tg::PaddedSequences<TestType> p = tg::pad_sequences(seqs, 9.5);
    // t = 0: (1, 2), pad, (5, 6); t = 1: (3, 4), pad, pad.
    require_close(p.values, tg::Tensor<double>{{{1, 2}, {9.5, 9.5}, {5, 6}}, {{3, 4}, {9.5, 9.5}, {9.5, 9.5}}});
    REQUIRE(p.lengths == Ids{2, 0, 1});
    const tg::PaddedSequences<TestType> q = tg::pad_sequences(seqs, 0, /*batch_first=*/true);
    require_close(q.values, tg::Tensor<double>{{{1, 2}, {3, 4}}, {{0, 0}, {0, 0}}, {{5, 6}, {0, 0}}});
}

TEST_CASE("pad_sequences: errors name the function and the sequence", "[data_io]") {
    REQUIRE_THROWS_AS(tg::pad_sequences(std::vector<Ids>{}), tg::ArgumentError);
    REQUIRE_THROWS_WITH(tg::pad_sequences(std::vector<Ids>{}), Contains("pad_sequences: no sequences"));
    REQUIRE_THROWS_WITH(tg::pad_sequences(std::vector<tg::Tensor<float>>{}), Contains("pad_sequences: no sequences"));
    const std::vector<tg::Tensor<double>> mixed{tgtest::m2({{1, 2}}), tgtest::m2({{1, 2, 3}})};
    REQUIRE_THROWS_AS(tg::pad_sequences(mixed), tg::ShapeError);
    REQUIRE_THROWS_WITH(tg::pad_sequences(mixed),
                        "pad_sequences: sequence 1 has shape (1, 3) but sequence 0 has (1, 2) (feature sizes differ)");
    const std::vector<tg::Tensor<double>> flat{tgtest::m2({{1.0}}), tg::Tensor<double>{1.0, 2.0}};
    REQUIRE_THROWS_WITH(tg::pad_sequences(flat), Contains("sequence 1 has shape (2,), expected a 2-D (T, F) tensor"));
}

// ---- text ---------------------------------------------------------------------------------

TEST_CASE("read_text_file: the file's bytes; missing files and folders name the file", "[data_io]") {
    const std::string bytes = std::string("ab\n\xC3\xA9\0z", 7);
    TempFile f("t.txt", bytes);
    REQUIRE(tg::read_text_file(f.path()) == bytes);
    TempFile empty("e.txt", "");
    REQUIRE(tg::read_text_file(empty.path()).empty());
    REQUIRE_THROWS_AS(tg::read_text_file(f.dir() + "/missing.txt"), tg::DataError);
    REQUIRE_THROWS_WITH(tg::read_text_file(f.dir() + "/missing.txt"),
                        Contains("read_text_file: '" + f.dir() + "/missing.txt': cannot open"));
    REQUIRE_THROWS_WITH(tg::read_text_file(f.dir()), Contains("'" + f.dir() + "': is not a regular file"));
}

TEST_CASE("Vocabulary: characters get sorted ids after the specials; encode, decode, unknown", "[data_io]") {
    const tg::Vocabulary plain = tg::Vocabulary::from_text("hello");
    // distinct characters sorted: e, h, l, o
    REQUIRE(plain.tokens() == std::vector<std::string>{"e", "h", "l", "o"});
    REQUIRE(plain.encode("hello") == Ids{1, 0, 2, 2, 3});
    REQUIRE(plain.decode(Ids{1, 0, 2, 2, 3}) == "hello");
    REQUIRE(plain.encode("") == Ids{});
    REQUIRE_THROWS_AS(plain.encode("help"), tg::ArgumentError);
    REQUIRE_THROWS_WITH(plain.encode("help"), "Vocabulary::encode: character 'p' at byte offset 3 is not in the "
                                              "vocabulary, which has no unknown token (set VocabularyOptions::unknown)");
    const tg::Vocabulary v = tg::Vocabulary::from_text("hello", {.specials = {"<pad>"}, .unknown = "<unk>"});
    // <pad> = 0, <unk> = 1 (appended to the specials), then e = 2, h = 3, l = 4, o = 5
    REQUIRE(v.size() == 6);
    REQUIRE(v.num_specials() == 2);
    REQUIRE(v.unknown_id() == 1);
    REQUIRE(v.encode("hex!") == Ids{3, 2, 1, 1});
    const tg::Index index = v.encode_index("oh");
    REQUIRE(shape_of(index) == std::vector<std::size_t>{2});
    REQUIRE(elements(index) == Ids{5, 3});
    REQUIRE(v.decode(index) == "oh");
    REQUIRE(v.decode(Ids{0, 3, 1}) == "<pad>h<unk>");
    REQUIRE(v.id("l") == 4);
    REQUIRE(v.token(5) == "o");
    REQUIRE(v.find("z") == std::nullopt);
    REQUIRE(v.contains("<pad>"));
    REQUIRE_THROWS_WITH(v.id("z"), "Vocabulary::id: 'z' is not in the vocabulary");
    REQUIRE_THROWS_WITH(v.token(6), "Vocabulary::token: id 6 is outside [0, 6)");
    REQUIRE_THROWS_WITH(v.token(-1), "Vocabulary::token: id -1 is outside [0, 6)");
    REQUIRE_THROWS_WITH(v.decode(Ids{0, 7}), "Vocabulary::decode: id 7 at position 1 is outside [0, 6)");
}

TEST_CASE("Vocabulary: a character is a UTF-8 code point; invalid UTF-8 names its byte offset", "[data_io]") {
    const std::string text = "h\xC3\xA9\xC3\xA9\xE2\x82\xAC";  // h, é, é, €
    const tg::Vocabulary v = tg::Vocabulary::from_text(text);
    // sorted by bytes: 'h' (68) < "é" (C3 A9) < "€" (E2 82 AC)
    REQUIRE(v.tokens() == std::vector<std::string>{"h", "\xC3\xA9", "\xE2\x82\xAC"});
    REQUIRE(v.encode(text) == Ids{0, 1, 1, 2});
    REQUIRE(v.decode(v.encode(text)) == text);
    REQUIRE_THROWS_WITH(tg::Vocabulary::from_text("a\xFF" "b"),
                        "Vocabulary::from_text: invalid UTF-8 at byte offset 1 (byte 0xFF)");
    REQUIRE_THROWS_WITH(v.encode("h\xC3"), "Vocabulary::encode: invalid UTF-8 at byte offset 1 (byte 0xC3)");  // truncated
    REQUIRE_THROWS_WITH(v.encode("\xC0\x80"), Contains("byte offset 0 (byte 0xC0)"));                        // overlong NUL
    REQUIRE_THROWS_WITH(v.encode("hh\xED\xA0\x80"), Contains("byte offset 2 (byte 0xED)"));                 // surrogate
    REQUIRE_THROWS_WITH(v.encode("\xF4\x90\x80\x80"), Contains("byte offset 0 (byte 0xF4)"));               // > U+10FFFF
    REQUIRE_THROWS_WITH(v.encode("\x82"), Contains("byte offset 0 (byte 0x82)"));                           // stray continuation
}

TEST_CASE("Vocabulary: words split on ASCII whitespace", "[data_io]") {
    const tg::Vocabulary v = tg::Vocabulary::from_text("the cat\nthe  dog\t", {.level = tg::TokenLevel::words});
    REQUIRE(v.level() == tg::TokenLevel::words);
    REQUIRE(v.tokens() == std::vector<std::string>{"cat", "dog", "the"});
    REQUIRE(v.encode("  the cat\r\nthe dog") == Ids{2, 0, 2, 1});
    REQUIRE(v.decode(Ids{2, 0, 2, 1}) == "the cat the dog");
    REQUIRE_THROWS_WITH(v.encode("the bird"), Contains("Vocabulary::encode: word 'bird' at byte offset 4 is not in"));
    // A word equal to a special maps to it (PTB's "<unk>" in the text).
    const tg::Vocabulary u = tg::Vocabulary::from_text("a <unk> b", {.level = tg::TokenLevel::words, .unknown = "<unk>"});
    REQUIRE(u.tokens() == std::vector<std::string>{"<unk>", "a", "b"});
    REQUIRE(u.encode("b <unk> c") == Ids{2, 0, 0});
}

TEST_CASE("Vocabulary: bad specials and an empty vocabulary are refused", "[data_io]") {
    REQUIRE_THROWS_WITH(tg::Vocabulary::from_text("ab", {.specials = {""}}), "Vocabulary: special 0 is empty");
    REQUIRE_THROWS_WITH(tg::Vocabulary::from_text("ab", {.specials = {"<s>", "<s>"}}),
                        "Vocabulary: token '<s>' appears twice (ids 0 and 1)");
    REQUIRE_THROWS_AS(tg::Vocabulary::from_text(""), tg::ArgumentError);
    REQUIRE_THROWS_WITH(tg::Vocabulary::from_text("  \n", {.level = tg::TokenLevel::words}), Contains("no tokens"));
    REQUIRE_THROWS_WITH(tg::Vocabulary(tg::TokenLevel::characters, {"ab"}, 0), Contains("token 0 'ab' is not a single character"));
    REQUIRE_THROWS_WITH(tg::Vocabulary(tg::TokenLevel::words, {"a b"}, 0), Contains("token 0 'a b' contains whitespace"));
    REQUIRE_THROWS_WITH(tg::Vocabulary(tg::TokenLevel::words, {"a"}, 0, 1), "Vocabulary: unknown id 1 is outside [0, 1)");
}

TEST_CASE("Vocabulary: save writes the documented format and load restores it", "[data_io]") {
    const tg::Vocabulary v = tg::Vocabulary::from_text("a\\\n\r", {.specials = {"<pad>"}, .unknown = "<unk>"});
    // ids: <pad> 0, <unk> 1, then "\n" (0A), "\r" (0D), "\\" (5C), "a" (61)
    TempFile f("v.txt", "");
    v.save(f.path());
    REQUIRE(file_text(f.path()) ==
            "tapegrad-vocabulary 1\nlevel characters\nspecials 2\nunknown 1\nsize 6\n<pad>\n<unk>\n\\n\n\\r\n\\\\\na\n");
    const tg::Vocabulary back = tg::Vocabulary::load(f.path());
    REQUIRE(back == v);
    REQUIRE(back.encode("a\nz") == Ids{5, 2, 1});
    const tg::Vocabulary words = tg::Vocabulary::from_text("x y", {.level = tg::TokenLevel::words});
    words.save(f.path());
    REQUIRE(tg::Vocabulary::load(f.path()) == words);
}

TEST_CASE("Vocabulary::load: malformed files are refused naming the file and the line", "[data_io]") {
    const std::string head = "tapegrad-vocabulary 1\nlevel characters\nspecials 0\nunknown none\n";
    const auto load_error = [&](const std::string& content) {
        TempFile f("v.txt", content);
        try {
            tg::Vocabulary::load(f.path());
        } catch (const tg::DataError& e) {
            const std::string what = e.what();
            const std::string prefix = "Vocabulary::load: '" + f.path() + "', ";
            REQUIRE(what.rfind(prefix, 0) == 0);
            return what.substr(prefix.size());
        }
        FAIL("no DataError");
        return std::string();
    };
    REQUIRE(load_error("") == "line 1: the file ends; expected the header");
    REQUIRE(load_error("hello\n") == "line 1: not a vocabulary file (the first line is not \"tapegrad-vocabulary 1\")");
    REQUIRE(load_error("tapegrad-vocabulary 1\nlevel bytes\n") == "line 2: level 'bytes' is neither characters nor words");
    REQUIRE(load_error(head + "size 2\na\n") == "line 7: the file ends; expected a token line");
    // A huge size is not trusted: tokens are read one by one, and the file ends.
    REQUIRE(load_error(head + "size 1000000000000000000\na\n") == "line 7: the file ends; expected a token line");
    REQUIRE(load_error(head + "size -1\n") == "line 5: size '-1' is not a non-negative integer");
    REQUIRE(load_error(head + "size 1\na\nb\n") == "line 7: more token lines than size 1 declares");
    REQUIRE(load_error(head + "size 2\na\na\n") == "line 7: token 'a' appears twice (token lines start at line 6)");
    REQUIRE(load_error(head + "size 1\n\\t\n") == "line 6: unknown escape at column 1 (only \\\\, \\n and \\r are written)");
    REQUIRE(load_error(head + "size 1\na\r\n") == "line 6: a raw carriage return (was the file converted to CRLF line endings?)");
    REQUIRE(load_error(head + "size 1\nab\n") == "line 6: token 0 'ab' is not a single character (only specials may be longer)");
    REQUIRE(load_error(head + "size 0\n") == "line 5: size 0: a vocabulary has at least one token");
    REQUIRE(load_error("tapegrad-vocabulary 1\nlevel words\nspecials 0\nunknown 3\nsize 1\na\n") ==
            "line 5: unknown '3' is neither none nor an id below size 1");
    REQUIRE_THROWS_WITH(tg::Vocabulary::load("/nonexistent/v.txt"), Contains("Vocabulary::load: '/nonexistent/v.txt': cannot open"));
}

// ---- batching -----------------------------------------------------------------------------

TEST_CASE("batchify: column b is the b-th contiguous slice, the tail is dropped", "[data_io]") {
    const Ids stream{0, 1, 2, 3, 4, 5, 6, 7, 8, 9};
    // N = 10 / 3 = 3: columns 0..2, 3..5, 6..8; token 9 dropped.
    const tg::Index b3 = tg::batchify(stream, 3);
    REQUIRE(shape_of(b3) == std::vector<std::size_t>{3, 3});
    REQUIRE(elements(b3) == Ids{0, 3, 6, 1, 4, 7, 2, 5, 8});
    REQUIRE(elements(tg::batchify(stream, 1)) == stream);
    const tg::Index b10 = tg::batchify(tg::Index{0, 1, 2, 3, 4, 5, 6, 7, 8, 9}, 10);  // one row
    REQUIRE(shape_of(b10) == std::vector<std::size_t>{1, 10});
    REQUIRE(elements(b10) == stream);
    REQUIRE_THROWS_WITH(tg::batchify(stream, 11), "batchify: a stream of 10 tokens cannot fill 11 columns (batch_size is larger than the stream)");
    REQUIRE_THROWS_WITH(tg::batchify(Ids{}, 1), Contains("a stream of 0 tokens cannot fill 1 columns"));
    REQUIRE_THROWS_AS(tg::batchify(stream, 0), tg::ArgumentError);
    REQUIRE_THROWS_WITH(tg::batchify(stream, 0), "batchify: batch_size must be positive, got 0");
    REQUIRE_THROWS_WITH(tg::batchify(stream, -4), "batchify: batch_size must be positive, got -4");
    REQUIRE_THROWS_WITH(tg::batchify(stream, std::numeric_limits<std::int64_t>::min()),
                        "batchify: batch_size must be positive, got -9223372036854775808");
    REQUIRE_THROWS_AS(tg::batchify(tg::Index{{1, 2}, {3, 4}}, 1), tg::ShapeError);
}

TEST_CASE("BpttChunks: inputs and targets shifted by one, the last chunk shorter", "[data_io]") {
    Ids stream(12);
    std::iota(stream.begin(), stream.end(), 0);
    const tg::Index data = tg::batchify(stream, 2);  // rows (t, t + 6) for t = 0..5
    const tg::BpttChunks chunks(data, 2);
    // N - 1 = 5 input rows: chunks of 2, 2, 1 rows starting at 0, 2, 4.
    REQUIRE(chunks.size() == 3);
    std::vector<std::size_t> starts;
    for (const tg::BpttChunk& c : chunks) starts.push_back(c.start);
    REQUIRE(starts == std::vector<std::size_t>{0, 2, 4});
    REQUIRE(elements(chunks[0].input) == Ids{0, 6, 1, 7});
    REQUIRE(elements(chunks[0].target) == Ids{1, 7, 2, 8});
    REQUIRE(shape_of(chunks[2].input) == std::vector<std::size_t>{1, 2});
    REQUIRE(elements(chunks[2].input) == Ids{4, 10});
    REQUIRE(elements(chunks[2].target) == Ids{5, 11});
    REQUIRE(shape_of(chunks[1].flat_target()) == std::vector<std::size_t>{4});
    REQUIRE(elements(chunks[1].flat_target()) == Ids{3, 9, 4, 10});
    // bptt 1: five one-row chunks; bptt >= N - 1: one chunk of N - 1 rows.
    const tg::BpttChunks ones(data, 1);
    REQUIRE(ones.size() == 5);
    REQUIRE(elements(ones[4].target) == Ids{5, 11});
    const tg::BpttChunks whole(data, 1000);
    REQUIRE(whole.size() == 1);
    REQUIRE(shape_of(whole[0].input) == std::vector<std::size_t>{5, 2});
    REQUIRE_THROWS_WITH(chunks[3], "BpttChunks: chunk 3 of 3");
}

TEST_CASE("BpttChunks: bad bptt and data without a target row are refused", "[data_io]") {
    const tg::Index data = tg::batchify(Ids{0, 1, 2, 3}, 2);  // (2, 2)
    REQUIRE_THROWS_WITH(tg::BpttChunks(data, 0), "BpttChunks: bptt must be positive, got 0");
    REQUIRE_THROWS_WITH(tg::BpttChunks(data, -35), "BpttChunks: bptt must be positive, got -35");
    REQUIRE_THROWS_WITH(tg::BpttChunks(tg::batchify(Ids{0, 1}, 2), 5),
                        "BpttChunks: batched data of shape (1, 2) has fewer than 2 rows, so no row has a target");
    REQUIRE_THROWS_AS(tg::BpttChunks(tg::Index{1, 2, 3}, 1), tg::ShapeError);
    REQUIRE(tg::BpttChunks(data, 1).size() == 1);
}

TEST_CASE("split_stream: floor(n·fraction) tokens for train and valid, the rest for test", "[data_io]") {
    Ids stream(10);
    std::iota(stream.begin(), stream.end(), 0);
    const tg::StreamSplit s = tg::split_stream(stream, 0.8, 0.1);
    REQUIRE(s.train == Ids{0, 1, 2, 3, 4, 5, 6, 7});
    REQUIRE(s.valid == Ids{8});
    REQUIRE(s.test == Ids{9});
    // floor(10·0.55) = 5, floor(10·0.25) = 2, test 3
    const tg::StreamSplit t = tg::split_stream(stream, 0.55, 0.25);
    REQUIRE(t.train.size() == 5);
    REQUIRE(t.valid == Ids{5, 6});
    REQUIRE(t.test == Ids{7, 8, 9});
    const tg::StreamSplit all = tg::split_stream(stream, 1.0, 0.0);
    REQUIRE(all.train == stream);
    REQUIRE(all.valid.empty());
    REQUIRE(all.test.empty());
    REQUIRE_THROWS_WITH(tg::split_stream(stream, 0.0, 0.5), "split_stream: train_fraction 0 leaves nothing to train on");
    REQUIRE_THROWS_WITH(tg::split_stream(stream, -0.1, 0.5), Contains("train_fraction -0.100000 is not a number in [0, 1]"));
    REQUIRE_THROWS_WITH(tg::split_stream(stream, 0.5, std::nan("")), Contains("valid_fraction nan is not a number in [0, 1]"));
    REQUIRE_THROWS_WITH(tg::split_stream(stream, 0.8, 0.3), Contains("train_fraction 0.800000 + valid_fraction 0.300000 exceeds 1"));
    REQUIRE_THROWS_WITH(tg::split_stream(stream, 0.05, 0.5), Contains("0.050000 of 10 tokens is an empty train part"));
    REQUIRE_THROWS_AS(tg::split_stream(Ids{}, 0.5, 0.5), tg::ArgumentError);
}

// ---- minibatches --------------------------------------------------------------------------

TEST_CASE("permutation: Fisher-Yates with Generator::below, exact for seed 1", "[data_io]") {
    tg::Generator gen(1);
    // draws below(10..2) = 8, 6, 2, 5, 0, 4, 0, 0, 0 swap position i-1 with them in turn
    REQUIRE(tg::permutation(10, gen) == Ids{1, 7, 3, 9, 4, 0, 5, 2, 6, 8});
    REQUIRE(tg::permutation(10, gen) == Ids{6, 9, 7, 1, 0, 5, 8, 3, 2, 4});  // the generator moved on
    tg::Generator again(1);
    REQUIRE(tg::permutation(10, again) == Ids{1, 7, 3, 9, 4, 0, 5, 2, 6, 8});
    REQUIRE(tg::permutation(0, gen).empty());
    REQUIRE(tg::permutation(1, gen) == Ids{0});
    REQUIRE_THROWS_WITH(tg::permutation(-1, gen), "permutation: n must be >= 0, got -1");
    const std::int64_t huge = std::numeric_limits<std::int64_t>::max();
    REQUIRE_THROWS_WITH(tg::permutation(huge, gen), "permutation: cannot hold 9223372036854775807 example indices in memory");
    REQUIRE_THROWS_WITH(tg::MinibatchSampler(huge, 1, gen, false, false).epoch(),
                        "MinibatchSampler::epoch: cannot hold 9223372036854775807 example indices in memory");
}

TEST_CASE("MinibatchSampler: seeded epochs, last batch smaller or dropped, in order without shuffle", "[data_io]") {
    tg::Generator gen(1);
    tg::MinibatchSampler sampler(10, 4, gen);
    REQUIRE(sampler.batches_per_epoch() == 3);
    REQUIRE(sampler.epoch() == std::vector<Ids>{{1, 7, 3, 9}, {4, 0, 5, 2}, {6, 8}});
    REQUIRE(sampler.epoch() == std::vector<Ids>{{6, 9, 7, 1}, {0, 5, 8, 3}, {2, 4}});
    tg::Generator gen2(1);
    tg::MinibatchSampler dropping(10, 4, gen2, /*drop_last=*/true);
    REQUIRE(dropping.batches_per_epoch() == 2);
    REQUIRE(dropping.epoch() == std::vector<Ids>{{1, 7, 3, 9}, {4, 0, 5, 2}});
    tg::MinibatchSampler ordered(5, 2, gen, false, /*shuffle=*/false);
    REQUIRE(ordered.epoch() == std::vector<Ids>{{0, 1}, {2, 3}, {4}});
    tg::MinibatchSampler one(3, 8, gen, false, false);  // batch_size > n: one batch of everything
    REQUIRE(one.epoch() == std::vector<Ids>{{0, 1, 2}});
    auto plain = tg::MinibatchSampler::in_order(5, 2);  // no generator needed
    REQUIRE(plain.epoch() == std::vector<Ids>{{0, 1}, {2, 3}, {4}});
    REQUIRE(plain.epoch() == std::vector<Ids>{{0, 1}, {2, 3}, {4}});
    REQUIRE(tg::MinibatchSampler::in_order(5, 2, /*drop_last=*/true).epoch() == std::vector<Ids>{{0, 1}, {2, 3}});
    REQUIRE_THROWS_WITH(tg::MinibatchSampler::in_order(0, 2), "MinibatchSampler: n must be positive, got 0");
    std::size_t seen = 0;
    for (const Ids& batch : sampler.epoch()) seen += batch.size();
    REQUIRE(seen == 10);
    REQUIRE_THROWS_WITH(tg::MinibatchSampler(0, 4, gen), "MinibatchSampler: n must be positive, got 0");
    REQUIRE_THROWS_WITH(tg::MinibatchSampler(10, -2, gen), "MinibatchSampler: batch_size must be positive, got -2");
    REQUIRE_THROWS_WITH(tg::MinibatchSampler(3, 4, gen, true),
                        "MinibatchSampler: drop_last with batch_size 4 and only 3 examples leaves no batch");
}

TEST_CASE("take: slices at indices along an axis, repeats allowed", "[data_io]") {
    const tg::Tensor<double> x{{1, 2}, {3, 4}, {5, 6}};
    require_close(tg::take(x, 0, Ids{2, 0, 2}), tg::Tensor<double>{{5, 6}, {1, 2}, {5, 6}});
    require_close(tg::take(x, -1, Ids{1}), tgtest::m2({{2}, {4}, {6}}));
    REQUIRE(shape_of(tg::take(x, 0, Ids{})) == std::vector<std::size_t>{0, 2});
    const tg::Tensor<float> cube{{{1, 2}, {3, 4}}, {{5, 6}, {7, 8}}};  // (2, 2, 2)
    require_close(tg::take(cube, 1, Ids{1}), tgtest::m3({{{3, 4}}, {{7, 8}}}));
    const tg::Index labels{10, 11, 12, 13};
    REQUIRE(elements(tg::take(labels, 0, Ids{3, 1})) == Ids{13, 11});
    REQUIRE_THROWS_WITH(tg::take(x, 0, Ids{0, 3}), "take: index 3 at position 1 is outside [0, 3) along axis 0 of a tensor of shape (3, 2)");
    REQUIRE_THROWS_WITH(tg::take(x, 1, Ids{-1}), Contains("take: index -1 at position 0 is outside [0, 2) along axis 1"));
    REQUIRE_THROWS_WITH(tg::take(x, 2, Ids{0}), "take: axis 2 is out of range for a tensor of shape (3, 2)");
    REQUIRE_THROWS_WITH(tg::take(x, -3, Ids{0}), Contains("axis -3 is out of range"));
    REQUIRE_THROWS_WITH(tg::take(tg::Tensor<double>(1.0), 0, Ids{0}), "take: a 0-d tensor has no axis to take along");
}

// ---- csv ----------------------------------------------------------------------------------

TEMPLATE_TEST_CASE("read_csv: numbers, header names, spaces, CRLF, blank lines, other delimiters", "[data_io]", float, double) {
    TempFile plain("a.csv", "1,2.5,-3\n4, +5 ,6e-1\n");
    const tg::CsvTable<TestType> a = tg::read_csv<TestType>(plain.path());
    require_close(a.values, tg::Tensor<double>{{1, 2.5, -3}, {4, 5, 0.6}}, 1e-7);
    REQUIRE(a.columns.empty());
    TempFile headed("b.csv", "time;\"price\" ; volume\r\n\r\n0;1.5;nan\r\n1;-2;.25\r\n\n");
    const tg::CsvTable<TestType> b = tg::read_csv<TestType>(headed.path(), {.header = true, .delimiter = ';'});
    REQUIRE(b.columns == std::vector<std::string>{"time", "price", "volume"});
    REQUIRE(shape_of(b.values) == std::vector<std::size_t>{2, 3});
    REQUIRE(std::isnan(b.values(0, 2)));
    REQUIRE(b.values(1, 1) == TestType(-2));
    REQUIRE(b.values(1, 2) == TestType(0.25));
    TempFile one("c.csv", "42");  // one field, no final line break
    const tg::CsvTable<TestType> c = tg::read_csv<TestType>(one.path());
    REQUIRE(shape_of(c.values) == std::vector<std::size_t>{1, 1});
    REQUIRE(c.values(0, 0) == TestType(42));
}

TEST_CASE("read_csv: hostile input names the file, the line and the column", "[data_io]") {
    const auto csv_error = [](const std::string& content, tg::CsvOptions o = {}) {
        TempFile f("d.csv", content);
        try {
            tg::read_csv<float>(f.path(), o);
        } catch (const tg::DataError& e) {
            const std::string what = e.what();
            const std::string prefix = "read_csv: '" + f.path() + "'";
            REQUIRE(what.rfind(prefix, 0) == 0);
            return what.substr(prefix.size());
        }
        FAIL("no DataError");
        return std::string();
    };
    REQUIRE(csv_error("1,2,3\n4,5\n") == ", line 2: 2 fields, expected 3 (as on line 1)");
    REQUIRE(csv_error("a,b\n1,2,3\n", {.header = true}) == ", line 2: 3 fields, expected 2 (as on line 1)");
    REQUIRE(csv_error("1,2\n3,abc\n") == ", line 2, column 2: 'abc' is not a number");
    REQUIRE(csv_error("1.5x,2\n") == ", line 1, column 1: '1.5x' is not a number");
    REQUIRE(csv_error("1,5;2\n", {.delimiter = ';'}) == ", line 1, column 1: '1,5' is not a number");  // no locale decimal comma
    REQUIRE(csv_error("+-1\n") == ", line 1, column 1: '+-1' is not a number");
    REQUIRE(csv_error("0x10\n") == ", line 1, column 1: '0x10' is not a number");
    REQUIRE(csv_error("1,,3\n") == ", line 1, column 2: empty field (write nan for a missing value)");
    REQUIRE(csv_error("1\n\n1e39\n") == ", line 3, column 1: '1e39' is outside the range of float");
    REQUIRE(csv_error("") == ": is empty");
    REQUIRE(csv_error("\n \n") == ": has only blank lines");
    REQUIRE(csv_error("a,b\n", {.header = true}) == ": has a header but no data rows");
    REQUIRE(csv_error(std::string(100, '9') + "e999999999999999999999\n") ==
            ", line 1, column 1: '9999999999999999999999999999999999999999...' is outside the range of float");
    REQUIRE_THROWS_WITH(tg::read_csv<double>("/nonexistent/d.csv"), Contains("read_csv: '/nonexistent/d.csv': cannot open"));
    REQUIRE_THROWS_AS(tg::read_csv<double>("/nonexistent/d.csv"), tg::DataError);
    TempFile f("d.csv", "1\n");
    REQUIRE_THROWS_WITH(tg::read_csv<double>(f.dir()), Contains("is not a regular file"));
    REQUIRE_THROWS_AS(tg::read_csv<double>(f.path(), {.delimiter = '.'}), tg::ArgumentError);
    REQUIRE_THROWS_WITH(tg::read_csv<double>(f.path(), {.delimiter = '\n'}), Contains("read_csv: delimiter '\\n'"));
}

// ---- recurrent state across chunks ---------------------------------------------------------

TEST_CASE("detach(RecurrentState): same values, no gradient, empty handles stay empty", "[data_io][recurrent]") {
    tg::Tape<double> t;
    const tg::Var<double> h = t.variable(tg::Tensor<double>{1.0, 2.0});
    const tg::Var<double> c = t.variable(tg::Tensor<double>{3.0, 4.0});
    const tg::RecurrentState<double> cut = tg::detach(tg::RecurrentState<double>{h, c});
    REQUIRE(!cut.extra[0]);
    REQUIRE(!cut.extra[1]);
    REQUIRE(cut.h.value() == h.value());
    REQUIRE(cut.c.value() == c.value());
    const tg::Var<double> w = t.variable(tg::Tensor<double>{5.0, 7.0});
    t.backward(tg::sum(w * cut.h + w * cut.c + h));
    require_close(w.grad(), tg::Tensor<double>{4.0, 6.0});   // h + c
    require_close(h.grad(), tg::Tensor<double>{1.0, 1.0});   // only the direct use of h
    require_close(c.grad(), tg::Tensor<double>{0.0, 0.0});   // used only through the cut
}

TEST_CASE("state_values / constant_state carry an LSTM's h and c across tape.clear()", "[data_io][recurrent]") {
    tg::Generator gen(4);
    tg::LSTM<double> lstm({.input_size = 2, .hidden_size = 3}, gen);
    const tg::Tensor<double> xs = tgtest::smooth({4, 2, 2});
    tg::Tape<double> full;
    const tg::Tensor<double> expected = lstm(full.constant(xs)).output.value();
    tg::Tape<double> t;
    tg::RecurrentStateValues<double> carried;
    REQUIRE(tg::constant_state(t, carried) == std::nullopt);  // nothing carried yet: the layer starts from zeros
    std::vector<tg::Tensor<double>> outputs;
    for (std::size_t start = 0; start < 4; start += 2) {
        const tg::Tensor<double> chunk = tg::take(xs, 0, Ids{std::int64_t(start), std::int64_t(start + 1)});
        auto [out, state] = lstm(t.constant(chunk), tg::constant_state(t, carried));
        outputs.push_back(out.value());
        carried = tg::state_values(state);
        t.clear();
    }
    REQUIRE(carried.values[0].has_value());
    REQUIRE(carried.values[1].has_value());  // c
    REQUIRE(!carried.values[2].has_value());
    require_close(outputs[0], tg::take(expected, 0, Ids{0, 1}), 1e-12);
    require_close(outputs[1], tg::take(expected, 0, Ids{2, 3}), 1e-12);
}

// ---- the character-LM loop of docs/data.md --------------------------------------------------

TEST_CASE("docs/data.md: the character-LM TBPTT loop trains", "[data_io][recurrent]") {
    const std::string text = "abcabcabd abcabcabd abcabcabd abcabcabd abcabcabd abcabcabd abcabcabd abcabcabd\n";
    // -- as in docs/data.md, with a smaller model and the text given here --
    const tg::Vocabulary vocab = tg::Vocabulary::from_text(text);
    const tg::StreamSplit parts = tg::split_stream(vocab.encode(text), 0.9, 0.1);
    const tg::BpttChunks chunks(tg::batchify(parts.train, 4), 8);
    tg::Generator gen(1);
    const auto V = static_cast<std::int64_t>(vocab.size()), H = std::int64_t{16};
    tg::Embedding<float> embed(vocab.size(), 8, gen);
    tg::LSTM<float> lstm({.input_size = 8, .hidden_size = std::size_t(H)}, gen);
    tg::Linear<float> head(std::size_t(H), vocab.size(), gen);
    tg::Adam<float> opt(tg::parameters(embed, lstm, head), {.lr = 1e-2});
    tg::Tape<float> tape;
    std::vector<double> epoch_loss;
    for (int epoch = 0; epoch < 30; ++epoch) {
        tg::RecurrentStateValues<float> carried;  // empty: each epoch starts from zeros
        double total = 0;
        for (const tg::BpttChunk& c : chunks) {
            auto [out, state] = lstm(embed(tape, c.input), tg::constant_state(tape, carried));  // (L, B, H)
            const auto logits = head(tg::reshape(out, {-1, H}));                               // (L·B, V)
            const auto loss = tg::cross_entropy(logits, c.flat_target());
            tape.backward(loss);
            tg::clip_grad_norm(opt.params(), 1.0);
            opt.step();
            opt.zero_grad();
            total += loss.item();
            carried = tg::state_values(state);  // copy out before clear()
            tape.clear();
        }
        epoch_loss.push_back(total / double(chunks.size()));
    }
    // -- end of the loop --
    REQUIRE(V == 6);  // built from the whole text: '\n', ' ', a, b, c, d
    INFO("first epoch " << epoch_loss.front() << ", last " << epoch_loss.back());
    REQUIRE(epoch_loss.front() > 1.3);                      // about log 6 = 1.79 at the start
    REQUIRE(epoch_loss.back() < 0.5 * epoch_loss.front());  // the pattern is learned
}

TEST_CASE("dist::shard_of splits a global batch into contiguous runs that cover it once", "[data][dist]") {
    namespace dist = tapegrad::dist;
    // 7 rows over 3 ranks: 3, 2, 2.
    const dist::Shard a = dist::shard_of(7, 0, 3), b = dist::shard_of(7, 1, 3), c = dist::shard_of(7, 2, 3);
    CHECK((a.begin == 0 && a.end == 3 && b.begin == 3 && b.end == 5 && c.begin == 5 && c.end == 7));
    CHECK(a.share == Approx(3.0 / 7));
    CHECK(a.share + b.share + c.share == Approx(1.0));
    const dist::Shard alone = dist::shard_of(5, 0, 1);
    CHECK((alone.begin == 0 && alone.end == 5 && alone.share == 1.0));
    for (std::size_t world = 1; world <= 9; ++world) {
        std::size_t next = 0;
        for (std::size_t r = 0; r < world; ++r) {
            const dist::Shard s = dist::shard_of(20, r, world);
            CHECK(s.begin == next);
            CHECK(s.rows() >= 20 / world);
            next = s.end;
        }
        CHECK(next == 20);
    }
    CHECK_THROWS_WITH(dist::shard_of(2, 0, 3), Catch::Contains("cannot give each of 3 ranks a row"));
    CHECK_THROWS_WITH(dist::shard_of(8, 3, 3), Catch::Contains("rank 3 is not in [0, 3)"));
    CHECK_THROWS_AS(dist::shard_of(8, 0, 0), tapegrad::ArgumentError);
    // Near the top of size_t the arithmetic stays exact.
    const std::size_t huge = std::numeric_limits<std::size_t>::max();
    const dist::Shard last = dist::shard_of(huge, 2, 3);
    CHECK(last.end == huge);
}
