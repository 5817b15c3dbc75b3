// detail::run_parts (autodiff/helper_thread.hpp): every part runs once, on
// the calling thread or the helper, what the helper wrote is visible when
// the call returns, and the count of the helper's parts is true; several
// callers at once; a child after fork has no helper.
#include <sys/wait.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <thread>
#include <vector>

#include <tapegrad/autodiff/helper_thread.hpp>

#include "test_util.hpp"

namespace detail = tapegrad::detail;

namespace {

// Each part fills its slice of `values` with a value that depends on the
// round and the part, and notes the thread it ran on.
struct Work {
    static constexpr std::size_t parts = 8, slice = 4000;
    std::vector<long> values = std::vector<long>(parts * slice, 0);
    long round = 0;
    std::thread::id ran_on[parts];
    static void run(void* context, std::size_t part) noexcept {
        auto& w = *static_cast<Work*>(context);
        w.ran_on[part] = std::this_thread::get_id();
        for (std::size_t i = part * slice; i < (part + 1) * slice; ++i) w.values[i] = w.round * 10 + long(part);
    }
    std::size_t ran_here() const {
        std::size_t here = 0;
        for (auto id : ran_on) here += id == std::this_thread::get_id();
        return here;
    }
};

// Whether `values` hold what round `round` writes (all 0 before round 1).
bool holds(const Work& w, long round) {
    for (std::size_t i = 0; i < w.values.size(); ++i)
        if (w.values[i] != (round == 0 ? 0 : round * 10 + long(i / Work::slice))) return false;
    return true;
}

}  // namespace

TEST_CASE("run_parts: every part once, on this thread or the helper, all visible on return", "[helper_thread]") {
    Work w;
    std::size_t rounds_helped = 0;
    // 2000 rounds, and more (up to 10 s) until the helper has taken part in
    // one: on a machine whose other core is busy it may wake late for many.
    const auto until = std::chrono::steady_clock::now() + std::chrono::seconds(10);
    for (w.round = 1; w.round <= 2000 || (rounds_helped == 0 && std::chrono::steady_clock::now() < until); ++w.round) {
        const std::size_t helped = detail::run_parts(Work::parts, &Work::run, &w);
        REQUIRE(holds(w, w.round));
        REQUIRE(helped <= Work::parts);
        REQUIRE(w.ran_here() == Work::parts - helped);  // the helper's count is what it ran
        rounds_helped += helped != 0;
    }
    INFO("rounds the helper took part in: " << rounds_helped << " of 2000");
    CHECK(rounds_helped > 0);
}

TEST_CASE("run_parts: one part, or none, runs here without the helper", "[helper_thread]") {
    Work w;
    w.round = 1;
    CHECK(detail::run_parts(0, &Work::run, &w) == 0);
    CHECK(holds(w, 0));
    CHECK(detail::run_parts(1, &Work::run, &w) == 0);
    CHECK(w.ran_on[0] == std::this_thread::get_id());
    CHECK(w.values[0] == 10);
    CHECK(w.values[Work::slice] == 0);
}

TEST_CASE("run_parts: callers on several threads at once each get every part run", "[helper_thread]") {
    constexpr int callers = 4, rounds = 500;
    std::atomic<int> wrong{0};
    std::atomic<long> helped{0};
    std::vector<std::thread> threads;
    for (int t = 0; t < callers; ++t)
        threads.emplace_back([&] {
            Work w;
            for (w.round = 1; w.round <= rounds; ++w.round) {
                const std::size_t by_helper = detail::run_parts(Work::parts, &Work::run, &w);
                helped += long(by_helper);
                if (!holds(w, w.round) || w.ran_here() != Work::parts - by_helper) ++wrong;
            }
        });
    for (auto& t : threads) t.join();
    CHECK(wrong == 0);
    INFO("parts the helper ran: " << helped << " of " << callers * rounds * long(Work::parts));
    CHECK(helped > 0);
}

TEST_CASE("run_parts: a child after fork has no helper, runs every part itself and is told so", "[helper_thread]") {
    Work w;
    w.round = 1;
    detail::run_parts(Work::parts, &Work::run, &w);  // the parent's helper is started
    const pid_t child = fork();
    REQUIRE(child >= 0);
    if (child == 0) {
        w.round = 2;
        const std::size_t helped = detail::run_parts(Work::parts, &Work::run, &w);
        _exit(helped == 0 && holds(w, 2) && w.ran_here() == Work::parts ? 0 : 1);
    }
    int status = 0;
    REQUIRE(waitpid(child, &status, 0) == child);
    CHECK(WIFEXITED(status));
    CHECK(WEXITSTATUS(status) == 0);
}
