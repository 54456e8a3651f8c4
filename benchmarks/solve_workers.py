"""`tts solve --workers K` against `--workers 1` on one local engine: problems per hour, accuracy,
aggregate generated tokens/s against the raw batched-decode ceiling, and peak RSS.

    python benchmarks/solve_workers.py [--policy qwen2.5-coder-0.5b] [--out docs/bench/solve-workers] [--resume]

Runs alone on the machine (two llama.cpp processes on 2 cores slow each other 10-100x). Every arm is
a real `tts solve` process (under /usr/bin/time for its peak RSS), one after the other in this run, so
the ratios are comparable. Arms (the issue's targets):
  greedy,   64 GSM8K dev problems: --workers 16 vs --workers 1   (target >= 2.5x problems/hour)
  majority -n 4, 32 problems:      --workers 4  vs --workers 1   (target >= 1.5x)
The ceiling is benchmarks/engine_throughput.py's batched decode tok/s at the same number of live
sequences (16 in both batched arms), measured twice after the arms: with short contexts, and with
contexts as long as the greedy solves' (see ``ceiling``). Per-problem results go to OUT/*.jsonl, the summary to OUT/summary.json.
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


def ceiling(args: argparse.Namespace, tokens: int, prompt_tokens: int = 0) -> dict[str, float]:
    """engine_throughput.py's decode rates (tok/s) at 1 and 16 live sequences: one batch, and 16
    sequential calls. ``prompt_tokens`` > 0: distinct prompts of that length, as a solve's."""
    proc = subprocess.run(
        [sys.executable, str(ROOT / "benchmarks" / "engine_throughput.py"), "--model", args.policy,
         "--threads", str(args.threads), "--sizes", "1,16", "--tokens", str(tokens),
         "--prompt-tokens", str(prompt_tokens)],
        capture_output=True, text=True, check=True,
    )
    print(proc.stdout, flush=True)
    rows = {line.split()[0]: line.split() for line in proc.stdout.splitlines() if line.split()[:1] in (["1"], ["16"])}
    return {"tokens": tokens, "prompt_tokens": prompt_tokens, "batched_1": float(rows["1"][1]),
            "batched_16": float(rows["16"][1]), "sequential_16": float(rows["16"][2])}


def mean_context(records: Path) -> tuple[int, int]:
    """Mean prompt tokens (evaluated + cached) and mean generated tokens per problem of a greedy arm."""
    rows = [json.loads(line)["cost"]["policy"] for line in records.read_text().splitlines()]
    prompt = sum(r["prompt_tokens"] + r["cached_tokens"] for r in rows) / len(rows)
    return round(prompt), round(sum(r["generated_tokens"] for r in rows) / len(rows))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--policy", default="qwen2.5-coder-0.5b")
    parser.add_argument("--data", type=Path, default=DATA)
    parser.add_argument("--max-tokens", type=int, default=512)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--out", type=Path, default=ROOT / "docs" / "bench" / "solve-workers")
    parser.add_argument("--arms", default=",".join(a[0] for a in ARMS))
    parser.add_argument("--resume", action="store_true",
                        help="keep the arms already in OUT/arms.jsonl (finished in an earlier, stopped run)")
    args = parser.parse_args()
    args.out.mkdir(parents=True, exist_ok=True)
    chosen = set(args.arms.split(","))
    summary: dict = {"policy": args.policy, "max_tokens": args.max_tokens, "threads": args.threads, "arms": {}}
    finished = args.out / "arms.jsonl"  # one line per finished arm, so --resume can go on after a stop
    if args.resume and finished.exists():  # every finished arm is in the summary; --arms says what to run
        for line in finished.read_text().splitlines():
            result = json.loads(line)
            summary["arms"][result["arm"]] = result
    elif finished.exists():
        finished.unlink()
    for name, limit, strategy, workers in ARMS:
        if name in chosen and name not in summary["arms"]:
            summary["arms"][name] = run_arm(name, limit, strategy, workers, args, args.out)
            with finished.open("a") as out:
                out.write(json.dumps(summary["arms"][name]) + "\n")
    # Two ceilings, measured after the arms in the same run: short contexts (one shared 49-token
    # prompt, 128 tokens), and contexts as long as the greedy solves' (distinct prompts of their mean
    # length, their mean generated tokens): attention over longer contexts costs real compute.
    summary["ceiling_short"] = ceiling(args, 128)
    greedy = args.out / "greedy-w16.jsonl"
    if greedy.exists():
        prompt_tokens, generated = mean_context(greedy)
        summary["ceiling_matched"] = ceiling(args, generated, prompt_tokens)
    arms = summary["arms"]
    for batched, alone in (("greedy-w16", "greedy-w1"), ("majority4-w4", "majority4-w1")):
        if batched in arms and alone in arms:
            summary[f"{batched}/{alone}"] = round(arms[batched]["problems_per_hour"] / arms[alone]["problems_per_hour"], 2)
        if batched in arms:
            for which in ("ceiling_short", "ceiling_matched"):
                if which in summary:
                    summary[f"{batched} tok/s / {which}"] = round(
                        arms[batched]["generated_tokens_per_second"] / summary[which]["batched_16"], 2)
    (args.out / "summary.json").write_text(json.dumps(summary, indent=2) + "\n")
    print(json.dumps(summary, indent=2))


if __name__ == "__main__":
    main()
