#include "text.hpp"

#include <algorithm>
#include <charconv>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <new>
#include <set>

#include "data_support.hpp"

namespace tapegrad {

namespace {

/// The length of the valid UTF-8 sequence starting at s[pos], or 0 if the
/// bytes there are not one (stray continuation byte, truncated or overlong
/// sequence, surrogate, value above U+10FFFF).
std::size_t utf8_sequence_length(std::string_view s, std::size_t pos) {
    const auto byte = [&](std::size_t k) { return static_cast<unsigned char>(s[pos + k]); };
    const unsigned char lead = byte(0);
    if (lead < 0x80) return 1;
    std::size_t n = 0;
    std::uint32_t cp = 0;
    if (lead >= 0xC2 && lead <= 0xDF) n = 2, cp = lead & 0x1Fu;
    else if (lead >= 0xE0 && lead <= 0xEF) n = 3, cp = lead & 0x0Fu;
    else if (lead >= 0xF0 && lead <= 0xF4) n = 4, cp = lead & 0x07u;
    else return 0;  // a continuation byte, or a lead byte of an overlong or out-of-range sequence
    if (s.size() - pos < n) return 0;
    for (std::size_t k = 1; k < n; ++k) {
        if ((byte(k) & 0xC0u) != 0x80u) return 0;
        cp = (cp << 6) | (byte(k) & 0x3Fu);
    }
    if (n == 3 && (cp < 0x800 || (cp >= 0xD800 && cp <= 0xDFFF))) return 0;
    if (n == 4 && (cp < 0x10000 || cp > 0x10FFFF)) return 0;
    return n;
}

bool is_ascii_space(char c) { return c == ' ' || c == '\t' || c == '\n' || c == '\v' || c == '\f' || c == '\r'; }

/// A token as it appears in a message: quoted, control characters escaped.
std::string describe_token(std::string_view token) {
    std::string out = "'";
    for (const char c : token) {
        const auto u = static_cast<unsigned char>(c);
        if (c == '\n') out += "\\n";
        else if (c == '\r') out += "\\r";
        else if (c == '\t') out += "\\t";
        else if (u < 0x20 || u == 0x7F) {
            char hex[8];
            std::snprintf(hex, sizeof hex, "\\x%02X", u);
            out += hex;
        } else
            out += c;
    }
    return out + "'";
}

[[noreturn]] void throw_invalid_utf8(const char* fn, std::string_view text, std::size_t pos) {
    char hex[8];
    std::snprintf(hex, sizeof hex, "0x%02X", static_cast<unsigned char>(text[pos]));
    throw ArgumentError(std::string(fn) + ": invalid UTF-8 at byte offset " + std::to_string(pos) + " (byte " + hex +
                        ")");
}

/// Calls `on_token(token, byte_offset)` for each character or word of `text`,
/// validating UTF-8 as it goes (`ArgumentError` naming `fn` and the offset).
template <class F>
void for_each_token(const char* fn, TokenLevel level, std::string_view text, F&& on_token) {
    std::size_t word_start = std::string_view::npos;
    for (std::size_t pos = 0; pos < text.size();) {
        const std::size_t n = utf8_sequence_length(text, pos);
        if (n == 0) throw_invalid_utf8(fn, text, pos);
        if (level == TokenLevel::characters) {
            on_token(text.substr(pos, n), pos);
        } else if (n == 1 && is_ascii_space(text[pos])) {
            if (word_start != std::string_view::npos) on_token(text.substr(word_start, pos - word_start), word_start);
            word_start = std::string_view::npos;
        } else if (word_start == std::string_view::npos) {
            word_start = pos;
        }
        pos += n;
    }
    if (word_start != std::string_view::npos) on_token(text.substr(word_start), word_start);
}

/// Why `token` cannot be a token of a vocabulary of `level` (empty if it can).
std::string token_problem(TokenLevel level, std::string_view token, bool special) {
    if (token.empty()) return "is empty";
    std::size_t code_points = 0;
    for (std::size_t pos = 0; pos < token.size(); ++code_points) {
        const std::size_t n = utf8_sequence_length(token, pos);
        if (n == 0) return "is not valid UTF-8 (byte offset " + std::to_string(pos) + ")";
        if (!special && level == TokenLevel::words && n == 1 && is_ascii_space(token[pos]))
            return describe_token(token) + " contains whitespace, which separates words";
        pos += n;
    }
    if (!special && level == TokenLevel::characters && code_points != 1)
        return describe_token(token) + " is not a single character (only specials may be longer)";
    return {};
}

const char* level_name(TokenLevel level) { return level == TokenLevel::characters ? "characters" : "words"; }

}  // namespace

std::string read_text_file(const std::string& path) {
    std::ifstream in = detail::open_data_file("read_text_file", path);
    const std::string where = "read_text_file: " + detail::quoted_path(path);
    std::error_code ec;
    const std::uintmax_t bytes = std::filesystem::file_size(path, ec);
    if (ec) throw DataError(where + ": cannot read its size: " + ec.message());
    std::string text;
    try {
        text.resize(static_cast<std::size_t>(bytes));
    } catch (const std::exception&) {  // bad_alloc or length_error
        throw DataError(where + ": cannot hold its " + std::to_string(bytes) + " bytes in memory");
    }
    in.read(text.data(), static_cast<std::streamsize>(text.size()));
    if (static_cast<std::uintmax_t>(in.gcount()) != bytes)
        throw DataError(where + ": read " + std::to_string(in.gcount()) + " of its " + std::to_string(bytes) +
                        " bytes (did it change while being read?)");
    return text;
}

Vocabulary::Vocabulary(TokenLevel level, std::vector<std::string> tokens, std::size_t num_specials,
                       std::optional<std::int64_t> unknown)
    : level_(level), tokens_(std::move(tokens)), num_specials_(num_specials), unknown_(unknown) {
    if (tokens_.empty()) throw ArgumentError("Vocabulary: no tokens (an empty text and no specials)");
    if (num_specials_ > tokens_.size())
        throw ArgumentError("Vocabulary: " + std::to_string(num_specials_) + " specials but only " +
                            std::to_string(tokens_.size()) + " tokens");
    if (unknown_ && (*unknown_ < 0 || static_cast<std::uint64_t>(*unknown_) >= tokens_.size()))
        throw ArgumentError("Vocabulary: unknown id " + std::to_string(*unknown_) + " is outside [0, " +
                            std::to_string(tokens_.size()) + ")");
    for (std::size_t i = 0; i < tokens_.size(); ++i) {
        const std::string problem = token_problem(level_, tokens_[i], i < num_specials_);
        if (!problem.empty())
            throw ArgumentError("Vocabulary: " + std::string(i < num_specials_ ? "special" : "token") + " " +
                                std::to_string(i) + " " + problem);
        if (!ids_.emplace(tokens_[i], static_cast<std::int64_t>(i)).second)
            throw ArgumentError("Vocabulary: token " + describe_token(tokens_[i]) + " appears twice (ids " +
                                std::to_string(ids_.at(tokens_[i])) + " and " + std::to_string(i) + ")");
    }
}

Vocabulary Vocabulary::from_text(std::string_view text, const VocabularyOptions& options) {
    std::vector<std::string> tokens = options.specials;
    if (options.unknown && std::find(tokens.begin(), tokens.end(), *options.unknown) == tokens.end())
        tokens.push_back(*options.unknown);
    const std::size_t num_specials = tokens.size();
    std::set<std::string, std::less<>> seen;  // sorted by bytes: deterministic ids
    for_each_token("Vocabulary::from_text", options.level, text, [&](std::string_view token, std::size_t) {
        if (seen.find(token) == seen.end()) seen.emplace(token);
    });
    for (const std::string& token : seen)
        if (std::find(tokens.begin(), tokens.begin() + std::ptrdiff_t(num_specials), token) ==
            tokens.begin() + std::ptrdiff_t(num_specials))
            tokens.push_back(token);
    std::optional<std::int64_t> unknown;
    if (options.unknown)
        unknown = std::find(tokens.begin(), tokens.end(), *options.unknown) - tokens.begin();
    return Vocabulary(options.level, std::move(tokens), num_specials, unknown);
}

std::vector<std::int64_t> Vocabulary::encode(std::string_view text) const {
    std::vector<std::int64_t> ids;
    for_each_token("Vocabulary::encode", level_, text, [&](std::string_view token, std::size_t offset) {
        const auto it = ids_.find(token);
        if (it != ids_.end())
            ids.push_back(it->second);
        else if (unknown_)
            ids.push_back(*unknown_);
        else
            throw ArgumentError("Vocabulary::encode: " + std::string(level_ == TokenLevel::words ? "word " : "character ") +
                                describe_token(token) + " at byte offset " + std::to_string(offset) +
                                " is not in the vocabulary, which has no unknown token (set VocabularyOptions::unknown)");
    });
    return ids;
}

Index Vocabulary::encode_index(std::string_view text) const {
    const std::vector<std::int64_t> ids = encode(text);
    Index out = detail::new_tensor<std::int64_t>("Vocabulary::encode_index", Shape{ids.size()});
    std::copy(ids.begin(), ids.end(), out.data());
    return out;
}

std::string Vocabulary::decode(std::span<const std::int64_t> ids) const {
    std::string text;
    for (std::size_t i = 0; i < ids.size(); ++i) {
        if (ids[i] < 0 || static_cast<std::uint64_t>(ids[i]) >= tokens_.size())
            throw ArgumentError("Vocabulary::decode: id " + std::to_string(ids[i]) + " at position " +
                                std::to_string(i) + " is outside [0, " + std::to_string(tokens_.size()) + ")");
        if (level_ == TokenLevel::words && i > 0) text += ' ';
        text += tokens_[static_cast<std::size_t>(ids[i])];
    }
    return text;
}

std::string Vocabulary::decode(const Index& ids) const { return decode(std::span<const std::int64_t>(ids.data(), ids.size())); }

const std::string& Vocabulary::token(std::int64_t id) const {
    if (id < 0 || static_cast<std::uint64_t>(id) >= tokens_.size())
        throw ArgumentError("Vocabulary::token: id " + std::to_string(id) + " is outside [0, " +
                            std::to_string(tokens_.size()) + ")");
    return tokens_[static_cast<std::size_t>(id)];
}

std::optional<std::int64_t> Vocabulary::find(std::string_view token) const {
    const auto it = ids_.find(token);
    if (it == ids_.end()) return std::nullopt;
    return it->second;
}

std::int64_t Vocabulary::id(std::string_view token) const {
    if (const auto found = find(token)) return *found;
    throw ArgumentError("Vocabulary::id: " + describe_token(token) + " is not in the vocabulary");
}

// ---- save and load ----------------------------------------------------------

namespace {

constexpr const char* kVocabularyHeader = "tapegrad-vocabulary 1";

std::string escape_token(const std::string& token) {
    std::string out;
    for (const char c : token) {
        if (c == '\\') out += "\\\\";
        else if (c == '\n') out += "\\n";
        else if (c == '\r') out += "\\r";
        else out += c;
    }
    return out;
}

/// Reads a vocabulary file line by line, with errors naming file and line.
class VocabularyReader {
public:
    explicit VocabularyReader(const std::string& path)
        : path_(path), in_(detail::open_data_file("Vocabulary::load", path)) {}

