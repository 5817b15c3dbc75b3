#!/usr/bin/env bash
# A training run killed with SIGKILL while it writes checkpoints leaves the
# previous checkpoint loadable, and --resume then finishes with exactly the
# result of an uninterrupted run. Usage: kill_during_checkpoint.sh <adding binary>
set -u
prog="$1"
dir="$(mktemp -d)"
trap 'rm -rf "$dir"' EXIT
args=(--T 8 --hidden 16 --batch 8 --steps 400 --eval-every 100 --eval-batches 2 --checkpoint-every 1 --quiet)

"$prog" "${args[@]}" --out "$dir/ref" >/dev/null || { echo "reference run failed"; exit 1; }
ref="$(grep '"value"' "$dir/ref/result.json")"

for delay in 0.15 0.3 0.45 0.6 0.75 0.9; do
  rm -rf "$dir/k"
  "$prog" "${args[@]}" --out "$dir/k" >/dev/null 2>&1 &
  pid=$!
  sleep "$delay"
  kill -9 "$pid" 2>/dev/null
  wait "$pid" 2>/dev/null
  at="none"
  [ -f "$dir/k/checkpoints/latest" ] && at="$(cat "$dir/k/checkpoints/latest")"
  if ! "$prog" "${args[@]}" --out "$dir/k" --resume >/dev/null 2>"$dir/err"; then
    echo "resume after a kill at ${delay}s (latest: $at) failed:"; cat "$dir/err"; exit 1
  fi
  got="$(grep '"value"' "$dir/k/result.json")"
  if [ "$got" != "$ref" ]; then
    echo "after a kill at ${delay}s (latest: $at): $got, uninterrupted: $ref"; exit 1
  fi
  echo "killed after ${delay}s (latest checkpoint: $at): resumed to the same result"
done
echo "6 passed, 0 failed"
