"""How long `tts --help` (and `tts ask --help`) takes, as a fresh process each time.

    python benchmarks/help_time.py [--runs 15] [--tree DIR] [--label after] [--json docs/bench/help-time.json]

Each command runs ``--runs`` times as ``python -m tts_cli ...`` in a subprocess (after one unmeasured
run that fills ``__pycache__``), stdout and stderr discarded. For every run it takes the wall time
and the CPU time (user + sys of the child, the delta of ``getrusage(RUSAGE_CHILDREN)``) and prints
median and min of each. ``--tree DIR`` measures another checkout of the package (e.g. a
``git worktree`` of an older commit: it goes first on PYTHONPATH). The results are stored under
``--label`` in the JSON file, next to those of other labels already there (e.g. before / after).
The target is a median wall time under 0.3 s for ``tts --help``.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import resource
import statistics
import subprocess
import sys
import time
from pathlib import Path
from typing import Any, Optional, Sequence

COMMANDS: dict[str, list[str]] = {"tts --help": ["--help"], "tts ask --help": ["ask", "--help"]}
TARGET_SECONDS = 0.3
DEFAULT_JSON = Path(__file__).resolve().parents[1] / "docs" / "bench" / "help-time.json"


def child_environment(tree: Optional[Path]) -> dict[str, str]:
    env = dict(os.environ)
    if tree is not None:
        env["PYTHONPATH"] = os.pathsep.join(p for p in (str(tree), env.get("PYTHONPATH", "")) if p)
    return env


def run_once(argv: Sequence[str], env: dict[str, str], cwd: Path) -> tuple[float, float]:
    """(wall seconds, CPU seconds) of one ``python -m tts_cli argv``."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    start = time.perf_counter()
    subprocess.run([sys.executable, "-m", "tts_cli", *argv], env=env, cwd=cwd, check=True,
                   stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)  # fmt: skip
    wall = time.perf_counter() - start
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    return wall, cpu


def measure(argv: Sequence[str], runs: int, env: dict[str, str], cwd: Path) -> dict[str, Any]:
    run_once(argv, env, cwd)  # fills __pycache__; not counted
    walls, cpus = zip(*(run_once(argv, env, cwd) for _ in range(runs)))
    return {
        "runs": runs,
        "wall_median_s": round(statistics.median(walls), 4),
        "wall_min_s": round(min(walls), 4),
        "cpu_median_s": round(statistics.median(cpus), 4),
        "cpu_min_s": round(min(cpus), 4),
    }


def package_location(env: dict[str, str], cwd: Path) -> str:
    done = subprocess.run([sys.executable, "-c", "import tts_cli; print(tts_cli.__file__)"], env=env, cwd=cwd,
                          capture_output=True, text=True, check=True)  # fmt: skip
    return str(Path(done.stdout.strip()).parent.parent)


def commit_of(directory: Path) -> Optional[str]:
    """The checkout's commit, marked when its tts_cli has changes not committed."""
    git = ["git", "-C", str(directory)]
    commit = subprocess.run([*git, "rev-parse", "--short", "HEAD"], capture_output=True, text=True).stdout.strip()
    changed = subprocess.run([*git, "status", "--porcelain", "--", "tts_cli"], capture_output=True, text=True).stdout
    return f"{commit} + uncommitted changes" if commit and changed.strip() else commit or None


def main(argv: Optional[Sequence[str]] = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--runs", type=int, default=15, help="measured runs per command")
    parser.add_argument("--tree", type=Path, help="checkout whose tts_cli to measure (default: the installed one)")
    parser.add_argument("--label", default="current", help="key of these results in the JSON file")
    parser.add_argument("--json", type=Path, default=DEFAULT_JSON, help="where the results are stored")
    args = parser.parse_args(argv)
    if args.runs < 1:
        parser.error("--runs must be at least 1")

    tree = args.tree.resolve() if args.tree is not None else None
    env = child_environment(tree)
    cwd = tree if tree is not None else Path.cwd()
    location = package_location(env, cwd)
    commit = commit_of(Path(location))
    print(f"tts_cli from {location} (commit {commit}), {args.runs} runs per command")
    results: dict[str, Any] = {}
    for name, command in COMMANDS.items():
        result = measure(command, args.runs, env, cwd)
        results[name] = result
        print(f"{name:16} wall median {result['wall_median_s']:.3f} s  min {result['wall_min_s']:.3f} s   "
              f"cpu median {result['cpu_median_s']:.3f} s  min {result['cpu_min_s']:.3f} s")  # fmt: skip

    stored: dict[str, Any] = json.loads(args.json.read_text()) if args.json.exists() else {}
    stored[args.label] = {
        "commit": commit,
        "python": platform.python_version(),
        "machine": f"{platform.machine()}, {os.cpu_count()} CPUs",
        "target_wall_median_s": TARGET_SECONDS,
        "commands": results,
    }
    args.json.parent.mkdir(parents=True, exist_ok=True)
    args.json.write_text(json.dumps(stored, indent=2) + "\n")
    met = results["tts --help"]["wall_median_s"] < TARGET_SECONDS
    verdict = "under" if met else "NOT under"
    print(f"tts --help median {verdict} {TARGET_SECONDS} s; results in {args.json} [{args.label}]")
    return 0


if __name__ == "__main__":
    sys.exit(main())
