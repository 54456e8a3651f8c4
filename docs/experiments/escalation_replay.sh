#!/bin/sh
# auto's escalation rules (issue 16's cheap_escalation.py family, now strategy options) replayed on the
# cached GSM8K runs and pools of docs/bench/cache-signals with `tts bench --replay`: nothing is
# generated. One TSV line per setting: slice, first, gate, chain gate, N, accuracy, generated tokens,
# FLOPs. Choose on 1-20 (default), report the chosen setting with SKIP=20 LIMIT=40.
#   sh docs/experiments/escalation_replay.sh > /tmp/dev.tsv
#   SKIP=20 LIMIT=40 SETTINGS="program:11:inf:16" sh docs/experiments/escalation_replay.sh
# Needs the cache: git checkout 49424ca -- docs/bench/cache-signals
set -e
cd "$(dirname "$0")/../.."
SKIP="${SKIP:-0}"
LIMIT="${LIMIT:-20}"
SETTINGS="${SETTINGS:-$(for first in chain program; do for gate in 8 10 12 14 inf; do for chain in inf 12 10; do for n in 4 16; do
  echo "$first:$gate:$chain:$n"; done; done; done; done)}"
for setting in $SETTINGS; do
  IFS=: read -r first gate chain n <<END
$setting
END
  check=none; [ "$first" = chain ] && check=program
  tts bench "${DATA:-../shared/data/gsm8k_test_dev.jsonl}" --skip "$SKIP" --limit "$LIMIT" \
      --strategies "greedy,majority@16,auto@$n" -p qwen2.5-coder-1.5b --max-tokens 512 --ctx 24576 --replay \
      --cache-dir docs/bench/cache-signals --first "$first" --check "$check" --gate "$gate" --chain-gate "$chain" \
      --format tsv --quiet \
    | awk -F'\t' -v s="$((SKIP + 1))-$((SKIP + LIMIT))" -v f="$first" -v g="$gate" -v c="$chain" \
        '$2 == "auto" || ($2 == "majority" && f == "chain" && g == "8" && c == "inf" && NR > 1) {print s "\t" f "\t" g "\t" c "\t" $2 "\t" $3 "\t" $4 "\t" $9 "\t" $11}'
done
