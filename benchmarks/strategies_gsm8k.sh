#!/usr/bin/env bash
# Accuracy and compute of each strategy at N=4 on the first LIMIT GSM8K problems (issue: strategies).
# Policy qwen2.5-coder-0.5b, judge verifier qwen2.5-coder-1.5b; greedy of the 1.5B for reference.
# Results stream to docs/results/gsm8k-<run>.jsonl; re-running resumes where it stopped.
# Summarise with: python benchmarks/summarize.py docs/results/gsm8k-*.jsonl
set -u
cd "$(dirname "$0")/.."
DATA=${DATA:-../shared/data/gsm8k_test_dev.jsonl}
LIMIT=${LIMIT:-20}
OUT=docs/results
COMMON=(--limit "$LIMIT" --no-tree --quiet --max-tokens 512 --seed 0 --resume)
SMALL=(--policy qwen2.5-coder-0.5b)
JUDGE=(--verifier qwen2.5-coder-1.5b --verifier-kind judge)
run() { name=$1; shift; echo "== $name $(date +%T)"; tts solve "$DATA" -o "$OUT/gsm8k-$name.jsonl" "${COMMON[@]}" "$@"; }
run greedy-0.5b    "${SMALL[@]}" -s greedy
run greedy-1.5b    --policy qwen2.5-coder-1.5b -s greedy
run majority-0.5b  "${SMALL[@]}" -s majority -n 4
run best-of-n-0.5b "${SMALL[@]}" "${JUDGE[@]}" -s best-of-n -n 4
run weighted-0.5b  "${SMALL[@]}" "${JUDGE[@]}" -s weighted -n 4
run beam-0.5b      "${SMALL[@]}" "${JUDGE[@]}" -s beam -n 4 --beam-width 2 --max-depth 12
run dvts-0.5b      "${SMALL[@]}" "${JUDGE[@]}" -s dvts -n 4 --beam-width 2 --max-depth 12
echo "== done $(date +%T)"
