"""`tts solve`: answer every question of a file or pipe, one JSONL result per problem."""

from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Any, Callable, Optional

import typer

from tts_cli.cli.interrupts import deferred_interrupt, signals_as_interrupt
from tts_cli.cli.options import SearchSettings, with_search_options


def solve(
    invocation: typer.Context,
    settings: SearchSettings,
    source: Annotated[
        str, typer.Argument(help="Problems: text (one question per line) or JSONL file, '-' for stdin.", show_default=False)
    ],
    output: Annotated[
        Optional[Path], typer.Option("--output", "-o", help="Write results to this JSONL file instead of stdout.")
    ] = None,
    resume: Annotated[
        bool,
        typer.Option("--resume", help="Continue --output: skip ids already answered, solve failed problems again."),
    ] = False,
    limit: Annotated[Optional[int], typer.Option("--limit", help="Solve only the first N problems.")] = None,
    no_tree: Annotated[bool, typer.Option("--no-tree", help="Leave the search tree out of the records.")] = False,
    quiet: Annotated[bool, typer.Option("--quiet", "-q", help="No progress bar or summary on stderr.")] = False,
    workers: Annotated[
        Optional[int],
        typer.Option(
            "--workers",
            help="Solve this many problems at once: on a local model their samples share one decode batch, "
            "on a server they are concurrent requests; results are then written in the order they finish. "
            "Default: as many as --ctx holds for a local model (at most 16), 1 for a server model.",
            show_default=False,
        ),
    ] = None,
) -> int:
    """Solve every problem in SOURCE; write one JSON line per problem as soon as it is done.

    JSONL input needs a `question` or `problem` field; `id` and a gold `answer` (GSM8K `#### n` or
    MATH style) are used when present, and each record then says whether it was `correct`.
    Exit code 4 when some lines could not be solved (each has an error record), 130 on Ctrl-C
    (everything finished is on disk; run again with --resume). Binary input is refused (exit 2).
    """
    from tts_cli.batch import ResultWriter, read_input
    from tts_cli.cli.runtime import check_settings, check_workers, open_session
    from tts_cli.display.progress import BatchProgress
    from tts_cli.env import Environment
    from tts_cli.errors import ExitStatus, UsageError

    env = invocation.ensure_object(Environment)
    config = check_settings(settings)
    workers = check_workers(env, settings, config, workers)
    if limit is not None and limit < 1:
        raise UsageError(f"--limit must be at least 1 (got {limit})")
    if resume and output is None:
        raise UsageError("--resume needs --output FILE (the results to continue)")
    items = read_input(source, env.stdin)
    if limit is not None:
        items = items[:limit]
    todo = _still_to_do(items, output) if resume and output is not None else items
    writer = ResultWriter.open(output, append=resume) if output is not None else ResultWriter(env.stdout)
    progress = BatchProgress(env, total=len(todo), skipped=len(items) - len(todo), enabled=not quiet)
    sessions: list[Any] = []

    def session() -> Any:
        if not sessions:
            sessions.append(open_session(env, settings, config, quiet=quiet, concurrent=workers > 1))
        return sessions[0]

    def emit(outcome: "_Outcome") -> None:
        if outcome.error is not None:
            progress.log(f"tts: {outcome.error}")
        if outcome.record is not None:
            with deferred_interrupt():
                writer.write(outcome.record)
        progress.advance(correct=outcome.correct, tokens=outcome.tokens, failed=outcome.error is not None)

    failures = 0
    try:
        with signals_as_interrupt(), progress:
            if workers == 1:
                failures = _run_in_order(todo, session, emit, no_tree=no_tree)
            else:
                failures = _run_concurrently(todo, session, emit, no_tree=no_tree, workers=workers, flying=progress.started)
    except KeyboardInterrupt:
        progress.stop()
        env.stderr.write(
            f"tts: interrupted; {progress.completed} result(s) written"
            + (f", continue with --resume -o {output}\n" if output is not None else "\n")
        )
        return int(ExitStatus.INTERRUPTED)
    finally:
        for opened in sessions:
            opened.close()  # first: aborts requests still in flight on a server
        writer.close()
    progress.summary()
    return int(ExitStatus.PARTIAL if failures else ExitStatus.SUCCESS)


