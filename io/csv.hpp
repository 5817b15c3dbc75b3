#pragma once
/// \file
/// `read_csv`: a file of numbers in rows and columns (a time series, one row
/// per time step) as a (rows, columns) tensor.
///
/// The format it reads: one row per line ("\n" or "\r\n"), fields separated
/// by `delimiter`, spaces and tabs around a field ignored, blank lines
/// skipped, every row with the same number of fields. A field is a decimal or
/// exponent number as `std::from_chars` reads it (locale-independent: the
/// decimal separator is always '.'), optionally with a leading '+'; "nan"
/// and "inf" are accepted. No quoting: a quoted or empty field is refused.
/// Header names are taken as written (trimmed, surrounding double quotes
/// removed).

#include <string>
#include <vector>

#include "../autodiff/tensor.hpp"

namespace tapegrad {

struct CsvOptions {
    /// Whether the first non-blank line holds column names.
    bool header = false;
    /// Not a digit, sign, '.', space, tab, quote or line break.
    char delimiter = ',';
};

template <class T>
struct CsvTable {
    /// (rows, columns): row r is data line r.
    Tensor<T> values;
    /// The header's names (empty without `header`).
    std::vector<std::string> columns;
};

/// Reads `path`. `DataError` naming the file, the line and (for a field) the
/// column (1-based) for: a missing or unreadable file, an empty file (or a
/// header and no data), a row with another number of fields than the first,
/// an empty field, a field that is not a number or is outside T's range. A
/// file too large for memory or for a tensor is a `DataError` naming the line
/// reached. `ArgumentError` for a bad delimiter.
template <class T>
CsvTable<T> read_csv(const std::string& path, const CsvOptions& options = {});

}  // namespace tapegrad
