// detail::run_two_parts (autodiff/helper_thread.hpp): both parts run, on two
// threads, and what the helper wrote is visible when the call returns; a
// call that finds the helper taken runs nothing and says so; a child after
// fork has no helper.
#include <sys/wait.h>
#include <unistd.h>

#include <atomic>
#include <thread>
#include <vector>

#include <tapegrad/autodiff/helper_thread.hpp>

#include "test_util.hpp"

namespace detail = tapegrad::detail;

namespace {

// Each part fills its half of `values` with a value that depends on the
// round, and notes the thread it ran on.
struct Work {
    std::vector<long> values = std::vector<long>(2000, 0);
    long round = 0;
    std::thread::id ran_on[2];
    static void run(void* context, int part) noexcept {
        auto& w = *static_cast<Work*>(context);
        w.ran_on[part] = std::this_thread::get_id();
        const std::size_t half = w.values.size() / 2;
        for (std::size_t i = part * half; i < (part + 1) * half; ++i) w.values[i] = w.round * 10 + part;
    }
};

// Whether `values` hold what round `round` writes (all 0 before round 1).
bool holds(const Work& w, long round) {
    const std::size_t half = w.values.size() / 2;
    for (std::size_t i = 0; i < w.values.size(); ++i)
        if (w.values[i] != (round == 0 ? 0 : round * 10 + (i < half ? 0 : 1))) return false;
    return true;
}

}  // namespace

TEST_CASE("run_two_parts: part 0 here, part 1 on another thread, both done and visible on return", "[helper_thread]") {
    Work w;
    for (w.round = 1; w.round <= 2000; ++w.round) {
        REQUIRE(detail::run_two_parts(&Work::run, &w));
        REQUIRE(holds(w, w.round));
        REQUIRE(w.ran_on[0] == std::this_thread::get_id());
        REQUIRE(w.ran_on[1] != std::this_thread::get_id());
    }
}

TEST_CASE("run_two_parts: callers on several threads at once each get the helper or a refusal that ran nothing",
          "[helper_thread]") {
    constexpr int callers = 4, rounds = 500;
    std::atomic<int> refused{0}, wrong{0};
    std::vector<std::thread> threads;
    for (int t = 0; t < callers; ++t)
        threads.emplace_back([&] {
            Work w;
            for (w.round = 1; w.round <= rounds; ++w.round) {
                if (!detail::run_two_parts(&Work::run, &w)) {
                    if (!holds(w, w.round - 1)) ++wrong;  // a refusal ran nothing
                    ++refused;
                    Work::run(&w, 0);
                    Work::run(&w, 1);
                }
                if (!holds(w, w.round)) ++wrong;
            }
        });
    for (auto& t : threads) t.join();
    CHECK(wrong == 0);
    INFO("refused " << refused << " of " << callers * rounds);
    CHECK(refused < callers * rounds);
}

TEST_CASE("run_two_parts: a child after fork has no helper and is told so", "[helper_thread]") {
    Work w;
    w.round = 1;
    REQUIRE(detail::run_two_parts(&Work::run, &w));  // the parent's helper runs
    const pid_t child = fork();
    REQUIRE(child >= 0);
    if (child == 0) {
        w.round = 2;
        const bool ran = detail::run_two_parts(&Work::run, &w);
        _exit(!ran && holds(w, 1) ? 0 : 1);
    }
    int status = 0;
    REQUIRE(waitpid(child, &status, 0) == child);
    CHECK(WIFEXITED(status));
    CHECK(WEXITSTATUS(status) == 0);
}
