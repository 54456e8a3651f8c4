"""Batch input and output for `tts solve`: problems from text/JSONL, results as flushed JSONL."""

from __future__ import annotations

import json
import os
import re
import sys
import tempfile
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import IO, Any, BinaryIO, Iterable, Iterator, Optional, Union

from tts_cli.errors import InputError, OutputError
from tts_cli.questions import LETTERS, Question, make_question, reject_binary

QUESTION_FIELDS = ("question", "problem")
ID_FIELDS = ("id", "unique_id")
CHOICE_FIELDS = ("choices", "options")  # a list of option texts, or of "A)…" strings
GOLD_FIELDS = ("answer", "correct", "gold")  # for a choice: an index, a letter or the option's text

Id = Union[str, int]
ErrorKey = tuple[Id, Optional[int]]  # (id, line) of an error record


@dataclass
class Problem:
    line: int  # 1-based line number in the input
    id: Union[str, int]
    question: str
    gold: Optional[str] = None  # for a multiple-choice question: the letter of the right option
    choices: tuple[str, ...] = ()

    def asked(self) -> Question:
        """The question as the solver takes it: its text and its options."""
        return Question(self.question, self.choices)


@dataclass
class BadLine:
    line: int
    id: Union[str, int]
    error: str
    recorded: bool = False  # its error record is already in the output being resumed


Item = Union[Problem, BadLine]


def read_input(source: str, stdin: Optional[BinaryIO] = None) -> list[Item]:
    """Every item of the input file ``source``, or of ``stdin`` (default: the process's) when
    ``source`` is ``-``; a missing or unreadable file is an InputError."""
    if source == "-":
        return read_items(sys.stdin.buffer if stdin is None else stdin, "the input on stdin")
    path = Path(source)
    if not path.is_file():
        raise InputError(f"input file not found: {source}")
    try:
        with path.open("rb") as handle:
            return read_items(handle, f"input file {source}")
    except OSError as exc:
        raise InputError(f"cannot read {source}: {exc.strerror or exc}") from None


def read_items(lines: Iterable[bytes], source: str) -> list[Item]:
    """Every item of an input (see ``parse_lines``); binary data is refused as a whole, before
    anything is solved, rather than reported line by line."""
    return list(parse_lines(_refusing_binary(lines, source)))


def read_graded(data: Path, limit: Optional[int] = None, skip: int = 0) -> list[Problem]:
    """``limit`` problems of the file ``data`` after the first ``skip``; each must parse and have a
    gold answer (what grading needs: the bench, the scripts under ``benchmarks/``)."""
    items = read_input(str(data))[skip:]
    if limit is not None:
        items = items[:limit]
    if not items:
        raise InputError(f"no problems in {data}")
    problems: list[Problem] = []
    for item in items:
        if isinstance(item, BadLine):
            raise InputError(f"{data}: {item.error}")
        if item.gold is None:
            raise InputError(f"{data}: line {item.line} (id {item.id!r}) has no gold answer; the bench grades every problem")
        problems.append(item)
    return problems


def _refusing_binary(lines: Iterable[bytes], source: str) -> Iterator[bytes]:
    for raw in lines:
        reject_binary(raw, source)
        yield raw


def parse_lines(lines: Iterable[bytes]) -> Iterator[Union[Problem, BadLine]]:
    """Problems from plain text (one question per line) or JSONL (objects with ``question`` or
    ``problem``, optional ``id`` and gold ``answer``). The format is decided by the first
    non-empty line; blank lines are skipped; every malformed line yields a BadLine. A question
    with options (a ``choices`` or ``options`` list, or options written in its text) has them in
    ``Problem.choices`` and its gold answer as the right option's letter."""
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
            problem = _parse_json(number, text) if is_jsonl else _parse_text(number, text)
        except InputError as exc:
            yield BadLine(number, number, f"line {number}: {exc}")
            continue
        if problem.id in seen:
            yield BadLine(number, problem.id, f"line {number}: duplicate id {problem.id!r}")
            continue
        seen.add(problem.id)
        yield problem


def _parse_text(number: int, text: str) -> Problem:
    question = make_question(text, source=f"line {number}")
    return Problem(line=number, id=number, question=question.text, choices=question.choices)


def _parse_json(number: int, text: str) -> Problem:
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
    question = make_question(record[field], _choices_of(record), source=f"line {number}")
    gold_field = next((f for f in GOLD_FIELDS if record.get(f) is not None), None)
    gold = record[gold_field] if gold_field is not None else None
    if gold is not None and (not isinstance(gold, (str, int, float)) or isinstance(gold, bool)):
        raise InputError(f"'{gold_field}' must be a string or a number")
    return Problem(
        line=number, id=problem_id, question=question.text, gold=_gold_of(question, gold, gold_field),
        choices=question.choices,
    )  # fmt: skip


def _choices_of(record: dict[str, Any]) -> tuple[str, ...]:
    """The options of a JSONL record: ``choices``/``options`` as texts, their ``A)`` markers (in
    order from A) taken off."""
    field = next((f for f in CHOICE_FIELDS if f in record), None)
    if field is None:
        return ()
    values = record[field]
    if not isinstance(values, list) or not all(isinstance(v, (str, int, float)) and not isinstance(v, bool) for v in values):
        raise InputError(f"'{field}' must be a list of strings")
    texts = [str(v).strip() for v in values]
    marked = [_MARKED.match(t) for t in texts]
    if texts and all(m is not None and m.group(1).upper() == LETTERS[i] for i, m in enumerate(marked) if i < len(LETTERS)):
        texts = [t[m.end() :].strip() for t, m in zip(texts, marked) if m is not None]
    return tuple(texts)


