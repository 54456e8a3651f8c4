"""`tts bench`: accuracy against compute for strategies x values of N x models, on graded data."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Annotated, Any, Optional

import typer

from tts_cli.cli.options import SearchSettings, with_search_options

DEFAULT_STRATEGIES = "greedy,majority"
DEFAULT_SAMPLES = "1,4,8,16"


def bench(
    invocation: typer.Context,
    settings: SearchSettings,
    data: Annotated[
        Path, typer.Argument(help="Problems with gold answers: JSONL (`question`/`problem`, `answer`; multiple choice: `choices` or `options`, gold `answer`/`correct` as index, letter or text).", show_default=False)
    ],
    limit: Annotated[Optional[int], typer.Option("--limit", help="Use only the first N problems.")] = None,
    skip: Annotated[
        int, typer.Option("--skip", help="Leave out the first N problems (with --limit: problems N+1 to N+LIMIT), e.g. to report held-out problems apart.")
    ] = 0,
    strategies: Annotated[
        str, typer.Option("--strategies", help="Comma-separated strategies to compare (see `tts strategies`); NAME@N or NAME@N/M runs that one only at those N.")
    ] = DEFAULT_STRATEGIES,
    samples: Annotated[
        str,
        typer.Option("--samples", "-n", help="Comma-separated values of N (-n of `tts ask`) per strategy; greedy runs once."),
    ] = DEFAULT_SAMPLES,
    budgets: Annotated[
        Optional[str], typer.Option("--budgets", hidden=True, help="Deprecated name of --samples (kept for old scripts).")
    ] = None,
    plot: Annotated[
        Optional[Path], typer.Option("--plot", help="Write a PNG of accuracy against mean FLOPs (needs matplotlib).")
    ] = None,
    json_out: Annotated[Optional[Path], typer.Option("--json", help="Write every row and the parameters as JSON.")] = None,
    outcomes_out: Annotated[
        Optional[Path],
        typer.Option("--per-problem", help="Write one JSONL record per (model, strategy, N, problem): answer, gold, correct, cost."),
    ] = None,
    cache_dir: Annotated[
        Optional[Path],
        typer.Option("--cache-dir", help="Per-problem results cache (default: bench/ in the tts cache dir, $TTS_CACHE_DIR)."),
    ] = None,
    quiet: Annotated[bool, typer.Option("--quiet", "-q", help="No progress on stderr.")] = False,
    selectors: Annotated[
        Optional[str],
        typer.Option("--selectors", help="Comma-separated selectors (see `tts strategies`) evaluated on the same "
                     "majority pools: one row each, majority/SELECTOR."),
    ] = None,
    replay: Annotated[
        bool,
        typer.Option("--replay", help="Run strategies that draw only full solutions (auto, adaptive) on the cached "
                     "greedy run and sample pool of each problem instead of the model: what they would spend and "
                     "answer on those same samples, in seconds."),
    ] = False,
    workers: Annotated[
        int,
        typer.Option("--workers", help="Runs computed at once, sharing the local engine's decode batch (or concurrent "
                     "server requests). Faster; each run's wall time then includes waiting for the others, and "
                     "runs reuse each other's KV state, so compare costs at equal --workers."),
    ] = 1,
) -> int:
    """Compare strategies, values of N and models on DATA: accuracy (95% Wilson interval) against
    mean tokens, FLOPs and wall time per problem, Pareto-optimal rows starred (★).

    --policy takes a comma-separated list of models. majority, best-of-n and weighted read every N
    from the first N samples of one pool of max(N) samples per problem; search strategies run once
    per N. Each per-problem result is cached as soon as it is done: an interrupted bench (exit 130)
    continues where it stopped, and a second run computes only what is missing.
    """
    from tts_cli.bench.cache import ResultCache
    from tts_cli.bench.report import print_table, require_matplotlib, write_json
    from tts_cli.bench.rows import build_rows, mark_pareto
    from tts_cli.bench.runner import Bench, BenchPlan, selects
    from tts_cli.cli.runtime import ModelLoader
    from tts_cli.env import Environment
    from tts_cli.errors import ExitStatus
    from tts_cli.paths import cache_dir as tts_cache_dir

    env = invocation.ensure_object(Environment)
    strategy_names, fixed = parse_strategies(strategies)
    sizes = parse_samples(samples) if budgets is None else parse_samples(budgets, "--budgets")  # the old name
    check_bench_settings(settings, strategy_names, sizes, fixed)
    if limit is not None and limit < 1:
        raise _usage(f"--limit must be at least 1 (got {limit})")
    if skip < 0:
        raise _usage(f"--skip must be at least 0 (got {skip})")
    if workers < 1:
        raise _usage(f"--workers must be at least 1 (got {workers})")
    for path, option in ((json_out, "--json"), (plot, "--plot"), (outcomes_out, "--per-problem")):
        if path is not None and not path.parent.is_dir():
            raise _usage(f"{option}: directory {path.parent} does not exist")
    if plot is not None:
        require_matplotlib()  # fail now, not after the bench
    problems = read_problems(data, limit, skip)
    loader = ModelLoader(
        env, settings.models_file, threads=settings.threads, gpu_layers=settings.gpu_layers,
        n_ctx=settings.ctx, quiet=quiet, cpu_repack=settings.cpu_repack, batching=workers > 1,
    )  # fmt: skip
    models = LoaderModels(loader, settings.verifier, settings.verifier_kind)
    policies: dict[str, Optional[str]] = {}  # name -> reference; every name resolved now, so a typo fails first
    for ref in parse_models(settings.policy):
        policies.setdefault(models.name(ref), ref)
    if settings.verifier is not None:
        models.name(settings.verifier)
    directory = cache_dir if cache_dir is not None else tts_cache_dir() / "bench"
    cache = ResultCache.open(directory)
    selector_specs = parse_selectors(selectors) if selectors else []
    if selector_specs and not any(selects(name) for name in strategy_names):
        raise _usage("--selectors needs majority, pot or mixed in --strategies (selectors choose among their samples)")
    if settings.options.get("with_greedy"):
        raise _usage(
            "--with-greedy is for tts ask/solve; the bench reports it as the rows greedy+S/SELECTOR "
            "(--selectors, with greedy and, for programs, pot-greedy in --strategies)"
        )
    plan = BenchPlan(
        problems, list(policies.values()), strategy_names, sizes, settings, fixed, selectors=selector_specs, replay=replay
    )
    runner = Bench(plan, models, cache)
    try:
        if not _run(env, runner, directory, quiet, workers):
            return int(ExitStatus.INTERRUPTED)
    finally:
        cache.close()
        loader.close()
    outcomes = list(runner.outcomes())
    rows = build_rows(outcomes, strategy_names)
    mark_pareto(rows)
    print_table(env, rows)
    quality = runner.signal_quality()
    if quality and env.stdout_isatty:
        from tts_cli.bench.report import signal_table

        env.out.print(signal_table(quality))
    if json_out is not None:
        parameters = bench_parameters(settings, data, limit, len(problems), list(policies), strategy_names, sizes, directory)
        if skip:
            parameters["skip"] = skip
        parameters["strategy_budgets"] = {name: plan.budgets_for(name) for name in strategy_names}
        if selector_specs:
            parameters["selectors"] = selector_specs
        if replay:
            parameters["replay"] = True
        write_json(json_out, rows, parameters, [q.to_dict() for q in quality])
    if outcomes_out is not None:
        from tts_cli.bench.report import write_outcomes

        write_outcomes(outcomes_out, outcomes, {p.id: p.gold for p in problems})
    if plot is not None:
        from tts_cli.bench.report import plot as draw

        draw(plot, rows)
    if runner.errors:
        env.stderr.write(f"tts: {len(runner.errors)} run(s) failed (counted as wrong); see the messages above\n")
        return int(ExitStatus.PARTIAL)
    return int(ExitStatus.SUCCESS)


def _run(env: Any, runner: Any, directory: Path, quiet: bool, workers: int = 1) -> bool:
    """Compute what the cache lacks, with progress on stderr; False when interrupted (Ctrl-C or
    SIGTERM), everything finished being cached."""
    from tts_cli.cli.interrupts import signals_as_interrupt
    from tts_cli.display.progress import BatchProgress

    todo = runner.pending()
    total = len(runner.tasks())
    progress = BatchProgress(env, total=len(todo), enabled=not quiet and bool(todo))
    if not quiet:
        progress.log(f"tts: bench: {total - len(todo)} of {total} run(s) cached in {directory}; {len(todo)} to compute")
    try:
        with signals_as_interrupt(), progress:
            runner.run(todo, progress, workers=workers)
    except KeyboardInterrupt:
        progress.stop()
        env.stderr.write(
            f"tts: interrupted; {runner.computed} result(s) cached in {directory}; "
            "run the same command again to continue\n"
        )
        env.stderr.flush()
        return False
    return True


@dataclass
class LoaderModels:
    """The bench's models through ModelLoader: each GGUF loaded once, only when a run needs it."""

    loader: Any
    verifier_ref: Optional[str] = None
    verifier_kind: Optional[str] = None
    _verifier: Any = field(default=None, repr=False)

    def identity(self, ref: Optional[str]) -> dict[str, Any]:
        spec = self.loader.spec(ref)
        return {"name": spec.name, "file": spec.file, "sha256": spec.sha256}

    def name(self, ref: Optional[str]) -> str:
        return str(self.loader.spec(ref).name)

    def policy(self, ref: Optional[str]) -> Any:
        return self.loader.load(ref)

    def verifier(self) -> Any:
        if self._verifier is None and self.verifier_ref is not None:
            self._verifier = self.loader.load_verifier(self.verifier_ref, self.verifier_kind)
        return self._verifier

    def new_verifier(self) -> Any:
        """A verifier of its own (own cost counters) on the shared engine, for concurrent runs."""
        return self.loader.load_verifier(self.verifier_ref, self.verifier_kind) if self.verifier_ref else None


