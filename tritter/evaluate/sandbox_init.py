"""Sandbox bootstrap: runs ONE untrusted Python program inside the limits its parent asks for.

`tritter.evaluate.sandbox` starts this file as `python -I -S -B sandbox_init.py` in a new session
with a scrubbed environment. It reads a header (a 4-byte length, then a `marshal`led dict: the
same interpreter wrote it) and then the program from stdin, and writes JSON lines to stdout,
which is the result channel:

  {"event": "setup", "protections": [...]}           isolation actually in force
  {"event": "program", "status": "passed"}           the program ran to its end
  {"event": "program", "status": "failed", "reason": "AssertionError: ..."}
  {"event": "exit", "exit_code": 0, "timed_out": false, "cpu_seconds": ..., "max_rss_kb": ...,
   "output": "..."}                                  only when the header asks to capture output
  {"event": "setup_error", "reason": "..."}          the sandbox itself could not be built

Process layout (isolation "namespaces", which needs root or CAP_SYS_ADMIN):

  supervisor (this process, root; new mount/net/ipc/uts namespaces; waits, reports)
    └─ pid 1 of a new pid namespace (a reaper; private /proc)
         └─ program process: unprivileged uid, rlimits, read-only root filesystem, private
            tmpfs work directory, no network interface up

The supervisor waits with the wall-clock limit and reports. When the program process ends, pid 1
exits and the kernel kills everything left in the pid namespace, so nothing the program forked
survives the sample.

Process layout (isolations "landlock" and "unsafe-rlimits-only": no privileges needed):

  supervisor (this process, the session's process-group leader; undumpable; waits, reports)
    └─ program process: rlimits, no_new_privs, Landlock (filesystem allowlist, TCP, scoped
       signals; "landlock" only), seccomp filter that also refuses setsid/setpgid

Every process the program starts stays in the supervisor's process group: after its report the
supervisor kills the group (itself included), and the evaluator kills it again when the
supervisor is gone, so nothing the program forked survives the sample. `confine.py` (imported
from this directory) holds the Landlock and seccomp code.

Standard library only, imported up front: after the privilege drop the interpreter's own files
may be unreadable, and the rlimits leave little room. Startup time here is the per-sample
overhead, so imports are few and cheap (no json, re or platform: they cost ~12 ms a sample).
"""

from __future__ import annotations

import _signal as signal  # the C module: `signal` pulls in enum (~4 ms)
import builtins
import ctypes
import marshal
import os
import resource
import select
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import confine  # a sibling file: -I keeps this directory off sys.path

del sys.path[0]

CLONE_NEWNS = 0x00020000
CLONE_NEWUTS = 0x04000000
CLONE_NEWIPC = 0x08000000
CLONE_NEWPID = 0x20000000
CLONE_NEWNET = 0x40000000
MS_NOSUID, MS_NODEV, MS_NOEXEC = 2, 4, 8
MS_RDONLY, MS_REMOUNT, MS_BIND, MS_REC, MS_PRIVATE = 1, 32, 4096, 16384, 1 << 18
MOUNT_ATTR_RDONLY, AT_RECURSIVE, AT_FDCWD = 0x1, 0x8000, -100
SYS_MOUNT_SETATTR = {"x86_64": 442, "aarch64": 442}  # same number in the generic syscall table
PR_SET_PDEATHSIG = 1
SANDBOX_ROOT = "/tmp"  # the private tmpfs (isolation "namespaces")
WORKDIR = "/tmp/work"  # the program's cwd, HOME and TMPDIR: its only writable place
STDLIB_MOUNTS = "/tmp/.python"  # read-only binds of the standard library directories
EXPOSED_MOUNTS = "/tmp/.host"  # read-only binds of the host directories the header exposes
REASON_CHARS = 300

_libc = ctypes.CDLL(None, use_errno=True)


class MountAttr(ctypes.Structure):
    _fields_ = [
        ("attr_set", ctypes.c_uint64),
        ("attr_clr", ctypes.c_uint64),
        ("propagation", ctypes.c_uint64),
        ("userns_fd", ctypes.c_uint64),
    ]


