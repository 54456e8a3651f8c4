"""`tts doctor`'s checks: facts about this machine, and a real decode run in a child process.

Nothing here loads llama.cpp into this process: the probe (``engine/probe.py``) runs as a child, so
a native crash becomes a report (which signal, where the stack went) instead of a dead terminal.
"""

from __future__ import annotations

import json
import os
import platform
import subprocess
import sys
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Optional

from tts_cli.crash import CRASH_LOG_ENV, FATAL_SIGNALS, signal_name
from tts_cli.engine.cpu import cpu_flags

# CPU flags that decide llama.cpp's speed or its kernels (the rest of /proc/cpuinfo is noise here)
NOTABLE_FLAGS = (
    "avx", "avx2", "fma", "f16c", "avx512f", "avx512bw", "avx512vnni", "avx512_bf16", "avx_vnni",
    "amx_tile", "amx_int8", "amx_bf16", "neon", "asimd", "sve",
)


@dataclass
class ProbeOutcome:
    """What the child reported before it ended, and how it ended."""

    records: list[dict[str, Any]] = field(default_factory=list)
    returncode: int = 0
    stderr: str = ""
    crash_log: Optional[str] = None  # the native crash's Python stack, kept for a bug report
    timed_out: bool = False

    def record(self, kind: str) -> Optional[dict[str, Any]]:
        return next((r for r in self.records if r.get("kind") == kind), None)

    @property
    def decodes(self) -> list[dict[str, Any]]:
        return [r for r in self.records if r.get("kind") == "decode"]

    @property
    def crash_signal(self) -> Optional[int]:
        return -self.returncode if self.returncode < 0 and -self.returncode in FATAL_SIGNALS else None

    @property
    def ok(self) -> bool:
        return self.returncode == 0 and not self.timed_out and bool(self.decodes)

    def failure(self) -> str:
        """One line: why the probe did not succeed."""
        stage = "while decoding" if self.record("load") else "while loading the model" if self.record("build") else "at start"
        if self.timed_out:
            return f"the decode check did not finish in time ({stage})"
        if self.crash_signal is not None:
            where = f"; Python stack in {self.crash_log}" if self.crash_log else ""
            return f"llama.cpp crashed ({signal_name(self.crash_signal)}) {stage}{where}"
        if self.returncode < 0:
            return f"the decode check was killed by {signal_name(-self.returncode)} {stage}"
        last = [line for line in self.stderr.strip().splitlines() if line.strip()]
        detail = last[-1].strip() if last else f"exit status {self.returncode}"
        return f"the decode check failed {stage}: {detail}"


def run_probe_child(request: Any, timeout: float = 300.0) -> ProbeOutcome:
    """Run ``python -m tts_cli.engine.probe`` and collect its JSON lines, whatever way it ends."""
    fd, crash_log = tempfile.mkstemp(prefix="tts-doctor-crash-", suffix=".txt")
    os.close(fd)
    env = dict(os.environ, **{CRASH_LOG_ENV: crash_log})
    outcome = ProbeOutcome()
    try:
        proc = subprocess.run(
            [sys.executable, "-m", "tts_cli.engine.probe", request.to_json()],
            capture_output=True, text=True, timeout=timeout, env=env, stdin=subprocess.DEVNULL,
        )
        stdout, outcome.stderr, outcome.returncode = proc.stdout, proc.stderr, proc.returncode
    except subprocess.TimeoutExpired as exc:
        stdout = exc.stdout.decode(errors="replace") if isinstance(exc.stdout, bytes) else (exc.stdout or "")
        outcome.timed_out, outcome.returncode = True, -9
    for line in stdout.splitlines():
        try:
            outcome.records.append(json.loads(line))
        except json.JSONDecodeError:
            continue
    if outcome.crash_signal is not None and Path(crash_log).stat().st_size > 0:
        outcome.crash_log = crash_log
    else:
        Path(crash_log).unlink(missing_ok=True)
    return outcome


def machine_facts() -> dict[str, Any]:
    flags = cpu_flags()
    return {
        "python": platform.python_version(),
        "platform": f"{platform.system()} {platform.machine()}",
        "cpu": _cpu_model() or platform.processor() or "unknown",
        "cores": os.cpu_count() or 1,
        "cpu_flags": [f for f in NOTABLE_FLAGS if f in flags],
    }


def sandbox_facts() -> dict[str, Any]:
    """Whether model-written programs can run here: the bwrap chosen (path, where from, version),
    whether it makes user namespaces, and the sandbox's own verdict (a real jailed run)."""
    from tts_cli.sandbox import availability
    from tts_cli.sandbox.bwrap import find_bwrap, user_namespaces

    ok, detail = availability()
    facts: dict[str, Any] = {"available": ok, "detail": detail}
    found = find_bwrap() if sys.platform.startswith("linux") else None
    if found is not None:
        works, why = user_namespaces(found.path)
        facts["bwrap"] = {
            "path": found.path,
            "origin": found.origin,
            "version": ".".join(map(str, found.version)) if found.version else None,
            "user_namespaces": works,
        }
        if not works:
            facts["bwrap"]["user_namespaces_error"] = why
    return facts


def _cpu_model() -> Optional[str]:
    try:
        for line in Path("/proc/cpuinfo").read_text(errors="replace").splitlines():
            key, _, value = line.partition(":")
            if key.strip() == "model name":
                return value.strip()
    except OSError:
        return None
    return None
