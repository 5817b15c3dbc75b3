#include "helper_thread.hpp"

#include <linux/futex.h>
#include <pthread.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <cstdint>
#include <new>
#include <system_error>
#include <thread>

#if defined(__x86_64__) || defined(__i386__)
#include <immintrin.h>
#endif

namespace tapegrad::detail {

namespace {

void pause() {
#if defined(__x86_64__) || defined(__i386__)
    _mm_pause();
#endif
}

// How long a waiting thread spins before it sleeps on a futex: through a
// recurrent step's elementwise work between two products (tens of µs to a
// few hundred), so that within a step the helper is never woken. A woken
// thread may be placed on its waker's core and stay there, sharing it, for
// much of a step: with 50 µs a medium LSTM training step on two threads took
// 51–52 ms beside LibTorch in the benchmark, with 2 ms 32–36 (alone 0.95–0.97
// of the time; docs/performance.md). OpenBLAS's own idle threads poll 0.13 s.
constexpr auto kSpin = std::chrono::microseconds(2000);

// A word one thread waits on and another changes, with the futex calls made
// only when the waiter sleeps. The waiter announces itself in `sleeping`
// before its last look at `word`; the changer stores `word` before it looks
// at `sleeping`. Both in sequentially consistent order, so either the
// changer sees the sleeper and wakes it, or the waiter sees the new value
// (and the kernel's own check of `word` covers the time in between).
// std::atomic::wait/notify_one were tried first: a caller and the helper were
// seen both asleep, the ticket already bumped (notify_one reads libstdc++'s
// waiter count, which the release store before it does not order), so the
// protocol is spelled out here.
struct WaitWord {
    std::atomic<std::uint32_t> word{0};
    std::atomic<std::uint32_t> sleeping{0};

    void set(std::uint32_t value) {
        word.store(value, std::memory_order_seq_cst);
        if (sleeping.load(std::memory_order_seq_cst) != 0)
            syscall(SYS_futex, reinterpret_cast<std::uint32_t*>(&word), FUTEX_WAKE_PRIVATE, 1, nullptr, nullptr, 0);
    }

    // Waits until `word` differs from `seen`: spins for kSpin, then sleeps.
    std::uint32_t wait_for_change(std::uint32_t seen) {
        const auto until = std::chrono::steady_clock::now() + kSpin;
        for (int round = 1;; ++round) {
            const std::uint32_t now = word.load(std::memory_order_acquire);
            if (now != seen) return now;
            pause();
            if (round % 64 == 0 && std::chrono::steady_clock::now() > until) break;
        }
        for (;;) {
            sleeping.store(1, std::memory_order_seq_cst);
            const std::uint32_t now = word.load(std::memory_order_seq_cst);
            if (now != seen) {
                sleeping.store(0, std::memory_order_relaxed);
                return now;
            }
            syscall(SYS_futex, reinterpret_cast<std::uint32_t*>(&word), FUTEX_WAIT_PRIVATE, seen, nullptr, nullptr, 0);
            sleeping.store(0, std::memory_order_relaxed);
        }
    }
};

// The helper's state. Never destroyed: the thread is detached and sleeps on
// `ticket` when the process exits, so no destructor order or join at exit
// can hang (nor can one in a child after fork, where the thread is absent).
struct Helper {
    std::atomic_flag taken = ATOMIC_FLAG_INIT;  // a caller is using the helper
    WaitWord ticket;                            // bumped to hand over work
    std::atomic<std::uint32_t> joined{0};       // the last ticket someone closed to (or opened for) the helper
    WaitWord done;                              // the last ticket the helper finished its parts of
    std::atomic<std::size_t> next{0};           // the next part to take
    std::size_t count = 0;                      // these three written before ticket is bumped
    WorkPart part = nullptr;
    void* context = nullptr;
    std::size_t helper_ran = 0;                 // written before done is set

    // Ticket t's work is joined by the helper, or closed to it by the caller,
    // whoever moves `joined` from t - 1 to t first. A helper that wakes after
    // the caller has run out of parts finds it closed and goes back to wait.
    bool take_turn(std::uint32_t t) {
        std::uint32_t previous = t - 1;
        return joined.compare_exchange_strong(previous, t, std::memory_order_acq_rel);
    }

    // Runs parts until none is left; how many.
    std::size_t run_until_out() {
        std::size_t ran = 0;
        for (std::size_t i = next.fetch_add(1, std::memory_order_relaxed); i < count;
             i = next.fetch_add(1, std::memory_order_relaxed), ++ran)
            part(context, i);
        return ran;
    }

    void serve() {
        std::uint32_t seen = 0;
        for (;;) {
            seen = ticket.wait_for_change(seen);
            if (!take_turn(seen)) continue;  // closed: the caller ran every part
            helper_ran = run_until_out();
            done.set(seen);
        }
    }
};

std::atomic<bool> forked_child{false};

Helper* start_helper() {
    pthread_atfork(nullptr, nullptr, [] { forked_child.store(true, std::memory_order_relaxed); });
    auto* helper = new (std::nothrow) Helper;
    if (helper == nullptr) return nullptr;
    try {
        std::thread([helper] { helper->serve(); }).detach();
    } catch (const std::system_error&) {
        return nullptr;  // no thread to be had: every caller works alone
    }
    return helper;
}

Helper* helper() {
    static Helper* const started = start_helper();
    return started;
}

}  // namespace

std::size_t run_parts(std::size_t count, WorkPart part, void* context) {
    Helper* const h = forked_child.load(std::memory_order_relaxed) ? nullptr : helper();
    if (count < 2 || h == nullptr || h->taken.test_and_set(std::memory_order_acquire)) {
        for (std::size_t i = 0; i < count; ++i) part(context, i);
        return 0;
    }
    h->next.store(0, std::memory_order_relaxed);
    h->count = count;
    h->part = part;
    h->context = context;
    const std::uint32_t ticket = h->ticket.word.load(std::memory_order_relaxed) + 1;
    h->ticket.set(ticket);
    h->run_until_out();
    std::size_t helper_ran = 0;
    if (!h->take_turn(ticket)) {  // the helper joined: wait for its last part
        std::uint32_t done = h->done.word.load(std::memory_order_acquire);
        while (done != ticket) done = h->done.wait_for_change(done);
        helper_ran = h->helper_ran;
    }
    h->taken.clear(std::memory_order_release);
    return helper_ran;
}

}  // namespace tapegrad::detail