def _check(result: int, what: str) -> None:
    if result != 0:
        errno = ctypes.get_errno()
        raise OSError(errno, f"{what}: {os.strerror(errno)}")


def _mount(source: str, target: str, fstype: str | None, flags: int, data: str = "") -> None:
    _check(
        _libc.mount(
            source.encode(), target.encode(), fstype.encode() if fstype else None, flags,
            data.encode() if data else None,
        ),
        f"mount {target}",
    )  # fmt: skip


_ESCAPES = {ord('"'): '\\"', ord("\\"): "\\\\"} | {i: f"\\u{i:04x}" for i in range(32)}


def _to_json(value: object) -> str:
    """JSON for the flat records below (str, int, float, bool, None, lists of str)."""
    if isinstance(value, str):
        return '"' + value.translate(_ESCAPES) + '"'
    if isinstance(value, bool) or value is None:
        return {True: "true", False: "false", None: "null"}[value]
    if isinstance(value, (int, float)):
        return repr(value)
    if isinstance(value, list):
        return "[" + ", ".join(_to_json(item) for item in value) + "]"
    raise TypeError(type(value).__name__)


def _send(channel: int, **record: object) -> None:
    """One JSON line on the result channel (all-or-nothing for lines under PIPE_BUF)."""
    line = "{" + ", ".join(f'"{key}": {_to_json(value)}' for key, value in record.items()) + "}"
    data = (line + "\n").encode("utf-8", "replace")
    try:
        while data:  # a captured output can exceed PIPE_BUF: write it all
            data = data[os.write(channel, data) :]
    except OSError:
        pass  # the evaluator went away; nothing left to tell


def enter_namespaces(header: dict, protections: list[str]) -> dict[str, str]:
    """New mount/net/ipc/uts namespaces for this process, a new pid namespace for its next
    child, a read-only view of the host filesystem and a private tmpfs for the program.

    Returns {sys.path entry: where it is re-exposed under STDLIB_MOUNTS}: the interpreter may
    live under a directory the sandbox uid cannot enter (e.g. /root/.pyenv).
    """
    _check(
        _libc.unshare(CLONE_NEWNS | CLONE_NEWNET | CLONE_NEWPID | CLONE_NEWIPC | CLONE_NEWUTS),
        "unshare",
    )
    protections += ["net_namespace", "pid_namespace", "ipc_namespace", "mount_namespace"]
    # Private propagation first, so nothing mounted here leaks back to the host.
    _mount("none", "/", None, MS_REC | MS_PRIVATE)
    syscall = SYS_MOUNT_SETATTR.get(os.uname().machine)
    if syscall is not None:
        attr = MountAttr(MOUNT_ATTR_RDONLY, 0, 0, 0)
        rc = _libc.syscall(syscall, AT_FDCWD, b"/", AT_RECURSIVE, ctypes.byref(attr),
                           ctypes.sizeof(attr))  # fmt: skip
        if rc == 0:
            protections.append("read_only_root")
    # Handles on the directories re-exposed below, taken before the tmpfs covers /tmp: an
    # interpreter or a virtual environment that lives under /tmp (a CI checkout) would be hidden
    # by it; a bind from /proc/self/fd/N reaches the directory the handle holds.
    sources = [p for p in sys.path if os.path.isdir(p)] + list(header.get("expose") or ())
    handles = {d: os.open(d, os.O_PATH | os.O_DIRECTORY | os.O_CLOEXEC) for d in sources}
    size = int(header["workdir_bytes"])
    _mount("tmpfs", SANDBOX_ROOT, "tmpfs", MS_NOSUID | MS_NODEV, f"size={size},mode=0755")
    os.mkdir(WORKDIR, 0o700)
    uid, gid = header.get("uid"), header.get("gid")
    if uid is not None:
        os.chown(WORKDIR, uid, gid)
    protections.append("private_tmpfs_workdir")
    moved = {}
    for index, directory in enumerate(p for p in sys.path if os.path.isdir(p)):
        target = f"{STDLIB_MOUNTS}/{index}"
        _bind_read_only(handles[directory], target)
        moved[directory] = target
    # Host directories the evaluator exposes (a compiler's toolchain, site-packages): read-only
    # and without setuid or device files, at EXPOSED_MOUNTS/<index> in the header's order.
    for index, directory in enumerate(header.get("expose") or ()):
        _bind_read_only(handles[directory], f"{EXPOSED_MOUNTS}/{index}")
    for handle in handles.values():
        os.close(handle)
    return moved