@dataclass
class _Outcome:
    record: Optional[dict[str, Any]]  # None: already in the output being resumed
    correct: Optional[bool] = None
    tokens: int = 0
    error: Optional[str] = None  # the message of an error record


def _bad_line(item: Any) -> _Outcome:
    record = None if item.recorded else {"id": item.id, "line": item.line, "error": item.error}
    return _Outcome(record, error=item.error)


def _still_to_do(items: list[Any], output: Path) -> list[Any]:
    """The items a --resume run still handles; error records of problems it solves again are
    dropped from ``output`` first, so that every id appears once in it."""
    from tts_cli.batch import drop_error_records, plan_resume, read_previous

    todo, stale = plan_resume(items, read_previous(output))
    if stale:
        drop_error_records(output, stale)
    return todo


def _solve_one(session: Any, item: Any, no_tree: bool) -> _Outcome:
    """Solve and grade one problem. An error that would fail every later problem too (a model or
    configuration error, e.g. the server is down) propagates; any other becomes an error record."""
    from tts_cli.errors import ConfigError, ModelError, TTSError
    from tts_cli.grading import answers_equivalent

    try:
        solution = session.solve(item.asked())
    except TTSError as exc:
        if isinstance(exc, (ModelError, ConfigError)):
            raise
        message = f"line {item.line}: {exc}"
        return _Outcome({"id": item.id, "line": item.line, "error": message}, error=message)
    record: dict[str, Any] = {"id": item.id, **solution.to_dict(include_tree=not no_tree)}
    record["finished_at"] = time.time()
    correct: Optional[bool] = None
    if item.gold is not None:
        correct = answers_equivalent(solution.answer, item.gold)
        record["gold"] = item.gold
        record["correct"] = correct
    return _Outcome(record, correct=correct, tokens=solution.cost.policy.generated_tokens)


def _run_in_order(todo: list[Any], session: Callable[[], Any], emit: Callable[[_Outcome], None], *, no_tree: bool) -> int:
    """One problem after the other; returns the number of failed lines."""
    from tts_cli.batch import BadLine

    failures = 0
    for item in todo:
        outcome = _bad_line(item) if isinstance(item, BadLine) else _solve_one(session(), item, no_tree)
        failures += outcome.error is not None
        emit(outcome)
    return failures


def _run_concurrently(
    todo: list[Any],
    session: Callable[[], Any],
    emit: Callable[[_Outcome], None],
    *,
    no_tree: bool,
    workers: int,
    flying: Callable[[int], None] = lambda n: None,
) -> int:
    """``workers`` problems at once on threads, each with its own cost counters. Only this (main)
    thread writes, so records stay whole and Ctrl-C is still deferred while one is written; at
    most ``workers`` problems are started ahead, so an interruption abandons at most that many."""
    from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait

    from tts_cli.batch import BadLine

    failures = 0
    items = iter(todo)
    pending: set[Future[_Outcome]] = set()
    pool = ThreadPoolExecutor(max_workers=workers, thread_name_prefix="tts-solve")
    try:
        while True:
            while len(pending) < workers:
                item = next(items, None)
                if item is None:
                    break
                if isinstance(item, BadLine):
                    failures += 1
                    emit(_bad_line(item))
                    continue
                pending.add(pool.submit(_solve_one, session().for_problem(), item, no_tree))
            if not pending:
                return failures
            flying(len(pending))
            done, _ = wait(pending, return_when=FIRST_COMPLETED)
            for future in done:
                pending.discard(future)
                outcome = future.result()
                failures += outcome.error is not None
                emit(outcome)
    finally:
        for future in pending:
            future.cancel()
        pool.shutdown(wait=False, cancel_futures=True)


def register(app: typer.Typer) -> None:
    app.command("solve")(with_search_options(solve))

