"""The seccomp filter bubblewrap installs in the jail (``--seccomp FD``) just before it starts the
bootstrap: system calls a model-written program has no use for, and that reach kernel state the
jail's rlimits do not bound, fail with EPERM.

A classic-BPF program over ``struct seccomp_data`` (nr at offset 0, arch at 4, args[i] at 16 + 8i),
assembled here so that no native library is needed. What it denies, and why:

- new namespaces and mounts (``unshare``, ``setns``, ``clone`` with a ``CLONE_NEW*`` flag,
  ``mount``, the new mount API, ``pivot_root``, ``chroot``): a program that makes its own user
  namespace may mount a tmpfs with no size limit and fill host memory with it;
- System V IPC and POSIX message queues (``shmget`` ... ``msgsnd``, ``mq_open``): memory that belongs
  to no process, outside every per-process limit;
- ``memfd_create``/``memfd_secret``: anonymous files outside the address-space limit;
- ``ptrace``, ``process_vm_readv/writev``: another process of the jail (its PID 1 among them) stopped
  or rewritten;
- ``keyctl``/``add_key``/``request_key``, ``bpf``, ``userfaultfd``, ``perf_event_open``, ``io_uring_*``,
  ``syslog``, ``kexec_*``/module loading, ``open_by_handle_at``: kernel attack surface or host
  information, useless to arithmetic;
- ``ioctl(TIOCSTI / TIOCLINUX)``: typing into a terminal (the jail has none; belt and braces).

``clone3`` fails with ENOSYS instead (its flags live in memory a filter cannot read): the C library
then falls back to ``clone``, whose flags the filter does check. Any other architecture than the one
the filter is built for (a 32-bit or x32 call on x86_64) kills the process. Only x86_64 and aarch64
have tables here; elsewhere ``build()`` returns None and the sandbox is refused, never run without it.
"""

from __future__ import annotations

import errno
import platform
import struct
from dataclasses import dataclass
from typing import Dict, List, Optional, Tuple, Union

# classic BPF opcodes (linux/filter.h, linux/bpf_common.h)
_LD_W_ABS = 0x20
_JEQ_K = 0x15
_JGE_K = 0x35
_JSET_K = 0x45
_RET_K = 0x06

RET_KILL_PROCESS = 0x80000000
RET_ERRNO = 0x00050000
RET_ALLOW = 0x7FFF0000

_NR, _ARCH = 0, 4


def _arg_low(index: int) -> int:
    """Offset of the low 32 bits of argument ``index`` (both architectures are little-endian)."""
    return 16 + 8 * index


# CLONE_NEWNS | CLONE_NEWCGROUP | CLONE_NEWUTS | CLONE_NEWIPC | CLONE_NEWUSER | CLONE_NEWPID | CLONE_NEWNET
# (CLONE_NEWTIME, 0x80, shares clone()'s exit-signal byte and is only accepted by clone3 and unshare)
CLONE_NAMESPACE_FLAGS = 0x00020000 | 0x02000000 | 0x04000000 | 0x08000000 | 0x10000000 | 0x20000000 | 0x40000000
TIOCSTI, TIOCLINUX = 0x5412, 0x541C
X32_SYSCALL_BIT = 0x40000000

DENIED = ["unshare", "setns", "mount", "umount2", "pivot_root", "chroot", "open_tree", "move_mount", "fsopen", "fsconfig", "fsmount", "fspick", "mount_setattr", "shmget", "shmat", "shmctl", "shmdt", "semget", "semop", "semctl", "semtimedop", "msgget", "msgsnd", "msgrcv", "msgctl", "mq_open", "memfd_create", "memfd_secret", "ptrace", "process_vm_readv", "process_vm_writev", "keyctl", "add_key", "request_key", "bpf", "userfaultfd", "perf_event_open", "io_uring_setup", "io_uring_enter", "io_uring_register", "syslog", "kexec_load", "kexec_file_load", "init_module", "finit_module", "delete_module", "name_to_handle_at", "open_by_handle_at"]


@dataclass(frozen=True)
class Table:
    """An architecture: its audit number and the numbers of the calls the filter looks at."""

    arch: int  # AUDIT_ARCH_*
    numbers: Dict[str, int]
    x32_bit: bool = False  # x86_64: numbers with this bit are the x32 ABI


