#pragma once
/// \file
/// Text for language models: reading a text file, and `Vocabulary`, the
/// mapping between tokens and integer ids.
///
/// Text is UTF-8 and a character is a Unicode code point, not a byte: "é"
/// (bytes C3 A9) is one token. Invalid UTF-8 (a stray continuation byte, a
/// truncated or overlong sequence, a surrogate, a value above U+10FFFF) is
/// refused with the byte offset of the bad sequence, never split into bytes
/// silently. Words are the maximal runs of characters other than ASCII
/// whitespace (space, \t, \n, \v, \f, \r).

#include <cstdint>
#include <map>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "../autodiff/tensor.hpp"

namespace tapegrad {

/// The whole file's bytes. `DataError` naming the function and the file if it
/// is missing, not a regular file, or cannot be read.
std::string read_text_file(const std::string& path);

/// What a vocabulary's tokens are.
enum class TokenLevel { characters, words };

struct VocabularyOptions {
    TokenLevel level = TokenLevel::characters;
    /// Tokens that get the first ids, in this order (e.g. "<pad>", "<eos>"),
    /// whether or not the text contains them. Each is non-empty and distinct.
    std::vector<std::string> specials;
    /// The token that characters or words missing from the vocabulary encode
    /// to (e.g. "<unk>"); appended to `specials` if not listed there. Without
    /// it, `encode` refuses an unknown token with an `ArgumentError`.
    std::optional<std::string> unknown;
};

/// Tokens and their ids: the specials first (ids 0, 1, ... in the order
/// given), then every distinct token of the text in sorted order (by UTF-8
/// bytes, which is code-point order), so that the same text and options
/// always give the same ids.
class Vocabulary {
public:
    /// Builds the vocabulary of `text`. `ArgumentError` for invalid UTF-8
    /// (naming the byte offset), an empty or repeated special, or an empty
    /// result (no text and no specials).
    static Vocabulary from_text(std::string_view text, const VocabularyOptions& options = {});
    /// A vocabulary with exactly these tokens (id i is tokens[i]); the first
    /// `num_specials` are specials, the others must be single characters
    /// (characters) or contain no ASCII whitespace (words). `unknown`: the
    /// id unknown tokens encode to. `ArgumentError` for any violation.
    Vocabulary(TokenLevel level, std::vector<std::string> tokens, std::size_t num_specials,
               std::optional<std::int64_t> unknown = std::nullopt);

    /// The ids of `text`'s characters or words, in order. An unknown token
    /// encodes to the unknown id, or throws `ArgumentError` naming the token
    /// and its byte offset when there is none.
    std::vector<std::int64_t> encode(std::string_view text) const;
    /// The same as a 1-D `Index`.
    Index encode_index(std::string_view text) const;
    /// The text of `ids`: characters concatenated, or words joined by one
    /// space. A special decodes to its text. `ArgumentError` naming the
    /// position of an id outside [0, size()).
    std::string decode(std::span<const std::int64_t> ids) const;
    /// Any shape, read in row-major order.
    std::string decode(const Index& ids) const;

    std::size_t size() const { return tokens_.size(); }
    TokenLevel level() const { return level_; }
    std::size_t num_specials() const { return num_specials_; }
    std::optional<std::int64_t> unknown_id() const { return unknown_; }
    /// All tokens, id order.
    const std::vector<std::string>& tokens() const { return tokens_; }
    /// The token of `id`; `ArgumentError` outside [0, size()).
    const std::string& token(std::int64_t id) const;
    /// The id of `token`; `ArgumentError` if absent (see `find`).
    std::int64_t id(std::string_view token) const;
    /// The id of `token`, if present.
    std::optional<std::int64_t> find(std::string_view token) const;
    bool contains(std::string_view token) const { return find(token).has_value(); }

    /// Writes the vocabulary as text (format in docs/data.md): a header line
    /// "tapegrad-vocabulary 1", the lines "level characters|words",
    /// "specials K", "unknown ID|none", "size N", then one token per line in
    /// id order, where a backslash, a newline and a carriage return are
    /// written as the two characters \\, \n and \r. `DataError` if the file
    /// cannot be written.
    void save(const std::string& path) const;
    /// Reads what `save` writes. `DataError` naming the file and the line for
    /// anything malformed (a bad header, an unknown escape, a repeated token,
    /// fewer or more token lines than "size" declares).
    static Vocabulary load(const std::string& path);

    friend bool operator==(const Vocabulary&, const Vocabulary&) = default;

private:
    TokenLevel level_ = TokenLevel::characters;
    std::vector<std::string> tokens_;
    std::size_t num_specials_ = 0;
    std::optional<std::int64_t> unknown_;
    std::map<std::string, std::int64_t, std::less<>> ids_;
};

}  // namespace tapegrad
