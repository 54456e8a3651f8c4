"""Choose selectors and auto's thresholds on cached pools (issue 16), then report them on held-out problems.

Reads the greedy runs and 16-sample pools that ``benchmarks/gsm8k60_signals.sh`` cached (texts and
per-token signals), evaluates every selector on the same pools and replays ``auto`` / ``adaptive``
over a grid of their options (``tts bench --replay``: the strategy runs on the cached samples,
spending what it would spend on them). Nothing is generated.

    python docs/experiments/tune_selection.py --data ../shared/data/gsm8k_test_dev.jsonl --dev 1-20   # choose here
    python docs/experiments/tune_selection.py --data ../shared/data/gsm8k_test_dev.jsonl --dev 1-20 --report 21-60 \\
        --auto "gate=14,select=conf-filter"

Prints tables (accuracy, mean generated tokens, FLOPs) and, with --json, writes them.
"""

from __future__ import annotations

import argparse
import itertools
import json
from pathlib import Path
from typing import Any, Optional

from tts_cli.batch import read_graded
from tts_cli.bench.cache import ResultCache
from tts_cli.bench.models import LoaderModels
from tts_cli.bench.rows import build_rows
from tts_cli.bench.runner import Bench, BenchPlan
from tts_cli.cli.runtime import ModelLoader
from tts_cli.env import Environment
from tts_cli.settings import SearchSettings

ROOT = Path(__file__).resolve().parents[2]

SIGNALS = ("mean_logprob", "mean_conf", "lowest_conf", "bottom_conf", "tail_conf", "neg_entropy", "self_certainty")
SELECTORS = ["vote"] + [
    f"{rule}:{signal}" for rule in ("best", "vote-sum", "vote-max") for signal in SIGNALS
] + [f"filter:{signal}@{keep}" for signal in SIGNALS for keep in (0.1, 0.25, 0.5, 0.75, 0.9)] + [
    f"softmax:{signal}@{t}" for signal in ("mean_logprob", "tail_conf", "lowest_conf") for t in (0.1, 0.5, 1, 2)
] + [f"borda:{signal}@{p}" for signal in SIGNALS for p in (1, 2)]


def span(text: str) -> tuple[int, int]:
    first, _, last = text.partition("-")
    return int(first), int(last or first)


def evaluate(
    bench_of: Any, problems: list[Any], strategies: list[str], options: dict[str, Any], selectors: list[str]
) -> list[dict[str, Any]]:
    bench = bench_of(problems, strategies, options, selectors)
    missing = [t for t in bench.pending()]
    if missing:
        raise SystemExit(f"{len(missing)} greedy runs / pools are not cached yet for these problems")
    return [row.to_dict() for row in build_rows(bench.outcomes(), strategies)]


def choose(args: Any, problems: list[Any], bench_of: Any) -> dict[str, Any]:
    """The selector table and the auto grid on the dev problems."""
    out: dict[str, Any] = {}
    first, last = span(args.dev)
    dev = problems[first - 1 : last]
    print(f"choosing on problems {first}-{last} ({len(dev)})")
    rows = evaluate(bench_of, dev, ["greedy", "majority"], {}, SELECTORS)
    at16 = sorted((r for r in rows if r["n"] == 16), key=lambda r: -r["accuracy"])
    print("\nselectors at N=16 (best first):")
    for r in at16[:40]:
        print(f"  {r['strategy']:40s} {100 * r['accuracy']:5.1f}%  pass@16 {100 * r['coverage']:5.1f}%")
    out["dev_selectors"] = rows

    gates = [("lowest_conf", g) for g in (8.5, 8.75, 9.0, 9.25, 9.5, 10.0, 10.5)] + [
        ("bottom_conf", g) for g in (9.0, 9.25, 9.5, 10.0, 10.5)
    ] + [("mean_logprob", g) for g in (-0.14, -0.13, -0.12, -0.1)] + [
        ("self_certainty", g) for g in (14.0, 14.25, 14.5, 14.75, 15.0)
    ]
    if args.no_grid:
        return out
    grid = []
    selects: tuple[str, ...] = ("vote", "vote-sum:lowest_conf", "filter:lowest_conf@0.5")
    settles: tuple[float, ...] = (0.8, 0.9, 0.95)
    sizes: tuple[int, ...] = (16,)
    if args.check == "program":  # every replay runs programs in the sandbox: a smaller grid, and auto's N
        gates = [("lowest_conf", g) for g in (8.5, 9.0, 9.5, 10.0, 10.5, 11.0, 12.0)]
        selects, settles, sizes = ("vote", "conf-borda"), (0.8, 0.9), (4, 8, 16)
    for (signal, gate), select, keep, settle, warmup, n in itertools.product(
        gates, selects, (0.9, 1.0), settles, (3, 4), sizes,
    ):
        options = {
            "gate_signal": signal, "gate": gate, "select": select, "keep": keep, "settle": settle, "warmup": warmup,
            "check": args.check,
        }  # fmt: skip
        auto_rows = evaluate(bench_of, dev, ["greedy", "majority", f"auto@{n}"], options, [])
        by = {(r["strategy"], r["n"]): r for r in auto_rows}
        row, reference = by[("auto", n)], by[("majority", 16)]
        grid.append({
            **options, "n": n, "accuracy": row["accuracy"], "tokens": row["policy_tokens"],
            "token_share": row["policy_tokens"] / reference["policy_tokens"],
            "majority16": reference["accuracy"], "greedy": by[("greedy", 1)]["accuracy"],
        })  # fmt: skip
    grid.sort(key=lambda g: (-g["accuracy"], g["tokens"]))
    print("\nauto@16 on the dev problems, at most 12.5% of majority@16's tokens (best first):")
    for g in [g for g in grid if g["token_share"] <= 0.125][:15] + [None] + grid[:15]:
        if g is None:
            print("auto@16 on the dev problems, any cost (best first):")
            continue
        print(
            f"  {g['gate_signal']:>14} >= {g['gate']:<6} select {g['select']:22s} keep {g['keep']:<4} "
            f"settle {g['settle']:<4} warmup {g['warmup']} N {g.get('n', 16):<3}"
            f"{100 * g['accuracy']:5.1f}%  {g['tokens']:6.0f} tok  {100 * g['token_share']:5.1f}%"
        )
    print(f"  (majority@16 {100 * grid[0]['majority16']:.1f}%, greedy {100 * grid[0]['greedy']:.1f}%)")
    out["dev_auto_grid"] = grid

    return out


