"""Decide whether two final answers are the same, and group sampled answers for majority voting.

Cheap checks (string equality after normalisation, exact decimal comparison, plain words) settle
most pairs. The rest go to math-verify, which runs in a separate worker process: math-verify's
own timeouts rely on ``signal.alarm``, which only works in the main thread and cannot interrupt
a long computation inside C code, whereas a process can always be killed when time is up and
works from any thread. If the worker cannot be started at all, math-verify runs in a daemon
thread in this process instead (a comparison that hangs is then abandoned, not stopped).

math-verify (and through it sympy) is only imported inside the worker or in that fallback, so
importing this module stays cheap.
"""

from __future__ import annotations

import atexit
import functools
import json
import math
import os
import queue
import re
import subprocess
import sys
import threading
from decimal import Decimal, InvalidOperation
from fractions import Fraction
from pathlib import Path
from typing import Any, Sequence

from tts_cli.grading.extract import BOX_COMMANDS, THOUSANDS, matching_brace

# Longer answers are not real final answers; parsing them could take sympy arbitrarily long.
_MAX_SYMPY_CHARS = 1000
_MAX_RATIONAL_CHARS = 200
_WORKER_START_TIMEOUT_S = 60.0
_MAX_TIMEOUT_S = 3600.0
_MAX_UNWRAP_LAYERS = 16  # keeps "$$$$...$$$$" garbage linear
# The worker drops the current directory from sys.path (a stray sympy.py there must not be
# imported) and appends, rather than prepends, this package's root so that it can import
# tts_cli even when tts_cli is not installed, without shadowing anything.
_WORKER_CODE = (
    "import sys; sys.path = [p for p in sys.path if p] + [{package_root!r}]; "
    "from tts_cli.grading.equivalence import _serve; _serve()"
)

_WRAPPERS: tuple[tuple[str, str], ...] = (("$$", "$$"), ("$", "$"), ("\\(", "\\)"), ("\\[", "\\]"))
_TEXT_COMMANDS: tuple[str, ...] = ("\\text", "\\textbf", "\\mathrm", "\\mbox")
_KEY_REPLACEMENTS: tuple[tuple[str, str], ...] = (
    ("\\dfrac", "\\frac"),
    ("\\tfrac", "\\frac"),
    ("\\left", ""),
    ("\\right", ""),
    ("\\!", ""),
    ("\\,", ""),
    ("\\;", ""),
)
_WHITESPACE = re.compile(r"\s+")
_DECIMAL = re.compile(r"-?(?:\d+(?:\.\d*)?|\.\d+)")
_SLASH_FRACTION = re.compile(r"(-?\d{1,100})/(\d{1,100})")
_LATEX_FRACTION = re.compile(r"(-?)\\frac\{(\d{1,100})\}\{(\d{1,100})\}")
_WORDS = re.compile(r"[A-Za-z][A-Za-z '\-]*")
_LETTER = re.compile(r"[A-Za-z]")
_ARTICLES = ("a ", "an ", "the ")


def answers_equivalent(a: str | None, b: str | None, timeout_seconds: float = 2.0) -> bool:
    """Whether two final answers denote the same value.

    None or blank answers never equal anything. ``timeout_seconds`` bounds the symbolic
    comparison; running out of time counts as "not equivalent". Never raises.
    """
    if not isinstance(a, str) or not isinstance(b, str):
        return False
    inner_a, inner_b = _unwrap(a), _unwrap(b)
    if not inner_a or not inner_b:
        return False
    verdict = _fast_verdict(inner_a, inner_b)
    if verdict is not None:
        return verdict
    if len(inner_a) > _MAX_SYMPY_CHARS or len(inner_b) > _MAX_SYMPY_CHARS:
        return False
    if not timeout_seconds > 0:  # also rejects NaN
        return False
    first, second = sorted((inner_a, inner_b))  # the check is symmetric; so is the cache key
    return _symbolic_equivalent(first, second, min(float(timeout_seconds), _MAX_TIMEOUT_S))


def group_equivalent(
    answers: Sequence[str | None], timeout_seconds: float = 2.0
) -> list[list[int]]:
    """Indices of ``answers`` partitioned into groups of equivalent answers.

    Each answer is compared with the first member of every group so far. Groups are ordered by
    first occurrence; None and blank answers belong to no group.
    """
    groups: list[list[int]] = []
    for index, answer in enumerate(answers):
        if not isinstance(answer, str) or not answer.strip():
            continue
        for group in groups:
            if answers_equivalent(answers[group[0]], answer, timeout_seconds):
                group.append(index)
                break
        else:
            groups.append([index])
    return groups


def majority_answer(
    answers: Sequence[str | None], timeout_seconds: float = 2.0
) -> tuple[int | None, list[list[int]]]:
    """Index of the first member of the largest group (earliest group wins ties), and the groups.

    The index is None when no answer is usable.
    """
    groups = group_equivalent(answers, timeout_seconds)
    if not groups:
        return None, groups
    largest = max(groups, key=len)  # max keeps the first of equally large groups
    return largest[0], groups


# --- normalisation and cheap verdicts ---------------------------------------------------------


