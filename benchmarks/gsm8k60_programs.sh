#!/bin/sh
# Issue 14: program of thought on the first 60 GSM8K problems, policy qwen2.5-coder-1.5b, against the
# chain-of-thought rows of docs/results.md (same cache, docs/bench/cache-signals: the greedy runs and
# 16-sample pools are reused; per problem a greedy program and a 16-program pool are added, cached
# as they finish). mixed@N reads the chain-of-thought and the program pool alternated; the
# selectors are evaluated on every pool, and greedy+S/SEL rows add the greedy chain of thought
# and the greedy program as candidates (what `--with-greedy` does in a live run).
# Two runs at once share the decode batch (--workers 2). Run again to continue after an interruption.
set -e
cd "$(dirname "$0")/.."
tts bench ../shared/data/gsm8k_test_dev.jsonl --limit "${LIMIT:-60}" \
    --strategies greedy,majority,pot-greedy,pot,mixed --samples 1,2,4,8,16 \
    --selectors vote,conf-borda,conf-vote,conf-filter \
    -p qwen2.5-coder-1.5b --max-tokens 512 --ctx 24576 --workers 2 \
    --cache-dir docs/bench/cache-signals --json docs/bench/gsm8k-programs.json \
    --per-problem docs/bench/gsm8k-programs.jsonl "$@"
