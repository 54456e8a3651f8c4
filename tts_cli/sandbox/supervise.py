"""Running the jail from the outside: its output read with a cap, its wall time measured, and the
whole jail killed when either runs out, before ``supervise`` returns.

The jail is bwrap's monitor process (our child, in a session of its own) and, in new namespaces,
the bootstrap as PID 1 with the program under it. Killing that PID 1 (through a pidfd, so that a
recycled pid can never be hit) makes the kernel kill every process of the PID namespace; the
monitor reaps the PID 1 only once they are all gone, and we reap the monitor. So when
``supervise`` returns, nothing of the jail runs any more.
"""

from __future__ import annotations

import os
import re
import select
import selectors
import signal
import subprocess
import time
from dataclasses import dataclass
from typing import Dict, Iterator, List, Optional, Sequence, Tuple

CHUNK = 65536
KILL_GRACE = 2.0  # seconds for the monitor to exit once the jail is killed, or for the outputs to close once it exited
_CHILD_PID = re.compile(rb'"child-pid"\s*:\s*(\d+)')
_Reaped = Tuple[int, float]  # the monitor's wait status, and the CPU seconds of the jail


@dataclass(frozen=True)
class Outcome:
    returncode: int  # the monitor's exit status (bwrap passes the bootstrap's on); < 0: killed by -it
    stdout: bytes
    stderr: bytes
    truncated: bool  # stdout or stderr had more than output_bytes
    killed_for: Optional[str]  # "timeout" or "output-limit" when we killed the jail
    cpu_seconds: float
    wall_seconds: float


def supervise(
    argv: List[str],
    *,
    pass_fds: Sequence[int],
    info_fd: int,
    wall_seconds: float,
    output_bytes: int,
) -> Outcome:
    """Runs bwrap's ``argv`` with no environment and stdin from /dev/null. Takes ownership of
    ``pass_fds`` (closed once the child has them) and of ``info_fd``, the read end of bwrap's
    ``--info-fd`` pipe. Must be waited for in the thread that calls it (``--die-with-parent``
    watches the calling thread)."""
    start = time.monotonic()
    try:
        proc = subprocess.Popen(
            argv,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            pass_fds=tuple(pass_fds),
            env={},
            start_new_session=True,
            preexec_fn=_first_to_die,
        )
    except BaseException:
        os.close(info_fd)
        raise
    finally:
        for fd in pass_fds:
            os.close(fd)
    assert proc.stdout is not None and proc.stderr is not None
    out_fd, err_fd = proc.stdout.fileno(), proc.stderr.fileno()
    streams: Dict[int, bytearray] = {out_fd: bytearray(), err_fd: bytearray()}
    watch = _Watch(proc.pid, info_fd, [out_fd, err_fd])
    truncated = False
    killed_for: Optional[str] = None
    reaped: Optional[_Reaped] = None
    deadline = start + wall_seconds
    try:
        while True:
            if reaped is None:
                reaped = _reap(proc.pid, block=False)
                if reaped is not None:  # the outputs close now; they get a moment, not the rest
                    deadline = min(deadline, time.monotonic() + KILL_GRACE)
            if reaped is not None and not watch.outputs:
                break
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                killed_for = "timeout"
                break
            for fd, chunk in watch.read(remaining if watch.exit_fd is not None else min(remaining, 0.02)):
                buffer = streams[fd]
                buffer += chunk
                if len(buffer) > output_bytes:
                    del buffer[output_bytes:]
                    truncated = True
                    killed_for = "output-limit"
            if killed_for is not None:
                break
    finally:
        if reaped is None or killed_for is not None or watch.outputs:
            reaped = _kill(proc.pid, watch.init_fd, watch.init_pid, reaped)
        watch.close()
        proc.stdout.close()
        proc.stderr.close()
    status, cpu = reaped
    proc.returncode = os.waitstatus_to_exitcode(status)  # reaped here: Popen must not wait again
    return Outcome(
        returncode=proc.returncode,
        stdout=bytes(streams[out_fd]),
        stderr=bytes(streams[err_fd]),
        truncated=truncated,
        killed_for=killed_for,
        cpu_seconds=cpu,
        wall_seconds=time.monotonic() - start,
    )


