"""Landlock and seccomp for the sandbox's program process, without root, namespaces or libraries.

Standard library only (ctypes, os, struct): `sandbox_init.py` imports this file from its own
directory before it forks the program, and `tritter.evaluate.sandbox` imports it to probe. Both
mechanisms work for an unprivileged process once PR_SET_NO_NEW_PRIVS is set, so they are what
isolates generated code where the evaluator runs in practice — a non-root container without user
namespaces under the runtime's default seccomp profile (which allows the landlock_* syscalls).

Landlock (Linux >= 5.13, `landlock` in the kernel's LSM list) confines the file system to an
allowlist: read and execute on the system directories and the interpreter's, read/write only on
the sample's work directory; nothing else is reachable, including /proc, /sys, /var/run/secrets
and the evaluator's own files. A Landlock domain also stops the program from ptrace-accessing any
process outside it (so /proc/<evaluator>/environ or /mem is refused even where /proc is
reachable), and from ABI 4 it refuses TCP bind/connect, from ABI 6 signals and abstract unix
sockets that leave the domain (`LANDLOCK_SCOPE_SIGNAL`): the program may signal itself and its
own descendants, nothing else.

The seccomp filter (a hand-written classic BPF program, `seccomp_program`) refuses what Landlock
does not cover, in every isolation mode: creating sockets (socketpair(AF_UNIX) stays allowed:
asyncio and multiprocessing pipes use it), io_uring (which could connect without a socket()
call), ptrace, process_vm_readv/writev, kcmp, pidfd_getfd, new namespaces (unshare, setns, clone
with CLONE_NEW*; clone3 answers ENOSYS so libc falls back to clone), mount and the new mount API,
bpf, perf_event_open, userfaultfd, keyrings, personality changes, TIOCSTI/TIOCLINUX and setting
a SIGIO owner (F_SETOWN, FIOSETOWN) — a way to signal a process without kill(). Without a pid
namespace (isolations "landlock" and "unsafe-rlimits-only") it also refuses setsid and setpgid,
so every process the program starts stays in the sample's process group and dies with it
(kill(-pgid) is atomic with respect to fork), and prlimit/sched_set*/setpriority/ioprio_set on
any process but the caller. Signals: with Landlock scoping (ABI >= 6) kill/tkill/tgkill are
allowed except kill(-1); without it (older kernels, or no Landlock) seccomp cannot tell the
program's children from the evaluator, so only signals to the program process itself pass
(a program's children cannot be signalled then — documented, rare in benchmark code).

Denied calls fail with EPERM (EACCES for socket); a foreign syscall ABI (i386 int 0x80, x32)
kills the process.
"""

from __future__ import annotations

import ctypes
import errno as errnos
import os
import stat
import struct

_libc = ctypes.CDLL(None, use_errno=True)
_libc.syscall.restype = ctypes.c_long
_libc.prctl.restype = ctypes.c_int

PR_SET_NO_NEW_PRIVS, PR_SET_SECCOMP, PR_SET_DUMPABLE = 38, 22, 4
SECCOMP_MODE_FILTER = 2

# -- Landlock -------------------------------------------------------------------------------------

