#!/usr/bin/env bash
# One entry point for a fresh machine: installs what is missing, configures,
# builds, then runs the main job (`main`) or the whole test suite (`test`).
#   bash tools/run.sh main
#   bash tools/run.sh test
set -euo pipefail
cd "$(dirname "$0")/.."

what="${1:-main}"
build_dir="${TAPEGRAD_BUILD_DIR:-build}"

bash tools/setup.sh
cmake -S . -B "$build_dir" -DCMAKE_BUILD_TYPE=Release >/dev/null
cmake --build "$build_dir" -j "$(nproc)"

case "$what" in
  main)
    # The main job: an LSTM learns the adding problem at T = 100 (about 2 minutes).
    exec "$build_dir/examples/adding" --out runs/adding
    ;;
  test)
    # One OpenBLAS thread per test process: ctest already runs two at a time.
    export OPENBLAS_NUM_THREADS=1
    exec ctest --test-dir "$build_dir" -j "$(nproc)" --output-on-failure
    ;;
  *)
    echo "usage: bash tools/run.sh [main|test]" >&2
    exit 2
    ;;
esac
