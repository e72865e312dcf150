"""The report step: the run report, after evaluation."""

from __future__ import annotations

from tritter.jobs.settings import prepare
from tritter.report import stage
from tritter.report.config import ReportConfig


def report(settings: str, evaluated: str) -> str:
    """Returns the report folder (`evaluated` only orders the step after evaluation)."""
    del evaluated
    made = ReportConfig(run=prepare(settings).run_root)
    stage.run(made)
    return stage.output_of(made)
