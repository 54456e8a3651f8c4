"""`tts bench`: accuracy against compute for strategies x values of N x models, on graded data."""

from __future__ import annotations

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
        Optional[Path], typer.Argument(help="Problems with gold answers: JSONL (`question`/`problem`, `answer`; multiple choice: `choices` or `options`, gold `answer`/`correct` as index, letter or text).", show_default=False)
    ] = None,
    limit: Annotated[Optional[int], typer.Option("--limit", help="Use only the first N problems.")] = None,
    skip: Annotated[
        int, typer.Option("--skip", help="Leave out the first N problems (with --limit: problems N+1 to N+LIMIT), e.g. to report held-out problems apart.")
    ] = 0,
    strategies: Annotated[
        str, typer.Option("--strategies", help="Comma-separated strategies to compare (see `tts strategies`); NAME@N or NAME@N/M runs that one only at those N.")
    ] = DEFAULT_STRATEGIES,
    samples: Annotated[
        str,
        typer.Option("--samples", "-n", help="Comma-separated values of N (-n of `tts ask`) per strategy; a deterministic one runs once."),
    ] = DEFAULT_SAMPLES,
    budgets: Annotated[
        Optional[str], typer.Option("--budgets", hidden=True, help="Deprecated name of --samples (kept for old scripts).")
    ] = None,
    plot: Annotated[
        Optional[Path], typer.Option("--plot", help="Write a PNG of accuracy against mean FLOPs (needs matplotlib).")
    ] = None,
    output_format: Annotated[
        str,
        typer.Option("--format", help="The table on stdout: auto (Rich in a terminal, TSV otherwise), tsv or markdown."),
    ] = "auto",
    reprint: Annotated[
        Optional[Path],
        typer.Option("--reprint", help="Print the table of an earlier bench from its --per-problem file alone "
                     "(no model, no cache, no DATA); --format, --json and --plot apply, --skip and --limit "
                     "take a slice of its problems in the file's order."),
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
                     "pools for every strategy that selects among its samples: one row each, STRATEGY/SELECTOR."),
    ] = None,
    replay: Annotated[
        bool,
        typer.Option("--replay", help="Run strategies that draw only full solutions (\"replayable\" in `tts strategies --json`) on the cached "
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

    --policy takes a comma-separated list of models. Strategies that choose among full samples
    ("poolable" in `tts strategies --json`) read every N from the first N samples of one pool of
    max(N) samples per problem; search strategies run once per N. Each per-problem result is cached as soon as it is done: an interrupted bench (exit 130)
    continues where it stopped, and a second run computes only what is missing.
    """
    from tts_cli.env import Environment

    env = invocation.ensure_object(Environment)
    _check_outputs(output_format, json_out, plot, outcomes_out)
    if reprint is not None:
        if data is not None:
            raise _usage("--reprint prints an earlier bench from its per-problem file: give it without DATA")
        _check_counts(limit, skip, workers)
        return _reprint(env, reprint, parse_strategies(strategies)[0], output_format, json_out, plot, skip, limit)
    if data is None:
        raise _usage("give DATA (problems with gold answers), or --reprint OUTCOMES.jsonl")
    strategy_names, fixed = parse_strategies(strategies)
    sizes = parse_samples(samples) if budgets is None else parse_samples(budgets, "--budgets")  # the old name
    check_bench_settings(settings, strategy_names, sizes, fixed)
    _check_counts(limit, skip, workers)
    selector_specs = parse_selectors(selectors) if selectors else []
    check_selectors(selector_specs, strategy_names, settings)

    from tts_cli.batch import read_graded
    from tts_cli.bench.cache import ResultCache
    from tts_cli.bench.models import LoaderModels
    from tts_cli.bench.runner import Bench, BenchPlan
    from tts_cli.cli.runtime import ModelLoader
    from tts_cli.errors import ExitStatus
    from tts_cli.paths import cache_dir as tts_cache_dir

    problems = read_graded(data, limit, skip)
    loader = ModelLoader(
        env, settings.models_file, threads=settings.threads, gpu_layers=settings.gpu_layers,
        n_ctx=settings.ctx, quiet=quiet, cpu_repack=settings.cpu_repack, batching=workers > 1,
    )  # fmt: skip
    models = LoaderModels(loader, settings.verifier, settings.verifier_kind)
    policies = resolve_policies(models, settings)
    directory = cache_dir if cache_dir is not None else tts_cache_dir() / "bench"
    cache = ResultCache.open(directory)
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
    quality = runner.signal_quality()
    parameters = bench_parameters(settings, data, limit, len(problems), list(policies), strategy_names, sizes, directory)
    parameters.update(
        {"skip": skip} if skip else {}, strategy_budgets={name: plan.budgets_for(name) for name in strategy_names},
        **({"selectors": selector_specs} if selector_specs else {}), **({"replay": True} if replay else {}),
    )  # fmt: skip
    _report(env, outcomes, strategy_names, output_format, json_out, plot, parameters, quality)
    if outcomes_out is not None:
        from tts_cli.bench.report import write_outcomes

        write_outcomes(outcomes_out, outcomes, {p.id: p.gold for p in problems})
    if runner.errors:
        env.stderr.write(f"tts: {len(runner.errors)} run(s) failed (counted as wrong); see the messages above\n")
        return int(ExitStatus.PARTIAL)
    return int(ExitStatus.SUCCESS)


def resolve_policies(models: Any, settings: SearchSettings) -> dict[str, Optional[str]]:
    """Model name -> reference of every --policy (and the verifier resolved too): a typo fails
    before anything runs."""
    policies: dict[str, Optional[str]] = {}
    for ref in parse_models(settings.policy):
        policies.setdefault(models.name(ref), ref)
    if settings.verifier is not None:
        models.name(settings.verifier)
    return policies


def _check_counts(limit: Optional[int], skip: int, workers: int) -> None:
    if limit is not None and limit < 1:
        raise _usage(f"--limit must be at least 1 (got {limit})")
    if skip < 0:
        raise _usage(f"--skip must be at least 0 (got {skip})")
    if workers < 1:
        raise _usage(f"--workers must be at least 1 (got {workers})")


def _check_outputs(output_format: str, json_out: Optional[Path], plot: Optional[Path], outcomes_out: Optional[Path]) -> None:
    """Every output checked before anything runs."""
    from tts_cli.bench.report import FORMATS, require_matplotlib

    if output_format not in FORMATS:
        raise _usage(f"--format must be one of {', '.join(FORMATS)} (got {output_format!r})")
    for path, option in ((json_out, "--json"), (plot, "--plot"), (outcomes_out, "--per-problem")):
        if path is not None and not path.parent.is_dir():
            raise _usage(f"{option}: directory {path.parent} does not exist")
    if plot is not None:
        require_matplotlib()  # fail now, not after the bench


def _report(
    env: Any, outcomes: list[Any], strategy_names: list[str], output_format: str, json_out: Optional[Path],
    plot: Optional[Path], parameters: dict[str, Any], quality: list[Any],
) -> None:  # fmt: skip
    """The table on stdout (and the signal table in a terminal), the JSON summary and the plot."""
    from tts_cli.bench.report import print_table, write_json
    from tts_cli.bench.rows import build_rows, mark_pareto

    rows = build_rows(outcomes, strategy_names)
    mark_pareto(rows)
    print_table(env, rows, output_format)
    if quality and env.stdout_isatty and output_format == "auto":
        from tts_cli.bench.report import signal_table

        env.out.print(signal_table(quality))
    if json_out is not None:
        write_json(json_out, rows, parameters, [q.to_dict() for q in quality])
    if plot is not None:
        from tts_cli.bench.report import plot as draw

        draw(plot, rows)


def _reprint(
    env: Any, path: Path, order: list[str], output_format: str, json_out: Optional[Path], plot: Optional[Path],
    skip: int = 0, limit: Optional[int] = None,
) -> int:
    """The table of a bench again, from its --per-problem file alone (no model, no cache); rows in
    the order of --strategies, as the bench that wrote it printed them. ``skip`` / ``limit`` take
    a slice of its problems, in the order they first appear in the file (a held-out half apart)."""
    from tts_cli.bench.report import read_outcomes
    from tts_cli.errors import ExitStatus

    outcomes = read_outcomes(path)
    if skip or limit is not None:
        problems = list(dict.fromkeys(o.problem for o in outcomes))
        kept = set(problems[skip : None if limit is None else skip + limit])
        outcomes = [o for o in outcomes if o.problem in kept]
    seen = (o.strategy for o in outcomes if "/" not in o.strategy)
    strategy_names = list(dict.fromkeys([*order, *seen]))
    sliced = {**({"skip": skip} if skip else {}), **({"limit": limit} if limit is not None else {})}
    _report(env, outcomes, strategy_names, output_format, json_out, plot, {"reprint": str(path), **sliced}, [])
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


def check_selectors(specs: list[str], strategies: list[str], settings: SearchSettings) -> None:
    from tts_cli.strategies.registry import greedy_run, selecting
    from tts_cli.strategies.sampling import COT, PROGRAM

    choosers = sorted(selecting())
    if specs and not any(name in choosers for name in strategies):
        raise _usage(f"--selectors needs {_either(choosers)} in --strategies (selectors choose among their samples)")
    if settings.options.get("with_greedy"):
        raise _usage(
            "--with-greedy is for tts ask/solve; the bench reports it as the rows greedy+S/SELECTOR "
            f"(--selectors, with {greedy_run(COT)} and, for programs, {greedy_run(PROGRAM)} in --strategies)"
        )


def _either(names: list[str]) -> str:
    return names[0] if len(names) == 1 else f"{', '.join(names[:-1])} or {names[-1]}"


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

    for name in strategies:
        check_settings(replace(settings, strategy=name, n=max(fixed.get(name, samples))))


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
