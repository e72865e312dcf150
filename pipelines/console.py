"""What `tritter run` shows while KFP's local runner executes a pipeline.

KFP's SubprocessRunner prints everything: its own task lines, every step's executor JSON and
every log record of every step — over a thousand lines for the demo. The console keeps all of it
in a raw log file and shows a person only what they want to follow:

* one line when a stage starts and one when it ends (units done for a fan-out, its duration, a
  key figure read from the stage's manifest in the run folder);
* training's progress line (rewritten in place on a terminal, every tenth of the run
  otherwise);
* warnings and errors the steps log;
* at the end, a table of every stage with its time and result.

The steps log one JSON object per line (`TRITTER_LOG_FORMAT=json`, set for the run), so their
records are parsed rather than guessed at; KFP's own lines are matched by their fixed wording.
"""

from __future__ import annotations

import json
import re
import threading
import time
from dataclasses import dataclass, field
from typing import Any, TextIO

from tritter import run_folder, storage
from tritter.manifest import Contract, OneOf
from tritter.report.stage_summary import summarize

_ANSI = re.compile(r"\x1b\[[0-9;]*m")
_KFP_LINE = re.compile(r"\d\d:\d\d:\d\d\.\d+ - [A-Z]+ - (.*)$")
_STARTED = re.compile(r"^Executing task '([^']+)'")
_FINISHED = re.compile(r"^Task '([^']+)' finished with status (\w+)")
_PIPELINE = re.compile(r"^Running pipeline: '([^']+)'")
# A step's executor writes its outputs last: one line per unit that succeeded. KFP 2.17's own
# "Task … finished with status SUCCESS" line is sometimes missing for one unit of a fan-out
# whose units end together, so successes are counted from these lines (failures from KFP's).
_WROTE = re.compile(r"Wrote executor output file to \S*/([a-z0-9-]+)/executor_output\.json")
_ERROR = re.compile(r"TritterError: (.+)$")


# Stage (its last task) → the run-folder part it writes and that part's manifest contract. Tasks
# not listed are the inner steps of a fan-out; their line shows units and time only.
STAGE_FOLDERS: dict[str, tuple[str, Contract | OneOf]] = {
    "curate-finalize": (run_folder.CURATED, run_folder.CURATE_MANIFEST),
    "tokenizer-train": (run_folder.TOKENIZER, run_folder.TOKENIZER_OUTPUT),
    "pack-finalize": (run_folder.TOKENS, run_folder.PACK_MANIFEST),
    "pretrain": (run_folder.CHECKPOINTS, run_folder.PRETRAIN_MANIFEST),
    "evaluate": (run_folder.EVAL, run_folder.EVALUATE_MANIFEST),
    "synth-identity": (run_folder.SYNTH_IDENTITY, run_folder.SYNTH_IDENTITY_MANIFEST),
    "synth-docstrings": (run_folder.SYNTH_DOCSTRINGS, run_folder.SYNTH_DOCSTRINGS_MANIFEST),
    "mid": (run_folder.MID, run_folder.MID_MANIFEST),
    "sft": (run_folder.SFT, run_folder.SFT_MANIFEST),
    "dpo": (run_folder.DPO, run_folder.DPO_MANIFEST),
    "rl": (run_folder.RL, run_folder.RL_MANIFEST),
}
_REPORTS = ("report", "report-posttrain")


@dataclass
class Stage:
    name: str
    started: float
    ended: float = 0.0
    units: int = 0  # instances started (a fan-out runs one per unit)
    done: int = 0
    failed: bool = False
    result: str = ""

    @property
    def seconds(self) -> float:
        return (self.ended or time.monotonic()) - self.started


