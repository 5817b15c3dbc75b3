#!/usr/bin/env bash
# The benchmark of issue "Performance": tapegrad's LSTM/GRU against LibTorch's
# (same computation, interleaved step by step), every config × cell × mode at
# 1 and 2 OpenBLAS threads, with per-side peak RSS from separate processes.
# Installs what is missing, configures (Release), builds bench_recurrent and
# bench_report, runs, and writes
#   bench/results/latest.json   one record per config × cell × mode × threads
#   bench/results/alone.json    tapegrad's side alone on 2 threads, the same records
#   bench/results/latest.md     the table, the machine and the command
#   bench/results/latest.svg    ratio ours/LibTorch per record, line at 1.0
#   bench/results/latest.txt    bench_recurrent's and bench_sampling's own printout
#   bench/results/sampling.json char LM sampling, characters per second, both sides
#
#   bash tools/bench.sh
# Environment: BENCH_STEPS (timed steps per side, default 15), BENCH_WARMUP
# (default 3), TAPEGRAD_BUILD_DIR (default build), BENCH_JOBS (build jobs,
# default nproc), TAPEGRAD_BUILD_LOCK (a file: configure and build under
# `flock` on it, for machines where other builds run).
set -euo pipefail
cd "$(dirname "$0")/.."

build_dir="${TAPEGRAD_BUILD_DIR:-build}"
steps="${BENCH_STEPS:-15}"
warmup="${BENCH_WARMUP:-3}"
jobs="${BENCH_JOBS:-$(nproc)}"
out=bench/results
lock=()
[ -n "${TAPEGRAD_BUILD_LOCK:-}" ] && lock=(flock "$TAPEGRAD_BUILD_LOCK")

bash tools/setup.sh
bash tools/install_libtorch.sh
# Tuned to this machine, as the published figures always were (README,
# "Performance": the default portable build measured against it).
"${lock[@]}" cmake -S . -B "$build_dir" -DCMAKE_BUILD_TYPE=Release -DTAPEGRAD_BENCH_TORCH=ON -DTAPEGRAD_ARCH=native >/dev/null
"${lock[@]}" cmake --build "$build_dir" --target bench_recurrent bench_report bench_sampling -j "$jobs"

mkdir -p "$out"
machine="$(mktemp)"
trap 'rm -f "$machine"' EXIT
{
  lscpu | grep -E '^(Architecture|Model name|CPU\(s\)|Thread\(s\) per core|Core\(s\) per socket|Socket\(s\)|CPU max MHz|L1d cache|L2 cache|L3 cache|Hypervisor vendor):' || true
  echo "SIMD flags: $(grep -m1 -o -w -E 'avx2|fma|avx512f' /proc/cpuinfo | sort -u | tr '\n' ' ' || true)"
  echo "Memory: $(free -h | awk '/^Mem:/ {print $2}')"
  echo "OS: $(. /etc/os-release && echo "$PRETTY_NAME"), kernel $(uname -r)"
  echo "Compiler: $(c++ --version | head -1)"
  echo "OpenBLAS: $(dpkg-query -W -f='${Version}' libopenblas0-pthread 2>/dev/null || echo '?') (pthread)"
  echo "LibTorch: $(dpkg-query -W -f='${Package} ${Version}' 'libtorch1.*' 2>/dev/null || echo 'not installed')"
  echo "Load average at start: $(cut -d' ' -f1-3 /proc/loadavg)"
} >"$machine"

run=("$build_dir/bench/bench_recurrent" --config all --cell all --mode all --threads 1,2
     --steps "$steps" --warmup "$warmup" --rss --json "$out/latest.json")
echo "== ${run[*]}"
"${run[@]}" | tee "$out/latest.txt"
# Our side alone on two threads: in the run above OpenBLAS's idle thread
# still polls from LibTorch's step when ours starts (docs/performance.md).
alone=("$build_dir/bench/bench_recurrent" --config all --cell all --mode all --threads 2 --side ours
       --steps "$steps" --warmup "$warmup" --no-sgemm --json "$out/alone.json")
echo "== ${alone[*]}"
"${alone[@]}" | tee -a "$out/latest.txt"
echo "Load average at end: $(cut -d' ' -f1-3 /proc/loadavg)" >>"$machine"

# Sampling a char LM one character at a time, against LibTorch (docs/performance.md).
sampling=("$build_dir/bench/bench_sampling" --rounds 6 --json "$out/sampling.json")
echo "== ${sampling[*]}"
"${sampling[@]}" | tee -a "$out/latest.txt"

"$build_dir/bench/bench_report" --json "$out/latest.json" --alone "$out/alone.json" --md "$out/latest.md" --svg "$out/latest.svg" \
  --machine "$machine" --command "bash tools/bench.sh (BENCH_STEPS=$steps BENCH_WARMUP=$warmup)"
echo "== wrote $out/latest.json, $out/latest.md, $out/latest.svg, $out/latest.txt"
