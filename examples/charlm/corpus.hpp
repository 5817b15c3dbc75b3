#pragma once
/// \file
/// The character-level language model's text: Debian's `fortunes` collection
/// by default, or any UTF-8 text file, split into train / validation / test by
/// a fixed rule.
///
/// Why fortunes: it is real English (quotations, jokes, definitions, poems,
/// 15,000 records, 2.5 MB) in a package Debian keeps, so `tools/setup.sh` can
/// install it on any machine without a download from elsewhere; its records
/// have quotes, parentheses and attributions ("-- Mark Twain") spanning
/// lines, the long-range structure the unit analysis looks for; and it is
/// small enough to train on in minutes.

#include <cstddef>
#include <string>
#include <vector>

namespace tapegrad::charlm {

/// Where Debian's `fortunes` package puts its text files.
inline constexpr const char* kFortunesDir = "/usr/share/games/fortunes";

struct Corpus {
    std::string name;  ///< "fortunes" or the file's path
    std::string train, valid, test;
    std::vector<std::string> files;  ///< what was read
};

/// The files of the fortunes collection in `dir`, sorted by name: every
/// regular file except the `.dat` indexes, the `.u8` links, and `ascii-art`
/// (pictures, not language). `DataError` naming `dir` (and the package to
/// install) if there is none.
std::vector<std::string> fortune_files(const std::string& dir);

/// Splits a fortunes collection by record: the files are read in
/// `fortune_files` order and cut at the lines holding only "%"; record k
/// (counted over all files) goes to validation when k mod 20 = 18, to test when
/// k mod 20 = 19, to training otherwise, so that each split samples every file
/// and no fortune is cut in two. Each record keeps its text and one newline
/// after it.
Corpus load_fortunes(const std::string& dir = kFortunesDir);

/// Any text file: the first 90 % of its characters (cut at a line break, so no
/// line is split) for training, the next 5 % for validation and the rest for
/// test. `DataError` naming the file if it cannot be read or is too short
/// (fewer than 1000 bytes).
Corpus load_text(const std::string& path);

}  // namespace tapegrad::charlm
