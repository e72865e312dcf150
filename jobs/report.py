"""The report steps: the run report, after evaluation (both pipelines write `<run_root>/report`;
it shows every stage the run folder holds, post-training included)."""

from __future__ import annotations

from tritter.deploy.params import RunParams
from tritter.jobs.settings import prepare, prepare_posttrain
from tritter.report import stage
from tritter.report.config import ReportConfig


def _report(params: RunParams) -> str:
    made = ReportConfig(run=params.run_root)
    stage.run(made)
    return stage.output_of(made)


def report(settings: str, evaluated: str) -> str:
    """Returns the report folder (`evaluated` only orders the step after evaluation)."""
    del evaluated
    return _report(prepare(settings))


def report_posttrain(settings: str, evaluated: str) -> str:
    """`report` for `tritter-posttrain`."""
    del evaluated
    return _report(prepare_posttrain(settings))
