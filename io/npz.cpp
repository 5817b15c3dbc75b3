// .npz on top of libzip. The .npy header is parsed here rather than by
// xtensor's xnpy: that parser trusts its input (it allocates whatever shape the
// header declares and reports problems with asserts), while a checkpoint is a
// file from outside. Sizes the file declares are compared with each other and
// with the bytes really present before anything is allocated from them.

#include "npz.hpp"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>
#include <zip.h>

#include <algorithm>
#include <array>
#include <bit>
#include <cerrno>
#include <chrono>
#include <cstdint>
#include <cstring>
#include <filesystem>
#include <limits>
#include <optional>
#include <random>
#include <set>
#include <string_view>
#include <system_error>
#include <type_traits>

namespace tapegrad {

namespace {

static_assert(std::endian::native == std::endian::little || std::endian::native == std::endian::big,
              "mixed-endian hosts are not supported");
constexpr bool kLittleEndian = std::endian::native == std::endian::little;

constexpr unsigned char kMagic[6] = {0x93, 'N', 'U', 'M', 'P', 'Y'};
// numpy refuses arrays of more dimensions (NPY_MAXDIMS in numpy 1.x).
constexpr std::size_t kMaxRank = 32;
// numpy refuses longer .npy headers (numpy.lib.format's max_header_size), as
// "large and may not be safe to load securely": 32 dimensions need far less.
constexpr std::uint64_t kMaxHeaderLen = 10000;
// Unit of conversion and of each zip_fread call: bounds the scratch buffer.
constexpr std::size_t kChunk = std::size_t(1) << 20;

std::string errno_message(int e) { return std::generic_category().message(e); }

std::string zip_code_message(int code) {
    zip_error_t e;
    zip_error_init_with_code(&e, code);
    std::string m = zip_error_strerror(&e);
    zip_error_fini(&e);
    return m;
}

// A header excerpt fit for an error message: printable ASCII only, padding cut.
std::string excerpt(std::string_view s) {
    while (!s.empty() && (s.back() == ' ' || s.back() == '\n')) s.remove_suffix(1);
    constexpr std::size_t kMax = 100;
    std::string out;
    for (char c : s.substr(0, kMax)) out += (c >= 0x20 && c < 0x7f) ? c : '?';
    if (s.size() > kMax) out += "...";
    return out;
}

// ---------------------------------------------------------------------------
// .npy header: a Python dict literal such as
//   {'descr': '<f4', 'fortran_order': False, 'shape': (2, 3), }
// parsed as a tiny grammar (strings without escapes, True/False, tuples of
// non-negative integers) rather than evaluated.

class HeaderParser {
public:
    HeaderParser(std::string_view text, std::string where) : s_(text), where_(std::move(where)) {}

    NpyInfo parse() {
        std::optional<std::string> descr;
        std::optional<bool> fortran;
        std::optional<Shape> shape;
        skip_ws();
        expect('{');
        skip_ws();
        if (!eat('}')) {
            for (;;) {
                const std::string key = string_literal("a key");
                skip_ws();
                expect(':');
                skip_ws();
                if (key == "descr") {
                    if (descr) syntax("the key 'descr' appears twice");
                    if (peek() == '[') refuse("its dtype is structured (a list of fields), which is not supported");
                    descr = string_literal("the 'descr' string");
                } else if (key == "fortran_order") {
                    if (fortran) syntax("the key 'fortran_order' appears twice");
                    fortran = bool_literal();
                } else if (key == "shape") {
                    if (shape) syntax("the key 'shape' appears twice");
                    shape = tuple();
                } else {
                    syntax("unexpected key '" + key + "'");
                }
                skip_ws();
                if (eat('}')) break;
                expect(',');
                skip_ws();
                if (eat('}')) break;
            }
        }
        skip_ws();
        if (pos_ != s_.size()) syntax("text after the closing '}'");
        if (!descr) syntax("no 'descr' key");
        if (!fortran) syntax("no 'fortran_order' key");
        if (!shape) syntax("no 'shape' key");
        if (*fortran) refuse("fortran_order is True (column-major data), which is not supported");
        if (shape->size() > kMaxRank)
            refuse("its shape has " + std::to_string(shape->size()) + " dimensions, more than numpy's " +
                   std::to_string(kMaxRank));
        NpyInfo info;
        info.item_size = check_descr(*descr);
        info.descr = std::move(*descr);
        info.shape = std::move(*shape);
        return info;
    }

private:
    [[noreturn]] void syntax(const std::string& what) const {
        throw CheckpointError(where_ + "malformed .npy header \"" + excerpt(s_) + "\": " + what + " (at offset " +
                              std::to_string(pos_) + ")");
    }
    [[noreturn]] void refuse(const std::string& what) const { throw CheckpointError(where_ + what); }