# Syscall numbers: arch/x86/entry/syscalls/syscall_64.tbl and include/uapi/asm-generic/unistd.h.
_COMMON_NEW = {
    "io_uring_setup": 425,
    "io_uring_enter": 426,
    "io_uring_register": 427,
    "open_tree": 428,
    "move_mount": 429,
    "fsopen": 430,
    "fsconfig": 431,
    "fsmount": 432,
    "fspick": 433,
    "clone3": 435,
    "mount_setattr": 442,
    "memfd_secret": 447,
}
TABLES: Dict[str, Table] = {
    "x86_64": Table(
        arch=0xC000003E,
        x32_bit=True,
        numbers={
            "ioctl": 16, "shmget": 29, "shmat": 30, "shmctl": 31, "clone": 56, "semget": 64, "semop": 65,
            "semctl": 66, "shmdt": 67, "msgget": 68, "msgsnd": 69, "msgrcv": 70, "msgctl": 71, "ptrace": 101,
            "syslog": 103, "pivot_root": 155, "chroot": 161, "mount": 165, "umount2": 166,
            "init_module": 175, "delete_module": 176, "semtimedop": 220, "mq_open": 240, "kexec_load": 246,
            "add_key": 248, "request_key": 249, "keyctl": 250, "unshare": 272, "perf_event_open": 298,
            "name_to_handle_at": 303, "open_by_handle_at": 304, "setns": 308, "process_vm_readv": 310,
            "process_vm_writev": 311, "finit_module": 313, "memfd_create": 319, "kexec_file_load": 320,
            "bpf": 321, "userfaultfd": 323, **_COMMON_NEW,
        },
    ),
    "aarch64": Table(
        arch=0xC00000B7,
        numbers={
            "ioctl": 29, "umount2": 39, "mount": 40, "pivot_root": 41, "chroot": 51, "unshare": 97,
            "kexec_load": 104, "init_module": 105, "delete_module": 106, "syslog": 116, "ptrace": 117,
            "mq_open": 180, "msgget": 186, "msgctl": 187, "msgrcv": 188, "msgsnd": 189, "semget": 190,
            "semctl": 191, "semtimedop": 192, "semop": 193, "shmget": 194, "shmctl": 195, "shmat": 196,
            "shmdt": 197, "add_key": 217, "request_key": 218, "keyctl": 219, "clone": 220,
            "perf_event_open": 241, "name_to_handle_at": 264, "open_by_handle_at": 265, "setns": 268,
            "process_vm_readv": 270, "process_vm_writev": 271, "finit_module": 273, "memfd_create": 279,
            "bpf": 280, "userfaultfd": 282, "kexec_file_load": 294, **_COMMON_NEW,
        },
    ),
}
_MACHINES = {"x86_64": "x86_64", "amd64": "x86_64", "aarch64": "aarch64", "arm64": "aarch64"}

# An instruction, or a jump whose targets are labels resolved by _assemble.
_Instruction = Tuple[int, Union[int, str], Union[int, str], int]


def machine() -> Optional[str]:
    """The table this host needs ("x86_64", "aarch64"), or None where there is none."""
    return _MACHINES.get(platform.machine().lower())


def build(name: Optional[str] = None) -> Optional[bytes]:
    """The filter as bwrap reads it (an array of ``struct sock_filter``) for the architecture
    ``name`` (this host's by default), or None where there is no table for it."""
    table = TABLES.get(name or machine() or "")
    return None if table is None else _assemble(program(table))


def program(table: Table) -> List[Tuple[str, _Instruction]]:
    """The filter as labelled instructions: (label or "", (code, jt, jf, k))."""
    deny_errno = RET_ERRNO | errno.EPERM
    code: List[Tuple[str, _Instruction]] = [
        ("", (_LD_W_ABS, 0, 0, _ARCH)),
        ("", (_JEQ_K, "arch_ok", "kill", table.arch)),
        ("arch_ok", (_LD_W_ABS, 0, 0, _NR)),
    ]
    if table.x32_bit:
        code.append(("", (_JGE_K, "kill", 0, X32_SYSCALL_BIT)))
    numbers = table.numbers
    for name in DENIED:
        code.append(("", (_JEQ_K, "deny", 0, numbers[name])))
    code += [
        ("", (_JEQ_K, "enosys", 0, numbers["clone3"])),
        ("", (_JEQ_K, "clone", 0, numbers["clone"])),
        ("", (_JEQ_K, "ioctl", "allow", numbers["ioctl"])),
        ("clone", (_LD_W_ABS, 0, 0, _arg_low(0))),
        ("", (_JSET_K, "deny", "allow", CLONE_NAMESPACE_FLAGS)),
        ("ioctl", (_LD_W_ABS, 0, 0, _arg_low(1))),
        ("", (_JEQ_K, "deny", 0, TIOCSTI)),
        ("", (_JEQ_K, "deny", "allow", TIOCLINUX)),
        ("allow", (_RET_K, 0, 0, RET_ALLOW)),
        ("deny", (_RET_K, 0, 0, deny_errno)),
        ("enosys", (_RET_K, 0, 0, RET_ERRNO | errno.ENOSYS)),
        ("kill", (_RET_K, 0, 0, RET_KILL_PROCESS)),
    ]
    return code


def _assemble(code: List[Tuple[str, _Instruction]]) -> bytes:
    """Packs the instructions, turning label targets into the forward offsets BPF wants (a jump
    target is relative to the next instruction, forward only, at most 255)."""
    where = {label: i for i, (label, _) in enumerate(code) if label}
    out = bytearray()
    for i, (_, (op, jt, jf, k)) in enumerate(code):
        offsets = []
        for target in (jt, jf):
            offset = target if isinstance(target, int) else where[target] - i - 1
            if not 0 <= offset <= 255:
                raise ValueError(f"seccomp filter: jump from {i} to {target!r} out of range")
            offsets.append(offset)
        out += struct.pack("<HBBI", op, offsets[0], offsets[1], k)
    return bytes(out)
