"""The extra-buffer-types decision (engine/cpu.py), from llama.cpp system-info strings and CPU flags."""

from __future__ import annotations

from pathlib import Path

import pytest

from tts_cli.engine.cpu import (
    build_has_amx,
    cpu_flags,
    decide_cpu_repack,
    parse_system_info,
    requested_mode,
)
from tts_cli.errors import UsageError

SPR_INFO = (
    "CPU : SSE3 = 1 | SSSE3 = 1 | AVX = 1 | AVX2 = 1 | F16C = 1 | FMA = 1 | BMI2 = 1 | AVX512 = 1 | "
    "AVX512_VBMI = 1 | AVX512_VNNI = 1 | AVX512_BF16 = 1 | AMX_INT8 = 1 | LLAMAFILE = 1 | OPENMP = 1 | REPACK = 1 | "
)
ZEN_INFO = "CPU : SSE3 = 1 | SSSE3 = 1 | AVX = 1 | AVX2 = 1 | F16C = 1 | FMA = 1 | LLAMAFILE = 1 | OPENMP = 1 | REPACK = 1 | "
CUDA_INFO = "CUDA : ARCHS = 890 | USE_GRAPHS = 1 | PEER_MAX_BATCH_SIZE = 128 | " + SPR_INFO


def test_parse_groups_features_by_backend() -> None:
    parsed = parse_system_info(CUDA_INFO)
    assert parsed["CUDA"]["ARCHS"] == "890"
    assert parsed["CPU"]["AMX_INT8"] == "1"
    assert parsed["CPU"]["REPACK"] == "1"


@pytest.mark.parametrize(
    ("info", "expected"),
    [(SPR_INFO, True), (ZEN_INFO, False), (CUDA_INFO, True), ("", False), ("CPU : AMX_INT8 = 0 |", False)],
)
def test_build_has_amx(info: str, expected: bool) -> None:
    assert build_has_amx(info) is expected


def test_auto_turns_extra_buffers_off_when_the_build_reports_amx() -> None:
    decision = decide_cpu_repack("auto", SPR_INFO, frozenset())
    assert decision.use_extra_bufts is False
    assert "AMX_INT8" in decision.reason and "20824" in decision.reason


def test_auto_turns_extra_buffers_off_when_only_the_cpu_has_amx() -> None:
    # a portable build (no AMX kernels compiled in) on an AMX CPU: stay safe, the variant loaded at
    # run time may differ from what the build line says
    decision = decide_cpu_repack("auto", ZEN_INFO, frozenset({"avx2", "amx_tile", "amx_int8"}))
    assert decision.use_extra_bufts is False
    assert "amx_int8" in decision.reason


def test_auto_keeps_repacking_without_amx() -> None:
    decision = decide_cpu_repack("auto", ZEN_INFO, frozenset({"avx2", "fma"}))
    assert decision.use_extra_bufts is True
    assert decision.label == "on"


@pytest.mark.parametrize(("mode", "on"), [("on", True), ("off", False)])
def test_forcing_wins_over_what_the_machine_has(mode: str, on: bool) -> None:
    for info, flags in ((SPR_INFO, frozenset({"amx_int8"})), (ZEN_INFO, frozenset())):
        decision = decide_cpu_repack(mode, info, flags)
        assert decision.use_extra_bufts is on
        assert decision.mode == mode


def test_requested_mode_option_then_environment_then_auto() -> None:
    assert requested_mode(None, {}) == "auto"
    assert requested_mode(None, {"TTS_CPU_REPACK": "OFF "}) == "off"
    assert requested_mode("on", {"TTS_CPU_REPACK": "off"}) == "on"
    assert requested_mode(None, {"TTS_CPU_REPACK": ""}) == "auto"


def test_requested_mode_rejects_typos_naming_their_source() -> None:
    with pytest.raises(UsageError, match="TTS_CPU_REPACK must be one of auto, on, off"):
        requested_mode(None, {"TTS_CPU_REPACK": "false"})
    with pytest.raises(UsageError, match="--cpu-repack must be one of"):
        requested_mode("yes", {})


def test_cpu_flags_read_from_cpuinfo(tmp_path: Path) -> None:
    cpuinfo = tmp_path / "cpuinfo"
    cpuinfo.write_text("processor\t: 0\nmodel name\t: Xeon\nflags\t\t: fpu avx2 amx_tile amx_int8\n\nprocessor\t: 1\n")
    assert cpu_flags(cpuinfo) == frozenset({"fpu", "avx2", "amx_tile", "amx_int8"})
    assert cpu_flags(tmp_path / "missing") == frozenset()
