#!/bin/sh
# examples/charlm end to end on a tiny text (tests/fixtures/charlm/tiny.txt):
# a short run must beat the unigram baseline, --resume must continue, and
# --sample and --units must produce their output.
#   charlm_smoke.sh <charlm> <text>
set -eu
charlm="$1"
text="$2"
out="$(mktemp -d)"
trap 'rm -rf "$out"' EXIT
common="--data $text --embed 16 --hidden 32 --batch 4 --bptt 32 --eval-every 100 --schedule constant --lr 0.01 --out $out --quiet"
"$charlm" $common --steps 150
"$charlm" $common --steps 300 --resume
# result.json is written by nlohmann::json with one key per line.
field() { sed -n "s/^ *\"$1\": \([^,]*\),*$/\1/p" "$out/result.json"; }
steps="$(field steps)" test_bits="$(field test_bits_per_char)" unigram="$(field unigram_bits_per_char)"
echo "charlm: $steps steps, test $test_bits bits/char, unigram $unigram"
[ "$steps" = 300 ] || { echo "expected 300 steps after --resume, got $steps" >&2; exit 1; }
awk -v t="$test_bits" -v u="$unigram" 'BEGIN { exit !(t < u) }' || { echo "test bits/char not below the unigram baseline" >&2; exit 1; }
sample="$("$charlm" --out "$out" --sample 60 --prime "The keeper " --temperature 0.5)"
echo "$sample"
case "$sample" in "The keeper "?*) ;; *) echo "sample does not continue the prime" >&2; exit 1 ;; esac
"$charlm" --out "$out" --units --unit 1
grep -q "unit 1 (chosen with --unit)" "$out/units.html"
grep -q '"property": "line_position"' "$out/units.json"
