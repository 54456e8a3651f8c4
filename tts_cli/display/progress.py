"""Progress of a batch on stderr: a Rich bar with ETA and accuracy in a terminal, nothing otherwise."""

from __future__ import annotations

from typing import Any, Optional

from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn, TimeRemainingColumn

from tts_cli.env import Environment
from tts_cli.safe_text import printable


class BatchProgress:
    def __init__(self, env: Environment, *, total: int, skipped: int = 0, enabled: bool = True) -> None:
        self.env = env
        self.total = total
        self.skipped = skipped
        self.completed = 0
        self.graded = 0
        self.correct = 0
        self.tokens = 0
        self.failed = 0
        self.in_flight = 0
        self.enabled = enabled
        self._live = enabled and bool(env.stderr_isatty)
        self._progress: Optional[Progress] = None
        self._task: Any = None

    def __enter__(self) -> "BatchProgress":
        if self._live:
            self._progress = Progress(
                TextColumn("[bold]solving"),
                BarColumn(),
                MofNCompleteColumn(),
                TextColumn("{task.fields[accuracy]}"),
                TextColumn("{task.fields[flight]}"),
                TimeElapsedColumn(),
                TextColumn("eta"),
                TimeRemainingColumn(),
                console=self.env.err,
                transient=False,
            )
            self._progress.start()
            self._task = self._progress.add_task("solve", total=self.total, accuracy="", flight="")
        if self.enabled and self.skipped:
            self.log(f"tts: resuming: {self.skipped} problem(s) already answered")
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def stop(self) -> None:
        if self._progress is not None:
            self._progress.stop()
            self._progress = None

    def log(self, message: str) -> None:
        """One line on stderr (above the bar in a terminal). Errors are shown even when quiet."""
        message = printable(message)
        if self._progress is not None:
            self._progress.console.print(message, markup=False, highlight=False)
        else:
            self.env.stderr.write(message + "\n")
            self.env.stderr.flush()

    def started(self, in_flight: int) -> None:
        """How many problems are being solved at once now (shown when more than one)."""
        self.in_flight = in_flight
        if self._progress is not None:
            self._progress.update(self._task, flight=f"{in_flight} in flight" if in_flight > 1 else "")

    def advance(self, *, correct: Optional[bool], tokens: int = 0, failed: bool = False) -> None:
        self.completed += 1
        self.failed += int(failed)
        self.tokens += tokens
        if correct is not None:
            self.graded += 1
            self.correct += int(correct)
        if self._progress is not None:
            self._progress.update(self._task, advance=1, accuracy=self.accuracy_text())

    def accuracy_text(self) -> str:
        if not self.graded:
            return ""
        return f"accuracy {self.correct}/{self.graded} = {100 * self.correct / self.graded:.1f}%"

    def summary(self) -> None:
        if not self.enabled:
            return
        text = f"tts: {self.completed - self.failed} problem(s) solved"
        if self.failed:
            text += f", {self.failed} failed"
        if self.graded:
            text += f"; {self.accuracy_text()}"
        self.env.stderr.write(text + "\n")
        self.env.stderr.flush()