LANDLOCK_CREATE_RULESET, LANDLOCK_ADD_RULE, LANDLOCK_RESTRICT_SELF = 444, 445, 446  # x86_64, arm64
LANDLOCK_CREATE_RULESET_VERSION = 1
LANDLOCK_RULE_PATH_BENEATH = 1
FS_EXECUTE, FS_WRITE_FILE, FS_READ_FILE, FS_READ_DIR = 1 << 0, 1 << 1, 1 << 2, 1 << 3
FS_REMOVE_DIR, FS_REMOVE_FILE, FS_MAKE_CHAR, FS_MAKE_DIR = 1 << 4, 1 << 5, 1 << 6, 1 << 7
FS_MAKE_REG, FS_MAKE_SOCK, FS_MAKE_FIFO, FS_MAKE_BLOCK = 1 << 8, 1 << 9, 1 << 10, 1 << 11
FS_MAKE_SYM, FS_REFER, FS_TRUNCATE, FS_IOCTL_DEV = 1 << 12, 1 << 13, 1 << 14, 1 << 15
NET_BIND_TCP, NET_CONNECT_TCP = 1 << 0, 1 << 1
SCOPE_ABSTRACT_UNIX_SOCKET, SCOPE_SIGNAL = 1 << 0, 1 << 1
# What each ABI version can restrict (a ruleset must not name rights the kernel does not know).
_FS_BY_ABI = {1: (1 << 13) - 1, 2: (1 << 14) - 1, 3: (1 << 15) - 1, 5: (1 << 16) - 1}
_FILE_RIGHTS = FS_EXECUTE | FS_WRITE_FILE | FS_READ_FILE | FS_TRUNCATE | FS_IOCTL_DEV
READ_EXEC = FS_EXECUTE | FS_READ_FILE | FS_READ_DIR
SCOPED_SIGNALS_ABI = 6  # the first ABI with LANDLOCK_SCOPE_SIGNAL

# Read and execute for the program (plus the interpreter's own directories, added by the caller).
# /etc holds the image's configuration (ld.so.cache, localtime, passwd); nothing under /var, /run,
# /home, /root, /tmp, /proc, /sys or /opt is reachable.
SYSTEM_DIRECTORIES = ("/usr", "/bin", "/sbin", "/lib", "/lib32", "/lib64", "/libx32", "/etc")
DEVICES_RW = ("/dev/null", "/dev/zero", "/dev/full")
DEVICES_RO = ("/dev/urandom", "/dev/random")


class _RulesetAttr(ctypes.Structure):
    _fields_ = [
        ("handled_access_fs", ctypes.c_uint64),
        ("handled_access_net", ctypes.c_uint64),
        ("scoped", ctypes.c_uint64),
    ]


class _PathBeneathAttr(ctypes.Structure):
    _pack_ = 1
    _fields_ = [("allowed_access", ctypes.c_uint64), ("parent_fd", ctypes.c_int32)]


def landlock_abi() -> tuple[int, str]:
    """(the kernel's Landlock ABI version, "") or (0, why there is none)."""
    abi = _libc.syscall(
        ctypes.c_long(LANDLOCK_CREATE_RULESET), None, ctypes.c_size_t(0),
        ctypes.c_uint32(LANDLOCK_CREATE_RULESET_VERSION),
    )  # fmt: skip
    if abi >= 1:
        return int(abi), ""
    err = ctypes.get_errno()
    if err == errnos.ENOSYS:
        return 0, "Landlock missing: the kernel lacks it (needs Linux >= 5.13 with Landlock)"
    if err == errnos.EOPNOTSUPP:
        return 0, "Landlock disabled: add landlock to the kernel's lsm= boot parameter"
    return 0, f"Landlock unusable: landlock_create_ruleset: {os.strerror(err)} (a seccomp profile?)"


def _handled_fs(abi: int) -> int:
    return _FS_BY_ABI[max(k for k in _FS_BY_ABI if k <= abi)]


def landlock_protections(abi: int) -> list[str]:
    """What `restrict_self` enforces with this ABI (for Sandbox.protections)."""
    found = ["landlock_filesystem", "landlock_ptrace_scope"]
    if abi >= 4:
        found.append("landlock_tcp")
    if abi >= SCOPED_SIGNALS_ABI:
        found += ["landlock_scoped_signals", "landlock_scoped_abstract_unix"]
    return found


