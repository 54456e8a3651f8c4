"""Batch input and output for `tts solve`: problems from text/JSONL, results as flushed JSONL."""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any, Iterable, Iterator, Optional, Union

from tts_cli.errors import InputError, TTSError
from tts_cli.questions import validate_question

QUESTION_FIELDS = ("question", "problem")
ID_FIELDS = ("id", "unique_id")


@dataclass
class Problem:
    line: int  # 1-based line number in the input
    id: Union[str, int]
    question: str
    gold: Optional[str] = None


@dataclass
class BadLine:
    line: int
    id: Union[str, int]
    error: str


def parse_lines(lines: Iterable[bytes]) -> Iterator[Union[Problem, BadLine]]:
    """Problems from plain text (one question per line) or JSONL (objects with ``question`` or
    ``problem``, optional ``id`` and gold ``answer``). The format is decided by the first
    non-empty line; blank lines are skipped; every malformed line yields a BadLine."""
    from tts_cli.grading import extract_gold

    is_jsonl: Optional[bool] = None
    seen: set[Union[str, int]] = set()
    for number, raw in enumerate(lines, start=1):
        try:
            text = raw.decode("utf-8")
        except UnicodeDecodeError as exc:
            yield BadLine(number, number, f"line {number}: not valid UTF-8 (byte {exc.start})")
            continue
        text = text.strip().lstrip("\ufeff")
        if not text:
            continue
        if is_jsonl is None:
            is_jsonl = text.startswith("{")
        try:
            problem = _parse_json(number, text, extract_gold) if is_jsonl else _parse_text(number, text)
        except InputError as exc:
            yield BadLine(number, number, f"line {number}: {exc}")
            continue
        if problem.id in seen:
            yield BadLine(number, problem.id, f"line {number}: duplicate id {problem.id!r}")
            continue
        seen.add(problem.id)
        yield problem


def _parse_text(number: int, text: str) -> Problem:
    return Problem(line=number, id=number, question=validate_question(text, f"line {number}"))


def _parse_json(number: int, text: str, extract_gold: Any) -> Problem:
    try:
        record = json.loads(text)
    except json.JSONDecodeError as exc:
        raise InputError(f"malformed JSON ({exc.msg} at column {exc.colno})") from None
    if not isinstance(record, dict):
        raise InputError(f"expected a JSON object, got {type(record).__name__}")
    field = next((f for f in QUESTION_FIELDS if f in record), None)
    if field is None:
        raise InputError("no 'question' or 'problem' field")
    if not isinstance(record[field], str):
        raise InputError(f"'{field}' must be a string, got {type(record[field]).__name__}")
    problem_id: Union[str, int] = number
    for key in ID_FIELDS:
        if key in record:
            if not isinstance(record[key], (str, int)) or isinstance(record[key], bool):
                raise InputError(f"'{key}' must be a string or an integer")
            problem_id = record[key]
            break
    gold = record.get("answer")
    if gold is not None and not isinstance(gold, (str, int, float)):
        raise InputError("'answer' must be a string or a number")
    return Problem(
        line=number,
        id=problem_id,
        question=validate_question(record[field], f"line {number}"),
        gold=extract_gold(str(gold)) if gold is not None else None,
    )


def finished_ids(path: Path) -> set[Union[str, int]]:
    """Ids already answered in an output file (error records do not count: they are retried).

    A last line cut short by an interruption is removed so that appending keeps valid JSONL.
    """
    if not path.exists():
        return set()
    done: set[Union[str, int]] = set()
    valid_until = 0
    with path.open("rb") as handle:
        for raw in handle:
            try:
                record = json.loads(raw)
            except (json.JSONDecodeError, UnicodeDecodeError):
                if raw.endswith(b"\n"):
                    valid_until += len(raw)  # a complete but foreign line: leave it alone
                    continue
                break
            if not raw.endswith(b"\n"):
                break
            valid_until += len(raw)
            if isinstance(record, dict) and "id" in record and "error" not in record:
                done.add(record["id"])
    if valid_until < path.stat().st_size:
        with path.open("r+b") as handle:
            handle.truncate(valid_until)
    return done


class ResultWriter:
    """Writes one JSON line per result and flushes it to the OS at once."""

    def __init__(self, stream: IO[str], *, sync: bool = False) -> None:
        self._stream = stream
        self._sync = sync

    @classmethod
    def open(cls, path: Path, *, append: bool) -> "ResultWriter":
        try:
            stream = path.open("a" if append else "w", encoding="utf-8")
        except OSError as exc:
            raise InputError(f"cannot write {path}: {exc.strerror or exc}") from None
        return cls(stream, sync=True)

    def write(self, record: dict[str, Any]) -> None:
        line = json.dumps(record, ensure_ascii=False) + "\n"
        try:
            self._stream.write(line)
            self._stream.flush()
            if self._sync:
                os.fsync(self._stream.fileno())
        except OSError as exc:
            raise TTSError(f"cannot write results: {exc.strerror or exc}") from None

    def close(self) -> None:
        try:
            self._stream.close()
        except OSError:
            pass
