#pragma once
/// \file
/// Checks shared by the data helpers (io/sequences, text, batching, minibatch,
/// csv): user integers that must be positive, and opening a data file with
/// an error that names the function and the file. Internal: included by their
/// .cpp files only.

#include <cstdint>
#include <filesystem>
#include <fstream>
#include <string>
#include <system_error>

#include "../autodiff/errors.hpp"

namespace tapegrad::detail {

/// `value` as a size, or `ArgumentError` "fn: name must be positive, got -3".
/// Counts are taken as signed 64-bit integers so that a negative value (or an
/// unsigned one that wrapped) is seen, not reinterpreted as a huge size.
inline std::size_t positive_count(const char* fn, const char* name, std::int64_t value) {
    if (value <= 0)
        throw ArgumentError(std::string(fn) + ": " + name + " must be positive, got " + std::to_string(value));
    return static_cast<std::size_t>(value);
}

/// "'path'" for messages.
inline std::string quoted_path(const std::string& path) { return "'" + path + "'"; }

/// Opens `path` for reading in binary mode. `DataError` naming `fn` and the
/// file if it does not exist, is not a regular file (a folder, or a FIFO or
/// device, refused without reading from it: a FIFO would block), or cannot be
/// opened.
inline std::ifstream open_data_file(const char* fn, const std::string& path) {
    std::error_code ec;
    const auto status = std::filesystem::status(path, ec);
    const std::string where = std::string(fn) + ": " + quoted_path(path);
    if (ec || !std::filesystem::exists(status))
        throw DataError(where + ": cannot open: " + (ec ? ec.message() : std::string("no such file")));
    if (!std::filesystem::is_regular_file(status)) throw DataError(where + ": is not a regular file");
    std::ifstream in(path, std::ios::binary);
    if (!in) throw DataError(where + ": cannot open for reading");
    return in;
}

}  // namespace tapegrad::detail