    char peek() const { return pos_ < s_.size() ? s_[pos_] : '\0'; }
    void skip_ws() {
        while (pos_ < s_.size() && std::strchr(" \t\n\r\f\v", s_[pos_]) && s_[pos_] != '\0') ++pos_;
    }
    bool eat(char c) {
        if (peek() != c || pos_ >= s_.size()) return false;
        ++pos_;
        return true;
    }
    void expect(char c) {
        if (!eat(c)) syntax(std::string("expected '") + c + "'");
    }

    std::string string_literal(const char* what) {
        const char q = peek();
        if (q != '\'' && q != '"') syntax(std::string("expected ") + what + " in quotes");
        const std::size_t start = ++pos_;
        while (pos_ < s_.size() && s_[pos_] != q) {
            if (s_[pos_] == '\\') syntax("escape sequences are not supported");
            ++pos_;
        }
        if (pos_ >= s_.size()) syntax("unterminated string");
        return std::string(s_.substr(start, pos_++ - start));
    }

    bool bool_literal() {
        for (const auto& [word, value] : {std::pair<std::string_view, bool>{"True", true}, {"False", false}})
            if (s_.substr(pos_, word.size()) == word) {
                pos_ += word.size();
                return value;
            }
        syntax("expected True or False for 'fortran_order'");
    }

    // (), (3,), (2, 3) — and Python 2's (2L, 3L).
    Shape tuple() {
        Shape dims;
        expect('(');
        skip_ws();
        if (eat(')')) return dims;
        for (;;) {
            dims.push_back(integer());
            skip_ws();
            if (eat(')')) break;
            expect(',');
            skip_ws();
            if (eat(')')) break;
            if (dims.size() > kMaxRank) syntax("too many dimensions");
        }
        return dims;
    }

    std::size_t integer() {
        if (peek() < '0' || peek() > '9') syntax("expected a non-negative integer in 'shape'");
        std::size_t v = 0;
        while (peek() >= '0' && peek() <= '9') {
            const auto d = static_cast<std::size_t>(peek() - '0');
            if (v > (std::numeric_limits<std::size_t>::max() - d) / 10) syntax("a dimension in 'shape' is too large");
            v = v * 10 + d;
            ++pos_;
        }
        if (peek() == 'L' || peek() == 'l') ++pos_;
        return v;
    }

    // Returns the item size of a supported dtype, e.g. 4 for "<f4".
    std::size_t check_descr(const std::string& d) const {
        const bool well_formed = d.size() == 3 && std::strchr("<>|=", d[0]) && d[0] != '\0' && d[2] >= '1' && d[2] <= '9';
        const std::size_t size = well_formed ? static_cast<std::size_t>(d[2] - '0') : 0;
        const char kind = well_formed ? d[1] : '\0';
        const bool supported = (kind == 'f' && (size == 4 || size == 8)) ||
                               ((kind == 'i' || kind == 'u') && (size == 1 || size == 2 || size == 4 || size == 8)) ||
                               (kind == 'b' && size == 1);
        if (!supported)
            refuse("dtype '" + excerpt(d) + "' is not supported (float32, float64, integer and bool arrays are)");
        if (size > 1 && d[0] == '>') refuse("dtype '" + d + "' is big-endian, which is not supported");
        if (size > 1 && d[0] != '<') refuse("dtype '" + d + "' does not state little-endian byte order");
        return size;
    }

