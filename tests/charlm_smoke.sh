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
python3 - "$out/result.json" <<'PY'
import json, sys
r = json.load(open(sys.argv[1]))
assert r["steps"] == 300, r
assert r["test_bits_per_char"] < r["unigram_bits_per_char"], r
print("charlm: test %.3f bits/char, unigram %.3f" % (r["test_bits_per_char"], r["unigram_bits_per_char"]))
PY
sample="$("$charlm" --out "$out" --sample 60 --prime "The keeper " --temperature 0.5)"
echo "$sample"
case "$sample" in "The keeper "?*) ;; *) echo "sample does not continue the prime" >&2; exit 1 ;; esac
"$charlm" --out "$out" --units --unit 1
grep -q "unit 1 (chosen with --unit)" "$out/units.html"
grep -q '"property": "line_position"' "$out/units.json"
