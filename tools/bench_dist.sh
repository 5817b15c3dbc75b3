#!/usr/bin/env bash
# Data-parallel throughput, measured: bench_dist on 1 process (1 OpenBLAS
# thread, and 2 threads: the other way to use the second core) and on 2
# ranks (1 thread each), alternated round by round, for each configuration.
# Usage: tools/bench_dist.sh [build dir] [rounds] [configs...]
set -euo pipefail
build=${1:-build}
rounds=${2:-3}
shift $(( $# > 2 ? 2 : $# ))
configs=("$@")
[ ${#configs[@]} -gt 0 ] || configs=(small medium large charlm)
bin="$build/bench/bench_dist"
[[ -x "$bin" ]] || { echo "build $bin first: cmake --build $build --target bench_dist" >&2; exit 1; }
out=${BENCH_DIST_JSON:-bench/results/dist.jsonl}
mkdir -p "$(dirname "$out")"
: > "$out"
# Open MPI refuses root without these; the ranks may share cores.
export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1
mpirun=(mpirun --oversubscribe --bind-to none --mca btl self,vader)
for config in "${configs[@]}"; do
    steps=30
    [ "$config" = large ] && steps=15
    for ((r = 1; r <= rounds; r++)); do
        "$bin" --config "$config" --steps "$steps" --threads 1 --json "$out"
        "${mpirun[@]}" -np 2 "$bin" --config "$config" --steps "$steps" --threads 1 --json "$out"
        "$bin" --config "$config" --steps "$steps" --threads 2 --json "$out"
        "${mpirun[@]}" -np 2 "$bin" --config "$config" --steps "$steps" --threads 1 --scaling strong --json "$out"
    done
done
echo "results: $out"
