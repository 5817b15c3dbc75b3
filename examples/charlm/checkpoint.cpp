#include "checkpoint.hpp"

#include <filesystem>
#include <limits>

#include "tasks/flags.hpp"
#include "tasks/plot.hpp"

namespace tapegrad::charlm {

namespace fs = std::filesystem;
using json = nlohmann::json;

namespace {

constexpr const char* kStateNames[] = {"h", "c", "state2", "state3"};

void save_carried(const fs::path& path, const RecurrentStateValues<float>& carried) {
    std::vector<std::pair<std::string, const Tensor<float>*>> arrays;
    for (std::size_t k = 0; k < carried.values.size(); ++k)
        if (carried.values[k]) arrays.emplace_back(kStateNames[k], &*carried.values[k]);
    save_npz<float>(path.string(), arrays);
}

RecurrentStateValues<float> load_carried(const fs::path& path) {
    const std::map<std::string, Tensor<float>> arrays = load_npz<float>(path.string());
    RecurrentStateValues<float> carried;
    for (const auto& [name, value] : arrays) {
        std::size_t k = 0;
        while (k < carried.values.size() && name != kStateNames[k]) ++k;
        if (k == carried.values.size()) throw CheckpointError(path.string() + ": unexpected array '" + name + "'");
        carried.values[k] = value;
    }
    return carried;
}

// A field of state.json, checked: a damaged or doctored file is refused
// naming the file and the field before anything is restored.
struct Fields {
    const json& j;
    std::string file;

    [[noreturn]] void fail(const std::string& field, const std::string& what) const {
        throw std::runtime_error(file + ": field '" + field + "' " + what);
    }
    const json& at(const json& v, const std::string& field) const {
        if (!v.is_object() || !v.contains(field)) fail(field, "is missing");
        return v.at(field);
    }
    long integer(const json& v, const std::string& field, long lo, long hi) const {
        if (!v.is_number_integer() || v.get<std::int64_t>() < lo || v.get<std::int64_t>() > hi)
            fail(field, "must be an integer in [" + std::to_string(lo) + ", " + std::to_string(hi) + "], got " + v.dump());
        return static_cast<long>(v.get<std::int64_t>());
    }
    double number(const json& v, const std::string& field) const {
        if (!v.is_number() || !std::isfinite(v.get<double>())) fail(field, "must be a finite number, got " + v.dump());
        return v.get<double>();
    }
};

RunState read_state(const json& st, const std::string& file, const json& identity) {
    const Fields f{st, file};
    const json& saved = f.at(st, "identity");
    for (const auto& [key, value] : identity.items())
        if (!saved.contains(key) || saved.at(key) != value)
            throw std::runtime_error(file + ": the checkpoint was trained with " + key + " = " +
                                     (saved.contains(key) ? saved.at(key).dump() : "(none)") + ", this run asks for " +
                                     value.dump() + "; resume with the same options or use another --out");
    RunState s;
    s.step = f.integer(f.at(st, "step"), "step", 0, static_cast<long>(tasks::limits::kSteps));
    s.window_count = f.integer(f.at(st, "window_count"), "window_count", 0, s.step);
    s.window_sum = f.number(f.at(st, "window_sum"), "window_sum");
    s.wall = f.number(f.at(st, "wall"), "wall");
    const json& rows = f.at(st, "rows");
    if (!rows.is_array()) f.fail("rows", "must be a list");
    long last = 0;
    for (const json& r : rows) {
        if (!r.is_array() || r.size() != 5) f.fail("rows", "must hold lists of 5 numbers");
        const long step = f.integer(r[0], "rows", last + 1, s.step);  // in increasing step order
        s.rows.push_back({step, f.number(r[1], "rows"), f.number(r[2], "rows"), f.number(r[3], "rows"), f.number(r[4], "rows")});
        last = step;
    }
    return s;
}

}  // namespace

std::string latest_checkpoint(const std::string& dir) {
    const fs::path latest = fs::path(dir) / "checkpoints" / "latest";
    if (!fs::exists(latest)) return "";
    std::string name = read_text_file(latest.string());
    while (!name.empty() && (name.back() == '\n' || name.back() == '\r')) name.pop_back();
    // Only "step-<digits>": nothing that could lead outside checkpoints/.
    const bool ok = name.size() > 5 && name.rfind("step-", 0) == 0 &&
                    name.find_first_not_of("0123456789", 5) == std::string::npos;
    if (!ok) throw std::runtime_error(latest.string() + ": names '" + name.substr(0, 40) + "', not a checkpoint 'step-<n>'");
    return (fs::path(dir) / "checkpoints" / name).string();
}

void save_checkpoint(const std::string& dir, Module<float>& model, const Optimizer<float>& opt, const RunState& s,
                     const json& identity) {
    const fs::path ckpts = fs::path(dir) / "checkpoints";
    const std::string name = "step-" + std::to_string(s.step);
    const fs::path target = ckpts / name;
    fs::create_directories(target);
    save(model, (target / "model.npz").string());
    save(opt, (target / "optimizer.npz").string());
    save_carried(target / "carried.npz", s.carried);
    json rows = json::array();
    for (const LogRow& r : s.rows) rows.push_back({r.step, r.train_bits, r.valid_bits, r.lr, r.elapsed});
    const json st = {{"step", s.step}, {"window_sum", s.window_sum}, {"window_count", s.window_count},
                     {"wall", s.wall}, {"rows", rows}, {"identity", identity}};
    tasks::write_file_atomic((target / "state.json").string(), st.dump(1));
    // The pointer moves only once the whole checkpoint is on disk.
    tasks::write_file_atomic((ckpts / "latest").string(), name + "\n");
    for (const auto& entry : fs::directory_iterator(ckpts))
        if (entry.is_directory() && entry.path().filename() != name) fs::remove_all(entry.path());
}

bool load_checkpoint(const std::string& dir, Module<float>& model, Optimizer<float>& opt, RunState& s,
                     const json& identity) {
    const std::string folder = latest_checkpoint(dir);
    if (folder.empty()) return false;
    const std::string state_file = (fs::path(folder) / "state.json").string();
    json st;
    try {
        st = json::parse(read_text_file(state_file));
    } catch (const json::exception& e) {
        throw std::runtime_error(state_file + ": not valid JSON (" + e.what() + ")");
    }
    RunState loaded = read_state(st, state_file, identity);
    loaded.carried = load_carried(fs::path(folder) / "carried.npz");
    load(model, (fs::path(folder) / "model.npz").string());  // each load is all-or-nothing
    load(opt, (fs::path(folder) / "optimizer.npz").string());
    s = std::move(loaded);
    return true;
}

}  // namespace tapegrad::charlm
