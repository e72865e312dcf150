"""What a step shows in the Kubeflow run view: a Markdown summary of its stage, its numbers as
a Metrics artifact ("Compare runs" lines them up across runs), and the run report as HTML."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from tritter import run_folder, storage
from tritter.report.stage_summary import summarize

_CONTRACTS: dict[str, Any] = {contract.stage: contract for contract in run_folder.STAGES}
_CONTRACTS["tokenizer"] = run_folder.TOKENIZER_OUTPUT  # trained or imported


def publish(stage: str, folder: str, summary_path: str, metrics: Any) -> None:
    """Write the stage's summary to `summary_path` and log its numbers on `metrics` (a KFP
    `Metrics` artifact). A stage without a summary still gets a line saying where it wrote."""
    found = summarize(_CONTRACTS[stage], folder)
    text = found.markdown() if found else f"### {stage}\n\n"
    Path(summary_path).parent.mkdir(parents=True, exist_ok=True)
    Path(summary_path).write_text(f"{text}\nOutput: `{folder}`\n", encoding="utf-8")
    for name, value in (found.metrics if found else {}).items():
        metrics.log_metric(name, float(value))


def publish_report(report_folder: str, page_path: str) -> None:
    """The run report's HTML page (plots inline) as the step's HTML artifact."""
    Path(page_path).parent.mkdir(parents=True, exist_ok=True)
    storage.download_file(storage.join(report_folder, "report.html"), Path(page_path))
