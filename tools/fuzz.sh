#!/usr/bin/env bash
# Fuzzes with libFuzzer, ASan and UBSan (see docs/fuzzing.md) one of two targets:
#   npz  the checkpoint (.npz) reader, tests/fuzz/fuzz_npz.cpp (the default)
#   ops  programs of ops over a tape, tests/fuzz/fuzz_ops.cpp
# Builds the target and the library sources it needs into build-fuzz/ (with
# clang, not through CMake), seeds a corpus, runs a fixed number of executions
# from a fixed seed. For npz it then replays the whole corpus once more through
# the file-reading code path; for ops it first replays every committed
# regression input (tests/fuzz/regressions/ops/).
#
#   tools/fuzz.sh [npz|ops] [RUNS] [--fresh]
#
#   RUNS      executions to run (default 200000)
#   --fresh   start again from the seeds, discarding the corpus grown by earlier runs
#
# Environment: FUZZ_SEED (default 1), FUZZ_MAX_LEN (default 65536 for npz,
# 1024 for ops), CXX
# (default clang++-14), BUILD_LOCK (default /tmp/build.lock: every compile and
# link runs under `flock` on it, one at a time).
#
# Prints the executions run, exec/s and the crashes found; exits 1 if there
# were any (their inputs are in build-fuzz/artifacts/), 0 otherwise.
set -euo pipefail

runs=200000
fresh=0
target=npz
for arg in "$@"; do
  case "$arg" in
    --fresh) fresh=1 ;;
    npz|ops) target=$arg ;;
    ''|*[!0-9]*) echo "usage: tools/fuzz.sh [npz|ops] [RUNS] [--fresh]" >&2; exit 2 ;;
    *) runs=$arg ;;
  esac
done
seed=${FUZZ_SEED:-1}
if [ "$target" = ops ]; then max_len=${FUZZ_MAX_LEN:-1024}; else max_len=${FUZZ_MAX_LEN:-65536}; fi
lock=${BUILD_LOCK:-/tmp/build.lock}

cd "$(dirname "$0")/.."
root=$PWD
out=$root/build-fuzz

# --- packages: only those missing, as tools/setup.sh does -------------------------
# libclang-rt-14-dev holds libFuzzer (libclang_rt.fuzzer-x86_64.a) and the
# sanitizer runtimes; the rest are the library's own dependencies.
packages=(clang-14 libclang-rt-14-dev libzip-dev libopenblas-dev libxtensor-dev libxsimd-dev xtl-dev util-linux)
missing=()
for p in "${packages[@]}"; do
  if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed"; then
    missing+=("$p")
  fi
done
if [ ${#missing[@]} -gt 0 ]; then
  sudo=""
  if [ "$(id -u)" -ne 0 ]; then
    command -v sudo >/dev/null || { echo "fuzz: need root or sudo to install: ${missing[*]}" >&2; exit 1; }
    sudo="sudo"
  fi
  echo "fuzz: installing ${missing[*]}"
  export DEBIAN_FRONTEND=noninteractive
  $sudo apt-get update -qq
  $sudo apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi
cxx=${CXX:-clang++-14}

# --- build ----------------------------------------------------------------------
# Sources are included as <tapegrad/...>, as in the CMake build.
mkdir -p "$out/include" "$out/obj" "$out/obj-file" "$out/artifacts" "$out/artifacts-ops"
ln -sfn "$root" "$out/include/tapegrad"

# fuzzer-no-link instruments for coverage without libFuzzer's main(), so the
# same objects also make the seed writer; only fuzz_npz links -fsanitize=fuzzer.
# -fno-sanitize-recover makes every UBSan report fatal, and so a finding.
sanitize=address,undefined
cxxflags=(-std=c++20 -O1 -g -fsanitize=fuzzer-no-link,$sanitize -fno-sanitize-recover=all -fno-omit-frame-pointer
          -DXTENSOR_USE_XSIMD -march=native -I"$out/include")
libs=(-lzip -lopenblas)
library_sources=(io/npz.cpp io/checkpoint.cpp layers/module.cpp optim/optimizer.cpp optim/optimizer_state.cpp)
# The instruction-set flags of the run-time-dispatched kernels (as in CMakeLists.txt).
arch_flags() {
  case $1 in
    *kernels_avx512bw.cpp) echo "-mavx512f -mavx512cd -mavx512dq -mavx512bw -mavx512vl -mavx2 -mfma" ;;
    *kernels_avx2.cpp) echo "-mavx2 -mfma" ;;
  esac
}

