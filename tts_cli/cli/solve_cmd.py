"""`tts solve`: answer every question of a file or pipe, one JSONL result per problem."""

from __future__ import annotations

import signal
import sys
import time
from contextlib import contextmanager
from pathlib import Path
from typing import Annotated, Any, Iterator, Optional

import typer

from tts_cli.cli.options import SearchSettings, search_options


@search_options
def solve(
    settings: SearchSettings,
    source: Annotated[
        str, typer.Argument(help="Problems: text (one question per line) or JSONL file, '-' for stdin.", show_default=False)
    ],
    output: Annotated[
        Optional[Path], typer.Option("--output", "-o", help="Write results to this JSONL file instead of stdout.")
    ] = None,
    resume: Annotated[bool, typer.Option("--resume", help="Skip ids already answered in --output.")] = False,
    limit: Annotated[Optional[int], typer.Option("--limit", help="Solve only the first N problems.")] = None,
    no_tree: Annotated[bool, typer.Option("--no-tree", help="Leave the search tree out of the records.")] = False,
    quiet: Annotated[bool, typer.Option("--quiet", "-q", help="No progress bar or summary on stderr.")] = False,
) -> int:
    """Solve every problem in SOURCE; write one JSON line per problem as soon as it is done.

    JSONL input needs a `question` or `problem` field; `id` and a gold `answer` (GSM8K `#### n` or
    MATH style) are used when present, and each record then says whether it was `correct`.
    Exit code 4 when some lines could not be solved (each has an error record), 130 on Ctrl-C
    (everything finished is on disk; run again with --resume).
    """
    from tts_cli.batch import BadLine, ResultWriter, finished_ids
    from tts_cli.cli.runtime import check_settings, open_session
    from tts_cli.display.progress import BatchProgress
    from tts_cli.env import Environment
    from tts_cli.errors import ConfigError, ExitStatus, ModelError, TTSError, UsageError
    from tts_cli.grading import answers_equivalent

    env = Environment()
    config = check_settings(settings)
    if limit is not None and limit < 1:
        raise UsageError(f"--limit must be at least 1 (got {limit})")
    if resume and output is None:
        raise UsageError("--resume needs --output FILE (the results to continue)")
    items = _read_items(source, env)
    if limit is not None:
        items = items[:limit]
    done = finished_ids(output) if resume and output is not None else set()
    todo = [item for item in items if item.id not in done]
    writer = ResultWriter.open(output, append=resume) if output is not None else ResultWriter(env.stdout)
    failures = 0
    session = None
    progress = BatchProgress(env, total=len(todo), skipped=len(items) - len(todo), enabled=not quiet)
    try:
        with _signals_as_interrupt(), progress:
            for item in todo:
                if isinstance(item, BadLine):
                    failures += 1
                    progress.log(f"tts: {item.error}")
                    with _deferred_interrupt():
                        writer.write({"id": item.id, "line": item.line, "error": item.error})
                    progress.advance(correct=None, failed=True)
                    continue
                if session is None:
                    session = open_session(env, settings, config, quiet=quiet)
                try:
                    solution = session.solve(item.question)
                except TTSError as exc:
                    if isinstance(exc, (ModelError, ConfigError)):
                        raise  # no later problem can succeed either
                    failures += 1
                    message = f"line {item.line}: {exc}"
                    progress.log(f"tts: {message}")
                    with _deferred_interrupt():
                        writer.write({"id": item.id, "line": item.line, "error": message})
                    progress.advance(correct=None, failed=True)
                    continue
                record: dict[str, Any] = {"id": item.id, **solution.to_dict(include_tree=not no_tree)}
                record["finished_at"] = time.time()
                correct: Optional[bool] = None
                if item.gold is not None:
                    correct = answers_equivalent(solution.answer, item.gold)
                    record["gold"] = item.gold
                    record["correct"] = correct
                with _deferred_interrupt():
                    writer.write(record)
                progress.advance(correct=correct, tokens=solution.cost.policy.generated_tokens)
    except KeyboardInterrupt:
        progress.stop()
        env.stderr.write(
            f"tts: interrupted; {progress.completed} result(s) written"
            + (f", continue with --resume -o {output}\n" if output is not None else "\n")
        )
        return int(ExitStatus.INTERRUPTED)
    finally:
        writer.close()
        if session is not None:
            session.close()
    progress.summary()
    return int(ExitStatus.PARTIAL if failures else ExitStatus.SUCCESS)


def _read_items(source: str, env: Any) -> list[Any]:
    from tts_cli.batch import parse_lines
    from tts_cli.errors import InputError

    if source == "-":
        return list(parse_lines(sys.stdin.buffer))
    path = Path(source)
    if not path.is_file():
        raise InputError(f"input file not found: {source}")
    try:
        with path.open("rb") as handle:
            return list(parse_lines(handle))
    except OSError as exc:
        raise InputError(f"cannot read {source}: {exc.strerror or exc}") from None


_interrupt_pending = False
_in_write = False


def _raise_interrupt(signum: int, frame: Any) -> None:
    global _interrupt_pending
    if _in_write:
        _interrupt_pending = True  # finish the line being written first
        return
    raise KeyboardInterrupt


@contextmanager
def _signals_as_interrupt() -> Iterator[None]:
    """SIGINT and SIGTERM stop the batch the same way: after the current record is complete."""
    previous = {sig: signal.getsignal(sig) for sig in (signal.SIGINT, signal.SIGTERM)}
    for sig in previous:
        signal.signal(sig, _raise_interrupt)
    try:
        yield
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)


@contextmanager
def _deferred_interrupt() -> Iterator[None]:
    global _in_write, _interrupt_pending
    _in_write = True
    try:
        yield
    finally:
        _in_write = False
        if _interrupt_pending:
            _interrupt_pending = False
            raise KeyboardInterrupt


def register(app: typer.Typer) -> None:
    app.command("solve")(solve)

