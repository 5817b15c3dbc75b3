#include "checkpoint.hpp"

#include <filesystem>
#include <limits>

#include "tasks/flags.hpp"
#include "tasks/plot.hpp"
#include "tasks/state_file.hpp"

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

RunState read_state(const json& st, const std::string& file, const json& identity) {
    constexpr double kHuge = std::numeric_limits<double>::max();
    const tasks::StateFile f(st, file);
    const json& saved = f.at("identity");
    for (const auto& [key, value] : identity.items())
        if (!saved.contains(key) || saved.at(key) != value)
            throw std::runtime_error(file + ": the checkpoint was trained with " + key + " = " +
                                     (saved.contains(key) ? saved.at(key).dump() : "(none)") + ", this run asks for " +
                                     value.dump() + "; resume with the same options or use another --out");
    RunState s;
    s.step = f.integer(f.at("step"), "step", 0, static_cast<long>(tasks::limits::kSteps));
    s.window_count = f.integer(f.at("window_count"), "window_count", 0, s.step);
    s.window_sum = f.number(f.at("window_sum"), "window_sum", -kHuge, kHuge);
    s.wall = f.number(f.at("wall"), "wall", 0, kHuge);
    const json& rows = f.at("rows");
    if (!rows.is_array()) f.fail("rows", "must be a list");
    long last = 0;
    for (const json& r : rows) {
        f.array(r, "rows", 5);
        const long step = f.integer(r[0], "rows", last + 1, s.step);  // in increasing step order
        s.rows.push_back({step, f.number(r[1], "rows", -kHuge, kHuge), f.number(r[2], "rows", -kHuge, kHuge),
                          f.number(r[3], "rows", -kHuge, kHuge), f.number(r[4], "rows", -kHuge, kHuge)});
        last = step;
    }
    return s;
}

}  // namespace

std::string latest_checkpoint(const std::string& dir) {
    const fs::path latest = fs::path(dir) / "checkpoints" / "latest";
    if (!fs::exists(latest)) return "";
    return (fs::path(dir) / "checkpoints" / tasks::latest_checkpoint_name(latest)).string();
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
