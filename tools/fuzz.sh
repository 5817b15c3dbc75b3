#!/usr/bin/env bash
# Fuzzes the checkpoint (.npz) reader with libFuzzer, ASan and UBSan: see
# docs/fuzzing.md. Builds tests/fuzz/fuzz_npz.cpp and the library sources it
# needs into build-fuzz/ (with clang, not through CMake), seeds a corpus with
# real checkpoints, runs a fixed number of executions from a fixed seed, then
# replays the whole corpus once more through the file-reading code path.
#
#   tools/fuzz.sh [RUNS] [--fresh]
#
#   RUNS      executions to run (default 200000)
#   --fresh   start again from the seeds, discarding the corpus grown by earlier runs
#
# Environment: FUZZ_SEED (default 1), FUZZ_MAX_LEN (default 65536), CXX
# (default clang++-14), BUILD_LOCK (default /tmp/build.lock: every compile and
# link runs under `flock` on it, one at a time).
#
# Prints the executions run, exec/s and the crashes found; exits 1 if there
# were any (their inputs are in build-fuzz/artifacts/), 0 otherwise.
set -euo pipefail

runs=200000
fresh=0
for arg in "$@"; do
  case "$arg" in
    --fresh) fresh=1 ;;
    ''|*[!0-9]*) echo "usage: tools/fuzz.sh [RUNS] [--fresh]" >&2; exit 2 ;;
    *) runs=$arg ;;
  esac
done
seed=${FUZZ_SEED:-1}
max_len=${FUZZ_MAX_LEN:-65536}
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
mkdir -p "$out/include" "$out/obj" "$out/obj-file" "$out/artifacts"
ln -sfn "$root" "$out/include/tapegrad"

# fuzzer-no-link instruments for coverage without libFuzzer's main(), so the
# same objects also make the seed writer; only fuzz_npz links -fsanitize=fuzzer.
# -fno-sanitize-recover makes every UBSan report fatal, and so a finding.
sanitize=address,undefined
cxxflags=(-std=c++20 -O1 -g -fsanitize=fuzzer-no-link,$sanitize -fno-sanitize-recover=all -fno-omit-frame-pointer
          -DXTENSOR_USE_XSIMD -march=native -I"$out/include")
libs=(-lzip -lopenblas)
library_sources=(io/npz.cpp io/checkpoint.cpp layers/module.cpp optim/optimizer.cpp)

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
executed=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log" | tail -1)
per_second=$(sed -n 's/^stat::average_exec_per_sec: *//p' "$log" | tail -1)
if [ -z "$executed" ]; then
  # libFuzzer stops at the first crash without final stats: take its last status line.
  last=$(grep -E '^#[0-9]+[[:space:]]' "$log" | tail -1 || true)
  executed="at least $(echo "$last" | sed -E 's/^#([0-9]+).*/\1/') (stopped at the first crash)"
  per_second=$(echo "$last" | sed -nE 's/.*exec\/s: ([0-9]+).*/\1/p')
fi
new_artifacts=$(comm -13 <(echo "$before") <(ls "$out/artifacts" | sort) | grep -v '^$' || true)
crashes=$(printf '%s' "$new_artifacts" | grep -c . || true)

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

echo
grep -E '^(==[0-9]+==ERROR|SUMMARY|fuzz_npz: FINDING|.*runtime error|Done)' "$log" | tail -8 || true
grep -E '^#[0-9]+[[:space:]]' "$log" | tail -1 || true
echo "executions run: ${executed:-unknown}"
echo "exec/s: ${per_second:-unknown}"
echo "corpus: $(ls "$out/corpus" | wc -l) inputs"
echo "crashes found: $crashes"
if [ -n "$new_artifacts" ]; then
  for a in $new_artifacts; do echo "  build-fuzz/artifacts/$a"; done
  echo "reproduce: build-fuzz/fuzz_npz build-fuzz/artifacts/NAME; minimize: build-fuzz/fuzz_npz -minimize_crash=1 -runs=100000 build-fuzz/artifacts/NAME"
fi
if [ $replay_status -eq 0 ]; then
  echo "replay through NpzReader(path): ${#replay_inputs[@]} inputs (seeds and corpus), no finding"
else
  echo "replay through NpzReader(path): FINDING (exit $replay_status), see build-fuzz/replay.log"
  grep -E '^(==[0-9]+==ERROR|SUMMARY|fuzz_npz: FINDING)' "$replay_log" | head -5 || true
fi
if [ "$crashes" -gt 0 ] || [ $replay_status -ne 0 ]; then exit 1; fi
if [ $status -ne 0 ]; then echo "fuzz: libFuzzer exited with $status, see build-fuzz/fuzz.log" >&2; exit 1; fi
exit 0