def _bind_read_only(handle: int, target: str) -> None:
    """Bind the directory `handle` holds at `target`: read-only, no setuid, no devices."""
    os.makedirs(target, 0o755)
    _mount(f"/proc/self/fd/{handle}", target, None, MS_BIND | MS_REC)
    _mount("none", target, None, MS_BIND | MS_REMOUNT | MS_RDONLY | MS_NOSUID | MS_NODEV)


def use_moved_stdlib(moved: dict[str, str]) -> None:
    """Point imports at the re-exposed standard library, including the search paths of
    packages this bootstrap already imported (`encodings`, `collections`: their submodules are
    found through `package.__path__`, not sys.path)."""

    def remap(path: str) -> str:
        for old, new in moved.items():
            if path == old or path.startswith(old + "/"):
                return new + path[len(old) :]
        return path

    sys.path[:] = list(moved.values())
    for module in list(sys.modules.values()):
        search = getattr(module, "__path__", None)
        if isinstance(search, list):
            search[:] = [remap(entry) for entry in search]
    sys.path_importer_cache.clear()


def apply_limits(header: dict) -> None:
    cpu = int(header["cpu_seconds"])
    nproc = int(header["max_processes"])
    if header.get("uid") is None:
        # The program shares the evaluator's uid, and RLIMIT_NPROC counts every task of the uid:
        # allow max_processes on top of those that exist now (only those this pid namespace
        # shows: same-uid tasks of other pods on the node count too, and then forks fail early).
        nproc += _tasks_of_uid(os.getuid())
    limits = {
        resource.RLIMIT_CPU: (cpu, cpu + 1),  # SIGXCPU at the soft limit, SIGKILL one second on
        resource.RLIMIT_AS: (header["memory_bytes"],) * 2,
        resource.RLIMIT_NPROC: (nproc, nproc),
        resource.RLIMIT_FSIZE: (header["max_file_bytes"],) * 2,
        resource.RLIMIT_NOFILE: (header["max_open_files"],) * 2,
        resource.RLIMIT_CORE: (0, 0),
    }
    for kind, (soft, hard) in limits.items():
        resource.setrlimit(kind, (int(soft), int(hard)))


def _tasks_of_uid(uid: int) -> int:
    """Tasks (threads included) of `uid` in /proc: what RLIMIT_NPROC counts."""
    count = 0
    for name in os.listdir("/proc"):
        if not name.isdigit():
            continue
        try:
            with open(f"/proc/{name}/status", "rb") as handle:
                status = handle.read()
        except OSError:
            continue  # gone meanwhile
        fields = dict(line.split(b":", 1) for line in status.splitlines() if b":" in line)
        if int(fields.get(b"Uid", b"-1").split()[0]) == uid:
            count += int(fields.get(b"Threads", b"1"))
    return count


def run_program(header: dict, source: str, channel: int, alive: int, moved: dict[str, str]) -> None:
    """In the forked child: finish isolating, drop privileges, run the program, report."""
    try:
        if header["isolation"] == "namespaces":
            become_namespace_init(alive)  # returns only in a new child, the program process
        else:
            _exit_with_supervisor(alive)
        workdir = enter_program_process(header, moved)
    except (OSError, ValueError) as err:
        _send(channel, event="setup_error", reason=str(err)[:REASON_CHARS])
        os._exit(2)
    os.environ["HOME"] = os.environ["TMPDIR"] = workdir
    sys.argv = ["<sandbox>"]
    builtins.exit = builtins.quit = _quit  # `site` adds these; -S skipped it
    globals_ = {"__name__": "__main__", "__builtins__": builtins}
    try:
        code = compile(source, "<sandbox>", "exec")
        exec(code, globals_)
    except BaseException as err:  # SystemExit and KeyboardInterrupt are failures too
        reason = f"{type(err).__name__}: {err}"[:REASON_CHARS]
        _flush_output()
        _send(channel, event="program", status="failed", reason=reason)
        os._exit(1)
    _flush_output()
    _send(channel, event="program", status="passed")
    os._exit(0)