def main(argv: Optional[list[str]] = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--data", type=Path, required=True, help="the GSM8K dev file (gsm8k_test_dev.jsonl)")
    parser.add_argument("--cache-dir", type=Path, default=ROOT / "docs/bench/cache-signals")
    parser.add_argument("--policy", default="qwen2.5-coder-1.5b")
    parser.add_argument("--max-tokens", type=int, default=512)
    parser.add_argument("--dev", default="1-20", help="problems to choose on (1-based, inclusive); 0: skip")
    parser.add_argument("--report", default=None, help="held-out problems to report the chosen settings on")
    parser.add_argument("--auto", default=None, help="chosen auto options, e.g. gate=14,select=conf-filter")
    parser.add_argument("--auto-n", type=int, default=16, help="auto's N in the report")
    parser.add_argument("--select", default=None, help="selectors to report, comma-separated")
    parser.add_argument("--json", type=Path, default=None)
    parser.add_argument("--no-grid", action="store_true", help="skip the auto grid on the dev problems")
    parser.add_argument("--check", default="none", choices=("none", "program"), help="auto's --check in the grid")
    args = parser.parse_args(argv)
    if args.check == "program":  # a replay runs the same cached programs again and again: run each once
        import functools

        import tts_cli.programs

        tts_cli.programs.run_program = functools.lru_cache(maxsize=None)(tts_cli.programs.run_program)  # type: ignore[assignment]

    problems = read_graded(args.data)
    loader = ModelLoader(Environment(), None, quiet=True)
    models = LoaderModels(loader)
    cache = ResultCache.open(args.cache_dir)

    def bench_of(chosen: list[Any], strategies: list[str], options: dict[str, Any], selectors: list[str]) -> Bench:
        names, fixed = [], {}
        for item in strategies:
            name, _, n = item.partition("@")
            names.append(name)
            if n:
                fixed[name] = [int(n)]
        settings = SearchSettings(policy=args.policy, max_tokens=args.max_tokens, options=options)
        plan = BenchPlan(chosen, [args.policy], names, [1, 2, 4, 8, 16], settings, fixed, selectors=selectors, replay=True)
        return Bench(plan, models, cache)

    out: dict[str, Any] = {}
    if args.dev != "0":
        out.update(choose(args, problems, bench_of))
    if args.report:
        first, last = span(args.report)
        held = problems[first - 1 : last]
        options: dict[str, Any] = dict(item.split("=", 1) for item in (args.auto or "").split(",") if item)
        for key, number in (("gate", float), ("keep", float), ("settle", float), ("warmup", int)):
            if key in options:
                options[key] = number(options[key])
        selectors = args.select.split(",") if args.select else []
        strategies = ["greedy", "majority", f"auto@{args.auto_n}", "adaptive@16"]
        if options.get("check") == "program":
            strategies.append("pot-greedy")
        report = evaluate(bench_of, held, strategies, options, selectors)
        print(f"\nproblems {first}-{last} ({len(held)}), auto options {options or 'defaults'}:")
        for r in report:
            if r["strategy"].startswith("majority") and r["n"] != 16 and r["strategy"] != "majority":
                continue
            print(
                f"  {r['strategy']:32s} N={r['n']:<3} {100 * r['accuracy']:5.1f}%  pass@N {100 * r['coverage']:5.1f}%  "
                f"{r['policy_tokens']:7.0f} tok  {r['flops'] / 1e12:6.2f} TFLOPs"
            )
        out["report"] = {"problems": [first, last], "options": options, "rows": report}
    if args.json:
        args.json.write_text(json.dumps(out, indent=1) + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