# Objects are rebuilt when the flags change or a file they include is newer.
if [ "$(cat "$out/flags" 2>/dev/null)" != "$cxx ${cxxflags[*]}" ]; then
  rm -f "$out"/obj/*.o "$out"/obj-file/*.o
  echo "$cxx ${cxxflags[*]}" > "$out/flags"
fi
stale() {  # stale OBJECT: true if it must be compiled
  local obj=$1 dep=${1%.o}.d f
  [ -f "$obj" ] && [ -f "$dep" ] || return 0
  for f in $(sed -e 's/^[^:]*://' -e 's/\\$//' "$dep"); do
    [ "$f" -nt "$obj" ] && return 0
  done
  return 1
}
compile() {  # compile SOURCE OBJECT [EXTRA FLAGS...]
  local src=$1 obj=$2
  shift 2
  if stale "$obj"; then
    echo "fuzz: compiling $src"
    flock "$lock" "$cxx" "${cxxflags[@]}" "$@" -MMD -MF "${obj%.o}.d" -c "$root/$src" -o "$obj"
  fi
}
link() {  # link OUTPUT SANITIZERS OBJECTS...
  local exe=$1 san=$2 obj newer=0
  shift 2
  for obj in "$@"; do [ "$obj" -nt "$exe" ] && newer=1; done
  if [ ! -f "$exe" ] || [ $newer -eq 1 ]; then
    echo "fuzz: linking $(basename "$exe")"
    flock "$lock" "$cxx" -fsanitize="$san" "$@" "${libs[@]}" -o "$exe"
  fi
}

# --- the op-program target ------------------------------------------------------
# Every autodiff source (ops, tape, kernels, BLAS wrapper, gradcheck/audit).
ops_sources=(autodiff/grad_mode.cpp autodiff/blas.cpp autodiff/tape.cpp autodiff/op_support.cpp autodiff/kernels.cpp
             autodiff/kernels_avx512bw.cpp autodiff/kernels_avx2.cpp autodiff/kernels_sse2.cpp
             autodiff/ops_elementwise.cpp autodiff/ops_linalg.cpp autodiff/ops_shape.cpp autodiff/ops_reduce.cpp
             autodiff/ops_compare.cpp autodiff/ops_nn.cpp autodiff/custom_op.cpp autodiff/gradcheck.cpp)
# 20 s: the costliest valid program the target's 24 MB cap allows takes about
# 7 s (fuzz_ops.cpp); a real hang never ends. The replay uses the same bound.
ops_timeout=20
run_ops() {
  local objs=() src obj
  for src in "${ops_sources[@]}"; do
    obj=$out/obj/$(basename "$src" .cpp).o
    # shellcheck disable=SC2046  # the flags are words
    compile "$src" "$obj" $(arch_flags "$src")
    objs+=("$obj")
  done
  compile tests/fuzz/fuzz_ops.cpp "$out/obj/fuzz_ops.o"
  compile tests/fuzz/make_ops_seeds.cpp "$out/obj/make_ops_seeds.o"
  link "$out/fuzz_ops" "fuzzer,$sanitize" "${objs[@]}" "$out/obj/fuzz_ops.o"
  link "$out/make_ops_seeds" "$sanitize" "$out/obj/make_ops_seeds.o"

  # Seeds: hand-assembled programs (tests/fuzz/make_ops_seeds.cpp) and every
  # input that once crashed the target (tests/fuzz/regressions/ops/).
  rm -rf "$out/seeds-ops"
  "$out/make_ops_seeds" "$out/seeds-ops" >/dev/null
  local regressions=()
  mapfile -t regressions < <(find tests/fuzz/regressions/ops -type f 2>/dev/null | sort)
  for f in "${regressions[@]}"; do cp "$f" "$out/seeds-ops/regression_$(basename "$f")"; done
  [ $fresh -eq 1 ] && rm -rf "$out/corpus-ops"
  mkdir -p "$out/corpus-ops"

  # Each old crash once, on its own, so that a regression is named as such.
  local replay_log=$out/replay-ops.log replay_status=0
  if [ ${#regressions[@]} -gt 0 ]; then
    set +e
    "$out/fuzz_ops" -timeout="$ops_timeout" -rss_limit_mb=4096 -malloc_limit_mb=4096 -artifact_prefix="$out/artifacts-ops/regression-" \
      "${regressions[@]}" > "$replay_log" 2>&1
    replay_status=$?
    set -e
  fi

  local before log=$out/fuzz-ops.log status
  before=$(ls "$out/artifacts-ops" | sort)
  echo "fuzz: ops, $runs executions, -seed=$seed -max_len=$max_len, corpus build-fuzz/corpus-ops ($(ls "$out/corpus-ops" | wc -l) inputs) + $(ls "$out/seeds-ops" | wc -l) seeds; log in build-fuzz/fuzz-ops.log"
  # One worker per call (a campaign on both cores runs a second fuzz_ops by
  # hand with another -seed, see docs/fuzzing.md). A timeout is a finding;
  # allocations over 24 MB return null inside the target (see
  # __asan_default_options in fuzz_ops.cpp), so the malloc limit sits above that.
  set +e
  "$out/fuzz_ops" -runs="$runs" -seed="$seed" -max_len="$max_len" -dict=tests/fuzz/ops.dict \
    -timeout="$ops_timeout" -rss_limit_mb=4096 -malloc_limit_mb=4096 -print_final_stats=1 -artifact_prefix="$out/artifacts-ops/" \
    "$out/corpus-ops" "$out/seeds-ops" > "$log" 2>&1
  status=$?
  set -e
  summarize "$log" "$out/artifacts-ops" "$out/corpus-ops" "$before" fuzz_ops " (FUZZ_OPS_TRACE=1 prints the program)"
  if [ ${#regressions[@]} -gt 0 ]; then
    if [ $replay_status -eq 0 ]; then
      echo "replay of tests/fuzz/regressions/ops: ${#regressions[@]} inputs, no finding"
    else
      echo "replay of tests/fuzz/regressions/ops: FINDING (exit $replay_status), see build-fuzz/replay-ops.log"
      grep -E '^(==[0-9]+==ERROR|SUMMARY|fuzz_ops: FINDING|.*runtime error)' "$replay_log" | head -5 || true
    fi
  fi
  if [ "$crashes" -gt 0 ] || [ $replay_status -ne 0 ]; then exit 1; fi
  if [ $status -ne 0 ]; then echo "fuzz: libFuzzer exited with $status, see build-fuzz/fuzz-ops.log" >&2; exit 1; fi
  exit 0
}

# summarize LOG ARTIFACTS CORPUS BEFORE NAME [HINT]: prints the executions,
# exec/s, corpus and new crashing inputs of a run (HINT: appended to the
# reproduce line); sets $crashes.
summarize() {
  local log=$1 artifacts=$2 corpus=$3 before=$4 name=$5 hint=${6:-} executed per_second last new_artifacts a
  executed=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log" | tail -1)
  per_second=$(sed -n 's/^stat::average_exec_per_sec: *//p' "$log" | tail -1)
  if [ -z "$executed" ]; then
    # libFuzzer stops at the first crash without final stats: take its last status line.
    last=$(grep -E '^#[0-9]+[[:space:]]' "$log" | tail -1 || true)
    executed="at least $(echo "$last" | sed -E 's/^#([0-9]+).*/\1/') (stopped at the first crash)"
    per_second=$(echo "$last" | sed -nE 's/.*exec\/s: ([0-9]+).*/\1/p')
  fi
  new_artifacts=$(comm -13 <(echo "$before") <(ls "$artifacts" | sort) | grep -v '^$' || true)
  crashes=$(printf '%s' "$new_artifacts" | grep -c . || true)
  echo
  grep -E "^(==[0-9]+==ERROR|SUMMARY|$name: FINDING|.*runtime error|Done)" "$log" | tail -8 || true
  grep -E '^#[0-9]+[[:space:]]' "$log" | tail -1 || true
  echo "executions run: ${executed:-unknown}"
  echo "exec/s: ${per_second:-unknown}"
  echo "corpus: $(ls "$corpus" | wc -l) inputs"
  echo "crashes found: $crashes"
  if [ -n "$new_artifacts" ]; then
    for a in $new_artifacts; do echo "  build-fuzz/$(basename "$artifacts")/$a"; done
    echo "reproduce: build-fuzz/$name build-fuzz/$(basename "$artifacts")/NAME$hint; minimize: build-fuzz/$name -minimize_crash=1 -runs=100000 build-fuzz/$(basename "$artifacts")/NAME"
  fi
}

