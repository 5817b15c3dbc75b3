#pragma once
/// \file
/// What the example programs' checkpoints share: reading a state.json field
/// by field, and following checkpoints/latest safely.

#include <cstdint>
#include <filesystem>
#include <fstream>
#include <limits>
#include <stdexcept>
#include <string>

#include <nlohmann/json.hpp>

namespace tapegrad::tasks {

using json = nlohmann::json;

// A checkpoint's state.json read field by field: a damaged or doctored file
// (a step of -5 or 2^63 - 1, a string for a number, lists that disagree) is
// refused naming the file and the field, before anything is restored.
class StateFile {
public:
    StateFile(const json& j, std::string file) : j_(j), file_(std::move(file)) {}

    [[noreturn]] void fail(const std::string& field, const std::string& what) const {
        throw std::runtime_error(file_ + ": field '" + field + "' " + what);
    }
    const json& at(const std::string& field) const {
        if (!j_.is_object() || !j_.contains(field)) fail(field, "is missing");
        return j_.at(field);
    }
    // A whole number in [lo, hi]; `v` may be an element of a field, named `field`.
    long integer(const json& v, const std::string& field, long lo, long hi) const {
        // json keeps integers above 2^63 - 1 unsigned: compare those unsigned.
        const bool in_range = v.is_number_unsigned()
                                  ? v.get<std::uint64_t>() <= static_cast<std::uint64_t>(hi) &&
                                        static_cast<long>(v.get<std::uint64_t>()) >= lo
                                  : v.is_number_integer() && v.get<std::int64_t>() >= lo && v.get<std::int64_t>() <= hi;
        if (!in_range)
            fail(field, "must be an integer in [" + std::to_string(lo) + ", " + std::to_string(hi) + "], got " + v.dump());
        return static_cast<long>(v.get<std::int64_t>());
    }
    double number(const json& v, const std::string& field, double lo, double hi) const {
        if (!v.is_number() || !(v.get<double>() >= lo && v.get<double>() <= hi))
            fail(field, "must be a number in [" + std::to_string(lo) + ", " + std::to_string(hi) + "], got " + v.dump());
        return v.get<double>();
    }
    const json& array(const json& v, const std::string& field, std::size_t size) const {
        if (!v.is_array() || v.size() != size)
            fail(field, "must be a list of " + std::to_string(size) + " entries, got " + v.dump().substr(0, 60));
        return v;
    }

private:
    const json& j_;
    std::string file_;
};

// The checkpoint folder that checkpoints/latest names: "step-<n>", nothing
// that could lead outside checkpoints/.
inline std::string latest_checkpoint_name(const std::filesystem::path& latest) {
    std::ifstream lf(latest);
    std::string name;
    std::getline(lf, name);
    const bool ok = name.size() > 5 && name.compare(0, 5, "step-") == 0 && name.size() <= 5 + 19 &&
                    name.find_first_not_of("0123456789", 5) == std::string::npos;
    if (!ok) throw std::runtime_error(latest.string() + ": does not name a checkpoint (step-<n>): '" + name.substr(0, 60) + "'");
    return name;
}

}  // namespace tapegrad::tasks
