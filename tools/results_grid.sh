#!/usr/bin/env bash
# Runs the full results grid (hours on 2 cores; not part of CI) and writes
# docs/results.md and docs/results.svg. Extra flags go to the program, e.g.
#   bash tools/results_grid.sh --steps-scale 0.1
set -euo pipefail
cd "$(dirname "$0")/.."
bash tools/setup.sh
cmake -S . -B build -DCMAKE_BUILD_TYPE=Release >/dev/null
cmake --build build -j "$(nproc)" --target results_grid
exec build/examples/results_grid --doc docs/results "$@"
