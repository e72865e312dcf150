"""Compiling and running Rust programs in the evaluation sandbox (MultiPL-E's Rust problems).

`rustc` is looked up on PATH, then in `~/.cargo/bin` (rustup's place); without it the task stops
with one line naming the tool and where to get it. A rustup proxy cannot run in the sandbox (it
wants its home), so the compiler used is the toolchain's own binary, `<sysroot>/bin/rustc`, and
the sysroot — which may sit where the sandbox uid cannot enter, like `/root/.rustup` — is exposed
to programs read-only (`Sandbox(expose=...)`).

Each sample is one sandboxed Python program (`RustRunner.program`): it writes `main.rs`, runs
`rustc --edition <edition> -C codegen-units=1 -o main main.rs`, then `./main`. A compile failure
raises `CompileError: <rustc's first error line>` (the sample's status becomes `compile_error`),
a non-zero exit `RunError: exit status N: <the panic message>`; exit 0 passes — if `main` got to
its end: the runner adds a `println!` of a random marker as `main`'s last statement and a
program that exits 0 without printing it (`std::process::exit(0)` in the candidate, before the
asserts ran) fails, as the Python harness fails `sys.exit(0)`. Both steps run inside the same
limits — the compiler too is untrusted input's first reader (`include_str!` of a host file, a
huge const evaluation).

Limits (`--rust.*`, `RustConfig`): rustc and the linker need more than a Python test. Measured
with rustc 1.95 on the shipped sample: a small program compiles in ~0.2–1 s with ~100 MB
resident, but the compiler's threads and the linker processes count against RLIMIT_NPROC, its
address-space reservations against RLIMIT_AS, and the build's objects against the work
directory. Defaults: 30 s of wall-clock time per sample (compile and run together) and of CPU
per process, 2048 MiB address space per process, 32 processes/threads, 256 MiB work directory,
64 MiB per file.
`-C codegen-units=1` keeps the compiler to one code-generation thread whatever the machine's
core count. The edition defaults to 2021 (MultiPL-E's harness calls plain `rustc`, i.e. 2015;
completions from current models are written for 2021).
"""

from __future__ import annotations

import os
import secrets
import shutil
import subprocess
from dataclasses import dataclass

from tritter.errors import TritterError
from tritter.evaluate.config import RustConfig, SandboxConfig
from tritter.evaluate.sandbox import Execution, Sandbox

COMPILE_ERROR = "CompileError:"
_PROBE = (
    "fn main() {\n    let v: Vec<i64> = (1..=4).collect();\n"
    "    assert_eq!(v.iter().sum::<i64>(), 10);\n}\n"
)
_MISSING = (
    "multipl-e-rust needs rustc: not found on PATH or in ~/.cargo/bin (install the Debian "
    "package rustc, or rustup)"
)

# The program the sandbox runs for each sample (SOURCE, RUSTC, SYSROOT, EDITION, END
# prepended).
_RUNNER = '''
import subprocess


class CompileError(Exception):
    """rustc rejected the program."""


class RunError(Exception):
    """The compiled program failed."""


def _lines(data):
    return [line.strip() for line in data.decode("utf-8", "replace").splitlines() if line.strip()]


with open("main.rs", "w", encoding="utf-8") as handle:
    handle.write(SOURCE)
built = subprocess.run(
    [RUSTC, "--sysroot", SYSROOT, "--edition", EDITION, "-C", "codegen-units=1", "-o", "main",
     "main.rs"],
    stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
)
if built.returncode != 0:
    lines = _lines(built.stderr)
    errors = [line for line in lines if line.startswith("error")]
    raise CompileError((errors or lines or ["rustc exit status %d" % built.returncode])[0])
with open("stdout.txt", "wb") as out, open("stderr.txt", "wb") as err:
    ran = subprocess.run(["./main"], stdin=subprocess.DEVNULL, stdout=out, stderr=err)
if ran.returncode != 0:
    with open("stderr.txt", "rb") as err:
        lines = [line for line in _lines(err.read(4096)) if not line.startswith("note:")]
    start = next((i for i, line in enumerate(lines) if "panicked" in line), 0)
    detail = " ".join(lines[start:start + 4])
    status = ("signal %d" % -ran.returncode) if ran.returncode < 0 else str(ran.returncode)
    raise RunError("exit status %s: %s" % (status, detail or "no message"))
if END:
    with open("stdout.txt", "rb") as out:
        out.seek(0, 2)
        out.seek(max(0, out.tell() - 4096))
        if END.encode() not in out.read():
            raise RunError("exit status 0 before the end of main")
'''


