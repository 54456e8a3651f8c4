"""The `tts` command: the Typer app and the one place that maps exceptions to exit statuses."""

from __future__ import annotations

import os
import sys
from contextlib import ExitStack, contextmanager, redirect_stderr, redirect_stdout
from typing import IO, TYPE_CHECKING, Iterator, Optional, Sequence

import typer

from tts_cli.errors import ExitStatus, TTSError

if TYPE_CHECKING:
    from tts_cli.env import Environment

EXIT_CODES_HELP = (
    "Exit codes: 0 success; 1 runtime failure; 2 usage, input or configuration error; "
    "3 model missing, corrupt or unloadable, its inference server unreachable or failing, "
    "or llama.cpp crashed (see `tts doctor`); "
    "4 some batch lines failed; 130 interrupted."
)


def build_app() -> typer.Typer:
    """The `tts` app; the search commands' options come from the strategies registered now."""
    from tts_cli.cli import ask_cmd, bench_cmd, doctor_cmd, models_cmd, serve_cmd, solve_cmd, strategies_cmd

    app = typer.Typer(
        name="tts",
        help="Test-time scaling: make a small local model answer hard questions better by spending "
        "compute at inference time.\n\n" + EXIT_CODES_HELP,
        no_args_is_help=True,
        add_completion=True,
        pretty_exceptions_enable=False,
    )
    ask_cmd.register(app)
    solve_cmd.register(app)
    bench_cmd.register(app)
    serve_cmd.register(app)
    strategies_cmd.register(app)
    doctor_cmd.register(app)
    app.add_typer(models_cmd.app, name="models", help="List, download and locate GGUF models.")
    return app


app = build_app()


def run(argv: Optional[Sequence[str]] = None, env: Optional["Environment"] = None) -> int:
    """Run ``tts`` with ``argv`` in this process and return its exit status.

    ``env`` is the environment every command runs in (its streams, terminal flags and consoles;
    default: this process's). It reaches the commands through the Click context's ``obj``: each
    takes ``invocation: typer.Context`` and calls ``invocation.ensure_object(Environment)``.
    Click and Typer print help and usage messages themselves, on ``sys.stdout``/``sys.stderr``:
    while a given environment's streams are others, those point at them for the call."""
    from tts_cli.env import Environment

    env = env if env is not None else Environment()
    try:
        with _click_output_to(env):
            result = app(args=list(argv) if argv is not None else None, prog_name="tts", standalone_mode=False, obj=env)
        _flush(env.stdout)  # a full disk or a closed pipe shows here, not as a warning at exit
    except TTSError as exc:
        _report(env, str(exc))
        return int(exc.exit_status)
    except typer.Exit as exc:
        return int(exc.exit_code)
    except (KeyboardInterrupt, typer.Abort):
        _report(env, "interrupted")
        return int(ExitStatus.INTERRUPTED)
    except BrokenPipeError:
        _discard(env.stdout)
        return int(ExitStatus.SUCCESS)
    except OSError as exc:  # e.g. ENOSPC or EIO writing the results: not a bug, no traceback
        _discard(env.stdout)
        where = f": {exc.filename}" if exc.filename else ""
        _report(env, f"I/O error: {exc.strerror or exc}{where}")
        return int(ExitStatus.ERROR)
    except Exception as exc:
        code = _show_click_error(exc, env.stderr)
        if code is None:
            raise
        return code
    return int(result) if isinstance(result, int) else int(ExitStatus.SUCCESS)


@contextmanager
def _click_output_to(env: "Environment") -> Iterator[None]:
    with ExitStack() as stack:
        if env.stdout is not sys.stdout:
            stack.enter_context(redirect_stdout(env.stdout))
        if env.stderr is not sys.stderr:
            stack.enter_context(redirect_stderr(env.stderr))
        yield


def _show_click_error(exc: Exception, stderr: IO[str]) -> Optional[int]:
    """Show a command-line error of Typer's Click (bad option, missing argument, bad value) and
    return its exit status (2 for usage errors); None for any other exception.

    Click documents its errors by their interface: ``show(file)`` prints the message with the usage
    line and ``exit_code`` is the status (``standalone_mode=True`` does exactly this). Recent Typer
    vendors its own Click under a private module, so the errors are recognised by that interface
    rather than imported from there or from the ``click`` package (which Typer may not use)."""
    show = getattr(exc, "show", None)
    code = getattr(exc, "exit_code", None)
    if not callable(show) or not isinstance(code, int):
        return None
    show(file=stderr)
    return code


def _flush(stream: Optional[IO[str]]) -> None:
    if stream is not None and not stream.closed:  # `solve` closes stdout after its results
        stream.flush()


def _discard(stream: Optional[IO[str]]) -> None:
    """Drop what ``stream`` still buffers when it cannot be written, so that the interpreter's
    final flush does not fail again with an 'Exception ignored' message."""
    if stream is None:
        return
    try:
        _flush(stream)
        return
    except (OSError, ValueError):
        pass
    try:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, stream.fileno())
        os.close(devnull)
    except (OSError, ValueError, AttributeError):
        pass


def _report(env: "Environment", message: str) -> None:
    from tts_cli.safe_text import one_line

    first_line = message.strip().splitlines()[0] if message.strip() else "unknown error"
    env.stderr.write(f"tts: error: {one_line(first_line)}\n")
    env.stderr.flush()