def parse_selectors(text: str) -> list[str]:
    """Selector specs, each checked (an unknown one is a usage error naming the valid choices)."""
    from tts_cli.selection import parse_selector

    specs = _split(text, "--selectors")
    for spec in specs:
        try:
            parse_selector(spec)
        except ValueError as exc:
            raise _usage(f"--selectors: {exc}") from None
    return specs


def parse_strategies(text: str) -> tuple[list[str], dict[str, list[int]]]:
    """Strategy names, and the values of N of those given their own (``auto@16``, ``beam@4/8``)."""
    from tts_cli.strategies import get_strategy

    names: list[str] = []
    fixed: dict[str, list[int]] = {}
    for item in _split(text, "--strategies"):
        name, at, values = item.partition("@")
        name = name.strip()
        get_strategy(name)  # unknown names: a usage error with a suggestion
        if at:
            fixed[name] = parse_samples(values.replace("/", ","), f"--strategies {item}")
        if name not in names:
            names.append(name)
    return names, fixed


def parse_samples(text: str, option: str = "--samples") -> list[int]:
    """Values of N: whole numbers >= 1, sorted, each once."""
    values = []
    for part in _split(text, option):
        try:
            value = int(part)
        except ValueError:
            raise _usage(f"{option}: values of N must be whole numbers (got {part!r})") from None
        if value < 1:
            raise _usage(f"{option}: values of N must be at least 1 (got {value})")
        values.append(value)
    return sorted(set(values))


