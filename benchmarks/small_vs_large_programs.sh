#!/bin/sh
# Issue 14: can the small coder policy, writing programs, match the larger one's chain of thought?
# qwen2.5-coder-0.5b with pot-greedy, pot and mixed (N up to 8) against qwen2.5-coder-1.5b greedy,
# first 60 GSM8K problems. Shares docs/bench/cache with small_vs_large.sh / gsm8k60.sh: the 1.5B
# greedy runs and the 0.5B chain-of-thought pools (problems 1-20) come from there; one run at a
# time (--workers 1), so wall seconds are comparable between the models.
# Step 0: the 1.5B greedy rows (cached). Step 1 (60 problems): greedy, pot-greedy and pot. Step 2 (problems 1-20, where the 0.5B
# chain-of-thought pools are cached): majority, pot and mixed.
set -e
cd "$(dirname "$0")/.."
tts bench ../shared/data/gsm8k_test_dev.jsonl --limit "${LIMIT:-60}" --strategies greedy \
    -p qwen2.5-coder-1.5b --max-tokens 512 --cache-dir docs/bench/cache \
    --json docs/bench/large-greedy-60.json --per-problem docs/bench/large-greedy-60.jsonl
tts bench ../shared/data/gsm8k_test_dev.jsonl --limit "${LIMIT:-60}" \
    --strategies greedy,pot-greedy,pot --samples 1,2,4,8 \
    -p qwen2.5-coder-0.5b --max-tokens 512 --workers 1 \
    --cache-dir docs/bench/cache --json docs/bench/small-vs-large-programs.json \
    --per-problem docs/bench/small-vs-large-programs.jsonl "$@"
tts bench ../shared/data/gsm8k_test_dev.jsonl --limit 20 \
    --strategies greedy,majority,pot-greedy,pot,mixed --samples 1,2,4,8 \
    -p qwen2.5-coder-0.5b --max-tokens 512 --workers 1 \
    --cache-dir docs/bench/cache --json docs/bench/small-programs-20.json \
    --per-problem docs/bench/small-programs-20.jsonl "$@"
