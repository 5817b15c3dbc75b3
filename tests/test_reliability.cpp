// Long runs keep memory flat; two threads training two models at once get
// exactly the results of running them one after the other.

#include <unistd.h>

#include <fstream>
#include <thread>

#include "tasks/data.hpp"
#include "test_util.hpp"

namespace tg = tapegrad;

namespace {

// Resident set size in bytes, from /proc/self/statm.
std::size_t resident_bytes() {
    std::ifstream f("/proc/self/statm");
    std::size_t pages = 0, resident = 0;
    f >> pages >> resident;
    return resident * static_cast<std::size_t>(sysconf(_SC_PAGESIZE));
}

struct Small : tg::Module<float> {
    tg::LSTM<float> lstm;
    tg::Linear<float> head;
    explicit Small(std::uint64_t seed) : Small(tg::Generator(seed)) {}
    explicit Small(tg::Generator&& gen)
        : lstm(tg::RecurrentOptions{.input_size = 2, .hidden_size = 16, .forget_bias = 1.0}, gen), head(16, 1, gen) {}
    void visit(tg::ModuleVisitor<float>& v) override {
        v.module("lstm", lstm);
        v.module("head", head);
    }
};

// Trains on the adding task; returns the last loss. `probe` is called with the step number.
template <class Probe>
float train(Small& m, long steps, std::uint64_t data_seed, Probe probe) {
    tg::Adam<float> opt(m.parameters(), {.lr = 1e-2});
    tg::Tape<float> t;
    tg::Generator gen(data_seed);
    float last = 0;
    for (long step = 1; step <= steps; ++step) {
        const auto b = tg::tasks::adding_batch(10, 8, gen);
        auto [out, state] = m.lstm(t.constant(b.x));
        auto loss = tg::mse_loss(m.head(tg::select(state.h, 0, -1)), t.constant(b.y));
        t.backward(loss);
        tg::clip_grad_norm(opt.params(), 1.0);
        opt.step();
        opt.zero_grad();
        last = loss.item();
        t.clear();
        probe(step);
    }
    return last;
}

}  // namespace

// AddressSanitizer keeps freed blocks in a quarantine of up to 256 MiB, so
// resident memory grows under it by design; the plain build measures RSS, and
// LeakSanitizer covers leaks in the sanitized one.
#if !defined(__SANITIZE_ADDRESS__)
TEST_CASE("10k training steps keep resident memory flat", "[reliability][long]") {
    Small m(1);
    std::size_t at_1k = 0, at_10k = 0;
    const float last = train(m, 10000, 7, [&](long step) {
        if (step == 1000) at_1k = resident_bytes();
        if (step == 10000) at_10k = resident_bytes();
    });
    INFO("RSS at step 1000: " << at_1k / 1024 << " KiB, at step 10000: " << at_10k / 1024 << " KiB");
    REQUIRE(at_1k > 0);
    REQUIRE(at_10k <= at_1k + 512 * 1024);  // no tape growth, no leak: less than 512 KiB over 9000 steps
    REQUIRE(last < 0.05f);                  // and it really trained
}
#endif

TEST_CASE("two threads training two models at once match a sequential run exactly", "[reliability][threads]") {
    auto run = [](std::uint64_t seed, std::vector<float>& out) {
        Small m(seed);
        train(m, 200, seed + 100, [](long) {});
        out.clear();
        for (auto* p : m.parameters()) out.insert(out.end(), p->value().begin(), p->value().end());
    };
    std::vector<float> seq_a, seq_b, par_a, par_b;
    run(1, seq_a);
    run(2, seq_b);
    std::thread ta([&] { run(1, par_a); });
    std::thread tb([&] { run(2, par_b); });
    ta.join();
    tb.join();
    REQUIRE(par_a == seq_a);
    REQUIRE(par_b == seq_b);
    REQUIRE(seq_a != seq_b);
}
