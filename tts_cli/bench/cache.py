"""The bench cache: one JSON line per finished per-problem result, written and flushed at once.

Each line is ``{"key": ..., "what": {...}, "result": {...}, "at": unix time}``; ``what`` holds
everything that changes the result (question hash, model, strategy, N, seed, sampling and search
settings), ``key`` is its hash. A later line with the same key replaces an earlier one. A last line
cut short by a crash is removed on open, so an interrupted bench resumes where it stopped.
"""

from __future__ import annotations

import hashlib
import json
import time
from pathlib import Path
from typing import Any, Optional

from tts_cli.batch import ResultWriter, complete_lines
from tts_cli.errors import OutputError

CACHE_FILE = "results.jsonl"
FORMAT = 1  # bump when the meaning of cached results changes


def cache_key(what: dict[str, Any]) -> str:
    text = json.dumps({"format": FORMAT, **what}, sort_keys=True, ensure_ascii=False, default=str)
    return hashlib.sha256(text.encode("utf-8")).hexdigest()[:32]


def question_hash(question: str) -> str:
    return hashlib.sha256(question.encode("utf-8")).hexdigest()[:16]


class ResultCache:
    def __init__(self, directory: Path) -> None:
        self.directory = directory
        self.path = directory / CACHE_FILE
        self.entries: dict[str, dict[str, Any]] = {}
        self._writer: Optional[ResultWriter] = None

    @classmethod
    def open(cls, directory: Path) -> "ResultCache":
        cache = cls(directory)
        try:
            directory.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise OutputError(f"cannot create the cache directory {directory}: {exc.strerror or exc}") from None
        cache._load()
        return cache

    def _load(self) -> None:
        for raw in complete_lines(self.path):
            try:
                record = json.loads(raw)
            except (json.JSONDecodeError, UnicodeDecodeError):
                continue  # a complete but foreign line: leave it alone
            if isinstance(record, dict) and isinstance(record.get("key"), str) and "result" in record:
                self.entries[record["key"]] = record

    def get(self, key: str) -> Optional[dict[str, Any]]:
        record = self.entries.get(key)
        return record["result"] if record is not None else None

    def put(self, key: str, what: dict[str, Any], result: dict[str, Any]) -> None:
        record = {"key": key, "what": what, "result": result, "at": round(time.time(), 3)}
        if self._writer is None:
            self._writer = ResultWriter.open(self.path, append=True)
        self._writer.write(record)  # one line, flushed and fsynced
        self.entries[key] = record

    def close(self) -> None:
        if self._writer is not None:
            self._writer.close()
            self._writer = None
