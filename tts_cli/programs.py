"""Program-of-thought samples: the program in a completion, its run in the sandbox, its answer.

A program sample's text is what the model wrote; ``extract_program`` finds the Python in it (the
last fenced block, else the whole text if it parses), ``run_programs`` runs each in the sandbox
(``tts_cli.sandbox``, never outside it) and ``answer_of`` turns what a program printed into an
answer. A program that fails (exception, timeout, memory, no output, no sandbox) has no answer:
its sample stays a candidate, visible as failed, and takes no part in the vote.
"""

from __future__ import annotations

import ast
import re
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation
from typing import Any, Optional, Sequence

from tts_cli.safe_text import printable
from tts_cli.sandbox import Execution, Limits, run_program

# program samples are short: these limits leave a sound program room and stop a runaway one fast
PROGRAM_LIMITS = Limits(cpu_seconds=2, wall_seconds=5, memory_bytes=256 * 1024 * 1024, output_bytes=16 * 1024)
MAX_ANSWER_CHARS = 64  # a longer last line of output is no answer
PARALLEL_RUNS = 4  # sandboxes started at once (each is a few processes for ~0.1 s)

_FENCE = re.compile(r"```[ \t]*(?:python3?|py)?[ \t]*\n(.*?)(?:```|\Z)", re.DOTALL | re.IGNORECASE)
_NUMBER = re.compile(r"-?\$?\d[\d,]*(?:\.\d+)?%?|-?\.\d+")


@dataclass(frozen=True)
class ProgramRun:
    """A program sample's program (None: the completion held none) and what came of running it."""

    source: Optional[str]
    execution: Optional[Execution]
    answer: Optional[str]

    @property
    def status(self) -> str:
        if self.source is None:
            return "no-program"
        if self.execution is None:
            return "not-run"
        if self.execution.status == "ok" and self.answer is None:
            return "no-answer"
        return self.execution.status

    @property
    def seconds(self) -> float:
        return self.execution.wall_seconds if self.execution is not None else 0.0

    def summary(self) -> str:
        """One line for the live tree: the status, and the output or the error."""
        status = self.status
        if status == "ok":
            return f"program ok → {self.answer}"
        detail = ""
        if self.execution is not None:
            lines = self.execution.stderr.strip().splitlines()
            detail = lines[-1] if lines and status == "error" else (self.execution.message or "")
        return f"program {status}" + (f": {detail[:60]}" if detail else "")

    def to_dict(self) -> dict[str, Any]:
        execution = self.execution
        return {
            "status": self.status,
            "source": self.source,
            "stdout": execution.stdout if execution is not None else None,
            "stderr": execution.stderr[-2000:] if execution is not None else None,
            "exit_code": execution.exit_code if execution is not None else None,
            "message": execution.message if execution is not None else None,
            "seconds": round(self.seconds, 4),
        }


def extract_program(text: str) -> Optional[str]:
    """The Python program in a completion: the last fenced code block (an unclosed one runs to the
    end), else the whole text when it parses as Python. A program that defines ``solution()`` (the
    PAL convention) and never calls it gets ``print(solution())`` appended."""
    blocks = [b for b in _FENCE.findall(text) if b.strip()]
    if blocks:
        source = blocks[-1]
    elif text.strip() and _parses(text):
        source = text
    else:
        return None
    source = source.strip("\n") + "\n"
    if re.search(r"^def solution\(\s*\)", source, re.MULTILINE) and not re.search(
        r"^[^#\s].*\bsolution\(\s*\)", _without_defs(source), re.MULTILINE
    ):
        source += "print(solution())\n"
    return source


def _parses(text: str) -> bool:
    try:
        ast.parse(text)
    except (SyntaxError, ValueError, MemoryError, RecursionError):
        return False
    return True


def _without_defs(source: str) -> str:
    return "\n".join(line for line in source.splitlines() if not line.startswith("def "))


def answer_of(stdout: str) -> Optional[str]:
    """The answer a program printed: its last non-empty line; a number is written plainly
    (``18.000000000000004`` → ``18``, ``1,200`` → ``1200``, ``$5`` → ``5``, ``3.50`` → ``3.5``);
    other short text is kept as printed, without escape sequences or control characters (a program
    is model-written: it may try to reach the user's terminal); a long line is no answer."""
    lines = [line.strip() for line in printable(stdout).splitlines() if line.strip()]
    if not lines:
        return None
    last = lines[-1]
    if len(last) > MAX_ANSWER_CHARS:
        return None
    numbers = _NUMBER.findall(last)
    plain = last.strip().rstrip(".")
    if len(numbers) == 1 and (plain == numbers[0] or _is_labelled(plain, numbers[0])):
        return _plain_number(numbers[0]) or last
    return last


def _is_labelled(line: str, number: str) -> bool:
    """``The answer is 18`` / ``answer: 18``: text before one number at the end of the line."""
    return line.endswith(number) and not any(ch.isdigit() for ch in line[: -len(number)])


def _plain_number(text: str) -> Optional[str]:
    cleaned = text.replace("$", "").replace(",", "")
    percent = cleaned.endswith("%")
    cleaned = cleaned.rstrip("%")
    try:
        value = Decimal(cleaned)
    except InvalidOperation:
        return None
    if not value.is_finite():
        return None
    rounded = round(value, 6)  # float noise (0.1 + 0.2) is no part of an answer
    if rounded == rounded.to_integral_value():
        out = str(int(rounded))
    else:
        out = format(rounded.normalize(), "f")
    return out + ("%" if percent else "")


def run_programs(texts: Sequence[str], limits: Limits = PROGRAM_LIMITS) -> list[ProgramRun]:
    """Extracts and runs the program of each completion, a few sandboxes at once."""
    sources = [extract_program(text) for text in texts]
    runs: list[ProgramRun] = [ProgramRun(None, None, None)] * len(texts)
    todo = [i for i, source in enumerate(sources) if source is not None]
    if not todo:
        return runs
    with ThreadPoolExecutor(max_workers=min(PARALLEL_RUNS, len(todo)), thread_name_prefix="tts-sandbox") as pool:
        executions = list(pool.map(lambda i: run_program(sources[i] or "", limits=limits), todo))
    for i, execution in zip(todo, executions):
        answer = answer_of(execution.stdout) if execution.status == "ok" else None
        runs[i] = ProgramRun(sources[i], execution, answer)
    return runs