def restrict_self(abi: int, read_exec: list[str], read_write: list[str]) -> None:
    """Confine this process (and everything it starts) to the allowlist; needs no_new_privs.

    `read_exec`: directories or files readable and executable; `read_write`: directories with
    every right (the work directory). Paths that do not exist are skipped. Raises OSError.
    """
    handled_fs = _handled_fs(abi)
    handled_net = NET_BIND_TCP | NET_CONNECT_TCP if abi >= 4 else 0
    scoped = SCOPE_ABSTRACT_UNIX_SOCKET | SCOPE_SIGNAL if abi >= SCOPED_SIGNALS_ABI else 0
    attr = _RulesetAttr(handled_fs, handled_net, scoped)
    size = 8 if abi < 4 else 16 if abi < SCOPED_SIGNALS_ABI else 24
    ruleset = _libc.syscall(
        ctypes.c_long(LANDLOCK_CREATE_RULESET), ctypes.byref(attr), ctypes.c_size_t(size),
        ctypes.c_uint32(0),
    )  # fmt: skip
    if ruleset < 0:
        _raise("landlock_create_ruleset")
    try:
        rules = [(path, READ_EXEC) for path in read_exec]
        rules += [(path, handled_fs) for path in read_write]
        rules += [(path, FS_READ_FILE | FS_WRITE_FILE | FS_TRUNCATE) for path in DEVICES_RW]
        rules += [(path, FS_READ_FILE) for path in DEVICES_RO]
        for path, rights in rules:
            try:
                fd = os.open(path, os.O_PATH | os.O_CLOEXEC)
            except (FileNotFoundError, PermissionError):
                continue  # absent, or already out of this uid's reach
            try:
                is_dir = stat.S_ISDIR(os.fstat(fd).st_mode)
                allowed = rights & handled_fs & (~0 if is_dir else _FILE_RIGHTS)
                rule = _PathBeneathAttr(allowed, fd)
                rc = _libc.syscall(
                    ctypes.c_long(LANDLOCK_ADD_RULE), ctypes.c_int(ruleset),
                    ctypes.c_int(LANDLOCK_RULE_PATH_BENEATH), ctypes.byref(rule),
                    ctypes.c_uint32(0),
                )  # fmt: skip
                if rc != 0:
                    _raise(f"landlock_add_rule {path}")
            finally:
                os.close(fd)
        if _libc.syscall(ctypes.c_long(LANDLOCK_RESTRICT_SELF), ctypes.c_int(ruleset),
                         ctypes.c_uint32(0)) != 0:  # fmt: skip
            _raise("landlock_restrict_self")
    finally:
        os.close(ruleset)


def _raise(what: str) -> None:
    err = ctypes.get_errno()
    raise OSError(err, f"{what}: {os.strerror(err)}")


def set_no_new_privs() -> None:
    if _libc.prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) != 0:
        _raise("prctl(PR_SET_NO_NEW_PRIVS)")


def set_undumpable() -> None:
    """PR_SET_DUMPABLE 0: this process's /proc files become root-owned, so a process of the same
    uid cannot read its environ or memory, nor ptrace it (reset by the next execve)."""
    if _libc.prctl(PR_SET_DUMPABLE, 0, 0, 0, 0) != 0:
        _raise("prctl(PR_SET_DUMPABLE)")


# -- seccomp --------------------------------------------------------------------------------------

AUDIT_ARCH = {"x86_64": 0xC000003E, "aarch64": 0xC00000B7}
X32_SYSCALL_BIT = 0x40000000
RET_KILL_PROCESS, RET_ALLOW, RET_ERRNO = 0x80000000, 0x7FFF0000, 0x00050000
LD_W_ABS, JEQ, JGE, JSET, RET = 0x20, 0x15, 0x35, 0x45, 0x06
AF_UNIX = 1
CLONE_NEW_ANY = 0x7E020000  # NEWNS | NEWCGROUP | NEWUTS | NEWIPC | NEWUSER | NEWPID | NEWNET
F_SETOWN, F_SETOWN_EX = 8, 15
TIOCSTI, TIOCLINUX, FIOSETOWN, SIOCSPGRP = 0x5412, 0x541C, 0x8901, 0x8902


def _words(text: str) -> list[str]:
    return text.split()