@dataclass
class RunConsole:
    """A text stream KFP's output is redirected to (`write`/`flush`), writing the raw text to
    `raw` and the readable lines to `out`."""

    out: TextIO
    raw: TextIO
    run_root: str
    verbose: bool = False
    interactive: bool = False  # `out` is a terminal: progress is rewritten in place
    stages: list[Stage] = field(default_factory=list)
    last_error: str | None = None
    _partial: str = ""
    _pending: list[Stage] = field(default_factory=list)  # ended, line not shown yet
    _progress_shown: bool = False
    _progress_fraction: float = -1.0
    _lock: threading.RLock = field(default_factory=threading.RLock)
    _handling: bool = False

    # -- the stream interface -------------------------------------------------------------------

    def write(self, text: str) -> int:
        # KFP runs a fan-out's tasks in threads that all print here: one writer at a time, or
        # their partial lines interleave.
        with self._lock:
            self.raw.write(_ANSI.sub("", text))  # a file read in an editor: no colour codes
            if self.verbose:
                self.out.write(text)
            if self._handling:
                # Written while a line is being handled (reading a manifest from S3 logs through
                # the root logger, which KFP points here): the raw log keeps it, nothing more.
                return len(text)
            self._handling = True
            try:
                self._partial += text
                *lines, self._partial = self._partial.split("\n")
                for line in lines:
                    self._line(_ANSI.sub("", line).strip())
            finally:
                self._handling = False
        return len(text)

    def flush(self) -> None:
        self.raw.flush()
        self.out.flush()

    def isatty(self) -> bool:
        return False

    # -- lines ------------------------------------------------------------------------------------

    def _line(self, line: str) -> None:
        found = _ERROR.search(line)
        if found:
            self.last_error = found.group(1).strip()
        wrote = _WROTE.search(line)
        if wrote:
            self._finished(wrote.group(1), True)
            return
        kfp = _KFP_LINE.search(line)
        if kfp:
            self._kfp(kfp.group(1))
        elif line.startswith("{") and '"logger"' in line:
            try:
                record = json.loads(line)
            except ValueError:
                return
            if isinstance(record, dict):
                self._record(record)

    def _kfp(self, message: str) -> None:
        if match := _PIPELINE.match(message):
            self._flush_pending()
            self._show(f"{match.group(1)}")
        elif match := _STARTED.match(message):
            self._started(match.group(1))
        elif (match := _FINISHED.match(message)) and match.group(2) != "SUCCESS":
            self._finished(match.group(1), False)

    def _record(self, record: dict[str, Any]) -> None:
        level = str(record.get("level", ""))
        if level in ("warning", "error", "critical"):
            self._show(f"  ! {record.get('msg', '')}")
        elif "eta_s" in record and "step" in record:
            self._progress(record)

    # -- stages -----------------------------------------------------------------------------------

    def _stage(self, name: str) -> Stage | None:
        return next((s for s in reversed(self.stages) if s.name == name), None)

    def _started(self, name: str) -> None:
        stage = self._stage(name)
        if stage is not None and stage in self._pending:
            self._pending.remove(stage)  # one more unit of a fan-out: not finished after all
            stage.ended = 0.0
        elif stage is None or stage.ended:
            self._flush_pending()
            stage = Stage(name, time.monotonic())
            self.stages.append(stage)
            self._show(f"→ {name}")
        stage.units += 1

    def _finished(self, name: str, success: bool) -> None:
        stage = self._stage(name)
        if stage is None:
            return
        stage.done += 1
        stage.failed = stage.failed or not success
        if stage.done >= stage.units:
            stage.ended = time.monotonic()
            stage.result = "failed" if stage.failed else self._figure(name)
            self._pending.append(stage)
            if stage.failed:
                self._flush_pending()

    def _figure(self, name: str) -> str:
        """The stage's key figure from its manifest; never fails the run."""
        run = run_folder.RunFolder(self.run_root)
        if name in _REPORTS:
            return storage.join(run.report, "report.html")
        if name == "evaluate-sft":  # the post-trained model's: rl/eval or dpo/eval when run
            done = [p for p in (run_folder.RL_EVAL, run_folder.DPO_EVAL, run_folder.SFT_EVAL)
                    if storage.exists(storage.join(run.part(p), "_manifest.json"))]  # fmt: skip
            summary = summarize(run_folder.EVALUATE_MANIFEST, run.part(done[0])) if done else None
            return summary.figure if summary else ""
        if name not in STAGE_FOLDERS:
            return ""
        part, contract = STAGE_FOLDERS[name]
        summary = summarize(contract, run.part(part))
        return summary.figure if summary else ""

    def _flush_pending(self) -> None:
        for stage in self._pending:
            mark = "✗" if stage.failed else "✓"
            units = f" {stage.done}/{stage.units} units," if stage.units > 1 else ""
            figure = f"  {stage.result}" if stage.result else ""
            self._show(f"{mark} {stage.name}{units} {stage.seconds:.1f} s{figure}")
        self._pending.clear()

    def _progress(self, record: dict[str, Any]) -> None:
        message = str(record.get("msg", ""))
        total = re.match(r"step (\d+)/(\d+)", message)
        fraction = int(total.group(1)) / max(int(total.group(2)), 1) if total else 0.0
        if self.interactive:
            self.out.write(f"\r\x1b[2K  {message}")
            self.out.flush()
            self._progress_shown = True
        elif fraction >= self._progress_fraction + 0.1 or fraction >= 1.0:
            self._progress_fraction = fraction
            self._show(f"  {message}")

    def _show(self, line: str) -> None:
        if self.verbose:
            return
        if self._progress_shown:
            self.out.write("\r\x1b[2K")
            self._progress_shown = False
        self.out.write(line + "\n")
        self.out.flush()

    # -- the end ----------------------------------------------------------------------------------

    def close(self) -> None:
        """Show the stages that ended last (the pipeline is over)."""
        if self._partial:
            self._line(_ANSI.sub("", self._partial).strip())
            self._partial = ""
        for stage in self.stages:
            if not stage.ended:
                stage.ended = time.monotonic()
        self._flush_pending()
        self._progress_fraction = -1.0

    def summary(self) -> str:
        """A table of every stage: name, units, time and result."""
        rows = [
            (s.name, f"{s.done}/{s.units}" if s.units > 1 else "", f"{s.seconds:.1f} s",
             "failed" if s.failed else (s.result or "done"))
            for s in self.stages
        ]  # fmt: skip
        header = ("stage", "units", "time", "result")
        widths = [max(len(r[i]) for r in [header, *rows]) for i in range(3)]
        lines = []
        for row in [header, *rows]:
            cells = [row[i].ljust(widths[i]) for i in range(3)]
            lines.append("  ".join([*cells, row[3]]).rstrip())
        return "\n".join(lines)