    std::string_view s_;
    std::string where_;
    std::size_t pos_ = 0;
};

// ---------------------------------------------------------------------------
// Element conversion. Bytes are assembled little-endian explicitly, which
// compiles to a plain load on little-endian hosts and is right on big-endian ones.

template <class S>
S load_le(const unsigned char* p) {
    if constexpr (std::is_same_v<S, bool>) {
        return p[0] != 0;
    } else {
        using U = std::conditional_t<sizeof(S) == 1, std::uint8_t,
                                     std::conditional_t<sizeof(S) == 2, std::uint16_t,
                                                        std::conditional_t<sizeof(S) == 4, std::uint32_t, std::uint64_t>>>;
        U u = 0;
        for (std::size_t k = 0; k < sizeof(S); ++k) u = static_cast<U>(u | (U(p[k]) << (8 * k)));
        return std::bit_cast<S>(u);
    }
}

template <class S, class T>
void convert_as(const unsigned char* src, std::size_t n, T* dst) {
    const std::size_t w = std::is_same_v<S, bool> ? 1 : sizeof(S);
    for (std::size_t i = 0; i < n; ++i) dst[i] = static_cast<T>(load_le<S>(src + i * w));
}

// `info.descr` has passed check_descr.
template <class T>
void convert(const NpyInfo& info, const unsigned char* src, std::size_t n, T* dst) {
    const char kind = info.descr[1];
    switch (info.item_size) {
        case 1:
            if (kind == 'b') return convert_as<bool>(src, n, dst);
            if (kind == 'i') return convert_as<std::int8_t>(src, n, dst);
            return convert_as<std::uint8_t>(src, n, dst);
        case 2:
            if (kind == 'i') return convert_as<std::int16_t>(src, n, dst);
            return convert_as<std::uint16_t>(src, n, dst);
        case 4:
            if (kind == 'f') return convert_as<float>(src, n, dst);
            if (kind == 'i') return convert_as<std::int32_t>(src, n, dst);
            return convert_as<std::uint32_t>(src, n, dst);
        default:
            if (kind == 'f') return convert_as<double>(src, n, dst);
            if (kind == 'i') return convert_as<std::int64_t>(src, n, dst);
            return convert_as<std::uint64_t>(src, n, dst);
    }
}

struct ZipDiscard {
    void operator()(zip_t* z) const { zip_discard(z); }
};
struct ZipFileClose {
    void operator()(zip_file_t* f) const { zip_fclose(f); }
};
using ZipFile = std::unique_ptr<zip_file_t, ZipFileClose>;

}  // namespace

// ---------------------------------------------------------------------------
// Reading

struct NpzReader::Impl {
    struct Entry {
        zip_uint64_t index = 0;
        std::string entry_name;  // "<name>.npy"
        std::uint64_t size = 0;  // uncompressed bytes, header included
        bool stored = true;
        // Whether `size` is known to be what the entry really holds (always for
        // stored entries, whose size was checked against the file's).
        bool size_verified = true;
        std::optional<NpyInfo> info;
    };

    std::string path;
    std::unique_ptr<zip_t, ZipDiscard> zip;
    std::uint64_t file_size = 0;
    std::vector<std::string> names;
    std::map<std::string, Entry> entries;

    // Lists and checks the entries of the archive just opened.
    void read_directory();

    std::string where(const Entry& e) const { return path + ": entry '" + e.entry_name + "': "; }
    [[noreturn]] void fail(const Entry& e, const std::string& what) const { throw CheckpointError(where(e) + what); }
    // A uint64 above 2^63 − 1 wraps to a negative int64 in `convert`: refuse it.
    void check_int64_range(const Entry& e, const Index& out) const {
        const std::int64_t* d = out.data();
        const auto bad = std::find_if(d, d + out.size(), [](std::int64_t v) { return v < 0; });
        if (bad != d + out.size())
            fail(e, "element " + std::to_string(bad - d) + " of the uint64 array is " + std::to_string(static_cast<std::uint64_t>(*bad)) +
                        ", beyond int64's range");
    }

    Entry& find(const std::string& name) {
        auto it = entries.find(name);
        if (it == entries.end()) throw CheckpointError(path + ": no array named '" + name + "'");
        return it->second;
    }

    ZipFile open_raw(const Entry& e) {
        ZipFile f(zip_fopen_index(zip.get(), e.index, 0));
        if (!f) fail(e, std::string("cannot be opened: ") + zip_strerror(zip.get()));
        return f;
    }

    // Reads exactly n bytes; `what` describes them for the message.
    void read_exact(const Entry& e, zip_file_t* f, void* dst, std::uint64_t n, const char* what) {
        auto* p = static_cast<unsigned char*>(dst);
        std::uint64_t done = 0;
        while (done < n) {
            const zip_int64_t got = zip_fread(f, p + done, std::min<std::uint64_t>(n - done, kChunk));
            if (got < 0) fail(e, std::string("cannot be read (") + what + "): " + zip_file_strerror(f));
            if (got == 0)
                fail(e, std::string("is truncated: ") + what + " ended after " + std::to_string(done) + " of " +
                            std::to_string(n) + " bytes");
            done += static_cast<std::uint64_t>(got);
        }
    }