def _first_to_die() -> None:
    """Runs in bwrap's process just before its exec: the OOM score at its maximum, inherited by the
    whole jail, so that under memory pressure the kernel kills the jail before the caller (and its
    model). Written with the caller's credentials: a root caller (CAP_SYS_RESOURCE) sets the floor
    too, and for every caller the jail's /proc is read-only, so nothing inside can lower it. Only
    os-level calls: this runs in a forked child of a threaded process."""
    try:
        fd = os.open("/proc/self/oom_score_adj", os.O_WRONLY)
    except OSError:
        return
    try:
        os.write(fd, b"1000")
    except OSError:
        pass
    finally:
        os.close(fd)


class _Watch:
    """The descriptors of one run: stdout and stderr, bwrap's info pipe (which names the jail's
    PID 1), a pidfd that becomes readable when the monitor exits (None on kernels before 5.3:
    then the caller polls)."""

    def __init__(self, monitor: int, info_fd: int, outputs: List[int]) -> None:
        self.monitor = monitor
        self.selector = selectors.DefaultSelector()
        self.outputs = set(outputs)
        self.info_fd: Optional[int] = info_fd
        self.info = b""
        self.init_fd: Optional[int] = None
        self.init_pid: Optional[int] = None
        self.exit_fd = _pidfd(monitor)
        for fd in [*outputs, info_fd]:
            os.set_blocking(fd, False)
            self.selector.register(fd, selectors.EVENT_READ)
        if self.exit_fd is not None:
            self.selector.register(self.exit_fd, selectors.EVENT_READ)

    def read(self, timeout: float) -> Iterator[Tuple[int, bytes]]:
        """Waits up to ``timeout`` for something to happen; yields (fd, bytes) read from stdout or
        stderr. Returns early once the monitor has exited."""
        for key, _ in self.selector.select(timeout):
            fd = key.fd
            if fd == self.exit_fd:
                self.selector.unregister(fd)  # readable for good now; the caller reaps
                continue
            try:
                chunk = os.read(fd, CHUNK)
            except BlockingIOError:
                continue
            if fd == self.info_fd:
                self._on_info(chunk)
            elif not chunk:
                self.selector.unregister(fd)
                self.outputs.discard(fd)
            else:
                yield fd, chunk

    def _on_info(self, chunk: bytes) -> None:
        """bwrap's info JSON: read to its end (closing the pipe early would kill the monitor with
        SIGPIPE while it still writes), its "child-pid" kept as a pidfd."""
        assert self.info_fd is not None
        if not chunk:
            self.selector.unregister(self.info_fd)
            os.close(self.info_fd)
            self.info_fd = None
        elif self.init_fd is None and len(self.info) < CHUNK:
            self.info += chunk
            found = _CHILD_PID.search(self.info)
            if found:
                self.init_pid = int(found.group(1))
                self.init_fd = _child_pidfd(self.init_pid, self.monitor)

    def close(self) -> None:
        self.selector.close()
        for fd in (self.info_fd, self.init_fd, self.exit_fd):
            if fd is not None:
                os.close(fd)
        self.info_fd = self.init_fd = self.exit_fd = None


def _pidfd(pid: int) -> Optional[int]:
    try:
        return os.pidfd_open(pid)
    except (AttributeError, OSError):
        return None


def _child_pidfd(pid: int, parent: int) -> Optional[int]:
    """A pidfd for ``pid`` if it is (still) a child of ``parent``: checked after opening, so the
    pidfd cannot refer to some other process that got a recycled pid."""
    fd = _pidfd(pid)
    if fd is None:
        return None
    try:
        with open(f"/proc/{pid}/stat", "rb") as f:
            ppid = int(f.read().rsplit(b")", 1)[1].split()[1])
    except (OSError, ValueError, IndexError):
        ppid = -1
    if ppid != parent:
        os.close(fd)
        return None
    return fd


