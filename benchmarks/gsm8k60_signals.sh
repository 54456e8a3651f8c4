#!/bin/sh
# Issue 16: the first 60 GSM8K problems, policy qwen2.5-coder-1.5b. Per problem a greedy run and a
# pool of 16 samples, each with its text and per-token confidence signals (docs/bench/cache-signals);
# two runs at once share the decode batch (--workers 2). Run again to continue after an interruption.
# Then: selectors on the same pools, auto and adaptive replayed on the cached samples, pass@N, the
# signal AUROC table (in a terminal and in the JSON), per-problem outcomes and the plot.
set -e
cd "$(dirname "$0")/.."
tts bench ../shared/data/gsm8k_test_dev.jsonl --limit "${LIMIT:-60}" \
    --strategies greedy,majority,adaptive@16,auto@16 --samples 1,2,4,8,16 \
    --selectors conf-borda,conf-vote,conf-filter \
    -p qwen2.5-coder-1.5b --max-tokens 512 --ctx 24576 --workers 2 --replay \
    --cache-dir docs/bench/cache-signals --json docs/bench/gsm8k-signals.json \
    --per-problem docs/bench/gsm8k-signals.jsonl --plot docs/selectors.png "$@"
