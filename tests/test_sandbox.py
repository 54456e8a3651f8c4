"""The sandbox for model-written programs (tts_cli.sandbox): hostile programs, each contained with a
clear outcome and the host untouched, and the ordinary ones (errors, no output, text output).

Tests that run a program skip when ``availability()`` says no sandbox is possible here; CI sets
``TTS_REQUIRE_SANDBOX=1`` so that a missing sandbox fails there instead (test_required_in_ci).
Small limits keep the whole file within seconds: 1 s of CPU, 3 s of wall time, 256 MiB.
"""

from __future__ import annotations

import json
import os
import resource
import socket
import subprocess
import sys
import time
import uuid
from pathlib import Path
from typing import List

import pytest

from tts_cli.errors import UsageError
from tts_cli.sandbox import ENV_VAR, STATUSES, Execution, Limits, availability, run_program

MiB = 1024 * 1024
LIMITS = Limits(cpu_seconds=1, wall_seconds=3, memory_bytes=256 * MiB, processes=8, output_bytes=64 * 1024)
MARGIN = 2.0  # seconds past the wall limit that a killed run may take on a loaded machine


@pytest.fixture
def marker() -> str:
    """A string unique to the test, put in the command line of what the program starts, so that
    leftovers can be looked for in the host's process table."""
    return f"tts-sandbox-test-{uuid.uuid4().hex}"


def run(source: str, limits: Limits = LIMITS) -> Execution:
    execution = run_program(source, limits=limits)
    assert execution.status in STATUSES
    return execution


def leftovers(marker: str) -> List[str]:
    """Live processes (zombies have no command line) whose command line holds the marker, or the
    sandbox's program path."""
    found = []
    for pid in os.listdir("/proc"):
        if not pid.isdigit() or int(pid) == os.getpid():
            continue
        try:
            cmdline = Path(f"/proc/{pid}/cmdline").read_bytes()
        except OSError:
            continue
        if marker.encode() in cmdline or b"/sandbox/program.py" in cmdline:
            found.append(pid + ": " + cmdline.replace(b"\0", b" ").decode(errors="replace"))
    return found


def assert_host_fine(marker: str) -> None:
    assert leftovers(marker) == []
    assert subprocess.run(["true"], check=False).returncode == 0  # the host can still start processes
    assert run("print('still fine')").stdout == "still fine\n"  # and the sandbox still works


# ----------------------------------------------------------------------------------- ordinary


@pytest.mark.usefixtures("sandboxed")
def test_prints_the_answer() -> None:
    execution = run("print(6 * 7)")
    assert (execution.status, execution.stdout, execution.stderr) == ("ok", "42\n", "")
    assert execution.exit_code == 0 and execution.signal is None and execution.mechanism == "bwrap"
    assert not execution.output_truncated and execution.message == ""
    assert json.loads(json.dumps(execution.to_dict()))["stdout"] == "42\n"


@pytest.mark.usefixtures("sandboxed")
def test_no_output() -> None:
    execution = run("x = 2 ** 10")
    assert (execution.status, execution.stdout, execution.stderr) == ("ok", "", "")


@pytest.mark.usefixtures("sandboxed")
def test_non_numeric_output_is_passed_on_as_is() -> None:
    execution = run("print('the answer is forty-two, or π')")
    assert (execution.status, execution.stdout) == ("ok", "the answer is forty-two, or π\n")


@pytest.mark.usefixtures("sandboxed")
def test_syntax_error() -> None:
    execution = run("print('unclosed'\n")
    assert execution.status == "error" and execution.exit_code == 1
    assert "SyntaxError" in execution.stderr and "/sandbox/program.py" in execution.stderr


@pytest.mark.usefixtures("sandboxed")
def test_exception_and_exit_status() -> None:
    assert "ZeroDivisionError" in run("1 / 0").stderr
    execution = run("import sys; print('partial'); sys.exit(3)")
    assert (execution.status, execution.exit_code, execution.stdout) == ("error", 3, "partial\n")


