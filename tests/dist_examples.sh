#!/usr/bin/env bash
# The example programs under mpirun: adding trained by 2 ranks and resumed by
# 1 process ends where 1 process alone ends (to float tolerance), and the
# same run twice on 2 ranks is bit-identical; copy on 2 ranks; charlm on 3
# ranks (more than this machine's cores) resumed on 2, to one process's result.
# Usage: dist_examples.sh "<mpirun and its flags>" <adding> <copy> <charlm> <text>
set -euo pipefail
mpi="$1" adding="$2" copy="$3" charlm="$4" text="$5"
dir="$(mktemp -d)"
trap 'rm -rf "$dir"' EXIT
value() { sed -n 's/^ *"value": \([^,]*\),*$/\1/p' "$1/result.json"; }
field() { sed -n "s/^ *\"$2\": \([^,]*\),*\$/\1/p" "$1/result.json"; }

args=(--T 20 --hidden 16 --batch 8 --eval-every 10 --eval-batches 2 --checkpoint-every 10 --quiet)
$mpi -np 2 "$adding" --distributed "${args[@]}" --steps 20 --out "$dir/a"
"$adding" "${args[@]}" --steps 30 --resume --out "$dir/a" >/dev/null
"$adding" "${args[@]}" --steps 30 --out "$dir/b" >/dev/null
$mpi -np 2 "$adding" --distributed "${args[@]}" --steps 30 --out "$dir/c"
$mpi -np 2 "$adding" --distributed "${args[@]}" --steps 30 --out "$dir/d"
a="$(value "$dir/a")" b="$(value "$dir/b")" c="$(value "$dir/c")" d="$(value "$dir/d")"
echo "adding, test MSE after 30 steps: 2 ranks then 1 process $a; 1 process $b; 2 ranks $c and again $d"
[ "$c" = "$d" ] || { echo "two runs on 2 ranks differ: $c vs $d" >&2; exit 1; }
for x in "$a" "$c"; do
  awk -v x="$x" -v y="$b" 'BEGIN { d = x - y; if (d < 0) d = -d; exit !(d <= 1e-4 * y) }' ||
    { echo "distributed $x is not within 1e-4 (relative) of one process's $b" >&2; exit 1; }
done

$mpi -np 2 "$copy" --distributed --T 5 --hidden 16 --batch 6 --steps 20 --eval-every 10 --eval-batches 1 --quiet --out "$dir/copy"
[ "$(field "$dir/copy" steps)" = 20 ] || { echo "copy: no result after 20 steps" >&2; exit 1; }

lm=(--data "$text" --embed 16 --hidden 32 --batch 6 --bptt 16 --eval-every 10 --checkpoint-every 10 --schedule constant --quiet)
$mpi -np 3 "$charlm" --distributed "${lm[@]}" --steps 20 --out "$dir/lm"
$mpi -np 2 "$charlm" --distributed "${lm[@]}" --steps 30 --resume --out "$dir/lm"
"$charlm" "${lm[@]}" --steps 30 --out "$dir/lm1" >/dev/null
steps="$(field "$dir/lm" steps)" bits="$(field "$dir/lm" test_bits_per_char)" one="$(field "$dir/lm1" test_bits_per_char)"
echo "charlm: 3 ranks to step 20, 2 ranks to $steps: test $bits bits/char; 1 process: $one"
[ "$steps" = 30 ] || { echo "charlm: expected 30 steps after --resume, got $steps" >&2; exit 1; }
# The carried state went from 3 ranks' streams to a whole checkpoint to 2 ranks' streams.
awk -v x="$bits" -v y="$one" 'BEGIN { d = x - y; if (d < 0) d = -d; exit !(d <= 1e-4 * y) }' ||
  { echo "charlm distributed $bits is not within 1e-4 (relative) of one process's $one" >&2; exit 1; }