def _flush_output() -> None:
    """os._exit skips the interpreter's teardown: flush what the program printed first."""
    for stream in (sys.stdout, sys.stderr):
        try:  # noqa: SIM105 (contextlib would cost startup time)
            stream.flush()
        except (OSError, ValueError):
            pass  # closed or broken by the program: nothing more to keep


def _quit(code: object = None) -> None:
    raise SystemExit(code)


def _exit_with_supervisor(alive: int) -> None:
    """Die with the supervisor: set the parent-death signal, then check that the supervisor did
    not exit before it was set (its end of `alive` is closed then). Credential changes clear
    the signal, so the program process sets it again after dropping privileges."""
    _libc.prctl(PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0)
    readable, _, _ = select.select([alive], [], [], 0)
    if readable and not os.read(alive, 1):
        os._exit(125)
    os.close(alive)


def become_namespace_init(alive: int) -> None:
    """This process is pid 1 of the new pid namespace. It stays a small trusted reaper and runs
    the program as pid 2: pid 1 ignores signals it sent itself, which would let a program
    survive its own kill(). When the program ends, pid 1 exits with its status and the kernel
    kills whatever else is left in the namespace."""
    try:  # noqa: SIM105 (a /proc that shows only this namespace's processes)
        _mount("proc", "/proc", "proc", MS_NOSUID | MS_NODEV | MS_NOEXEC)
    except OSError:
        pass
    _exit_with_supervisor(alive)
    program = os.fork()
    if program == 0:
        return
    while True:
        try:
            pid, status = os.waitpid(-1, 0)
        except ChildProcessError:
            os._exit(125)
        if pid == program:
            code = os.waitstatus_to_exitcode(status)
            os._exit(code if code >= 0 else 128 - code)  # the shell's convention for signals


def enter_program_process(header: dict, moved: dict[str, str]) -> str:
    """Limits, privilege drop, parent-death signal. Returns the work directory."""
    namespaces = header["isolation"] == "namespaces"
    workdir = WORKDIR if namespaces else header["workdir"]
    os.chdir(workdir)
    os.umask(0o077)
    apply_limits(header)
    uid, gid = header.get("uid"), header.get("gid")
    if uid is not None:
        os.setgroups([])
        os.setgid(gid)
        os.setuid(uid)
    _libc.prctl(PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0)
    confine.set_no_new_privs()
    if header["isolation"] == "landlock":
        confine.restrict_self(int(header["landlock_abi"]), _readable_paths(header), [workdir])
    if namespaces:
        signals = "any"  # the pid namespace already keeps every other process out of reach
    elif int(header.get("landlock_abi") or 0) >= confine.SCOPED_SIGNALS_ABI:
        signals = "scoped"
    else:
        signals = "self"
    filter_ = confine.seccomp_program(
        os.uname().machine, process_rules=not namespaces, signals=signals, own_pid=os.getpid()
    )
    confine.install_seccomp(filter_)
    if namespaces:
        use_moved_stdlib(moved)
    return workdir


def _readable_paths(header: dict) -> list[str]:
    """What a Landlock-confined program may read and execute: the system directories, the
    interpreter and its standard library, and the directories the evaluator exposes."""
    paths = list(confine.SYSTEM_DIRECTORIES)
    paths += [os.path.realpath(sys.executable)]
    paths += [entry for entry in sys.path if entry and os.path.exists(entry)]
    paths += list(header.get("expose") or ())
    return list(dict.fromkeys(paths))