    // Reading past the last byte is what makes libzip compare the CRC.
    void expect_end(const Entry& e, zip_file_t* f) {
        unsigned char c;
        const zip_int64_t got = zip_fread(f, &c, 1);
        if (got < 0) fail(e, std::string("is corrupt: ") + zip_file_strerror(f));
        if (got > 0) fail(e, "holds more bytes than its zip header declares");
    }

    // A compressed entry's uncompressed size is only a claim until the data
    // has been inflated once: count the bytes before allocating from it.
    void verify_size(Entry& e) {
        ZipFile f = open_raw(e);
        std::vector<unsigned char> scratch(std::min<std::uint64_t>(kChunk, std::max<std::uint64_t>(e.size, 1)));
        std::uint64_t total = 0;
        for (;;) {
            const zip_int64_t got = zip_fread(f.get(), scratch.data(), scratch.size());
            if (got < 0) fail(e, std::string("cannot be decompressed: ") + zip_file_strerror(f.get()));
            if (got == 0) break;
            total += static_cast<std::uint64_t>(got);
            if (total > e.size) break;
        }
        if (total != e.size)
            fail(e, "declares " + std::to_string(e.size) + " bytes uncompressed, but " +
                        (total > e.size ? "decompresses to more" : "decompresses to " + std::to_string(total)));
        e.size_verified = true;
    }

    struct Preamble {
        std::size_t bytes = 0;        // magic, version and header length: 10 or 12
        std::uint64_t header_len = 0;  // as declared, at most kMaxHeaderLen
    };

    // Reads and checks the .npy preamble of an entry just opened.
    Preamble read_preamble(const Entry& e, zip_file_t* f) {
        unsigned char pre[12];
        if (e.size < 10)
            fail(e, "holds " + std::to_string(e.size) + " bytes, too few for a .npy array (its header alone takes at least 10)");
        read_exact(e, f, pre, 8, "the .npy magic string");
        if (std::memcmp(pre, kMagic, sizeof kMagic) != 0)
            fail(e, "is not a .npy array (it does not start with the .npy magic string)");
        const unsigned major = pre[6], minor = pre[7];
        if (major < 1 || major > 3 || minor != 0)
            fail(e, "has .npy format version " + std::to_string(major) + "." + std::to_string(minor) +
                        "; only 1.0, 2.0 and 3.0 exist");
        const std::size_t len_bytes = major == 1 ? 2 : 4;
        Preamble p{8 + len_bytes, 0};
        if (e.size < p.bytes) fail(e, "holds " + std::to_string(e.size) + " bytes, too few for its .npy preamble");
        read_exact(e, f, pre + 8, len_bytes, "the .npy header length");
        for (std::size_t k = 0; k < len_bytes; ++k) p.header_len |= std::uint64_t(pre[8 + k]) << (8 * k);
        if (p.header_len > kMaxHeaderLen)
            fail(e, "its .npy header length is " + std::to_string(p.header_len) + " bytes, more than the " +
                        std::to_string(kMaxHeaderLen) + " numpy accepts");
        return p;
    }

