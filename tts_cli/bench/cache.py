"""The bench cache: one JSON line per finished per-problem result, written and flushed at once,
and the one way to read it (the runner and every script under ``benchmarks/`` go through here).

Each line is ``{"key": ..., "what": {...}, "result": {...}, "at": unix time}``; ``what`` holds
everything that changes the result (question hash, model, strategy, N, seed, sampling and search
settings), ``key`` is its hash. A later line with the same key replaces an earlier one. A last line
cut short by a crash is removed when the bench opens the cache for writing, so an interrupted bench
resumes where it stopped; ``CacheQuery.read`` only reads whole lines and never writes, so it may
run while a bench appends.
"""

from __future__ import annotations

import hashlib
import json
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Iterable, Iterator, Optional

from tts_cli.batch import ResultWriter, complete_lines
from tts_cli.errors import OutputError

CACHE_FILE = "results.jsonl"
FORMAT = 1  # bump when the meaning of cached results changes
# Format 1 keys every search run by these strategy options, whichever strategy reads them, as it did
# before options were declared per strategy; a strategy's own options join its key as well.
KEYED_OPTIONS = ("beam_width", "max_depth", "step_tokens", "iterations", "rounds", "c_puct")
COT_SAMPLES = "cot"  # the kind of sample of a pool whose key has no "samples" (pools of before kinds)


def cache_key(what: dict[str, Any]) -> str:
    text = json.dumps({"format": FORMAT, **what}, sort_keys=True, ensure_ascii=False, default=str)
    return hashlib.sha256(text.encode("utf-8")).hexdigest()[:32]


def question_hash(question: str) -> str:
    return hashlib.sha256(question.encode("utf-8")).hexdigest()[:16]


@dataclass(frozen=True)
class Cached:
    """One cached result and what produced it."""

    key: str
    what: dict[str, Any]
    result: dict[str, Any]

    @property
    def kind(self) -> str:
        return str(self.what.get("kind", ""))

    @property
    def question(self) -> str:
        return str(self.what.get("question", ""))

    @property
    def model(self) -> str:
        model = self.what.get("model")
        return str(model.get("name", "")) if isinstance(model, dict) else ""

    @property
    def strategy(self) -> Optional[str]:
        """A run's strategy (None for a pool)."""
        return self.what.get("strategy") if self.kind == "run" else None

    @property
    def samples(self) -> str:
        """A pool's kind of sample ("cot", "program")."""
        return str(self.what.get("samples") or COT_SAMPLES)

    @property
    def size(self) -> int:
        return int(self.result.get("size", 0))

    @property
    def scored_by(self) -> Optional[str]:
        """The name of the verifier model that scored a pool (None: unscored)."""
        verifier = self.what.get("verifier")
        return str(verifier.get("name")) if isinstance(verifier, dict) else None


class CacheQuery:
    """What a bench cache holds, by key or by (question, model, strategy or kind of pool)."""

    def __init__(self, entries: Optional[dict[str, dict[str, Any]]] = None) -> None:
        self.entries: dict[str, dict[str, Any]] = entries if entries is not None else {}

    @classmethod
    def read(cls, directory: Path) -> "CacheQuery":
        """The cache in ``directory`` as it is now, read-only (a missing cache is empty)."""
        path = directory / CACHE_FILE
        query = cls()
        if path.exists():
            query._add(path.read_bytes().split(b"\n")[:-1])  # whole lines only
        return query

    def _add(self, lines: Iterable[bytes]) -> None:
        for raw in lines:
            try:
                record = json.loads(raw)
            except (json.JSONDecodeError, UnicodeDecodeError):
                continue  # a complete but foreign line: leave it alone
            if isinstance(record, dict) and isinstance(record.get("key"), str) and "result" in record:
                self.entries[record["key"]] = record

    def get(self, key: str) -> Optional[dict[str, Any]]:
        record = self.entries.get(key)
        return record["result"] if record is not None else None

    def __iter__(self) -> Iterator[Cached]:
        for key, record in self.entries.items():
            what = record.get("what")
            if isinstance(what, dict) and isinstance(record.get("result"), dict):
                yield Cached(key, what, record["result"])

    def questions(self, model: Optional[str] = None) -> set[str]:
        """The question hashes with something cached (of ``model``, when given)."""
        return {c.question for c in self if model is None or c.model == model}

    def runs(self, model: str, strategy: str) -> dict[str, Cached]:
        """Question hash -> the cached run of ``strategy`` by ``model`` (the last one cached)."""
        return {c.question: c for c in self if c.kind == "run" and c.model == model and c.strategy == strategy}

    def largest_pools(
        self, model: str, samples: str = COT_SAMPLES, with_texts: bool = False, scored_by: Optional[str] = None
    ) -> dict[str, Cached]:
        """Question hash -> the largest cached pool of ``samples`` drawn by ``model``; ``with_texts``:
        only pools that kept their samples' texts; ``scored_by``: only pools scored by that verifier."""
        found: dict[str, Cached] = {}
        for c in self:
            if c.kind != "pool" or c.model != model or c.samples != samples:
                continue
            if with_texts and not c.result.get("texts"):
                continue
            if scored_by is not None and c.scored_by != scored_by:
                continue
            current = found.get(c.question)
            if current is None or c.size > current.size:
                found[c.question] = c
        return found

    def scored_pools(self, model: str) -> dict[str, list[Cached]]:
        """Question hash -> every cached pool of ``model`` that a verifier scored."""
        found: dict[str, list[Cached]] = {}
        for c in self:
            if c.kind == "pool" and c.model == model and c.scored_by is not None:
                found.setdefault(c.question, []).append(c)
        return found


class ResultCache(CacheQuery):
    """The cache a bench reads and appends to."""

    def __init__(self, directory: Path) -> None:
        super().__init__()
        self.directory = directory
        self.path = directory / CACHE_FILE
        self._writer: Optional[ResultWriter] = None

    @classmethod
    def open(cls, directory: Path) -> "ResultCache":
        cache = cls(directory)
        try:
            directory.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise OutputError(f"cannot create the cache directory {directory}: {exc.strerror or exc}") from None
        cache._add(complete_lines(cache.path))
        return cache

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