    [[noreturn]] void fail(const std::string& what) const {
        throw DataError("Vocabulary::load: " + detail::quoted_path(path_) + ", line " + std::to_string(line_no_) +
                        ": " + what);
    }
    /// The next line; `fail` at the end of the file, naming what was expected.
    std::string next(const char* expected) {
        ++line_no_;
        if (!std::getline(in_, line_)) fail(std::string("the file ends; expected ") + expected);
        return line_;
    }
    bool at_end() { return in_.peek() == std::char_traits<char>::eof(); }
    /// The value of a "key value" line.
    std::string field(const char* key) {
        const std::string line = next(key);
        const std::string prefix = std::string(key) + " ";
        if (line.rfind(prefix, 0) != 0) fail("expected \"" + prefix + "...\", found " + describe_token(line));
        return line.substr(prefix.size());
    }
    std::uint64_t count(const char* key) {
        const std::string text = field(key);
        std::uint64_t value = 0;
        const auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), value);
        if (ec != std::errc() || end != text.data() + text.size() || text.empty())
            fail(std::string(key) + " " + describe_token(text) + " is not a non-negative integer");
        return value;
    }
    std::string token() {
        const std::string line = next("a token line");
        std::string out;
        for (std::size_t i = 0; i < line.size(); ++i) {
            if (line[i] == '\r') fail("a raw carriage return (was the file converted to CRLF line endings?)");
            if (line[i] != '\\') { out += line[i]; continue; }
            const char e = ++i < line.size() ? line[i] : '\0';
            if (e == '\\') out += '\\';
            else if (e == 'n') out += '\n';
            else if (e == 'r') out += '\r';
            else fail("unknown escape at column " + std::to_string(i) + " (only \\\\, \\n and \\r are written)");
        }
        return out;
    }
    std::size_t line_no() const { return line_no_; }

private:
    std::string path_;
    std::ifstream in_;
    std::string line_;
    std::size_t line_no_ = 0;
};

}  // namespace