@pytest.mark.usefixtures("sandboxed")
def test_runs_unprivileged_in_a_fresh_working_directory() -> None:
    source = """
import os, socket
status = dict(line.split(":", 1) for line in open("/proc/self/status").read().splitlines())
print(os.getuid(), status["CapEff"].strip(), status["NoNewPrivs"].strip(), socket.gethostname())
print(os.getcwd(), os.listdir("."), os.path.expanduser("~"))
print(sorted(os.listdir("/")))
open("scratch.txt", "w").write("mine")
"""
    first = run(source)
    assert first.status == "ok", first.stderr
    identity, workdir, root = first.stdout.splitlines()
    uid, caps, no_new_privs, hostname = identity.split()
    assert uid != "0" and int(caps, 16) == 0 and no_new_privs == "1" and hostname == "sandbox"
    assert workdir == "/tmp [] /tmp"
    assert "home" not in root and "run" not in root and "var" not in root
    assert run(source).stdout.splitlines()[1] == "/tmp [] /tmp"  # the next run starts empty again


@pytest.mark.usefixtures("sandboxed")
def test_file_size_and_working_directory_size_are_limited() -> None:
    big_file = run("open('big', 'wb').write(b'x' * (2 * 1024 * 1024))")
    assert big_file.status == "error" and "File too large" in big_file.stderr
    limits = Limits(cpu_seconds=1, wall_seconds=3, file_bytes=1 * MiB, disk_bytes=2 * MiB)
    many_files = run("for i in range(8):\n    open(f'f{i}', 'wb').write(b'x' * (1024 * 1024 - 1))", limits)
    assert many_files.status == "error" and "No space left on device" in many_files.stderr


# ------------------------------------------------------------------------------------ hostile


@pytest.mark.usefixtures("sandboxed")
def test_infinite_loop() -> None:
    start = time.monotonic()
    execution = run("while True:\n    pass")
    assert execution.status == "timeout", execution
    assert time.monotonic() - start < LIMITS.wall_seconds + MARGIN
    assert execution.cpu_seconds >= 0.5


@pytest.mark.usefixtures("sandboxed")
def test_sleeping_past_the_wall_limit() -> None:
    start = time.monotonic()
    execution = run("import time\nprint('going to sleep', flush=True)\ntime.sleep(100)")
    elapsed = time.monotonic() - start
    assert execution.status == "timeout" and "wall-time limit" in execution.message
    assert execution.stdout == "going to sleep\n"
    assert LIMITS.wall_seconds - 0.1 <= elapsed < LIMITS.wall_seconds + MARGIN


@pytest.mark.usefixtures("sandboxed")
def test_fork_bomb(marker: str) -> None:
    source = f"""
import os, subprocess
subprocess.Popen(["/bin/sh", "-c", "sleep 100", "{marker}"])
while True:
    try:
        os.fork()
    except OSError:
        pass
"""
    start = time.monotonic()
    execution = run(source)
    assert execution.status == "timeout", execution
    assert time.monotonic() - start < LIMITS.wall_seconds + MARGIN
    assert_host_fine(marker)


@pytest.mark.usefixtures("sandboxed")
def test_process_limit_is_the_sandboxs_own() -> None:
    # RLIMIT_NPROC counts per uid and never for real root: the sandbox runs under a uid of its own
    source = """
import os, time
children = 0
for _ in range(50):
    try:
        pid = os.fork()
    except OSError:
        break
    if pid == 0:
        time.sleep(60)
        os._exit(0)
    children += 1
print(children)
"""
    execution = run(source)
    assert execution.status == "ok", execution.stderr
    assert int(execution.stdout) == LIMITS.processes - 1  # the program itself is one of them


@pytest.mark.usefixtures("sandboxed")
@pytest.mark.parametrize(
    "source",
    ["x = bytearray(1 << 40)", "chunks = []\nwhile True:\n    chunks.append(bytearray(16 * 1024 * 1024))"],
    ids=["at-once", "growing"],
)
def test_memory_bomb(source: str, marker: str) -> None:
    execution = run(source)
    assert execution.status == "memory", execution
    assert execution.stderr.strip().endswith("MemoryError")
    assert_host_fine(marker)


