// Generating text from a character language model, one character at a time
// (batch 1, no gradients): tapegrad's char LM as examples/charlm samples it
// (tapegrad::charlm::sample) against the same model in LibTorch
// (torch_sampling.cpp), in characters per second on one thread. The two sides
// alternate within each round; each round's ratio is taken on its own, so
// that the host's drift between rounds cancels (issue 16).
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <fstream>
#include <string>
#include <vector>

#include <CLI/CLI.hpp>
#include <nlohmann/json.hpp>

#include "charlm/model.hpp"
#include "charlm/sample.hpp"
#include "sampling_side.hpp"

extern "C" void openblas_set_num_threads(int);

namespace {

namespace tg = tapegrad;

class TapegradSampler final : public bench::SamplingSide {
public:
    explicit TapegradSampler(const bench::SamplingConfig& c) : c_(c), vocab_(make_vocabulary(c.vocab)), model_(options(c), init_) {}

    std::int64_t generate(std::size_t n) override {
        tg::Generator gen(1);
        const std::string text = tg::charlm::sample(model_, vocab_, "\n", n, c_.temperature, gen);
        std::int64_t checksum = 0;
        for (const std::int64_t id : vocab_.encode(text)) checksum += id;
        return checksum;
    }
    std::string name() const override { return "tapegrad"; }

private:
    // `size` distinct characters: newline, then printable ASCII on.
    static tg::Vocabulary make_vocabulary(std::size_t size) {
        std::string chars = "\n";
        for (int ch = 32; chars.size() < size && ch < 127; ++ch) chars += static_cast<char>(ch);
        return tg::Vocabulary::from_text(chars);
    }
    static tg::charlm::ModelOptions options(const bench::SamplingConfig& c) {
        tg::charlm::ModelOptions o;
        o.cell = c.cell;
        o.vocab = make_vocabulary(c.vocab).size();
        o.embed = c.embed;
        o.hidden = c.hidden;
        return o;
    }

    bench::SamplingConfig c_;
    tg::Vocabulary vocab_;
    tg::Generator init_{1};
    tg::charlm::CharModel model_;
};

double seconds_of(bench::SamplingSide& side, std::size_t n) {
    const auto t0 = std::chrono::steady_clock::now();
    volatile std::int64_t sink = side.generate(n);
    (void)sink;
    return std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
}

double median(std::vector<double> v) {
    std::sort(v.begin(), v.end());
    const std::size_t m = v.size() / 2;
    return v.size() % 2 ? v[m] : (v[m - 1] + v[m]) / 2;
}

// One cell: `rounds` rounds of each side generating `n` characters (the
// order alternating from round to round), after one untimed short run each.
nlohmann::json measure(const bench::SamplingConfig& c, std::size_t n, int rounds, bool with_torch) {
    std::vector<std::unique_ptr<bench::SamplingSide>> sides;
    sides.push_back(std::make_unique<TapegradSampler>(c));
#ifdef TAPEGRAD_BENCH_WITH_TORCH
    if (with_torch) sides.push_back(bench::make_torch_sampler(c));
#endif
    for (auto& s : sides) seconds_of(*s, std::min<std::size_t>(n, 200));
    std::vector<std::vector<double>> rate(sides.size());
    std::vector<double> ratio;
    for (int r = 0; r < rounds; ++r) {
        std::vector<double> sec(sides.size());
        for (std::size_t k = 0; k < sides.size(); ++k) {
            const std::size_t i = r % 2 ? sides.size() - 1 - k : k;
            sec[i] = seconds_of(*sides[i], n);
            rate[i].push_back(static_cast<double>(n) / sec[i]);
        }
        if (with_torch) ratio.push_back(sec[0] / sec[1]);
    }
    nlohmann::json j{{"cell", c.cell}, {"vocab", c.vocab}, {"embed", c.embed}, {"hidden", c.hidden}, {"characters", n}, {"rounds", rounds}};
    for (std::size_t i = 0; i < sides.size(); ++i) {
        j[sides[i]->name() + "_chars_per_s"] = rate[i];
        j[sides[i]->name() + "_median_chars_per_s"] = median(rate[i]);
    }
    if (with_torch) {
        j["time_ratio_per_round"] = ratio;
        j["time_ratio_median"] = median(ratio);
        std::sort(ratio.begin(), ratio.end());
        j["time_ratio_min"] = ratio.front();
        j["time_ratio_max"] = ratio.back();
    }
    return j;
}

}  // namespace

int main(int argc, char** argv) {
    CLI::App app{"Char LM sampling speed, one character at a time: tapegrad against LibTorch, one thread."};
    std::vector<std::string> cells{"lstm", "gru"};
    std::size_t n = 20000, hidden = 256;
    int rounds = 5;
    std::string json_path;
    bool no_torch = false;
    app.add_option("--cells", cells, "cells (lstm, gru)")->check(CLI::IsMember({"lstm", "gru"}));
    app.add_option("--chars", n, "characters generated per side and round")->check(CLI::Range(1, 10000000));
    app.add_option("--hidden", hidden, "hidden units")->check(CLI::Range(1, 4096));
    app.add_option("--rounds", rounds, "rounds (sides alternate within each)")->check(CLI::Range(1, 1000));
    app.add_option("--json", json_path, "write the results here");
    app.add_flag("--no-torch", no_torch, "tapegrad only");
    CLI11_PARSE(app, argc, argv);
#ifndef TAPEGRAD_BENCH_WITH_TORCH
    no_torch = true;
#endif
    openblas_set_num_threads(1);
    nlohmann::json all = nlohmann::json::array();
    for (const std::string& cell : cells) {
        bench::SamplingConfig c;
        c.cell = cell;
        c.hidden = hidden;
        const nlohmann::json j = measure(c, n, rounds, !no_torch);
        std::printf("%-5s tapegrad %8.0f chars/s", cell.c_str(), j["tapegrad_median_chars_per_s"].get<double>());
        if (!no_torch)
            std::printf("   LibTorch %8.0f chars/s   time ours/LibTorch %.2f (%.2f-%.2f over %d rounds)",
                        j["LibTorch_median_chars_per_s"].get<double>(), j["time_ratio_median"].get<double>(),
                        j["time_ratio_min"].get<double>(), j["time_ratio_max"].get<double>(), rounds);
        std::printf("\n");
        all.push_back(j);
    }
    if (!json_path.empty()) {
        std::ofstream out(json_path);
        out << all.dump(2) << "\n";
        if (!out) {
            std::fprintf(stderr, "bench_sampling: cannot write %s\n", json_path.c_str());
            return 1;
        }
    }
    return 0;
}