_MARKED = re.compile(r"^\(?([A-Za-z])[).:]\s*")


def _gold_of(question: Question, gold: Any, field: Optional[str]) -> Optional[str]:
    """The gold answer: GSM8K's ``#### n`` and MATH's boxed answer are understood; for a question
    with options, the right option's letter (from an index, a letter or the option's text)."""
    from tts_cli.grading.forms import form_of

    if gold is None:
        return None
    found = form_of(question).gold(gold)
    if found is None and question.choices:
        raise InputError(
            f"'{field}' ({gold!r}) names none of the {len(question.choices)} options "
            f"(an index from 0, a letter A-{question.letters[-1]} or an option's text)"
        )
    return found


@dataclass
class Previous:
    """What an output file already holds: the ids answered and the key of every error record."""

    answered: set[Id] = field(default_factory=set)
    failed: set[ErrorKey] = field(default_factory=set)

    def note(self, record: Any) -> None:
        key = _record_key(record)
        if key is None:
            return
        if "error" in record:
            self.failed.add(key)
        else:
            self.answered.add(key[0])


def read_previous(path: Path) -> Previous:
    """The results of an earlier run in ``path``. A last line cut short by an interruption is
    removed so that appending keeps valid JSONL; complete foreign lines are left alone."""
    previous = Previous()
    for raw in complete_lines(path):
        previous.note(_json_line(raw))
    return previous


def complete_lines(path: Path) -> Iterator[bytes]:
    """Every complete line of a JSONL file that is appended to (none if it does not exist). A
    last line cut short by a crash is cut off the file after the others are read, so read to the
    end before appending."""
    if not path.exists():
        return
    valid_until = 0
    with path.open("rb") as handle:
        for raw in handle:
            if not raw.endswith(b"\n"):
                break
            valid_until += len(raw)
            yield raw
    if valid_until < path.stat().st_size:
        with path.open("r+b") as handle:
            handle.truncate(valid_until)


def plan_resume(items: list[Item], previous: Previous) -> tuple[list[Item], set[ErrorKey]]:
    """What a resumed run still does, and the error records it must first drop from the output
    so that every id stays once in it. A problem already answered is skipped; one that failed is
    solved again (its error record dropped); a bad line whose error record is there is marked
    ``recorded``: reported and counted as failed again, not written twice."""
    bad = {(item.id, item.line) for item in items if isinstance(item, BadLine)}
    todo: list[Item] = []
    retried: set[Id] = set()
    for item in items:
        if isinstance(item, BadLine):
            todo.append(replace(item, recorded=(item.id, item.line) in previous.failed))
        elif item.id not in previous.answered:
            todo.append(item)
            retried.add(item.id)
    stale = {key for key in previous.failed if key[0] in retried and key not in bad}
    return todo, stale


def drop_error_records(path: Path, keys: set[ErrorKey]) -> None:
    """Rewrite ``path`` without the error records of these keys. The new file replaces the old
    one atomically, so a crash leaves one or the other."""
    target = path.resolve()
    try:
        with target.open("rb") as handle:
            kept = [raw for raw in handle if _error_key(_json_line(raw)) not in keys]
        _replace_atomically(target, b"".join(kept))
    except OSError as exc:
        raise OutputError(f"cannot rewrite {path}: {exc.strerror or exc}") from None


def _replace_atomically(target: Path, data: bytes) -> None:
    fd, temporary = tempfile.mkstemp(prefix=f".{target.name}.", dir=target.parent)
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())
        os.chmod(temporary, target.stat().st_mode & 0o7777)
        os.replace(temporary, target)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise
    directory = os.open(target.parent, os.O_RDONLY)
    try:
        os.fsync(directory)
    finally:
        os.close(directory)


def _json_line(raw: bytes) -> Any:
    try:
        return json.loads(raw)
    except (json.JSONDecodeError, UnicodeDecodeError):
        return None


def _record_key(record: Any) -> Optional[ErrorKey]:
    """(id, line) of a result record with a usable id; None for anything else."""
    if not isinstance(record, dict):
        return None
    record_id, line = record.get("id"), record.get("line")
    if not isinstance(record_id, (str, int)) or isinstance(record_id, bool):
        return None
    return (record_id, line if isinstance(line, int) and not isinstance(line, bool) else None)


def _error_key(record: Any) -> Optional[ErrorKey]:
    return _record_key(record) if isinstance(record, dict) and "error" in record else None


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
            raise OutputError(f"cannot write {path}: {exc.strerror or exc}") from None
        return cls(stream, sync=True)

    def write(self, record: dict[str, Any]) -> None:
        line = json.dumps(record, ensure_ascii=False) + "\n"
        try:
            self._stream.write(line)
            self._stream.flush()
            if self._sync:
                os.fsync(self._stream.fileno())
        except OSError as exc:
            raise OutputError(f"cannot write results: {exc.strerror or exc}") from None

    def close(self) -> None:
        try:
            self._stream.close()
        except OSError:
            pass
