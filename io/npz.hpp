#pragma once
/// \file
/// .npz archives, the format of `numpy.savez`: a zip file holding one .npy
/// array per entry, named "<name>.npy".
///
/// Writing stores each array uncompressed, little-endian, C order, in .npy
/// format 1.0 (2.0 only for a header that does not fit in 64 KiB), exactly as
/// `numpy.savez` does, and replaces the target atomically.
///
/// Reading accepts what `numpy.savez` and `numpy.savez_compressed` write:
/// float32, float64, integer and bool arrays, .npy format 1.0, 2.0 and 3.0,
/// stored or deflated entries; values are converted to the requested T. Files
/// are treated as untrusted: every malformed, truncated or inconsistent part
/// throws `CheckpointError` naming the file and the entry, and nothing is
/// allocated from a size the file declares before that size has been checked
/// against the bytes the file really holds.

#include <cstddef>
#include <map>
#include <memory>
#include <span>
#include <string>
#include <utility>
#include <vector>

#include "../autodiff/errors.hpp"
#include "../autodiff/tensor.hpp"

namespace tapegrad {

/// A checkpoint or .npz file cannot be read or written, or does not fit what it
/// is loaded into. The message names the file and what is wrong (a missing,
/// unexpected or wrongly-shaped key, an unreadable entry).
struct CheckpointError : Error {
    using Error::Error;
};

/// What an entry's .npy header declares, after validation.
struct NpyInfo {
    /// The dtype as written in the header, e.g. "<f4", "<f8", "|b1".
    std::string descr;
    Shape shape;
    /// Bytes per element.
    std::size_t item_size = 0;
    /// Bytes of array data; always equal to what the entry holds after its header.
    std::size_t data_bytes = 0;
};

/// An open .npz file. Opening reads and checks the zip directory only; headers
/// and data are read per array, on demand, so a few arrays can be taken out of
/// a large archive cheaply.
class NpzReader {
public:
    /// Throws `CheckpointError` if the file cannot be opened, is not a regular
    /// file (a FIFO, device or folder is refused without reading from it), is
    /// not a zip archive, or has an entry that is not "<name>.npy", is
    /// encrypted, appears twice or declares more bytes than the file holds.
    explicit NpzReader(const std::string& path);
    /// Reads an archive held in memory, with the same checks as a file; `name`
    /// stands for the path in messages. The bytes are not copied: they must
    /// stay valid and unchanged as long as the reader exists.
    NpzReader(std::span<const std::byte> bytes, std::string name);
    ~NpzReader();
    NpzReader(const NpzReader&) = delete;
    NpzReader& operator=(const NpzReader&) = delete;

    /// The path, or the name given to an archive in memory.
    const std::string& path() const;
    /// Array names (entry names without ".npy"), in archive order.
    const std::vector<std::string>& names() const;
    bool contains(const std::string& name) const;

    /// Reads and validates the array's .npy header, not its data. Throws
    /// `CheckpointError` for an unknown name or a bad header, including one
    /// longer than numpy's limit of 10000 bytes.
    const NpyInfo& info(const std::string& name);
    /// Reads the array, converting its elements to T: float or double (from
    /// any supported dtype), or std::int64_t for an `Index` (from integer and
    /// bool arrays only: a floating-point array, or a uint64 value above
    /// 2^63 − 1, throws `CheckpointError` naming the file and the array).
    template <class T>
    Tensor<T> read(const std::string& name);

private:
    struct Impl;
    std::unique_ptr<Impl> impl_;
};

/// Every array of an .npz file, converted to T (float, double or std::int64_t).
template <class T>
std::map<std::string, Tensor<T>> load_npz(const std::string& path);
/// Every array of an open archive (e.g. one in memory), converted to T.
template <class T>
std::map<std::string, Tensor<T>> load_npz(NpzReader& reader);

/// Writes `arrays` (name → tensor; names must be distinct) as an .npz file that
/// `numpy.load` reads, in dtype T. Atomic: the data goes to a new file in the
/// same folder, is flushed to disk and renamed over `path` (keeping an existing
/// file's permissions), so `path` holds either the old file or the complete new
/// one. The temporary file's name, `.tg-XXXXXXXX.tmp`, has a fixed length, so
/// any name the file system allows for `path` works. On failure throws
/// `CheckpointError` and leaves no temporary file behind.
template <class T>
void save_npz(const std::string& path, const std::vector<std::pair<std::string, const Tensor<T>*>>& arrays);

}  // namespace tapegrad