if [ "$target" = ops ]; then
  run_ops  # defined below: builds, seeds and fuzzes fuzz_ops, then exits
fi

objects=()
for src in "${library_sources[@]}" optim/sgd.cpp; do
  obj=$out/obj/$(basename "$src" .cpp).o
  compile "$src" "$obj"
  objects+=("$obj")
done
library_objects=("${objects[@]:0:${#library_sources[@]}}")
compile tests/fuzz/fuzz_npz.cpp "$out/obj/fuzz_npz.o"
compile tests/fuzz/make_seeds.cpp "$out/obj/make_seeds.o"
# The same target reading each input from a temporary file, and strict about errors.
compile tests/fuzz/fuzz_npz.cpp "$out/obj-file/fuzz_npz.o" -DTAPEGRAD_FUZZ_VIA_FILE -DTAPEGRAD_FUZZ_CHECKPOINT_ERROR_ONLY
link "$out/fuzz_npz" "fuzzer,$sanitize" "${library_objects[@]}" "$out/obj/fuzz_npz.o"
link "$out/fuzz_npz_file" "fuzzer,$sanitize" "${library_objects[@]}" "$out/obj-file/fuzz_npz.o"
link "$out/make_seeds" "$sanitize" "${objects[@]}" "$out/obj/make_seeds.o"

