"""Whether llama.cpp may use its extra CPU buffer types (AMX kernels, repacked weights).

llama.cpp 0.3.x crashes with SIGSEGV in ``ggml_backend_amx_mul_mat`` on the first decode on some
AMX machines (llama.cpp issue #20824, closed without a fix). Loading a model with
``use_extra_bufts = False`` keeps its weights in plain CPU buffers, so neither the AMX nor the
repacking kernels run. The decision is made per process from what the llama.cpp build reports and
from the CPU's flags; ``--cpu-repack`` or ``TTS_CPU_REPACK`` force it either way.

No ``llama_cpp`` import here: the decision is a pure function, tested on system-info strings.
"""

from __future__ import annotations

import os
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Mapping, Optional

from tts_cli.errors import UsageError

REPACK_MODES = ("auto", "on", "off")
REPACK_ENV = "TTS_CPU_REPACK"
AMX_ISSUE = "https://github.com/ggml-org/llama.cpp/issues/20824"
_AMX_FLAGS = frozenset({"amx_int8", "amx_tile", "amx_bf16"})


@dataclass(frozen=True)
class RepackDecision:
    use_extra_bufts: bool
    mode: str  # what was asked for: auto, on or off
    reason: str

    @property
    def label(self) -> str:
        return "on" if self.use_extra_bufts else "off"


def parse_system_info(text: str) -> dict[str, dict[str, str]]:
    """``llama_print_system_info()`` as ``{backend: {feature: value}}``.

    The text looks like ``CPU : SSE3 = 1 | AVX2 = 1 | AMX_INT8 = 1 | REPACK = 1 | CUDA : ARCHS = 890 |``;
    a feature before any ``NAME :`` header goes under ``""``."""
    backends: dict[str, dict[str, str]] = {}
    current = ""
    for part in text.split("|"):
        part = part.strip()
        if not part:
            continue
        header, sep, rest = part.partition(":")
        if sep and "=" not in header:
            current, part = header.strip(), rest.strip()
        key, eq, value = part.partition("=")
        if eq:
            backends.setdefault(current, {})[key.strip()] = value.strip()
    return backends


def build_has_amx(system_info: str) -> bool:
    return any(
        features.get("AMX_INT8", "0") not in ("", "0") for features in parse_system_info(system_info).values()
    )


def cpu_flags(cpuinfo: Path = Path("/proc/cpuinfo")) -> frozenset[str]:
    """The CPU's feature flags (Linux); empty where the platform does not expose them this way."""
    if not sys.platform.startswith("linux"):
        return frozenset()
    try:
        text = cpuinfo.read_text(errors="replace")
    except OSError:
        return frozenset()
    for line in text.splitlines():
        key, _, value = line.partition(":")
        if key.strip() in ("flags", "Features"):
            return frozenset(value.split())
    return frozenset()


def requested_mode(option: Optional[str], environ: Optional[Mapping[str, str]] = None) -> str:
    """The mode asked for: the option, else ``TTS_CPU_REPACK``, else ``auto``."""
    environ = os.environ if environ is None else environ
    if option is not None:
        source, value = "--cpu-repack", option
    elif environ.get(REPACK_ENV, "").strip():
        source, value = REPACK_ENV, environ[REPACK_ENV]
    else:
        return "auto"
    mode = value.strip().lower()
    if mode not in REPACK_MODES:
        raise UsageError(f"{source} must be one of {', '.join(REPACK_MODES)} (got {value!r})")
    return mode


def decide_cpu_repack(mode: str, system_info: str, flags: frozenset[str]) -> RepackDecision:
    """Extra buffer types on or off, and why. ``auto`` turns them off wherever AMX is present."""
    if mode == "on":
        return RepackDecision(True, mode, "forced on")
    if mode == "off":
        return RepackDecision(False, mode, "forced off")
    if build_has_amx(system_info):
        return RepackDecision(False, mode, f"llama.cpp reports AMX_INT8, whose kernels can crash ({AMX_ISSUE})")
    amx = sorted(flags & _AMX_FLAGS)
    if amx:
        return RepackDecision(False, mode, f"the CPU has {', '.join(amx)}, whose llama.cpp kernels can crash ({AMX_ISSUE})")
    return RepackDecision(True, mode, "no AMX on this CPU or in this llama.cpp build")
