#!/usr/bin/env bash
# Recompute checkpointing, measured: bench_memory's plain and checkpointed runs
# alternated (each in its own process, so that each peak RSS is its own), then
# a sequence that does not fit in a memory limit plainly but trains
# checkpointed. One OpenBLAS thread. Usage: tools/bench_memory.sh [build dir] [rounds]
set -euo pipefail
build=${1:-build}
rounds=${2:-2}
bin="$build/bench/bench_memory"
[[ -x "$bin" ]] || { echo "build $bin first: cmake --build $build --target bench_memory" >&2; exit 1; }
export OPENBLAS_NUM_THREADS=1
out=${BENCH_MEMORY_JSON:-bench/results/memory.jsonl}
mkdir -p "$(dirname "$out")"
: > "$out"
for loss in every last; do
    for ((r = 1; r <= rounds; r++)); do
        for every in 0 auto; do
            "$bin" --steps 10000 --batch 16 --hidden 256 --input 32 --loss "$loss" --every "$every" --iters 2 --json "$out"
        done
    done
done
# A sequence 4x as long under a 3 GiB address-space limit: plainly it needs
# about 5.8 GiB, checkpointed about 2.
for every in 0 auto; do
    "$bin" --steps 40000 --batch 16 --hidden 256 --input 32 --loss last --every "$every" --iters 1 --limit-mib 3072 --json "$out"
done
echo "results: $out"