def parse_models(text: Optional[str]) -> list[Optional[str]]:
    return list(_split(text, "--policy")) if text is not None else [None]


def check_bench_settings(
    settings: SearchSettings, strategies: list[str], samples: list[int], fixed: dict[str, list[int]]
) -> None:
    """Every option checked as `tts ask` would for each strategy at its largest N."""
    from dataclasses import replace

    from tts_cli.cli.runtime import check_settings
    from tts_cli.errors import UsageError

    for name in strategies:
        check_settings(replace(settings, strategy=name, n=max(fixed.get(name, samples))))
    if settings.verifier is None and settings.verifier_kind is not None:
        raise UsageError(
            f"tts bench scores pools with a verifier model: --verifier-kind {settings.verifier_kind} needs --verifier MODEL "
            "here (the arithmetic check is measured by benchmarks/arithmetic_auroc.py)"
        )


def read_problems(data: Path, limit: Optional[int], skip: int = 0) -> list[Any]:
    """``limit`` problems of ``data`` after the first ``skip``; each must parse and have a gold answer."""
    from tts_cli.batch import BadLine, read_input
    from tts_cli.errors import InputError

    items = read_input(str(data))
    items = items[skip:]
    if limit is not None:
        items = items[:limit]
    if not items:
        raise InputError(f"no problems in {data}")
    for item in items:
        if isinstance(item, BadLine):
            raise InputError(f"{data}: {item.error}")
        if item.gold is None:
            raise InputError(f"{data}: line {item.line} (id {item.id!r}) has no gold answer; the bench grades every problem")
    return items


def bench_parameters(
    settings: SearchSettings, data: Path, limit: Optional[int], problems: int, models: list[str],
    strategies: list[str], budgets: list[int], directory: Path,
) -> dict[str, Any]:  # fmt: skip
    values = {k: (str(v) if isinstance(v, Path) else v) for k, v in settings.as_dict().items()}
    for name in ("strategy", "n", "policy"):
        values.pop(name)
    return {
        "data": str(data), "limit": limit, "problems": problems, "models": models, "strategies": strategies,
        "budgets": budgets, **values, "cache_dir": str(directory),
    }  # fmt: skip


def _split(text: str, option: str) -> list[str]:
    parts = [part.strip() for part in text.split(",")]
    if not any(parts) or not all(parts):
        raise _usage(f"{option} takes a comma-separated list without empty items (got {text!r})")
    return list(dict.fromkeys(parts))


def _usage(message: str) -> Exception:
    from tts_cli.errors import UsageError

    return UsageError(message)


def register(app: typer.Typer) -> None:
    app.command("bench")(with_search_options(bench, without=("strategy", "n")))
