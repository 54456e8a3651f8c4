#!/bin/sh
# Issue 16 on MATH-500: the first 40 problems of math500_dev, policy qwen2.5-coder-1.5b, N = 8,
# --max-tokens 1024; greedy run + pool of 8 with signals per problem (docs/bench/cache-math).
# Selectors on the same pools and auto replayed on the cached samples. Run again to continue.
set -e
cd "$(dirname "$0")/.."
tts bench ../shared/data/math500_dev.jsonl --limit "${LIMIT:-40}" \
    --strategies greedy,majority,auto@8 --samples 1,2,4,8 \
    --selectors vote,conf-borda,conf-vote,conf-filter \
    -p qwen2.5-coder-1.5b --max-tokens 1024 --ctx 32768 --workers 2 --replay \
    --cache-dir docs/bench/cache-math --json docs/bench/math-signals.json \
    --per-problem docs/bench/math-signals.jsonl "$@"