    // Opens the entry, reads and validates its .npy header (into e.info) and
    // returns the handle positioned at the first data byte. The preamble (and
    // with it the header length limit) is checked before a compressed entry is
    // inflated whole to verify its size: a huge header is refused after 12 bytes.
    ZipFile open(Entry& e) {
        ZipFile f = open_raw(e);
        Preamble pre = read_preamble(e, f.get());
        if (!e.size_verified) {
            verify_size(e);
            f = open_raw(e);
            pre = read_preamble(e, f.get());
        }
        const std::uint64_t header_len = pre.header_len;
        const std::uint64_t after_preamble = e.size - pre.bytes;
        if (header_len > after_preamble)
            fail(e, "its .npy header length is " + std::to_string(header_len) + " bytes, but only " +
                        std::to_string(after_preamble) + " follow");
        std::string header(static_cast<std::size_t>(header_len), '\0');
        read_exact(e, f.get(), header.data(), header_len, "the .npy header");
        if (!e.info) {
            NpyInfo info = HeaderParser(header, where(e)).parse();
            const std::uint64_t holds = after_preamble - header_len;
            // The rule every tensor obeys (shape_fits): an empty shape like
            // (2^62, 0, 4) holds 0 bytes but would size loops of 2^62 rows.
            std::size_t elements = 0;
            if (!detail::shape_fits(info.shape, elements))
                fail(e, "its header's " + detail::too_large_message(shape_str(info.shape)));
            const std::size_t bytes = elements * info.item_size;  // <= 2^63: elements <= 2^60, item_size <= 8
            if (bytes != holds)
                fail(e, "header declares shape " + shape_str(info.shape) + " of '" + info.descr + "' = " + std::to_string(bytes) +
                            " bytes, but the entry holds " + std::to_string(holds) + " after its header");
            info.data_bytes = bytes;
            e.info = std::move(info);
        }
        return f;
    }
};

namespace {

// What a non-regular file is, for the message refusing it.
const char* file_kind(mode_t mode) {
    if (S_ISDIR(mode)) return "a directory";
    if (S_ISFIFO(mode)) return "a FIFO";
    if (S_ISSOCK(mode)) return "a socket";
    if (S_ISCHR(mode)) return "a character device";
    if (S_ISBLK(mode)) return "a block device";
    return "of another kind";
}

// A file that starts like a .npy array: a common mistake worth its own message.
bool is_single_npy(const void* head, std::size_t n) { return n >= sizeof kMagic && std::memcmp(head, kMagic, sizeof kMagic) == 0; }
constexpr const char* kSingleNpy = "is a single .npy array, not an .npz archive";

std::string not_a_zip(int code) {
    return std::string("is not a readable .npz (zip) archive") +
           (code == ZIP_ER_NOZIP ? " (no zip directory at its end: truncated, or not a zip file)" : "") + ": " +
           zip_code_message(code);
}

}  // namespace

NpzReader::NpzReader(const std::string& path) : impl_(std::make_unique<Impl>()) {
    Impl& m = *impl_;
    m.path = path;
    // O_NONBLOCK: opening a FIFO for reading would otherwise wait for a writer
    // forever, before the regular-file check below could refuse it.
    const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC | O_NONBLOCK);
    if (fd < 0) throw CheckpointError(path + ": cannot open: " + errno_message(errno));
    // Until libzip owns the descriptor, every exit closes it.
    auto refuse = [&](const std::string& what) {
        ::close(fd);
        throw CheckpointError(path + ": " + what);
    };
    struct stat st {};
    if (::fstat(fd, &st) != 0) refuse("cannot stat: " + errno_message(errno));
    if (!S_ISREG(st.st_mode)) refuse(std::string("is not a regular file (") + file_kind(st.st_mode) + ")");
    const int fl = ::fcntl(fd, F_GETFL);
    if (fl < 0 || ::fcntl(fd, F_SETFL, fl & ~O_NONBLOCK) != 0) refuse("cannot set blocking reads: " + errno_message(errno));
    m.file_size = static_cast<std::uint64_t>(st.st_size);
    if (m.file_size == 0) refuse("is empty (0 bytes), not an .npz archive");
    unsigned char head[sizeof kMagic];
    const ssize_t got = ::pread(fd, head, sizeof head, 0);
    if (got > 0 && is_single_npy(head, static_cast<std::size_t>(got))) refuse(kSingleNpy);
    int err = 0;
    zip_t* z = zip_fdopen(fd, 0, &err);
    if (!z) refuse(not_a_zip(err));
    m.zip.reset(z);
    m.read_directory();
}

NpzReader::NpzReader(std::span<const std::byte> bytes, std::string name) : impl_(std::make_unique<Impl>()) {
    Impl& m = *impl_;
    m.path = std::move(name);
    m.file_size = bytes.size();
    if (bytes.empty()) throw CheckpointError(m.path + ": is empty (0 bytes), not an .npz archive");
    if (is_single_npy(bytes.data(), bytes.size())) throw CheckpointError(m.path + ": " + kSingleNpy);
    zip_error_t error;
    zip_error_init(&error);
    // Not copied (freep = 0), and opened read-only: libzip never writes to it.
    zip_source_t* src = zip_source_buffer_create(bytes.data(), bytes.size(), 0, &error);
    zip_t* z = src ? zip_open_from_source(src, ZIP_RDONLY, &error) : nullptr;
    if (!z) {
        // On failure the source is still ours; on success it belongs to the archive.
        if (src) zip_source_free(src);
        const int code = zip_error_code_zip(&error);
        zip_error_fini(&error);
        throw CheckpointError(m.path + ": " + not_a_zip(code));
    }
    zip_error_fini(&error);
    m.zip.reset(z);
    m.read_directory();
}