def supervise(
    pid: int, wall_seconds: float, channel: int, namespace_init: bool, output: int | None, cap: int
) -> None:
    """Wait for the program with the wall-clock limit; kill it (and its namespace) on expiry."""
    timed_out = False
    try:
        pidfd = os.pidfd_open(pid)
        ready, _, _ = select.select([pidfd], [], [], wall_seconds)
        os.close(pidfd)
        if not ready:
            timed_out = True
            os.kill(pid, signal.SIGKILL)
    except (AttributeError, OSError):  # no pidfd (old kernel): poll instead
        import time

        deadline = time.monotonic() + wall_seconds
        while os.waitpid(pid, os.WNOHANG) == (0, 0):
            if time.monotonic() > deadline:
                timed_out = True
                os.kill(pid, signal.SIGKILL)
                break
            time.sleep(0.005)
    _, status, usage = os.wait4(pid, 0)  # usage includes the processes it reaped
    code = os.waitstatus_to_exitcode(status)
    if namespace_init and 128 < code <= 128 + 64:
        code = 128 - code  # pid 1 reported "killed by signal N" as 128 + N
    captured = {}
    if output is not None:
        # The supervisor's own handle on the memory file: what the program wrote, whatever it
        # did to its copies of fds 1 and 2.
        os.lseek(output, 0, os.SEEK_SET)
        captured["output"] = os.read(output, cap).decode("utf-8", "replace")
    _send(
        channel, event="exit", exit_code=code, timed_out=timed_out,
        cpu_seconds=round(usage.ru_utime + usage.ru_stime, 4), max_rss_kb=usage.ru_maxrss,
        **captured,
    )  # fmt: skip


def main() -> None:
    channel = os.dup(1)
    devnull = os.open(os.devnull, os.O_RDWR)
    stdin = sys.stdin.buffer
    header = marshal.loads(stdin.read(int.from_bytes(stdin.read(4), "little")))
    source = stdin.read().decode("utf-8", "replace")
    # The program gets no stdin and, unless asked to capture it (the chat tool loop feeds it back
    # to the model), its output goes nowhere: the result channel is separate. Captured output
    # goes to an anonymous memory file: no path the program could swap for a link, and the file
    # size limit bounds it.
    cap = int(header.get("capture_bytes") or 0)
    output = os.memfd_create("program-output") if cap else None
    os.dup2(devnull, 0)
    for fd in (1, 2):
        os.dup2(output if output is not None else devnull, fd)
    os.close(devnull)
    protections = ["rlimits", "scrubbed_environment", "new_session"]
    moved: dict[str, str] = {}
    isolation = header["isolation"]
    try:
        if isolation == "namespaces":
            moved = enter_namespaces(header, protections)
        elif isolation == "landlock":
            abi, missing = confine.landlock_abi()
            if header.get("landlock_abi_cap"):  # tests: behave as an older kernel would
                abi = min(abi, int(header["landlock_abi_cap"]))
            if not abi:
                _send(channel, event="setup_error", reason=missing)
                os._exit(2)
            header["landlock_abi"] = abi
            protections += confine.landlock_protections(abi)
        elif isolation != "unsafe-rlimits-only":
            raise OSError(f"unknown isolation {isolation!r}")
        if header.get("uid") is not None:
            protections.append("unprivileged_uid")
        protections += ["no_new_privs", "seccomp_filter"]
        if isolation != "namespaces":
            scoped = int(header.get("landlock_abi") or 0) >= confine.SCOPED_SIGNALS_ABI
            protections += ["process_group_kept", "supervisor_undumpable",
                            "signals_scoped" if scoped else "signals_to_self_only"]  # fmt: skip
            # Same uid as the program: keep it out of this process's memory and environment.
            confine.set_undumpable()
    except OSError as err:
        _send(channel, event="setup_error", reason=str(err)[:REASON_CHARS])
        os._exit(2)
    _send(channel, event="setup", protections=protections)
    alive_read, alive_write = os.pipe()
    pid = os.fork()
    if pid == 0:
        try:
            os.close(alive_write)
            run_program(header, source, channel, alive_read, moved)
        finally:
            os._exit(126)  # run_program never returns; this only catches a broken bootstrap
    os.close(alive_read)
    namespace_init = header["isolation"] == "namespaces"
    supervise(pid, float(header["wall_seconds"]), channel, namespace_init, output, cap)
    if os.getpgrp() == os.getpid():
        # Whatever the program left in the process group (it cannot leave it: setsid and
        # setpgid are refused) dies now, with this process; kill(-pgid) is atomic with fork.
        os.killpg(0, signal.SIGKILL)
    os._exit(0)  # skip interpreter teardown: a few ms per sample


if __name__ == "__main__":
    main()