def _unwrap(answer: str) -> str:
    """Strip whitespace, a trailing period and enclosing ``$``/``\\(``/``\\boxed{}`` layers."""
    current = answer.strip()
    for _ in range(_MAX_UNWRAP_LAYERS):
        peeled = _peel_once(current)
        if peeled == current:
            break
        current = peeled
    return current.strip()


def _peel_once(text: str) -> str:
    text = text.strip()
    if text.endswith(".") and not text.endswith("..."):
        return text[:-1]
    for opener, closer in _WRAPPERS:
        if len(text) >= len(opener) + len(closer) and text.startswith(opener) and text.endswith(
            closer
        ):
            return text[len(opener) : len(text) - len(closer)]
    return _strip_command(text, BOX_COMMANDS)


def _strip_command(text: str, commands: tuple[str, ...]) -> str:
    """``\\cmd{x}`` -> ``x`` when the command's argument spans the rest of the text."""
    for command in commands:
        if text.startswith(command + "{") and matching_brace(text, len(command)) == len(text) - 1:
            return text[len(command) + 1 : -1]
    return text


def _key(answer: str) -> str:
    """A canonical spelling for plain string comparison."""
    key = _strip_command(answer, _TEXT_COMMANDS)
    for old, new in _KEY_REPLACEMENTS:
        key = key.replace(old, new)
    key = key.replace("\\$", "").replace("$", "").replace("\\%", "").replace("%", "")
    return _WHITESPACE.sub("", key)


def _fast_verdict(a: str, b: str) -> bool | None:
    """True/False when cheap checks settle the question, None when math-verify must decide."""
    key_a, key_b = _key(a), _key(b)
    if key_a == key_b:
        return True
    decimal_a, decimal_b = _as_decimal(key_a), _as_decimal(key_b)
    if decimal_a is not None and decimal_b is not None:
        return decimal_a == decimal_b
    rational_a, rational_b = _as_rational(key_a, decimal_a), _as_rational(key_b, decimal_b)
    if rational_a is not None and rational_a == rational_b:
        return True
    if _LETTER.fullmatch(key_a) and _LETTER.fullmatch(key_b):
        return False  # two different option letters (or variables): never the same
    words_a, words_b = _as_words(a), _as_words(b)
    if words_a is not None or words_b is not None:
        # sympy would read "yes" as the product y*e*s, equal to "sey"; words compare as words.
        return words_a == words_b
    return None


def _as_decimal(key: str) -> Decimal | None:
    if THOUSANDS.fullmatch(key):
        key = key.replace(",", "")
    if not _DECIMAL.fullmatch(key):
        return None
    try:
        return Decimal(key)
    except InvalidOperation:
        return None


def _as_rational(key: str, decimal: Decimal | None) -> Fraction | None:
    if len(key) > _MAX_RATIONAL_CHARS:  # turning a huge Decimal into a Fraction is quadratic
        return None
    try:
        if decimal is not None:
            return Fraction(decimal)
        match = _SLASH_FRACTION.fullmatch(key)
        if match:
            return Fraction(int(match.group(1)), int(match.group(2)))
        match = _LATEX_FRACTION.fullmatch(key)
        if match:
            sign = -1 if match.group(1) else 1
            return sign * Fraction(int(match.group(2)), int(match.group(3)))
    except (ValueError, ZeroDivisionError, OverflowError):
        return None
    return None


def _as_words(answer: str) -> str | None:
    """The answer as lower-case words if it is only letters, spaces, hyphens and apostrophes
    (``\\text{}`` allowed, final punctuation and a leading article dropped: ``The Steel!`` ~ ``steel``)."""
    text = _strip_command(answer, _TEXT_COMMANDS).strip().rstrip(".!?").strip()
    if len(text) < 2 or not _WORDS.fullmatch(text):
        return None
    return without_article(" ".join(text.lower().split()))


def without_article(words: str) -> str:
    """Lower-case words without a leading "a", "an" or "the" (``the steel`` → ``steel``)."""
    for article in _ARTICLES:
        if words.startswith(article) and len(words) > len(article):
            return words[len(article) :]
    return words


# --- math-verify ------------------------------------------------------------------------------


@functools.lru_cache(maxsize=4096)
def _symbolic_equivalent(a: str, b: str, timeout_seconds: float) -> bool:
    verdict = _WORKER.compare(a, b, timeout_seconds)
    if verdict is None:  # no worker process could be started
        verdict = _compare_in_thread(a, b, timeout_seconds)
    return verdict


def _verify_pair(a: str, b: str, inner_timeout: int | None) -> bool:
    """math-verify's verdict, in either direction (its ``verify`` is not symmetric)."""
    from math_verify import verify

    parsed_a, parsed_b = _parse(a, inner_timeout), _parse(b, inner_timeout)
    if not parsed_a or not parsed_b:
        return False
    return bool(
        verify(parsed_a, parsed_b, timeout_seconds=inner_timeout)
        or verify(parsed_b, parsed_a, timeout_seconds=inner_timeout)
    )