@dataclass(frozen=True)
class Toolchain:
    rustc: str  # the compiler binary itself, <sysroot>/bin/rustc (never a rustup proxy)
    sysroot: str
    version: str


def find_rustc() -> str:
    """The `rustc` command: on PATH, else in ~/.cargo/bin; a one-line error when neither."""
    found = shutil.which("rustc") or shutil.which(
        "rustc", path=os.path.expanduser(os.path.join("~", ".cargo", "bin"))
    )
    if found is None:
        raise TritterError(_MISSING)
    return found


def find_toolchain() -> Toolchain:
    """rustc, its sysroot and version (asked from the host's rustc: no user input involved)."""
    command = find_rustc()
    try:
        sysroot = _ask(command, "--print", "sysroot")
        version = _ask(command, "--version")
    except (OSError, subprocess.SubprocessError) as err:
        raise TritterError(f"{command}: rustc does not run ({err})") from err
    binary = os.path.join(sysroot, "bin", "rustc")
    if not os.access(binary, os.X_OK):
        binary = os.path.realpath(command)
    return Toolchain(rustc=binary, sysroot=sysroot, version=version)


def _ask(command: str, *args: str) -> str:
    done = subprocess.run(
        [command, *args], capture_output=True, text=True, timeout=120, check=False,
        stdin=subprocess.DEVNULL,
    )  # fmt: skip
    if done.returncode != 0:
        last = (done.stderr.strip().splitlines() or [f"exit status {done.returncode}"])[-1]
        raise TritterError(f"{command} {' '.join(args)}: {last}")
    return done.stdout.strip()


def sandbox_limits(sandbox: SandboxConfig, rust: RustConfig) -> SandboxConfig:
    """The evaluation's sandbox settings with the Rust limits in place of the Python ones."""
    return sandbox.model_copy(
        update={
            "timeout_seconds": rust.timeout_seconds,
            "memory_mb": rust.memory_mb,
            "max_processes": rust.max_processes,
            "workdir_mb": rust.workdir_mb,
            "max_file_mb": rust.max_file_mb,
        }
    )


@dataclass(frozen=True)
class RustRunner:
    """Builds the sandboxed program that compiles and runs one Rust source."""

    rustc: str  # as programs see it
    sysroot: str  # as programs see it
    edition: str
    version: str  # `rustc --version` on the host

    def program(self, source: str) -> str:
        """The sandboxed program for one Rust source whose last `}` closes `main`."""
        end = ""
        body = source.rstrip()
        if body.endswith("}"):  # the marker becomes main's last statement
            end = f"tritter-end-of-main-{secrets.token_hex(8)}"
            source = f'{body[:-1].rstrip()}\n    println!("{end}");\n}}\n'
        header = (
            f"SOURCE = {source!r}\nRUSTC = {self.rustc!r}\nSYSROOT = {self.sysroot!r}\n"
            f"EDITION = {self.edition!r}\nEND = {end!r}\n"
        )
        return header + _RUNNER


def open_runner(sandbox: SandboxConfig, rust: RustConfig) -> tuple[Sandbox, RustRunner]:
    """A sandbox with the Rust limits that can see the toolchain, and the runner for it —
    checked by compiling and running a small program, so a toolchain that cannot work in the
    sandbox is one line before the model loads, not a column of failed samples."""
    toolchain = find_toolchain()
    box = Sandbox(sandbox_limits(sandbox, rust), expose=[toolchain.sysroot])
    runner = RustRunner(
        rustc=box.visible_path(toolchain.rustc),
        sysroot=box.visible_path(toolchain.sysroot),
        edition=rust.edition,
        version=toolchain.version,
    )
    probe = box.run(runner.program(_PROBE))
    if not probe.passed:
        raise TritterError(
            f"multipl-e-rust: {toolchain.rustc} cannot build and run a program in the sandbox "
            f"({probe.status}: {probe.reason}); the sandbox uid must be able to read the "
            "toolchain (namespace isolation exposes it; otherwise install the Debian package "
            "rustc) and --rust.* sets its limits"
        )
    return box, runner


def verdict(execution: Execution) -> tuple[str, str]:
    """A program rustc rejected is a `compile_error`; everything else as the sandbox says."""
    if execution.status == "failed" and execution.reason.startswith(COMPILE_ERROR):
        return "compile_error", execution.reason
    return execution.status, execution.reason