@pytest.mark.usefixtures("sandboxed")
@pytest.mark.parametrize("stream", ["stdout", "stderr"])
def test_huge_output(stream: str) -> None:
    before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    start = time.monotonic()
    execution = run(f"import sys\nwhile True:\n    sys.{stream}.write('x' * 65536)")
    assert execution.status == "output-limit" and execution.output_truncated
    assert getattr(execution, stream) == "x" * LIMITS.output_bytes
    assert time.monotonic() - start < LIMITS.wall_seconds  # killed when the cap was passed
    assert resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - before < 32 * 1024  # KiB: no pile-up here


@pytest.mark.usefixtures("sandboxed")
def test_writing_to_the_home_directory_and_elsewhere(marker: str) -> None:
    home = Path.home()
    target = home / f"{marker}.txt"
    elsewhere = [target, Path("/") / marker, Path("/usr") / marker, Path(sys.base_prefix) / marker, Path("/etc") / marker]
    source = f"""
import os
for path in {[str(p) for p in elsewhere]!r} + [os.path.join(os.path.expanduser("~"), "ok.txt")]:
    try:
        with open(path, "w") as f:
            f.write("written")
        print("WROTE", path)
    except OSError as error:
        print("refused", path, type(error).__name__)
try:
    os.makedirs({str(home / marker / "deep")!r})
    print("WROTE dirs")
except OSError as error:
    print("refused dirs", type(error).__name__)
"""
    try:
        execution = run(source)
        assert execution.status == "ok", execution.stderr
        assert "WROTE /tmp/ok.txt" in execution.stdout  # $HOME in the sandbox is its own /tmp
        for path in elsewhere:
            if not str(path).startswith("/tmp/"):  # (a home under /tmp would be the jail's /tmp inside)
                assert f"WROTE {path}" not in execution.stdout
            assert not path.exists()
        assert not (home / marker).exists()
    finally:
        for path in elsewhere:
            if path.is_file():
                path.unlink()


@pytest.mark.usefixtures("sandboxed")
def test_environment_variables_are_not_inherited(monkeypatch: pytest.MonkeyPatch) -> None:
    secret = f"s3cret-{uuid.uuid4().hex}"
    monkeypatch.setenv("TTS_TEST_SECRET", secret)
    source = """
import glob, os
print(sorted(os.environ))
for path in glob.glob("/proc/*/environ"):
    try:
        print(path, open(path, "rb").read())
    except OSError as error:
        print(path, error)
"""
    execution = run(source)
    assert execution.status == "ok", execution.stderr
    assert secret not in execution.stdout + execution.stderr
    assert execution.stdout.splitlines()[0] == str(sorted(["HOME", "LANG", "PATH", "PWD", "TMPDIR"]))


@pytest.mark.usefixtures("sandboxed")
def test_no_network(marker: str) -> None:
    with socket.socket() as listener, socket.socket(socket.AF_UNIX) as abstract:
        listener.bind(("127.0.0.1", 0))
        listener.listen()
        listener.setblocking(False)
        abstract.bind(f"\0{marker}")
        abstract.listen()
        abstract.setblocking(False)
        port = listener.getsockname()[1]
        source = f"""
import socket
for address in [("127.0.0.1", {port}), ("1.1.1.1", 80), ("example.com", 443)]:
    try:
        socket.create_connection(address, timeout=1).close()
        print("CONNECTED", address)
    except OSError as error:
        print("blocked", address, type(error).__name__)
try:
    with socket.socket(socket.AF_UNIX) as s:
        s.connect("\\0{marker}")
    print("CONNECTED abstract")
except OSError as error:
    print("blocked abstract", type(error).__name__)
"""
        execution = run(source)
        assert execution.status == "ok", execution.stderr
        assert "CONNECTED" not in execution.stdout and execution.stdout.count("blocked") == 4
        for server in (listener, abstract):
            with pytest.raises(BlockingIOError):
                server.accept()


