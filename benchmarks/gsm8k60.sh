#!/bin/sh
# The issue-5 bench: the first 60 GSM8K problems, policy and judge qwen2.5-coder-1.5b.
# Cached per problem in docs/bench/cache: run it again to continue after an interruption.
set -e
cd "$(dirname "$0")/.."
tts bench ../shared/data/gsm8k_test_dev.jsonl --limit "${LIMIT:-60}" \
    --strategies greedy,majority,auto@16 --samples 1,2,4,8,16 \
    -p qwen2.5-coder-1.5b -v qwen2.5-coder-1.5b --max-tokens 512 \
    --cache-dir docs/bench/cache --json docs/bench/gsm8k-1.5b.json --per-problem docs/bench/gsm8k-1.5b.jsonl \
    --plot docs/curve.png "$@"
