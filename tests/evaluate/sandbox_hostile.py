"""Hostile programs for the sandbox, shared by the in-process tests and the non-root driver.

Each program reports what it managed through its failure reason (or dies), so one checker serves
every isolation mode and both sides of the uid boundary. `Context` names what there is to steal
or hit: a planted secret, a loopback listener, a writable directory and a readable file outside
the work directory (writable/readable for the program's uid, so only the sandbox stops it), the
evaluator's pid, and a process name marking daemons that must not outlive their sample.
"""

from __future__ import annotations

import textwrap
from dataclasses import asdict, dataclass

TIMEOUT = 3.0
GHOST_DELAY = 1.5  # seconds the daemonized grandchild waits before writing its file


@dataclass(frozen=True)
class Context:
    secret: str
    port: int
    outside_dir: str  # writable by the program's uid (so only the sandbox can stop a write)
    secret_file: str  # readable by the program's uid, outside the work directory
    evaluator: int  # pid of the process that runs the Sandbox
    marker: str  # process name (comm, <= 15 chars) of the daemon that must die with its sample
    # A process of the same uid with the secret in its environment that is not the evaluator
    # (in a pod: KFP's launcher, the evaluator's parent); 0: none
    bystander: int = 0

    def to_dict(self) -> dict:
        return asdict(self)


def _src(text: str) -> str:
    return textwrap.dedent(text).lstrip()


def programs(ctx: Context) -> dict[str, str]:
    """name -> source. The expectations are in `check`."""
    ghost_file = f"{ctx.outside_dir}/ghost.txt"
    return {
        "infinite_loop": "while True:\n    pass\n",
        "sleep_forever": "import time\ntime.sleep(3600)\n",
        "fork_bomb": _src("""
            import os
            while True:
                try:
                    os.fork()
                except OSError:
                    pass
            """),
        # The daemon: a setsid grandchild that outlives the sample and writes later.
        "daemon_grandchild": _src(f"""
            import ctypes, os, time
            if os.fork() == 0:
                try:
                    os.setsid()
                except OSError:
                    pass
                if os.fork() == 0:
                    ctypes.CDLL(None).prctl(15, {ctx.marker.encode()!r}, 0, 0, 0)
                    time.sleep({GHOST_DELAY})
                    for path in ({ghost_file!r}, "ghost.txt"):
                        try:
                            open(path, "w").write("alive")
                        except OSError:
                            pass
                    time.sleep(3600)
                os._exit(0)
            time.sleep(0.3)
            """),
        "memory_hog": "blob = bytearray(8 * 1024 ** 3)\n",
        "memory_grow": "chunks = []\nwhile True:\n    chunks.append(bytearray(16 * 1024 ** 2))\n",
        "write_outside": _src(f"""
            import os
            wrote = []
            for path in ({ctx.outside_dir + "/escape.txt"!r}, "/tmp/{ctx.marker}-escape",
                         "/var/tmp/{ctx.marker}-escape", "/etc/{ctx.marker}-escape"):
                try:
                    with open(path, "w") as handle:
                        handle.write("pwned")
                    wrote.append(path)
                except OSError:
                    pass
            with open("scratch.txt", "w") as handle:  # its own directory stays writable
                handle.write("ok")
            assert open("scratch.txt").read() == "ok"
            raise RuntimeError(f"wrote {{wrote}}")
            """),
        "read_outside": _src(f"""
            got = []
            token = "/var/run/secrets/kubernetes.io/serviceaccount/token"
            for path in ({ctx.secret_file!r}, token):
                try:
                    got.append(open(path).read())
                except OSError:
                    pass
            raise RuntimeError("read it" if got else "read nothing")
            """),
        "env_secrets": _src(f"""
            import os
            secret = {ctx.secret!r}
            allowed = {{"PATH", "LANG", "LC_ALL", "HOME", "TMPDIR"}}
            assert set(os.environ) <= allowed, sorted(os.environ)
            found = []
            try:
                pids = os.listdir("/proc")
            except OSError:
                pids = []
            targets = {{"{ctx.evaluator}", "{ctx.bystander}", str(os.getppid())}} - {{"0"}}
            for pid in set(pids) | targets:
                for leaf in ("environ", "cmdline", "mem"):
                    try:
                        with open(f"/proc/{{pid}}/{{leaf}}", "rb") as handle:
                            if secret.encode() in handle.read(1 << 20):
                                found.append(f"{{pid}}/{{leaf}}")
                    except (OSError, ValueError):
                        pass
            raise RuntimeError(f"leaked {{found}}" if found else "nothing to steal")
            """),
        "ptrace_evaluator": _src(f"""
            import ctypes, os
            libc = ctypes.CDLL(None, use_errno=True)
            got = []
            buffer = ctypes.create_string_buffer(8)
            local = (ctypes.c_void_p * 2)(ctypes.addressof(buffer), 8)
            remote = (ctypes.c_void_p * 2)(4096, 8)
            for pid in ({ctx.evaluator}, os.getppid()):
                if libc.ptrace(16, pid, 0, 0) == 0:  # PTRACE_ATTACH
                    got.append(f"ptrace {{pid}}")
                # process_vm_readv: EPERM/ESRCH when refused, EFAULT when allowed (bad address)
                libc.process_vm_readv(pid, local, 1, remote, 1, 0)
                if ctypes.get_errno() not in (1, 3):
                    got.append(f"process_vm_readv {{pid}}: errno {{ctypes.get_errno()}}")
            raise RuntimeError(f"attached {{got}}" if got else "no access")
            """),
        "network": _src(f"""
            import socket
            reached = []
            attempts = {{
                "tcp": lambda: socket.create_connection(("127.0.0.1", {ctx.port}), timeout=2)
                .sendall(b"stolen"),
                "udp": lambda: socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
                .sendto(b"x", ("127.0.0.1", {ctx.port})),
                "dns": lambda: socket.getaddrinfo("pypi.org", 443),
                "unix": lambda: socket.socket(socket.AF_UNIX).connect("\\0tritter-test"),
                "netlink": lambda: socket.socket(socket.AF_NETLINK, socket.SOCK_RAW, 0),
            }}
            for name, attempt in attempts.items():
                try:
                    attempt()
                    reached.append(name)
                except OSError:
                    pass
            raise RuntimeError(f"reached {{reached}}")
            """),
        "kill_everything": _src(f"""
            import os, signal
            for target in (os.getppid(), {ctx.evaluator}, 1, -1):
                try:
                    os.kill(target, signal.SIGKILL)
                except OSError:
                    pass
            try:
                os.killpg(os.getpgid(0), signal.SIGKILL)
            except OSError:
                pass
            raise RuntimeError("still here")
            """),
        "output_flood": "while True:\n    print('x' * 65536)\n",
        "huge_file": "with open('big.bin', 'wb') as f:\n    f.write(b'0' * (64 * 1024 ** 2))\n",
        "forge_channel": _src("""
            import os
            for fd in range(3, 20):
                try:
                    os.write(fd, b'{"event": "setup_error", "reason": "forged"}\\n' * 100)
                except OSError:
                    pass
            raise RuntimeError("done")
            """),
        "not_root": "import os\nassert os.getuid() != 0 and os.geteuid() != 0, os.getuid()\n",
    }


