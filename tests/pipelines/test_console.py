"""The console of `tritter run`, fed the lines KFP's local runner prints (the formats are KFP
2.17's: `HH:MM:SS.mmm - INFO - …` with colour codes, and the steps' JSON records)."""

from __future__ import annotations

import io
import json
import threading

from tritter.pipelines.console import RunConsole


def kfp(message: str) -> str:
    return f"05:00:00.000 - INFO - {message}\n"


def started(task: str) -> str:
    return kfp(f"Executing task \x1b[96m'{task}'\x1b[0m")


def wrote(task: str, iteration: int = 0) -> str:
    """What a unit's executor prints last when it succeeded."""
    folder = f"/tmp/kfp/p/for-loop-1-iteration-{iteration}/{task}"
    return (f"    [KFP Executor 2026-12-01 05:00:00,000 INFO]: Wrote executor output file to "
            f"{folder}/executor_output.json.\n")  # fmt: skip


def finished(task: str, status: str = "SUCCESS") -> str:
    line = kfp(f"Task \x1b[96m'{task}'\x1b[0m finished with status \x1b[92m{status}\x1b[0m")
    return (wrote(task) if status == "SUCCESS" else "") + line


def record(**fields: object) -> str:
    return "        " + json.dumps({"level": "info", "logger": "tritter.x", **fields}) + "\n"


def console(tmp_path) -> tuple[RunConsole, io.StringIO, io.StringIO]:
    out, raw = io.StringIO(), io.StringIO()
    return RunConsole(out, raw, str(tmp_path)), out, raw


def test_fan_out_written_from_threads_is_one_stage_with_its_units(tmp_path):
    shown, out, raw = console(tmp_path)
    shown.write(kfp("Running pipeline: \x1b[95m'tritter-pretrain'\x1b[0m"))

    def unit(index: int) -> None:
        # Lines arrive in pieces, as KFP's indenting print writes them.
        for text in (
            started("curate-index"),
            record(msg=f"unit {index}"),
            finished("curate-index"),
        ):
            for piece in (text[:7], text[7:]):
                shown.write(piece)

    threads = [threading.Thread(target=unit, args=(i,)) for i in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    shown.write(started("curate-apply-units"))
    shown.write(finished("curate-apply-units"))
    shown.close()
    lines = out.getvalue().splitlines()
    assert lines[0] == "tritter-pretrain"
    assert lines[1] == "→ curate-index"
    assert lines[2].startswith("✓ curate-index 8/8 units,")
    assert lines[3] == "→ curate-apply-units" and lines[4].startswith("✓ curate-apply-units")
    assert len(lines) == 5
    assert "\x1b[" not in raw.getvalue() and raw.getvalue().count("Executing task") == 9
    table = shown.summary().splitlines()
    assert table[0].split() == ["stage", "units", "time", "result"]
    assert table[1].split()[:2] == ["curate-index", "8/8"]


def test_warnings_progress_and_the_error_line(tmp_path):
    shown, out, _ = console(tmp_path)
    shown.write(started("pretrain"))
    for step in range(1, 101):
        shown.write(record(msg=f"step {step}/100 loss 1.0", step=step, eta_s=1.0))
    shown.write(record(level="warning", msg="val stream short"))
    shown.write("Traceback (most recent call last):\n  ...\n")
    shown.write("tritter.errors.TritterError: s3://b/run/tokens: no shards\n")
    shown.write(finished("pretrain", "FAILURE"))
    shown.close()
    lines = out.getvalue().splitlines()
    progress = [line for line in lines if line.startswith("  step ")]
    assert 10 <= len(progress) <= 11 and progress[-1] == "  step 100/100 loss 1.0"
    assert "  ! val stream short" in lines
    assert lines[-1].startswith("✗ pretrain") and lines[-1].endswith("failed")
    assert "Traceback" not in out.getvalue()
    assert shown.last_error == "s3://b/run/tokens: no shards"


def test_output_written_while_a_line_is_handled_goes_to_the_raw_log_only(tmp_path):
    """Reading a stage's manifest from S3 logs through the root logger, which KFP points at the
    console: that write happens inside the console's own handling and must not deadlock."""
    shown, out, raw = console(tmp_path)

    def figure(name: str) -> str:
        shown.write("botocore: found credentials in environment variables\n")
        return "1,000 conversations"

    shown._figure = figure  # the manifest read, reduced to the write it causes
    worker = threading.Thread(
        target=lambda: (
            shown.write(started("synth-identity")),
            shown.write(finished("synth-identity")),
        )
    )
    worker.start()
    worker.join(timeout=10)
    assert not worker.is_alive(), "the console deadlocked on a nested write"
    shown.close()
    assert "found credentials" in raw.getvalue() and "found credentials" not in out.getvalue()
    assert out.getvalue().splitlines()[-1].endswith("1,000 conversations")


def test_a_unit_whose_finished_line_kfp_left_out_still_counts(tmp_path):
    """KFP 2.17 sometimes prints no "finished" line for one unit of a fan-out whose units end
    together; its executor's output line is there, and the next stage starts on time."""
    shown, out, _ = console(tmp_path)
    for _ in range(4):
        shown.write(started("pack-shard"))
    for index in range(4):
        shown.write(wrote("pack-shard", index))
        if index != 1:
            shown.write(kfp("Task 'pack-shard' finished with status SUCCESS"))
    shown.write(started("pack-finalize"))
    lines = out.getvalue().splitlines()
    assert lines[1].startswith("✓ pack-shard 4/4 units,"), lines
    assert lines[2] == "→ pack-finalize"