# name, x86_64 number, aarch64 (generic table) number — from the kernel's unistd headers.
_TABLE = _words("""
socket 41 198  socketpair 53 199  kill 62 129  tkill 200 130  tgkill 234 131
rt_sigqueueinfo 129 138  rt_tgsigqueueinfo 297 240  pidfd_send_signal 424 424
pidfd_getfd 438 438  ptrace 101 117  process_vm_readv 310 270  process_vm_writev 311 271
kcmp 312 272  setsid 112 157  setpgid 109 154  unshare 272 97  setns 308 268  clone 56 220
clone3 435 435  mount 165 40  umount2 166 39  pivot_root 155 41  chroot 161 51  fsopen 430 430
fsconfig 431 431  fsmount 432 432  fspick 433 433  move_mount 429 429  open_tree 428 428
mount_setattr 442 442  keyctl 250 219  add_key 248 217  request_key 249 218  bpf 321 280
perf_event_open 298 241  userfaultfd 323 282  io_uring_setup 425 425  io_uring_enter 426 426
io_uring_register 427 427  personality 135 92  prlimit64 302 261  setpriority 141 140
sched_setaffinity 203 122  sched_setscheduler 144 119  sched_setparam 142 118
sched_setattr 314 274  ioprio_set 251 30  migrate_pages 256 238  move_pages 279 239
fcntl 72 25  ioctl 16 29  name_to_handle_at 303 264  open_by_handle_at 304 265
""")
SYSCALLS = {
    machine: {_TABLE[i]: int(_TABLE[i + column]) for i in range(0, len(_TABLE), 3)}
    for machine, column in (("x86_64", 1), ("aarch64", 2))
}
_ALWAYS_DENIED = _words("""
ptrace process_vm_readv process_vm_writev kcmp pidfd_getfd unshare setns mount umount2 pivot_root
chroot fsopen fsconfig fsmount fspick move_mount open_tree mount_setattr keyctl add_key
request_key bpf perf_event_open userfaultfd io_uring_setup io_uring_enter io_uring_register
migrate_pages move_pages name_to_handle_at open_by_handle_at
""")

Insn = tuple[int, int, int, int]  # code, jt, jf, k


def _ret(action: int) -> list[Insn]:
    return [(RET, 0, 0, action)]


def _arg(index: int) -> Insn:
    """Load the low 32 bits of argument `index` (little-endian; int arguments use only those)."""
    return (LD_W_ABS, 0, 0, 16 + 8 * index)


def _deny_if_in(arg: int, values: list[int], deny: int) -> list[Insn]:
    n = len(values)
    body = [(JEQ, n - i, 0, v & 0xFFFFFFFF) for i, v in enumerate(values)]
    return [_arg(arg), *body, (RET, 0, 0, RET_ALLOW), (RET, 0, 0, deny)]


def _allow_only_if_in(arg: int, values: list[int], deny: int) -> list[Insn]:
    n = len(values)
    body = [(JEQ, n - i, 0, v & 0xFFFFFFFF) for i, v in enumerate(values)]
    return [_arg(arg), *body, (RET, 0, 0, deny), (RET, 0, 0, RET_ALLOW)]


def _allow_if_zero(args: tuple[int, ...], deny: int) -> list[Insn]:
    """Allow when every listed argument is 0 (the calling process), else `deny`."""
    out: list[Insn] = []
    for position, arg in enumerate(args):
        remaining = len(args) - position - 1  # (load, jeq) pairs after this one
        out += [_arg(arg), (JEQ, 0, 2 * remaining + 1, 0)]
    return [*out, (RET, 0, 0, RET_ALLOW), (RET, 0, 0, deny)]