# Containment that even "unsafe-rlimits-only" owes (resource limits, seccomp, never root, the
# process group); the file-system rows are what only "namespaces" and "landlock" promise (the
# caller checks what "unsafe-rlimits-only" does to env_secrets: the evaluator itself is safe).
FILESYSTEM_ONLY = {"write_outside", "read_outside", "env_secrets"}


def check(name: str, status: str, reason: str, isolation: str) -> None:
    """Assert that program `name` was contained (AssertionError naming it otherwise)."""
    what = f"{name} under {isolation}: {status} {reason!r}"
    if isolation == "unsafe-rlimits-only" and name in FILESYSTEM_ONLY:
        return
    expected = {
        "infinite_loop": lambda: status == "timeout" and "time limit" in reason,
        "sleep_forever": lambda: status == "timeout" and "wall time limit" in reason,
        "fork_bomb": lambda: status in ("failed", "timeout"),
        "daemon_grandchild": lambda: True,  # survivors are checked by the caller
        "memory_hog": lambda: status == "failed" and "MemoryError" in reason,
        "memory_grow": lambda: status == "failed" and "MemoryError" in reason,
        "write_outside": lambda: reason == "RuntimeError: wrote []",
        "read_outside": lambda: reason == "RuntimeError: read nothing",
        "env_secrets": lambda: reason == "RuntimeError: nothing to steal",
        "ptrace_evaluator": lambda: reason == "RuntimeError: no access",
        "network": lambda: reason == "RuntimeError: reached []",
        "kill_everything": lambda: reason in ("RuntimeError: still here", "killed by SIGKILL"),
        "output_flood": lambda: status == "timeout",
        "huge_file": lambda: "File too large" in reason or "file size limit" in reason,
        "forge_channel": lambda: status == "failed",
        "not_root": lambda: status == "passed",
    }[name]
    assert expected(), what