@pytest.mark.usefixtures("sandboxed")
def test_os_system_runs_inside_the_jail(marker: str) -> None:
    target = Path.home() / f"{marker}.txt"
    execution = run(f"import os\nprint(os.system('touch {target}; echo shell ran; id -u'))")
    try:
        assert execution.status == "ok", execution.stderr
        assert execution.stdout.startswith("shell ran\n")  # it ran, in the jail, not as root
        assert execution.stdout.splitlines()[1] != "0"
        assert not target.exists()
    finally:
        if target.exists():
            target.unlink()


@pytest.mark.usefixtures("sandboxed")
def test_subprocess_is_killed_with_the_sandbox(marker: str) -> None:
    start = time.monotonic()
    execution = run(f"import subprocess\nsubprocess.run(['/bin/sh', '-c', 'sleep 100', '{marker}'])")
    assert execution.status == "timeout"
    assert time.monotonic() - start < LIMITS.wall_seconds + MARGIN
    assert_host_fine(marker)


@pytest.mark.usefixtures("sandboxed")
def test_daemonised_grandchild_dies_with_the_program(marker: str) -> None:
    source = f"""
import os
if os.fork() == 0:
    os.setsid()
    if os.fork() == 0:
        os.execv("/bin/sh", ["/bin/sh", "-c", "sleep 100", "{marker}"])
    os._exit(0)
os.wait()
print("daemon started")
"""
    start = time.monotonic()
    execution = run(source)
    assert (execution.status, execution.stdout) == ("ok", "daemon started\n")
    assert time.monotonic() - start < LIMITS.wall_seconds  # the daemon did not keep the run going
    assert leftovers(marker) == []


@pytest.mark.usefixtures("sandboxed")
def test_jail_dies_with_its_caller(marker: str) -> None:
    source = f"import subprocess\nsubprocess.run(['/bin/sh', '-c', 'sleep 100', '{marker}'])"
    # the program goes through the environment: the marker must not be in the caller's command line
    code = "import os\nfrom tts_cli.sandbox import Limits, run_program\nrun_program(os.environ['SOURCE'], limits=Limits(wall_seconds=60))"
    repo = str(Path(__file__).resolve().parents[1])
    caller = subprocess.Popen([sys.executable, "-c", code], env={**os.environ, "PYTHONPATH": repo, "SOURCE": source})
    try:
        until = time.monotonic() + 10
        while not leftovers(marker) and time.monotonic() < until:
            time.sleep(0.05)
        assert leftovers(marker), "the program did not start"
    finally:
        caller.kill()  # SIGKILL: the caller gets no chance to clean up
        caller.wait()
    until = time.monotonic() + 3
    while leftovers(marker) and time.monotonic() < until:
        time.sleep(0.05)
    assert leftovers(marker) == []


@pytest.mark.usefixtures("sandboxed")
def test_ctypes_kill_everything_hits_only_the_jail(marker: str) -> None:
    sleeper = subprocess.Popen(["sleep", "30"])
    try:
        source = """
import ctypes, os
libc = ctypes.CDLL(None, use_errno=True)
print(libc.kill(-1, 9), libc.kill(1, 9))
print("survived")
"""
        execution = run(source)
        assert execution.status == "ok", execution.stderr
        assert execution.stdout.endswith("survived\n")
        assert sleeper.poll() is None  # a host process of the same user, untouched
    finally:
        sleeper.kill()
        sleeper.wait()
    assert_host_fine(marker)


@pytest.mark.usefixtures("sandboxed")
def test_ctypes_segfault() -> None:
    execution = run("import ctypes\nctypes.string_at(0)")
    assert execution.status == "killed" and execution.signal == 11 and "SIGSEGV" in execution.message


