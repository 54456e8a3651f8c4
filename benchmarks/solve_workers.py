"""`tts solve --workers K` against `--workers 1` on one local engine: problems per hour, accuracy,
aggregate generated tokens/s against the raw batched-decode ceiling, and peak RSS.

    python benchmarks/solve_workers.py [--policy qwen2.5-coder-0.5b] [--out docs/bench/solve-workers]

Runs alone on the machine (two llama.cpp processes on 2 cores slow each other 10-100x). Every arm is
a real `tts solve` process (under /usr/bin/time for its peak RSS), one after the other in this run, so
the ratios are comparable. Arms (the issue's targets):
  greedy,   64 GSM8K dev problems: --workers 16 vs --workers 1   (target >= 2.5x problems/hour)
  majority -n 4, 32 problems:      --workers 4  vs --workers 1   (target >= 1.5x)
The ceiling is benchmarks/engine_throughput.py's batched tok/s at the same number of live sequences
(16 in both batched arms). Per-problem results go to OUT/*.jsonl, the summary to OUT/summary.json.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
DATA = ROOT.parent / "shared" / "data" / "gsm8k_test_dev.jsonl"

ARMS = [  # name, problems, strategy args, workers
    ("greedy-w1", 64, ["-s", "greedy"], 1),
    ("greedy-w16", 64, ["-s", "greedy"], 16),
    ("majority4-w1", 32, ["-s", "majority", "-n", "4"], 1),
    ("majority4-w4", 32, ["-s", "majority", "-n", "4"], 4),
]


def run_arm(name: str, limit: int, strategy: list[str], workers: int, args: argparse.Namespace, out: Path) -> dict:
    records = out / f"{name}.jsonl"
    records.unlink(missing_ok=True)
    command = [
        "/usr/bin/time", "-f", "MAXRSS_KB=%M",
        sys.executable, "-m", "tts_cli", "solve", str(args.data), "--limit", str(limit), "-o", str(records),
        "--policy", args.policy, "--max-tokens", str(args.max_tokens), "--threads", str(args.threads),
        "--no-tree", "-q", "--workers", str(workers), *strategy,
    ]
    env = {**os.environ, "TTS_NO_SUPERVISOR": "1", "NO_COLOR": "1"}
    started = time.perf_counter()
    proc = subprocess.run(command, capture_output=True, text=True, env=env)
    wall = time.perf_counter() - started
    if proc.returncode != 0:
        raise SystemExit(f"{name}: tts solve failed ({proc.returncode}): {proc.stderr[-2000:]}")
    rss = re.search(r"MAXRSS_KB=(\d+)", proc.stderr)
    rows = [json.loads(line) for line in records.read_text().splitlines()]
    generated = sum(r["cost"]["policy"]["generated_tokens"] for r in rows)
    correct = sum(bool(r.get("correct")) for r in rows)
    result = {
        "arm": name, "problems": len(rows), "workers": workers, "wall_seconds": round(wall, 1),
        "problems_per_hour": round(3600 * len(rows) / wall, 1), "correct": correct,
        "accuracy": round(correct / len(rows), 4), "generated_tokens": generated,
        "generated_tokens_per_second": round(generated / wall, 1),
        "peak_rss_mb": round(int(rss.group(1)) / 1024, 1) if rss else None,
    }
    print(json.dumps(result), flush=True)
    return result


def ceiling(args: argparse.Namespace, sequences: int) -> float:
    proc = subprocess.run(
        [sys.executable, str(ROOT / "benchmarks" / "engine_throughput.py"), "--model", args.policy,
         "--threads", str(args.threads), "--sizes", str(sequences), "--tokens", "128"],
        capture_output=True, text=True, check=True,
    )
    print(proc.stdout, flush=True)
    row = next(line for line in proc.stdout.splitlines() if line.split() and line.split()[0] == str(sequences))
    return float(row.split()[1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--policy", default="qwen2.5-coder-0.5b")
    parser.add_argument("--data", type=Path, default=DATA)
    parser.add_argument("--max-tokens", type=int, default=512)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--out", type=Path, default=ROOT / "docs" / "bench" / "solve-workers")
    parser.add_argument("--arms", default=",".join(a[0] for a in ARMS))
    args = parser.parse_args()
    args.out.mkdir(parents=True, exist_ok=True)
    chosen = set(args.arms.split(","))
    summary: dict = {"policy": args.policy, "max_tokens": args.max_tokens, "threads": args.threads, "arms": {}}
    summary["ceiling_tokens_per_second_16"] = ceiling(args, 16)
    for name, limit, strategy, workers in ARMS:
        if name in chosen:
            summary["arms"][name] = run_arm(name, limit, strategy, workers, args, args.out)
    arms = summary["arms"]
    for batched, alone in (("greedy-w16", "greedy-w1"), ("majority4-w4", "majority4-w1")):
        if batched in arms and alone in arms:
            summary[f"{batched}/{alone}"] = round(arms[batched]["problems_per_hour"] / arms[alone]["problems_per_hour"], 2)
            summary[f"{batched} tok/s / ceiling"] = round(
                arms[batched]["generated_tokens_per_second"] / summary["ceiling_tokens_per_second_16"], 2)
    (args.out / "summary.json").write_text(json.dumps(summary, indent=2) + "\n")
    print(json.dumps(summary, indent=2))


if __name__ == "__main__":
    main()