def _reap(pid: int, *, block: bool) -> Optional[_Reaped]:
    """Reaps the monitor: its wait status and the CPU time of everything it (and the PID 1 under
    it) reaped, which is the whole jail."""
    try:
        done, status, usage = os.wait4(pid, 0 if block else os.WNOHANG)
    except ChildProcessError:  # reaped behind our back (SIGCHLD ignored in this process): unknown
        return 255 << 8, 0.0
    if done == 0:
        return None
    return status, usage.ru_utime + usage.ru_stime


def _kill(monitor: int, init_fd: Optional[int], init_pid: Optional[int], reaped: Optional[_Reaped]) -> _Reaped:
    """Kills the jail and returns once every process of it is gone: first its PID 1 (which takes
    the whole PID namespace with it), then, if it lingers, the monitor. The monitor is never killed
    first while it has a child: during setup bwrap's child waits on the monitor without a
    parent-death signal, and would wait forever.

    The CPU time is read off the jail's processes just before the kill: a dying PID 1 lets the
    kernel reap the rest without adding their time to anyone's (zap_pid_ns_processes ignores
    SIGCHLD), so the monitor's rusage would miss it. What they spend between that reading and the
    kill is missed: the figure is a lower bound."""
    own_fd = None
    if init_fd is None and reaped is None:
        found = _first_child_pidfd(monitor)
        if found is not None:
            init_fd = own_fd = found[0]
            init_pid = found[1]
    spent = _tree_cpu_seconds(init_pid) if init_pid is not None and reaped is None else 0.0
    try:
        if init_fd is not None:
            try:
                signal.pidfd_send_signal(init_fd, signal.SIGKILL)
            except ProcessLookupError:
                pass
        until = time.monotonic() + KILL_GRACE
        while reaped is None and time.monotonic() < until:
            reaped = _reap(monitor, block=False)
            if reaped is None:
                time.sleep(0.005)
        if reaped is None:
            try:
                os.killpg(monitor, signal.SIGKILL)
            except ProcessLookupError:
                pass
            reaped = _reap(monitor, block=True)
            assert reaped is not None
        if init_fd is not None:  # its exit comes after the kernel emptied its PID namespace
            select.select([init_fd], [], [], KILL_GRACE)
        return reaped[0], max(reaped[1], spent)
    finally:
        if own_fd is not None:
            os.close(own_fd)


def _tree_cpu_seconds(root: int) -> float:
    """User + system seconds of ``root`` and every live process under it, each with what its own
    reaped children spent (/proc/PID/stat: utime, stime, cutime, cstime)."""
    children: Dict[int, List[int]] = {}
    spent: Dict[int, int] = {}
    try:
        names = os.listdir("/proc")
    except OSError:
        return 0.0
    for name in names:
        if not name.isdigit():
            continue
        try:
            with open(f"/proc/{name}/stat", "rb") as f:
                fields = f.read().rsplit(b")", 1)[1].split()
            ppid, ticks = int(fields[1]), sum(int(x) for x in fields[11:15])
        except (OSError, ValueError, IndexError):
            continue
        children.setdefault(ppid, []).append(int(name))
        spent[int(name)] = ticks
    total, todo, seen = 0, [root], set()
    while todo:
        pid = todo.pop()
        if pid in seen:
            continue
        seen.add(pid)
        total += spent.get(pid, 0)
        todo += children.get(pid, [])
    return total / os.sysconf("SC_CLK_TCK")


def _first_child_pidfd(monitor: int) -> Optional[Tuple[int, int]]:
    """A pidfd for the monitor's child (the jail's PID 1) when bwrap has not said which it is, and
    its pid."""
    try:
        with open(f"/proc/{monitor}/task/{monitor}/children") as f:
            pids = [int(p) for p in f.read().split()]
    except (OSError, ValueError):
        return None
    for pid in pids:
        fd = _child_pidfd(pid, monitor)
        if fd is not None:
            return fd, pid
    return None