@pytest.mark.usefixtures("sandboxed")
def test_ctypes_cannot_remount_the_filesystem_writable(marker: str) -> None:
    target = Path("/usr") / marker
    source = f"""
import ctypes, os
libc = ctypes.CDLL(None, use_errno=True)
CLONE_NEWUSER, CLONE_NEWNS, MS_REMOUNT, MS_BIND = 0x10000000, 0x00020000, 32, 4096
print("unshare", libc.unshare(CLONE_NEWUSER | CLONE_NEWNS))
print("remount", libc.mount(None, b"/usr", None, MS_REMOUNT | MS_BIND, None), ctypes.get_errno())
try:
    open({str(target)!r}, "w").write("escaped")
    print("WROTE")
except OSError as error:
    print("refused", type(error).__name__)
"""
    try:
        execution = run(source)
        assert execution.status == "ok", execution.stderr
        assert "remount -1" in execution.stdout and "refused" in execution.stdout
        assert not target.exists()
    finally:
        if target.exists():
            target.unlink()


@pytest.mark.usefixtures("sandboxed")
def test_deleting_files(tmp_path: Path) -> None:
    kept = tmp_path / "kept.txt"
    kept.write_text("keep me")
    (tmp_path / "tree").mkdir()
    (tmp_path / "tree" / "leaf.txt").write_text("keep me too")
    # a file the jail does see: the Python installation is bound read-only at its own path
    visible = Path(sys.base_prefix) / f"tts-sandbox-test-{uuid.uuid4().hex}.txt"
    try:
        visible.write_text("visible inside")
    except OSError:
        visible = Path(os.path.realpath(sys.executable))  # not ours to write: try to delete the interpreter
    source = f"""
import os, shutil
for attempt in [lambda: os.remove({str(kept)!r}), lambda: shutil.rmtree({str(tmp_path)!r}),
                lambda: os.remove({str(visible)!r}), lambda: os.rename({str(visible)!r}, "/tmp/moved")]:
    try:
        attempt()
        print("DELETED")
    except OSError as error:
        print("refused", type(error).__name__)
print(open({str(visible)!r}, "rb").read(16) != b"")
"""
    try:
        execution = run(source)
        assert execution.status == "ok", execution.stderr
        assert "DELETED" not in execution.stdout and execution.stdout.endswith("True\n")
        assert kept.read_text() == "keep me" and (tmp_path / "tree" / "leaf.txt").exists()
        assert visible.exists()
    finally:
        if visible.name.startswith("tts-sandbox-test-") and visible.exists():
            visible.unlink()


# ----------------------------------------------------------------------------- availability


def test_off_never_runs_the_program(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv(ENV_VAR, "off")
    proof = tmp_path / "ran"
    execution = run_program(f"open({str(proof)!r}, 'w').write('ran')")
    assert execution.status == "unavailable" and "TTS_SANDBOX=off" in execution.message
    assert availability() == (False, execution.message)
    assert not proof.exists()


@pytest.mark.parametrize("mode", ["unshare", "nonsense"])
def test_other_modes_are_refused(monkeypatch: pytest.MonkeyPatch, tmp_path: Path, mode: str) -> None:
    monkeypatch.setenv(ENV_VAR, mode)
    proof = tmp_path / "ran"
    execution = run_program(f"open({str(proof)!r}, 'w').write('ran')")
    assert execution.status == "unavailable" and f"{ENV_VAR}=" in execution.message
    assert not proof.exists()


def test_required_in_ci(monkeypatch: pytest.MonkeyPatch) -> None:
    if os.environ.get("TTS_REQUIRE_SANDBOX") != "1":
        pytest.skip("TTS_REQUIRE_SANDBOX=1 is not set (CI sets it)")
    monkeypatch.delenv(ENV_VAR, raising=False)
    ok, reason = availability()
    assert ok, reason
    assert "bubblewrap" in reason


@pytest.mark.parametrize(
    "changes",
    [{"cpu_seconds": 0}, {"wall_seconds": -1}, {"processes": 1.5}, {"memory_bytes": True}, {"wall_seconds": float("inf")}],
)
def test_limits_are_checked(changes: dict) -> None:
    with pytest.raises(UsageError):
        Limits(**changes)