void NpzReader::Impl::read_directory() {
    zip_t* z = zip.get();
    const zip_int64_t n = zip_get_num_entries(z, 0);
    if (n < 0) throw CheckpointError(path + ": cannot list the archive: " + zip_strerror(z));
    for (zip_uint64_t i = 0; i < static_cast<zip_uint64_t>(n); ++i) {
        zip_stat_t zs;
        zip_stat_init(&zs);
        if (zip_stat_index(z, i, 0, &zs) != 0)
            throw CheckpointError(path + ": cannot read entry #" + std::to_string(i) + ": " + zip_strerror(z));
        constexpr auto needed = ZIP_STAT_NAME | ZIP_STAT_SIZE | ZIP_STAT_COMP_SIZE | ZIP_STAT_COMP_METHOD;
        if ((zs.valid & needed) != needed)
            throw CheckpointError(path + ": entry #" + std::to_string(i) + " has an incomplete zip header");
        Entry e;
        e.index = i;
        e.entry_name = zs.name;
        e.size = zs.size;
        e.stored = zs.comp_method == ZIP_CM_STORE;
        e.size_verified = e.stored;
        static constexpr std::string_view suffix = ".npy";
        if (e.entry_name.size() < suffix.size() || e.entry_name.compare(e.entry_name.size() - suffix.size(), suffix.size(), suffix) != 0)
            fail(e, "is not a .npy array (numpy.savez names every entry '<name>.npy')");
        if ((zs.valid & ZIP_STAT_ENCRYPTION_METHOD) && zs.encryption_method != ZIP_EM_NONE) fail(e, "is encrypted");
        if (zs.comp_size > file_size)
            fail(e, "declares " + std::to_string(zs.comp_size) + " bytes of data, but the whole file has " +
                        std::to_string(file_size));
        if (e.stored && zs.size != zs.comp_size)
            fail(e, "is stored uncompressed, but declares " + std::to_string(zs.size) + " bytes and " +
                        std::to_string(zs.comp_size) + " bytes stored");
        if (!e.stored && !zip_compression_method_supported(zs.comp_method, 0))
            fail(e, "uses unsupported compression method " + std::to_string(zs.comp_method));
        std::string name = e.entry_name.substr(0, e.entry_name.size() - suffix.size());
        if (entries.count(name)) fail(e, "appears twice in the archive");
        names.push_back(name);
        entries.emplace(std::move(name), std::move(e));
    }
}

NpzReader::~NpzReader() = default;

const std::string& NpzReader::path() const { return impl_->path; }
const std::vector<std::string>& NpzReader::names() const { return impl_->names; }
bool NpzReader::contains(const std::string& name) const { return impl_->entries.count(name) != 0; }

const NpyInfo& NpzReader::info(const std::string& name) {
    Impl::Entry& e = impl_->find(name);
    if (!e.info) impl_->open(e);
    return *e.info;
}

template <class T>
Tensor<T> NpzReader::read(const std::string& name) {
    Impl& m = *impl_;
    Impl::Entry& e = m.find(name);
    ZipFile f = m.open(e);
    const NpyInfo& info = *e.info;
    if (std::is_integral_v<T> && info.descr[1] == 'f')
        m.fail(e, "dtype '" + info.descr + "' is floating point; reading it as int64 needs an integer or bool array");
    // Allocation is from a shape whose byte count equals bytes the entry really holds.
    Tensor<T> out = Tensor<T>::from_shape(info.shape);
    const std::size_t n = out.size();
    if (info.descr[1] == 'f' && info.item_size == sizeof(T) && kLittleEndian) {
        m.read_exact(e, f.get(), out.data(), info.data_bytes, "the array data");
    } else if (n) {
        const std::size_t per_chunk = kChunk / info.item_size;
        std::vector<unsigned char> buf(std::min(n, per_chunk) * info.item_size);
        for (std::size_t done = 0; done < n;) {
            const std::size_t k = std::min(n - done, per_chunk);
            m.read_exact(e, f.get(), buf.data(), k * info.item_size, "the array data");
            convert(info, buf.data(), k, out.data() + done);
            done += k;
        }
    }
    m.expect_end(e, f.get());
    if constexpr (std::is_integral_v<T>)
        if (info.descr[1] == 'u' && info.item_size == 8) m.check_int64_range(e, out);
    return out;
}

template <class T>
std::map<std::string, Tensor<T>> load_npz(NpzReader& reader) {
    std::map<std::string, Tensor<T>> out;
    for (const std::string& name : reader.names()) out.emplace(name, reader.read<T>(name));
    return out;
}

template <class T>
std::map<std::string, Tensor<T>> load_npz(const std::string& path) {
    NpzReader reader(path);
    return load_npz<T>(reader);
}

// ---------------------------------------------------------------------------
// Writing

