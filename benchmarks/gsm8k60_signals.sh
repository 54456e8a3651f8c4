#!/bin/sh
# The issue-16 pools: the first 60 GSM8K problems, policy qwen2.5-coder-1.5b, greedy + 16 samples
# per problem with per-token confidence signals and texts (docs/bench/cache-signals). Two runs at
# once share the decode batch (a greedy run rides along with a pool). Run again to continue.
set -e
cd "$(dirname "$0")/.."
tts bench ../shared/data/gsm8k_test_dev.jsonl --limit "${LIMIT:-60}" \
    --strategies greedy,majority --samples 1,2,4,8,16 \
    -p qwen2.5-coder-1.5b --max-tokens 512 --ctx 24576 --workers 2 \
    --cache-dir docs/bench/cache-signals "$@"