@functools.lru_cache(maxsize=1024)
def _parse(answer: str, inner_timeout: int | None) -> list[Any]:
    from math_verify import parse

    # Inside \boxed{} the whole answer is read as one LaTeX expression: "1/2", "0.5", "x = 3".
    return parse(f"\\boxed{{{answer}}}", parsing_timeout=inner_timeout)


def _compare_in_thread(a: str, b: str, timeout_seconds: float) -> bool:
    """Fallback without a worker: math-verify in a daemon thread, abandoned when time is up."""
    import logging

    # Without signals math-verify warns that it has no timeout; this thread is the timeout.
    logging.getLogger("math_verify").setLevel(logging.ERROR)
    verdict: list[bool] = []

    def target() -> None:
        try:
            verdict.append(_verify_pair(a, b, None))
        except BaseException:  # noqa: BLE001 - any failure inside math-verify means "no"
            verdict.append(False)

    thread = threading.Thread(target=target, name="math-verify", daemon=True)
    thread.start()
    thread.join(timeout_seconds)
    return bool(verdict and verdict[0])


class _WorkerProcess:
    """A long-lived ``python`` child that answers one comparison at a time over pipes."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._process: subprocess.Popen[str] | None = None
        self._replies: queue.Queue[str] = queue.Queue()
        self._unavailable = False

    def compare(self, a: str, b: str, timeout_seconds: float) -> bool | None:
        """The verdict; False on timeout or crash; None if no worker can be started."""
        with self._lock:
            if not self._ensure_started():
                return None
            process, replies = self._process, self._replies
            assert process is not None and process.stdin is not None
            try:
                process.stdin.write(json.dumps([a, b, timeout_seconds]) + "\n")
                process.stdin.flush()
                reply = replies.get(timeout=timeout_seconds)
            except (OSError, ValueError, queue.Empty):
                reply = ""
            if reply not in ("0", "1"):  # timed out, or the worker died: start afresh next time
                self._stop()
            return reply == "1"

    def close(self) -> None:
        with self._lock:
            self._stop()

    def forget_after_fork(self) -> None:
        """In a forked child: the worker, its pipes and its reader thread belong to the parent (the
        reader thread does not exist here, and may have held a stream's lock at the fork, so that
        closing the stream would block for ever). Drop them untouched; the child starts its own."""
        self._lock = threading.Lock()
        self._process = None
        self._replies = queue.Queue()

    def _ensure_started(self) -> bool:
        if self._process is not None and self._process.poll() is None:
            return True
        self._stop()
        if self._unavailable:
            return False
        try:
            self._start()
            ready = self._replies.get(timeout=_WORKER_START_TIMEOUT_S) == "ready"
        except (OSError, ValueError, queue.Empty):
            ready = False
        if not ready:
            self._stop()
            self._unavailable = True
        return ready

    def _start(self) -> None:
        package_root = str(Path(__file__).resolve().parents[2])
        self._process = subprocess.Popen(
            [sys.executable, "-c", _WORKER_CODE.format(package_root=package_root)],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.DEVNULL,
            text=True,
            encoding="ascii",
            errors="replace",
        )
        # Each process gets its own queue, so a killed worker's late reply can never be misread.
        self._replies = queue.Queue()
        reader = threading.Thread(
            target=_pump_lines,
            args=(self._process, self._replies),
            name="math-verify-reader",
            daemon=True,
        )
        reader.start()

    def _stop(self) -> None:
        process, self._process = self._process, None
        if process is None:
            return
        try:
            process.kill()
            process.wait(timeout=5)
        except (OSError, subprocess.TimeoutExpired):
            pass
        for stream in (process.stdin, process.stdout):
            try:
                if stream is not None:
                    stream.close()
            except OSError:
                pass


def _pump_lines(process: subprocess.Popen[str], replies: queue.Queue[str]) -> None:
    try:
        assert process.stdout is not None
        for line in process.stdout:
            replies.put(line.strip())
    except (OSError, ValueError):
        pass
    replies.put("")  # end of stream


def _serve() -> None:
    """Worker main loop: read ``[a, b, timeout]`` JSON lines, reply ``1`` or ``0``."""
    import signal

    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C is the parent's to handle
    protocol = sys.stdout
    sys.stdout = sys.stderr  # nothing printed by a library may corrupt the protocol
    import math_verify  # noqa: F401 - fail here, before "ready", if it is missing

    protocol.write("ready\n")
    protocol.flush()
    for line in sys.stdin:
        protocol.write("1\n" if _serve_one(line) else "0\n")
        protocol.flush()


def _serve_one(line: str) -> bool:
    try:
        a, b, timeout_seconds = json.loads(line)
        # math-verify's signal alarms take whole seconds; the parent enforces the exact limit.
        return _verify_pair(str(a), str(b), max(1, math.ceil(float(timeout_seconds))))
    except (KeyboardInterrupt, SystemExit):
        raise
    except BaseException:  # noqa: BLE001 - includes math-verify's TimeoutException
        return False


_WORKER = _WorkerProcess()
os.register_at_fork(after_in_child=_WORKER.forget_after_fork)
atexit.register(_WORKER.close)
