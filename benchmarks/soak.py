"""Soak test: resident memory of one long `tts solve` run must not grow.

    python benchmarks/soak.py [--questions 200] [--warmup 20] [--policy smollm2-135m] [-n 4]
                              [--max-tokens 48] [--threads 2]

Runs `tts solve` in this process (the real command: `tts_cli.cli.app.run`) over generated
arithmetic word problems with gold answers, strategy `majority`. Right after each result record is
written, the process's resident set size (VmRSS in /proc/self/status) is read, so the numbers are
exact per record, taken before the model is freed at the end. It prints the RSS after the first
``--warmup`` records and after the last one, and their ratio; the target is a ratio <= 1.10
(exit 1 when it is missed, 2 when the solve itself fails).
"""

from __future__ import annotations

import argparse
import json
import random
import sys
import tempfile
import time
from pathlib import Path

TARGET_RATIO = 1.10

TEMPLATES = [
    ("What is {a} + {b}?", lambda a, b: a + b),
    ("What is {a} times {b}?", lambda a, b: a * b),
    ("Tom has {a} apples and buys {b} more. How many apples does he have now?", lambda a, b: a + b),
    ("A shop sold {a} pens on Monday and {b} pens on Tuesday. How many pens did it sell in total?",
     lambda a, b: a + b),
    ("Sara had {a} stickers and gave away {b}. How many stickers are left? Explain each step.",
     lambda a, b: a - b),
    ("A train travels {a} km every hour for {b} hours. How far does it travel?", lambda a, b: a * b),
]


def rss_kib() -> tuple[int, int]:
    """(VmRSS, VmHWM) of this process in KiB."""
    values = {}
    with open("/proc/self/status", encoding="ascii") as status:
        for line in status:
            if line.startswith(("VmRSS:", "VmHWM:")):
                key, value = line.split(":", 1)
                values[key] = int(value.split()[0])
    return values["VmRSS"], values["VmHWM"]


def write_problems(path: Path, count: int, seed: int = 0) -> None:
    rng = random.Random(seed)
    with path.open("w", encoding="utf-8") as handle:
        for index in range(count):
            template, answer = TEMPLATES[index % len(TEMPLATES)]
            a, b = rng.randint(10, 999), rng.randint(2, 9)
            question = template.format(a=a, b=b)
            handle.write(json.dumps({"id": f"q{index}", "question": question, "answer": f"#### {answer(a, b)}"}) + "\n")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--questions", type=int, default=200)
    parser.add_argument("--warmup", type=int, default=20, help="records before the baseline RSS is taken")
    parser.add_argument("--policy", default="smollm2-135m")
    parser.add_argument("-n", type=int, default=4)
    parser.add_argument("--max-tokens", type=int, default=48)
    parser.add_argument("--threads", type=int, default=2)
    args = parser.parse_args()

    from tts_cli import batch
    from tts_cli.cli.app import run

    samples: list[tuple[int, float, int, int]] = []  # (records written, seconds, VmRSS, VmHWM)
    started = time.monotonic()
    original_write = batch.ResultWriter.write

    def write_and_measure(self: batch.ResultWriter, record: dict) -> None:
        original_write(self, record)
        rss, hwm = rss_kib()
        samples.append((len(samples) + 1, time.monotonic() - started, rss, hwm))

    batch.ResultWriter.write = write_and_measure  # type: ignore[method-assign]
    with tempfile.TemporaryDirectory(prefix="tts-soak-") as directory:
        problems = Path(directory) / "problems.jsonl"
        output = Path(directory) / "answers.jsonl"
        write_problems(problems, args.questions)
        argv = [
            "solve", str(problems), "-o", str(output), "--policy", args.policy, "-s", "majority",
            "-n", str(args.n), "--max-tokens", str(args.max_tokens), "--threads", str(args.threads),
            "--no-tree", "--quiet", "--seed", "0",
        ]
        status = run(argv)
        records = [json.loads(line) for line in output.read_text(encoding="utf-8").splitlines()]
    elapsed = time.monotonic() - started

    failed = sum("error" in r for r in records)
    correct = sum(bool(r.get("correct")) for r in records)
    print(f"tts solve: exit {status}, {len(records)} records ({failed} errors, {correct} correct) in {elapsed:.0f} s")
    if status != 0 or len(samples) < max(args.warmup, 1) or len(records) != args.questions:
        print("soak: the solve run did not complete", file=sys.stderr)
        return 2

    step = max(1, len(samples) // 10)
    print("records  seconds  VmRSS MiB  VmHWM MiB")
    for count, seconds, rss, hwm in samples[::step] + ([samples[-1]] if (len(samples) - 1) % step else []):
        print(f"{count:7d}  {seconds:7.1f}  {rss / 1024:9.1f}  {hwm / 1024:9.1f}")
    baseline = samples[args.warmup - 1][2]
    end = samples[-1][2]
    ratio = end / baseline
    verdict = "ok" if ratio <= TARGET_RATIO else "GROWING"
    print(
        f"RSS after {args.warmup} questions: {baseline / 1024:.1f} MiB; after {len(samples)}: {end / 1024:.1f} MiB; "
        f"ratio {ratio:.3f} (target <= {TARGET_RATIO:.2f}): {verdict}"
    )
    return 0 if ratio <= TARGET_RATIO else 1


if __name__ == "__main__":
    sys.exit(main())
