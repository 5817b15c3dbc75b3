#!/usr/bin/env bash
# One entry point for a fresh machine: installs what is missing, configures,
# builds, then runs the main job (`main`) or the whole test suite (`test`).
#   bash tools/run.sh main
#   bash tools/run.sh test
set -euo pipefail
cd "$(dirname "$0")/.."

what="${1:-main}"
build_dir="${TAPEGRAD_BUILD_DIR:-build}"
jobs="$(nproc)"

bash tools/setup.sh
configure() {  # configure <dir> [cmake args...]
  local dir="$1"
  shift
  cmake -S . -B "$dir" -DCMAKE_BUILD_TYPE=Release "$@" >/dev/null
}
build() {  # build <dir> [cmake args...]: everything
  configure "$@"
  cmake --build "$1" -j "$jobs"
}

case "$what" in
  main)
    # Only the library and the one program the main job runs: the tests and
    # the benchmark wait for `run.sh test`.
    configure "$build_dir"
    cmake --build "$build_dir" -j "$jobs" --target adding
    # The main job: an LSTM learns the adding problem at T = 100 (about 2 minutes).
    exec "$build_dir/examples/adding" --out runs/adding
    ;;
  test)
    # dot (Graphviz): the graph view's tests lay out what tg::to_dot writes
    # (docs/inspecting.md). Open MPI: the distributed component and its tests
    # under mpirun (docs/distributed.md). Neither is needed to train, so
    # neither is in the quick start.
    bash tools/setup.sh graphviz libopenmpi-dev openmpi-bin
    # One OpenBLAS thread per test process: ctest already runs several at a time.
    export OPENBLAS_NUM_THREADS=1
    build "$build_dir"
    ctest --test-dir "$build_dir" -j "$jobs" --output-on-failure
    # The thread tests under ThreadSanitizer: a data race on a shared module
    # or a tape passed between threads shows here (its own small target).
    echo "== the thread tests under ThreadSanitizer =="
    # The sanitized builds target this machine (-march=native): they check
    # memory and threads, not portability, and run about twice as fast so.
    cmake -S . -B "$build_dir-tsan" -DCMAKE_BUILD_TYPE=Release -DTAPEGRAD_SANITIZE=thread -DTAPEGRAD_ARCH=native >/dev/null
    cmake --build "$build_dir-tsan" -j "$jobs" --target tapegrad_thread_tests
    TSAN_OPTIONS=halt_on_error=1:second_deadlock_stack=1 "$build_dir-tsan/tests/tapegrad_thread_tests"
    # The same suite under AddressSanitizer + UndefinedBehaviorSanitizer;
    # detect_stack_use_after_return catches dangling xtensor expressions.
    echo "== the test suite again under AddressSanitizer and UndefinedBehaviorSanitizer =="
    build "$build_dir-asan" -DTAPEGRAD_SANITIZE=address,undefined -DTAPEGRAD_ARCH=native
    export ASAN_OPTIONS=detect_stack_use_after_return=1:detect_leaks=1:abort_on_error=1
    export UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1
    exec ctest --test-dir "$build_dir-asan" -j "$jobs" --output-on-failure
    ;;
  *)
    echo "usage: bash tools/run.sh [main|test]" >&2
    exit 2
    ;;
esac
