"""Run the hostile programs through a Sandbox from an unprivileged process; print JSON.

    setpriv --reuid U --regid U --clear-groups --no-new-privs \\
        python -m tests.evaluate.sandbox_driver '<json request>'

The request: {"isolation": ..., "context": {...} | null, "block": [...], "landlock_abi_cap": N,
"interpreter": path, "extra": [source, ...]}.
`block` installs a seccomp filter on the driver first, the way a container runtime's default
profile does: "namespaces" refuses unshare/setns/clone(CLONE_NEW*) (so the namespace isolation
is unavailable, as in the shipped pod), "landlock" makes landlock_create_ruleset answer ENOSYS
(a kernel without Landlock). The driver stands in for the evaluator: the planted secret is in its
environment, its pid is the context's `evaluator`, and after the programs ran it lists the
processes of its uid still alive besides itself (none may be).
"""

from __future__ import annotations

import json
import os
import platform
import struct
import subprocess
import sys
import time

from tritter.evaluate import confine


def _block(what: list[str]) -> None:
    nr = confine.SYSCALLS[platform.machine()]
    eperm = confine.RET_ERRNO | 1
    insns = [(confine.LD_W_ABS, 0, 0, 0)]
    if "namespaces" in what:
        for name in ("unshare", "setns"):
            insns += [(confine.JEQ, 0, 1, nr[name]), (confine.RET, 0, 0, eperm)]
        insns += [
            (confine.JEQ, 0, 4, nr["clone"]),
            (confine.LD_W_ABS, 0, 0, 16),
            (confine.JSET, 0, 1, confine.CLONE_NEW_ANY),
            (confine.RET, 0, 0, eperm),
            (confine.RET, 0, 0, confine.RET_ALLOW),
        ]
    if "landlock" in what:
        insns += [
            (confine.JEQ, 0, 1, confine.LANDLOCK_CREATE_RULESET),
            (confine.RET, 0, 0, confine.RET_ERRNO | 38),  # ENOSYS
        ]
    insns.append((confine.RET, 0, 0, confine.RET_ALLOW))
    confine.set_no_new_privs()
    confine.install_seccomp(b"".join(struct.pack("=HBBI", *insn) for insn in insns))


def _survivors(patience: float = 3.0) -> list[str]:
    """Processes of this uid besides the driver. A process sent SIGKILL runs no more code but
    takes a moment to exit, so this waits up to `patience` seconds for them to go."""
    import psutil

    me, uid = os.getpid(), os.getuid()
    deadline = time.monotonic() + patience
    while True:
        found = []
        for process in psutil.process_iter():
            try:
                mine = process.pid != me and process.uids().real == uid
                if mine and process.status() != psutil.STATUS_ZOMBIE:
                    found.append(f"{process.pid} {process.name()} {process.status()}")
            except psutil.NoSuchProcess:
                continue
        if not found or time.monotonic() > deadline:
            return found
        time.sleep(0.05)


def main() -> None:
    request = json.loads(sys.argv[1])
    _block(request.get("block") or [])
    from tests.evaluate import sandbox_hostile
    from tritter.errors import TritterError
    from tritter.evaluate.config import SandboxConfig
    from tritter.evaluate.sandbox import Sandbox

    class Driven(Sandbox):
        interpreter = request.get("interpreter") or sys.executable
        _landlock_abi_cap = request.get("landlock_abi_cap")

    config = SandboxConfig(
        isolation=request["isolation"], workers=2, timeout_seconds=sandbox_hostile.TIMEOUT
    )
    try:
        sandbox = Driven(config)
    except TritterError as err:
        print(json.dumps({"error": str(err)}))
        return
    out: dict = {"isolation": sandbox.isolation, "protections": sandbox.protections}
    if request.get("context"):
        # The secret comes from the environment only: on the command line it would be in
        # /proc/<driver>/cmdline, which any process may read (no credentials on command lines).
        secret = os.environ["AWS_SECRET_ACCESS_KEY"]
        bystander = subprocess.Popen(["sleep", "300"], env={"AWS_SECRET_ACCESS_KEY": secret})
        context = sandbox_hostile.Context(
            **request["context"], secret=secret, evaluator=os.getpid(), bystander=bystander.pid
        )
        sources = sandbox_hostile.programs(context)
        names = list(sources)
        results = {}
        for index, execution in sandbox.run_many(sources[name] for name in names):
            results[names[index]] = [execution.status, execution.reason]
        out["results"] = results
        out["evaluator"], out["bystander"] = os.getpid(), bystander.pid
        bystander.kill()
        bystander.wait()
        out["survivors"] = _survivors()
        out["good_after"] = sandbox.run("assert sum(range(10)) == 45\n").passed
    for source in request.get("extra") or []:
        execution = sandbox.run(source)
        out.setdefault("extra", []).append([execution.status, execution.reason])
    out["uid"] = os.getuid()
    out["secret_still_set"] = "AWS_SECRET_ACCESS_KEY" in os.environ
    print(json.dumps(out))


if __name__ == "__main__":
    main()