def seccomp_program(machine: str, *, process_rules: bool, signals: str, own_pid: int) -> bytes:
    """The filter as `struct sock_filter[]` bytes.

    process_rules: refuse setsid/setpgid and cross-process prlimit/sched/priority calls (no pid
    namespace). signals: "any" (a pid namespace isolates them), "scoped" (Landlock scopes them;
    only kill(-1) is refused) or "self" (only the program process, pid `own_pid`, is a target).
    """
    if machine not in SYSCALLS:
        raise OSError(errnos.ENOSYS, f"no seccomp filter for architecture {machine}")
    nr = SYSCALLS[machine]
    eperm, eacces, enosys = (RET_ERRNO | errnos.EPERM, RET_ERRNO | errnos.EACCES,
                             RET_ERRNO | errnos.ENOSYS)  # fmt: skip
    rules: dict[str, list[Insn]] = {
        "socket": _ret(eacces),
        "socketpair": _allow_only_if_in(0, [AF_UNIX], eacces),
        "clone": [_arg(0), (JSET, 0, 1, CLONE_NEW_ANY), (RET, 0, 0, eperm), (RET, 0, 0, RET_ALLOW)],
        "clone3": _ret(enosys),  # flags sit in a struct seccomp cannot read: libc falls back
        "personality": _allow_only_if_in(0, [0xFFFFFFFF, 0], eperm),  # query, PER_LINUX
        "fcntl": _deny_if_in(1, [F_SETOWN, F_SETOWN_EX], eperm),
        "ioctl": _deny_if_in(1, [TIOCSTI, TIOCLINUX, FIOSETOWN, SIOCSPGRP], eperm),
    }
    for name in _ALWAYS_DENIED:
        rules[name] = _ret(eperm)
    if process_rules:
        rules["setsid"] = rules["setpgid"] = _ret(eperm)
        for name in ("prlimit64", "sched_setaffinity", "sched_setscheduler", "sched_setparam",
                     "sched_setattr"):  # fmt: skip
            rules[name] = _allow_if_zero((0,), eperm)
        rules["setpriority"] = _allow_if_zero((0, 1), eperm)  # PRIO_PROCESS, who = self
        rules["ioprio_set"] = _allow_if_zero((1,), eperm)
    if signals == "scoped":
        rules["kill"] = _deny_if_in(0, [-1], eperm)
    elif signals == "self":
        for name in ("kill", "tkill", "tgkill", "rt_sigqueueinfo", "rt_tgsigqueueinfo"):
            rules[name] = _allow_only_if_in(0, [own_pid], eperm)
        rules["pidfd_send_signal"] = _ret(eperm)
    elif signals != "any":
        raise ValueError(f"signals: {signals!r}")

    program: list[Insn] = [
        (LD_W_ABS, 0, 0, 4),  # seccomp_data.arch
        (JEQ, 1, 0, AUDIT_ARCH[machine]),
        (RET, 0, 0, RET_KILL_PROCESS),
        (LD_W_ABS, 0, 0, 0),  # seccomp_data.nr
    ]
    if machine == "x86_64":
        program += [(JGE, 0, 1, X32_SYSCALL_BIT), (RET, 0, 0, RET_KILL_PROCESS)]
    for name, block in rules.items():
        if len(block) > 255:
            raise ValueError(f"seccomp block for {name} is too long")
        # Each block ends in a return, so the accumulator it clobbers never matters after it.
        program += [(JEQ, 0, len(block), nr[name]), *block]
    program.append((RET, 0, 0, RET_ALLOW))
    return b"".join(struct.pack("=HBBI", *insn) for insn in program)


class _SockFprog(ctypes.Structure):
    _fields_ = [("len", ctypes.c_ushort), ("filter", ctypes.c_void_p)]


def install_seccomp(program: bytes) -> None:
    """Install the filter on this thread (the caller is single-threaded); needs no_new_privs."""
    buffer = ctypes.create_string_buffer(program, len(program))
    fprog = _SockFprog(len(program) // 8, ctypes.addressof(buffer))
    if _libc.prctl(PR_SET_SECCOMP, SECCOMP_MODE_FILTER, ctypes.byref(fprog), 0, 0) != 0:
        _raise("seccomp filter")