namespace {

template <class T>
constexpr const char* npy_descr() {
    return std::is_same_v<T, float> ? "<f4" : "<f8";
}

// Format 1.0 unless the header needs more than 64 KiB; padded with spaces and
// a newline so that the data starts at a multiple of 64 bytes, as numpy does.
std::string npy_header(const char* descr, const Shape& shape) {
    const std::string dict = std::string("{'descr': '") + descr + "', 'fortran_order': False, 'shape': " + shape_str(shape) + ", }";
    for (const unsigned major : {1u, 2u}) {
        const std::size_t preamble = major == 1 ? 10 : 12;
        const std::size_t unpadded = preamble + dict.size() + 1;
        const std::size_t header_len = dict.size() + 1 + (64 - unpadded % 64) % 64;
        if (major == 1 && header_len > 0xFFFF) continue;
        std::string out(reinterpret_cast<const char*>(kMagic), sizeof kMagic);
        out += static_cast<char>(major);
        out += '\0';
        for (std::size_t k = 0; k < preamble - 8; ++k) out += static_cast<char>((header_len >> (8 * k)) & 0xFF);
        out += dict;
        out.append(header_len - dict.size() - 1, ' ');
        out += '\n';
        return out;
    }
    return {};  // unreachable: a 2.0 header holds 4 GiB
}

// Removes the file in its destructor unless released.
struct TempFile {
    std::string path;
    bool armed = false;
    ~TempFile() {
        if (armed) ::unlink(path.c_str());
    }
};

// A new, empty file next to `target` with a unique name, as mkstemp makes,
// but created with mode 0666 so that the umask applies (mkstemp's 0600 would
// make every checkpoint private), or with the mode of the file it replaces.
// The name has a fixed length of 16 (".tg-XXXXXXXX.tmp"), whatever the
// target's: a target name of NAME_MAX (255) characters must still be savable,
// and libzip's own temporary adds 7 more characters to ours.
int create_temp(const std::string& target, TempFile& tmp) {
    namespace fs = std::filesystem;
    const fs::path t(target);
    static thread_local std::mt19937_64 rng(std::random_device{}() ^
                                            static_cast<std::uint64_t>(std::chrono::steady_clock::now().time_since_epoch().count()) ^
                                            static_cast<std::uint64_t>(::getpid()));
    static constexpr char alphabet[] = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789";
    int last_error = 0;
    for (int attempt = 0; attempt < 100; ++attempt) {
        std::string name = ".tg-";
        for (int k = 0; k < 8; ++k) name += alphabet[rng() % (sizeof alphabet - 1)];
        const fs::path candidate = t.parent_path() / (name + ".tmp");
        const int fd = ::open(candidate.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0666);
        if (fd >= 0) {
            tmp.path = candidate.string();
            tmp.armed = true;
            struct stat st {};
            if (::stat(target.c_str(), &st) == 0 && S_ISREG(st.st_mode)) (void)::fchmod(fd, st.st_mode & 07777);
            return fd;
        }
        last_error = errno;
        if (last_error != EEXIST) break;
    }
    const std::string dir = t.parent_path().empty() ? std::string(".") : t.parent_path().string();
    throw CheckpointError(target + ": cannot create a temporary file in '" + dir + "': " + errno_message(last_error));
}

void write_all(int fd, const void* data, std::size_t n, const std::string& target) {
    const auto* p = static_cast<const unsigned char*>(data);
    while (n) {
        const ssize_t w = ::write(fd, p, n);
        if (w < 0 && errno == EINTR) continue;
        if (w <= 0) throw CheckpointError(target + ": cannot write: " + errno_message(w < 0 ? errno : EIO));
        p += w;
        n -= static_cast<std::size_t>(w);
    }
}

void fsync_path(const std::string& path, int flags, const std::string& target, const char* what) {
    const int fd = ::open(path.c_str(), flags | O_CLOEXEC);
    if (fd < 0) throw CheckpointError(target + ": cannot open " + what + " to flush it: " + errno_message(errno));
    const int rc = ::fsync(fd);
    const int e = errno;
    ::close(fd);
    // Some file systems cannot sync a directory; that is no reason to fail a save.
    if (rc != 0 && !(e == EINVAL && (flags & O_DIRECTORY)))
        throw CheckpointError(target + ": cannot flush " + what + " to disk: " + errno_message(e));
}

}  // namespace

