"""Pieces shared by several commands: the ``--models`` option and model download with progress."""

from __future__ import annotations

from contextlib import nullcontext
from pathlib import Path
from typing import Annotated, ContextManager, Optional

import typer
from rich.progress import (
    BarColumn,
    DownloadColumn,
    Progress,
    TaskID,
    TextColumn,
    TimeRemainingColumn,
    TransferSpeedColumn,
)

from tts_cli.config import ModelSpec
from tts_cli.env import Environment
from tts_cli.store import ModelStore, ProgressCallback, PullProgress
from tts_cli.units import megabytes

ModelsFileOption = Annotated[
    Optional[Path],
    typer.Option(
        "--models",
        metavar="FILE",
        help="Extra models.toml read after the built-in one, your config dir's and $TTS_MODELS.",
        envvar=None,
        show_default=False,
    ),
]

PLAIN_CHUNK_NOTES = 4  # how many "chunk k/N" lines a non-terminal stderr gets per download


def ensure_with_progress(env: Environment, store: ModelStore, spec: ModelSpec) -> Path:
    """The model's path, downloading it first (with progress on stderr) when it is missing."""
    with _reporter(env, spec) as report:
        return store.ensure(spec, report)


def pull_with_progress(env: Environment, store: ModelStore, spec: ModelSpec) -> Path:
    """Download ``spec`` (trying its sources in order) with a progress bar on a terminal, or a
    few one-line notes on a plain stderr."""
    with _reporter(env, spec) as report:
        return store.pull(spec, report)


def _reporter(env: Environment, spec: ModelSpec) -> ContextManager[ProgressCallback]:
    if env.stderr_isatty:
        return _BarReporter(env, spec)
    return nullcontext(_PlainReporter(env, spec))


def _note(env: Environment, text: str) -> None:
    env.err.print(f"tts: {text}", markup=False, highlight=False, soft_wrap=True)


class _PlainReporter:
    def __init__(self, env: Environment, spec: ModelSpec) -> None:
        self.env = env
        self.spec = spec
        self.last_quarter = -1

    def __call__(self, event: PullProgress) -> None:
        name = self.spec.name
        if event.event == "source":
            self.last_quarter = -1
            size = f" ({megabytes(event.total)})" if event.total else ""
            _note(self.env, f"downloading {name}{size} from {event.source}...")
        elif event.event == "chunk" and event.chunks > 1:
            quarter = (event.chunk - 1) * PLAIN_CHUNK_NOTES // event.chunks
            if quarter != self.last_quarter:
                self.last_quarter = quarter
                _note(self.env, f"downloading {name} (chunk {event.chunk}/{event.chunks})...")
        elif event.event == "failed":
            _note(self.env, f"{name}: source {event.source} failed: {event.message}")
        elif event.event == "wait":
            _note(self.env, f"waiting for another download of {name} to finish...")


class _BarReporter:
    """A progress bar on stderr, started by the first event (none when the model is there)."""

    def __init__(self, env: Environment, spec: ModelSpec) -> None:
        self.env = env
        self.spec = spec
        self.progress = Progress(
            TextColumn("{task.description}"),
            BarColumn(),
            DownloadColumn(),
            TransferSpeedColumn(),
            TimeRemainingColumn(),
            console=env.err,
            transient=True,
        )
        self.task: Optional[TaskID] = None
        self.started = False

    def __enter__(self) -> "_BarReporter":
        return self

    def __exit__(self, *exc: object) -> None:
        if self.started:
            self.progress.stop()

    def __call__(self, event: PullProgress) -> None:
        if not self.started:
            self.progress.start()
            self.started = True
        if event.event == "source":
            self._restart(event, f"{self.spec.name} [{event.source.split(':', 1)[0]}]")
        elif event.event == "failed":
            self.progress.console.print(
                f"tts: {self.spec.name}: source {event.source} failed: {event.message}",
                markup=False,
                highlight=False,
            )
        elif self.task is None:
            return
        elif event.event == "bytes":
            self.progress.update(self.task, completed=event.done, total=event.total)
        elif event.event == "total":
            self.progress.update(self.task, total=event.total)
        elif event.event == "chunk":
            label = f"{self.spec.name} [chunk {event.chunk}/{event.chunks}]"
            self.progress.update(self.task, description=label)
        elif event.event == "verify":
            self.progress.update(self.task, description=f"{self.spec.name} [checking]")

    def _restart(self, event: PullProgress, description: str) -> None:
        if self.task is not None:
            self.progress.remove_task(self.task)
        self.task = self.progress.add_task(description, total=event.total)
