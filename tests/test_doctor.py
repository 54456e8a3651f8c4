"""`tts doctor`: the machine report and the decode check in a child process (real smollm2-135m)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest


def tts(*args: str, env: dict[str, str] | None = None, timeout: float = 180) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "tts_cli", *args], capture_output=True, text=True, timeout=timeout,
        env={**os.environ, "NO_COLOR": "1", **(env or {})},
    )


@pytest.mark.real
def test_doctor_runs_a_real_decode_and_reports_the_machine(smollm2_path: Path) -> None:
    proc = tts("doctor", "--model", "smollm2-135m", "--threads", "2", "--batch", "4", "--json")
    assert proc.returncode == 0, proc.stderr
    report = json.loads(proc.stdout)
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
def test_doctor_text_report_with_repack_forced_off(smollm2_path: Path) -> None:
    proc = tts("doctor", "--model", "smollm2-135m", "--threads", "2", "--batch", "2", "--cpu-repack", "off")
    assert proc.returncode == 0, proc.stderr
    out = proc.stdout
    assert "repack     off: forced off" in out
    assert "llama-cpp-python" in out and "tok/s" in out
    assert out.rstrip().endswith("ok: llama.cpp runs on this machine")


@pytest.mark.real
def test_doctor_reports_a_crashing_child_in_one_line_and_exits_3(smollm2_path: Path) -> None:
    proc = tts("doctor", "--model", "smollm2-135m", "--threads", "2", "--simulate-crash")
    assert proc.returncode == 3
    errors = [line for line in proc.stderr.splitlines() if line.startswith("tts: error:")]
    assert len(errors) == 1 and "Traceback" not in proc.stderr
    assert "llama.cpp crashed (SIGSEGV) while decoding" in errors[0]
    assert "--cpu-repack off" in errors[0]
    assert "FAILED: llama.cpp crashed (SIGSEGV)" in proc.stdout
    assert "llama-cpp-python" in proc.stdout  # what the child learned before crashing is still reported
    stack = errors[0].split("Python stack in ", 1)[1].split(";", 1)[0]
    assert "Segmentation fault" in Path(stack).read_text()
    Path(stack).unlink()


def test_doctor_without_a_downloaded_model_skips_the_decode(tmp_path: Path) -> None:
    proc = tts("doctor", env={"TTS_CACHE_DIR": str(tmp_path)})
    assert proc.returncode == 0, proc.stderr
    assert "decode     skipped: no model downloaded" in proc.stdout


def test_doctor_rejects_a_bad_repack_mode(tmp_path: Path) -> None:
    proc = tts("doctor", env={"TTS_CACHE_DIR": str(tmp_path), "TTS_CPU_REPACK": "maybe"})
    assert proc.returncode == 2
    assert proc.stderr.strip() == "tts: error: TTS_CPU_REPACK must be one of auto, on, off (got 'maybe')"