template <class T>
void save_npz(const std::string& path, const std::vector<std::pair<std::string, const Tensor<T>*>>& arrays) {
    std::set<std::string> seen;
    for (const auto& [name, tensor] : arrays) {
        if (!tensor) throw CheckpointError(path + ": array '" + name + "' is null");
        if (!seen.insert(name).second) throw CheckpointError(path + ": two arrays are named '" + name + "'");
    }
    // Everything libzip reads at zip_close must outlive it: headers, fragment
    // lists and, on big-endian hosts, little-endian copies of the data.
    std::vector<std::string> headers;
    std::vector<std::vector<unsigned char>> swapped;
    std::vector<std::array<zip_buffer_fragment_t, 2>> fragments(arrays.size());
    headers.reserve(arrays.size());
    for (const auto& [name, tensor] : arrays)
        headers.push_back(npy_header(npy_descr<T>(), Shape(tensor->shape().begin(), tensor->shape().end())));

    TempFile tmp;
    const int fd = create_temp(path, tmp);
    if (arrays.empty()) {
        // libzip writes nothing for an archive without entries; numpy.savez
        // writes a bare end-of-central-directory record.
        unsigned char eocd[22] = {'P', 'K', 5, 6};
        try {
            write_all(fd, eocd, sizeof eocd, path);
        } catch (...) {
            ::close(fd);
            throw;
        }
    }
    // libzip writes the archive to a file of its own and renames it over ours.
    ::close(fd);
    if (!arrays.empty()) {
        int err = 0;
        zip_t* z = zip_open(tmp.path.c_str(), ZIP_CREATE | ZIP_TRUNCATE, &err);
        if (!z) throw CheckpointError(path + ": cannot create the archive: " + zip_code_message(err));
        auto abandon = [&](const std::string& what) {
            const std::string msg = path + ": " + what + ": " + zip_strerror(z);
            zip_discard(z);
            throw CheckpointError(msg);
        };
        for (std::size_t i = 0; i < arrays.size(); ++i) {
            const auto& [name, tensor] = arrays[i];
            const std::size_t data_bytes = tensor->size() * sizeof(T);
            const unsigned char* data = reinterpret_cast<const unsigned char*>(tensor->data());
            if constexpr (!kLittleEndian) {
                std::vector<unsigned char>& copy = swapped.emplace_back(data, data + data_bytes);
                for (std::size_t k = 0; k < data_bytes; k += sizeof(T)) std::reverse(copy.begin() + k, copy.begin() + k + sizeof(T));
                data = copy.data();
            }
            auto& fr = fragments[i];
            fr[0] = {reinterpret_cast<zip_uint8_t*>(headers[i].data()), headers[i].size()};
            fr[1] = {const_cast<zip_uint8_t*>(data), data_bytes};
            zip_source_t* src = zip_source_buffer_fragment(z, fr.data(), data_bytes ? 2 : 1, 0);
            if (!src) abandon("cannot add array '" + name + "'");
            const zip_int64_t index = zip_file_add(z, (name + ".npy").c_str(), src, ZIP_FL_ENC_UTF_8);
            if (index < 0) {
                zip_source_free(src);
                abandon("cannot add array '" + name + "'");
            }
            // Stored, as numpy.savez does: a checkpoint of floats barely compresses.
            if (zip_set_file_compression(z, static_cast<zip_uint64_t>(index), ZIP_CM_STORE, 0) != 0)
                abandon("cannot add array '" + name + "'");
        }
        if (zip_close(z) != 0) abandon("cannot write the archive");
    }
    fsync_path(tmp.path, O_RDONLY, path, "the new file");
    if (::rename(tmp.path.c_str(), path.c_str()) != 0)
        throw CheckpointError(path + ": cannot replace it with the new file: " + errno_message(errno));
    tmp.armed = false;
    const std::filesystem::path dir = std::filesystem::path(path).parent_path();
    fsync_path(dir.empty() ? std::string(".") : dir.string(), O_RDONLY | O_DIRECTORY, path, "its folder");
}

#define TAPEGRAD_INSTANTIATE(T)                                                                                   \
    template Tensor<T> NpzReader::read<T>(const std::string&);                                                    \
    template std::map<std::string, Tensor<T>> load_npz<T>(const std::string&);                                    \
    template std::map<std::string, Tensor<T>> load_npz<T>(NpzReader&);                                            \
    template void save_npz<T>(const std::string&, const std::vector<std::pair<std::string, const Tensor<T>*>>&);
TAPEGRAD_INSTANTIATE(float)
TAPEGRAD_INSTANTIATE(double)
template Index NpzReader::read<std::int64_t>(const std::string&);
template std::map<std::string, Index> load_npz<std::int64_t>(const std::string&);
template std::map<std::string, Index> load_npz<std::int64_t>(NpzReader&);

}  // namespace tapegrad
