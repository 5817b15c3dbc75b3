#include "csv.hpp"

#include <algorithm>
#include <charconv>
#include <new>
#include <stdexcept>
#include <string_view>
#include <system_error>

#include "data_support.hpp"

namespace tapegrad {

namespace {

void check_delimiter(char d) {
    const std::string_view refused = "0123456789+-.eE \t\"\r\n";
    if (refused.find(d) != std::string_view::npos || d == '\0')
        throw ArgumentError(std::string("read_csv: delimiter '") + (d == '\n' ? std::string("\\n") : std::string(1, d)) +
                            "' is a character that numbers, spacing, quotes or line breaks use");
}

std::string_view trim(std::string_view s) {
    while (!s.empty() && (s.front() == ' ' || s.front() == '\t')) s.remove_prefix(1);
    while (!s.empty() && (s.back() == ' ' || s.back() == '\t')) s.remove_suffix(1);
    return s;
}

std::vector<std::string_view> split_fields(std::string_view line, char delimiter) {
    std::vector<std::string_view> fields;
    for (std::size_t start = 0;;) {
        const std::size_t end = line.find(delimiter, start);
        fields.push_back(trim(line.substr(start, end == std::string_view::npos ? std::string_view::npos : end - start)));
        if (end == std::string_view::npos) return fields;
        start = end + 1;
    }
}

/// A field shown in a message: quoted, cut after 40 characters.
std::string excerpt(std::string_view field) {
    return "'" + std::string(field.substr(0, 40)) + (field.size() > 40 ? "...'" : "'");
}

/// The lines of one file, turned into rows of numbers.
template <class T>
class CsvParser {
public:
    CsvParser(const std::string& path, const CsvOptions& o) : where_("read_csv: " + detail::quoted_path(path)), o_(o) {}

    std::string at(std::size_t line, std::size_t column = 0) const {
        return where_ + ", line " + std::to_string(line) + (column ? ", column " + std::to_string(column) : "");
    }
    /// One line (without its line break); blank lines are skipped.
    void line(std::string_view text, std::size_t line_no) {
        if (!text.empty() && text.back() == '\r') text.remove_suffix(1);
        if (trim(text).empty()) return;
        const std::vector<std::string_view> fields = split_fields(text, o_.delimiter);
        if (o_.header && !header_seen_) {
            header_seen_ = true;
            for (std::string_view name : fields) {
                if (name.size() >= 2 && name.front() == '"' && name.back() == '"') name = name.substr(1, name.size() - 2);
                table_.columns.emplace_back(name);
            }
            set_width(fields.size(), line_no);
            return;
        }
        if (width_ == 0) set_width(fields.size(), line_no);
        if (fields.size() != width_)
            throw DataError(at(line_no) + ": " + std::to_string(fields.size()) + " fields, expected " +
                            std::to_string(width_) + " (as on line " + std::to_string(width_line_) + ")");
        for (std::size_t c = 0; c < fields.size(); ++c) values_.push_back(number(fields[c], line_no, c + 1));
        ++rows_;
    }
    /// The table; `DataError` if no data row was read.
    CsvTable<T> finish(std::size_t lines) {
        if (rows_ == 0)
            throw DataError(where_ + ": " + (header_seen_ ? "has a header but no data rows" : lines ? "has only blank lines" : "is empty"));
        table_.values = detail::new_tensor<T>("read_csv", Shape{rows_, width_});
        std::copy(values_.begin(), values_.end(), table_.values.data());
        return std::move(table_);
    }

private:
    void set_width(std::size_t width, std::size_t line_no) { width_ = width, width_line_ = line_no; }
    T number(std::string_view field, std::size_t line_no, std::size_t column) const {
        if (field.empty()) throw DataError(at(line_no, column) + ": empty field (write nan for a missing value)");
        const char* first = field.data();
        const char* last = field.data() + field.size();
        if (*first == '+' && field.size() > 1 && first[1] != '-' && first[1] != '+') ++first;  // from_chars refuses '+'
        T value{};
        const auto [end, ec] = std::from_chars(first, last, value);
        if (ec == std::errc::result_out_of_range)
            throw DataError(at(line_no, column) + ": " + excerpt(field) + " is outside the range of " +
                            (sizeof(T) == 4 ? "float" : "double"));
        if (ec != std::errc() || end != last) throw DataError(at(line_no, column) + ": " + excerpt(field) + " is not a number");
        return value;
    }

    std::string where_;
    CsvOptions o_;
    CsvTable<T> table_;
    std::vector<T> values_;
    std::size_t rows_ = 0, width_ = 0, width_line_ = 0;
    bool header_seen_ = false;
};

}  // namespace

template <class T>
CsvTable<T> read_csv(const std::string& path, const CsvOptions& options) {
    check_delimiter(options.delimiter);
    std::ifstream in = detail::open_data_file("read_csv", path);
    CsvParser<T> parser(path, options);
    std::string text;
    std::size_t line_no = 1;  // the line being read or parsed
    try {
        for (; std::getline(in, text); ++line_no) parser.line(text, line_no);
        if (in.bad()) throw DataError(parser.at(line_no) + ": read error");
        return parser.finish(line_no - 1);
    } catch (const std::bad_alloc&) {  // a file (or one line of it) larger than the memory
        throw DataError(parser.at(line_no) + ": out of memory (the file is too large to read)");
    } catch (const std::length_error&) {
        throw DataError(parser.at(line_no) + ": out of memory (the file is too large to read)");
    }
}

template CsvTable<float> read_csv(const std::string&, const CsvOptions&);
template CsvTable<double> read_csv(const std::string&, const CsvOptions&);

}  // namespace tapegrad
