#include "corpus.hpp"

#include <algorithm>
#include <filesystem>

#include <tapegrad/tapegrad.hpp>

namespace tapegrad::charlm {

namespace fs = std::filesystem;

std::vector<std::string> fortune_files(const std::string& dir) {
    std::vector<std::string> files;
    std::error_code ec;
    for (fs::directory_iterator it(dir, ec), end; !ec && it != end; it.increment(ec)) {
        const fs::path& p = it->path();
        const std::string ext = p.extension().string();
        if (it->is_symlink() || !it->is_regular_file() || ext == ".dat" || ext == ".u8" || p.filename() == "ascii-art")
            continue;
        files.push_back(p.string());
    }
    if (files.empty())
        throw DataError("charlm: no fortune files in '" + dir +
                        "' (install Debian's 'fortunes' package, e.g. bash tools/setup.sh, or pass --data FILE)");
    std::sort(files.begin(), files.end());
    return files;
}

namespace {

// Calls `record(text)` for each record of a fortune file: the lines between
// two "%" lines, each ending in '\n'.
template <class F>
void for_each_record(const std::string& content, F record) {
    std::string current;
    std::size_t pos = 0;
    while (pos < content.size()) {
        std::size_t end = content.find('\n', pos);
        if (end == std::string::npos) end = content.size();
        const std::string_view line(content.data() + pos, end - pos);
        if (line == "%") {
            if (!current.empty()) record(current);
            current.clear();
        } else {
            current.append(line);
            current += '\n';
        }
        pos = end + 1;
    }
    if (!current.empty()) record(current);
}

}  // namespace

Corpus load_fortunes(const std::string& dir) {
    Corpus c;
    c.name = "fortunes";
    c.files = fortune_files(dir);
    std::size_t k = 0;
    for (const std::string& file : c.files) {
        for_each_record(read_text_file(file), [&](const std::string& text) {
            std::string& split = k % 20 == 18 ? c.valid : k % 20 == 19 ? c.test : c.train;
            split += text;
            split += '\n';  // a blank line between records
            ++k;
        });
    }
    return c;
}

Corpus load_text(const std::string& path) {
    const std::string text = read_text_file(path);
    if (text.size() < 1000)
        throw DataError("charlm: '" + path + "' holds " + std::to_string(text.size()) +
                        " bytes; a language model needs at least 1000 (90 % train, 5 % validation, 5 % test)");
    // Cut after the first line break at or after each boundary; in a text
    // without one there, at the first character boundary (never inside a
    // UTF-8 sequence: continuation bytes are 10xxxxxx).
    auto cut_at = [&](std::size_t at) {
        const std::size_t nl = text.find('\n', at);
        if (nl != std::string::npos) return nl + 1;
        while (at < text.size() && (static_cast<unsigned char>(text[at]) & 0xC0) == 0x80) ++at;
        return at;
    };
    const std::size_t a = cut_at(text.size() * 9 / 10);
    const std::size_t b = std::max(a, cut_at(text.size() * 19 / 20));
    Corpus c;
    c.name = path;
    c.files = {path};
    c.train = text.substr(0, a);
    c.valid = text.substr(a, b - a);
    c.test = text.substr(b);
    if (c.valid.empty() || c.test.empty())
        throw DataError("charlm: '" + path + "' could not be split into non-empty validation and test parts at line breaks");
    return c;
}

}  // namespace tapegrad::charlm
