"""The `tts` command: the Typer app and the one place that maps exceptions to exit statuses."""

from __future__ import annotations

import os
import sys
from contextlib import ExitStack, contextmanager, redirect_stderr, redirect_stdout
from typing import IO, TYPE_CHECKING, Any, Iterator, Optional, Sequence

import typer

from tts_cli.cli.lazy import CommandEntry, LazyGroup
from tts_cli.errors import ExitStatus, TTSError

if TYPE_CHECKING:
    from tts_cli.env import Environment

EXIT_CODES_HELP = (
    "Exit codes: 0 success; 1 runtime failure; 2 usage, input or configuration error; "
    "3 model missing, corrupt or unloadable, its inference server unreachable or failing, "
    "or llama.cpp crashed (see `tts doctor`); "
    "4 some batch lines failed; 130 interrupted."
)

APP_HELP = (
    "Test-time scaling: make a small local model answer hard questions better by spending "
    "compute at inference time.\n\n" + EXIT_CODES_HELP
)

# The commands in `tts --help` order, each with the first paragraph of its help (a test checks them).
COMMANDS = (
    CommandEntry("ask", "tts_cli.cli.ask_cmd",
                 "Answer QUESTION with a small local model, spending compute with the chosen strategy."),
    CommandEntry("solve", "tts_cli.cli.solve_cmd",
                 "Solve every problem in SOURCE; write one JSON line per problem as soon as it is done."),
    CommandEntry("bench", "tts_cli.cli.bench_cmd",
                 "Compare strategies, values of N and models on DATA: accuracy (95% Wilson interval) against\n"
                 "mean tokens, FLOPs and wall time per problem, Pareto-optimal rows starred (★)."),
    CommandEntry("serve", "tts_cli.cli.serve_cmd",
                 "Serve test-time scaling on an OpenAI-compatible API: POST /v1/chat/completions and\n"
                 "/v1/completions, GET /v1/models and /health. The search options below are the defaults; a\n"
                 'request picks its strategy by model name (majority-8@MODEL) or by "tts": {"strategy": ..., "n": ...}.'),
    CommandEntry("strategies", "tts_cli.cli.strategies_cmd",
                 "List the search strategies with one line each and their options (in a terminal, the selectors\n"
                 "of --select as well)."),
    CommandEntry("doctor", "tts_cli.cli.doctor_cmd",
                 "Check this machine: llama.cpp build, CPU features, GPU offload, downloaded models, and a short\n"
                 "real decode in a child process (a native crash is reported, exit 3, instead of killing tts)."),
    CommandEntry("models", "tts_cli.cli.models_cmd", "List, download and locate GGUF models."),
)  # fmt: skip


class _TTSGroup(LazyGroup):
    entries = COMMANDS


def _tts_app(**settings: Any) -> typer.Typer:
    return typer.Typer(
        name="tts", help=APP_HELP, no_args_is_help=True, add_completion=True, pretty_exceptions_enable=False, **settings
    )


def build_app() -> typer.Typer:
    """The `tts` app with every command built now (its search options from the strategies
    registered now): what docs/cli.md is generated from."""
    app = _tts_app()
    for entry in COMMANDS:
        entry.register(app)
    return app


def build_lazy_app() -> typer.Typer:
    """The `tts` app as it runs: the same commands, each imported and built only when it runs or
    shows its own help (see ``lazy``), so that `tts --help` and `tts models` start fast."""
    app = _tts_app(cls=_TTSGroup)

    @app.callback()
    def _group() -> None:  # an app without commands of its own is a group only if it has a callback
        pass

    return app


app = build_lazy_app()


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