void Vocabulary::save(const std::string& path) const {
    std::ofstream out(path, std::ios::binary | std::ios::trunc);
    if (!out) throw DataError("Vocabulary::save: " + detail::quoted_path(path) + ": cannot open for writing");
    out << kVocabularyHeader << "\nlevel " << level_name(level_) << "\nspecials " << num_specials_ << "\nunknown "
        << (unknown_ ? std::to_string(*unknown_) : std::string("none")) << "\nsize " << tokens_.size() << "\n";
    for (const std::string& token : tokens_) out << escape_token(token) << '\n';
    out.close();
    if (!out) throw DataError("Vocabulary::save: " + detail::quoted_path(path) + ": cannot write");
}

Vocabulary Vocabulary::load(const std::string& path) {
    VocabularyReader r(path);
    if (r.next("the header") != kVocabularyHeader)
        r.fail(std::string("not a vocabulary file (the first line is not \"") + kVocabularyHeader + "\")");
    const std::string level_text = r.field("level");
    if (level_text != "characters" && level_text != "words")
        r.fail("level " + describe_token(level_text) + " is neither characters nor words");
    const TokenLevel level = level_text == "characters" ? TokenLevel::characters : TokenLevel::words;
    const std::uint64_t specials = r.count("specials");
    const std::string unknown_text = r.field("unknown");
    const std::uint64_t size = r.count("size");  // not trusted for an allocation: tokens are read one by one
    const std::size_t first_token_line = r.line_no() + 1;
    std::optional<std::int64_t> unknown;
    if (unknown_text != "none") {
        std::int64_t id = -1;
        const auto [end, ec] = std::from_chars(unknown_text.data(), unknown_text.data() + unknown_text.size(), id);
        if (ec != std::errc() || end != unknown_text.data() + unknown_text.size() || id < 0 ||
            static_cast<std::uint64_t>(id) >= size)
            r.fail("unknown " + describe_token(unknown_text) + " is neither none nor an id below size " +
                   std::to_string(size));
        unknown = id;
    }
    if (size == 0) r.fail("size 0: a vocabulary has at least one token");
    if (specials > size) r.fail("specials " + std::to_string(specials) + " exceeds size " + std::to_string(size));
    std::vector<std::string> tokens;
    std::set<std::string, std::less<>> seen;
    for (std::uint64_t i = 0; i < size; ++i) {
        tokens.push_back(r.token());
        const std::string problem = token_problem(level, tokens.back(), i < specials);
        if (!problem.empty()) r.fail("token " + std::to_string(i) + " " + problem);
        if (!seen.insert(tokens.back()).second)
            r.fail("token " + describe_token(tokens.back()) + " appears twice (token lines start at line " +
                   std::to_string(first_token_line) + ")");
    }
    if (!r.at_end()) {
        r.next("");  // the message names the first line too many
        r.fail("more token lines than size " + std::to_string(size) + " declares");
    }
    return Vocabulary(level, std::move(tokens), static_cast<std::size_t>(specials), unknown);
}

}  // namespace tapegrad
