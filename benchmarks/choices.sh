#!/bin/sh
# Issue 24: multiple-choice questions with qwen2.5-coder-1.5b, --max-tokens 512, seed 0.
#   SET=aqua LIMIT=20 sh benchmarks/choices.sh     (AQuA-RAT: chains, programs, mixed votes)
#   SET=mmlu LIMIT=20 sh benchmarks/choices.sh     (MMLU-STEM: chains, majority, selectors)
# SKIP=50 LIMIT=50 reports problems 51-100 alone from the same cache (nothing is recomputed that is
# cached). Outputs go to docs/bench/choices/SET-FIRST-LAST.{json,jsonl}; extra arguments are passed on.
set -e
cd "$(dirname "$0")/.."
SET="${SET:-mmlu}"
SKIP="${SKIP:-0}"
LIMIT="${LIMIT:-100}"
case "$SET" in
  mmlu) DATA=../shared/data/mmlu_stem_dev.jsonl; STRATEGIES=greedy,majority; SELECTORS=vote,conf-borda,conf-vote,conf-filter ;;
  aqua) DATA=../shared/data/aqua_dev.jsonl; STRATEGIES=greedy,majority,pot-greedy,pot,mixed; SELECTORS=vote,conf-borda,conf-vote,conf-filter ;;
  *) echo "SET must be mmlu or aqua" >&2; exit 2 ;;
esac
NAME="$SET-$((SKIP + 1))-$((SKIP + LIMIT))"
tts bench "$DATA" --skip "$SKIP" --limit "$LIMIT" \
    --strategies "$STRATEGIES" --samples "${SAMPLES:-1,2,4,8}" --selectors "$SELECTORS" \
    -p qwen2.5-coder-1.5b --max-tokens 512 --ctx 24576 --workers "${WORKERS:-2}" \
    --cache-dir docs/bench/cache-choices --json "docs/bench/choices/$NAME.json" \
    --per-problem "docs/bench/choices/$NAME.jsonl" "$@"