# --- seed corpus ------------------------------------------------------------------
# Checkpoints written by tapegrad, the committed numpy and PyTorch fixtures, and
# every input that once crashed the reader (tests/fixtures/npz/regressions).
rm -rf "$out/seeds"
"$out/make_seeds" "$out/seeds" >/dev/null
for f in tests/fixtures/npz/*.npz tests/fixtures/torch/*.npz; do cp "$f" "$out/seeds/fixture_$(basename "$f")"; done
if [ -d tests/fixtures/npz/regressions ]; then
  for f in tests/fixtures/npz/regressions/*; do [ -f "$f" ] && cp "$f" "$out/seeds/regression_$(basename "$f")"; done
fi
[ $fresh -eq 1 ] && rm -rf "$out/corpus"
mkdir -p "$out/corpus"

# --- fuzz -------------------------------------------------------------------------
before=$(ls "$out/artifacts" | sort)
log=$out/fuzz.log
echo "fuzz: $runs executions, -seed=$seed -max_len=$max_len, corpus build-fuzz/corpus ($(ls "$out/corpus" | wc -l) inputs) + $(ls "$out/seeds" | wc -l) seeds; log in build-fuzz/fuzz.log"
set +e
# A deflated 64 KiB input may legitimately inflate to ~64 MB and be converted
# to float64: hence the generous timeout; any single allocation over the RSS
# limit is a finding (nothing may be allocated from a size the file declares).
"$out/fuzz_npz" -runs="$runs" -seed="$seed" -max_len="$max_len" -dict=tests/fuzz/npz.dict \
  -timeout=60 -rss_limit_mb=2048 -print_final_stats=1 -artifact_prefix="$out/artifacts/" \
  "$out/corpus" "$out/seeds" > "$log" 2>&1
status=$?
set -e

# --- replay through the file code path ---------------------------------------------
# Every seed and corpus input once more (the corpus folder only holds inputs
# found by mutation, not the seeds), read by NpzReader(path), where any error
# other than CheckpointError is also a finding.
replay_log=$out/replay.log
mapfile -t replay_inputs < <(find "$out/seeds" "$out/corpus" -type f | sort)
set +e
"$out/fuzz_npz_file" -timeout=60 -rss_limit_mb=2048 -artifact_prefix="$out/artifacts/file-" \
  "${replay_inputs[@]}" > "$replay_log" 2>&1
replay_status=$?
set -e

summarize "$log" "$out/artifacts" "$out/corpus" "$before" fuzz_npz
if [ $replay_status -eq 0 ]; then
  echo "replay through NpzReader(path): ${#replay_inputs[@]} inputs (seeds and corpus), no finding"
else
  echo "replay through NpzReader(path): FINDING (exit $replay_status), see build-fuzz/replay.log"
  grep -E '^(==[0-9]+==ERROR|SUMMARY|fuzz_npz: FINDING)' "$replay_log" | head -5 || true
fi
if [ "$crashes" -gt 0 ] || [ $replay_status -ne 0 ]; then exit 1; fi
if [ $status -ne 0 ]; then echo "fuzz: libFuzzer exited with $status, see build-fuzz/fuzz.log" >&2; exit 1; fi
exit 0
