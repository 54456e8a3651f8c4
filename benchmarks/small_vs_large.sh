#!/bin/sh
# Issue 5's small-vs-large comparison: qwen2.5-coder-0.5b with sampling and voting (N up to 16)
# against qwen2.5-coder-1.5b, on the first LIMIT GSM8K problems. Shares docs/bench/cache with
# gsm8k60.sh, so the 1.5B rows come from that bench's runs and only the 0.5B is computed.
set -e
cd "$(dirname "$0")/.."
tts bench ../shared/data/gsm8k_test_dev.jsonl --limit "${LIMIT:-60}" \
    --strategies greedy,majority --samples 1,2,4,8,16 \
    -p qwen2.5-coder-0.5b,qwen2.5-coder-1.5b --max-tokens 512 \
    --cache-dir docs/bench/cache --json docs/bench/small-vs-large.json \
    --per-problem docs/bench/small-vs-large.jsonl --plot docs/small-vs-large.png "$@"
