"""The report stage: the run folder → report/ (`tritter report`).

Collect the run, draw the plots, write HTML + Markdown + JSON + PNGs, then the manifest. The
report depends on the manifests it read (by fingerprint), the number of metrics records (a run
still training adds some) and its settings: a relaunch that finds the same is a no-op.
"""

from __future__ import annotations

import json
import tempfile
from pathlib import Path

from tritter import config as config_module
from tritter import log, manifest, storage
from tritter.report.build import build
from tritter.report.collect import collect
from tritter.report.config import ReportConfig
from tritter.report.plots import make_plots
from tritter.report.render import html_page, markdown
from tritter.run_folder import (
    REPORT_MANIFEST,
    Nothing,
    ReportCounts,
    ReportInputs,
    ReportManifest,
    RunFolder,
)

_log = log.get_logger("report")


def fingerprint(config: ReportConfig, inputs: ReportInputs) -> str:
    return REPORT_MANIFEST.fingerprint(config, inputs)


def is_done(output: str) -> ReportManifest | None:
    return REPORT_MANIFEST.read(output)


def output_of(config: ReportConfig) -> str:
    return config.output or RunFolder(config.run).report


def run(config: ReportConfig) -> tuple[ReportManifest, list[str]]:
    """Write the report; returns its manifest and the warnings met while collecting the run."""
    data = collect(config.run)
    output = output_of(config)
    inputs = ReportInputs(
        run=data.root,
        manifests={name: m.fingerprint for name, m in sorted(data.manifests.items())},
        metrics_records=data.metrics_records,
    )
    expected = fingerprint(config, inputs)
    existing = REPORT_MANIFEST.current(output, expected)
    if existing is not None:
        log.event(_log, "report up to date: nothing to do", output=output)
        return existing, data.warnings
    storage.ensure_writable(output)
    with tempfile.TemporaryDirectory(prefix="tritter-report-") as tmp:
        folder = Path(tmp)
        plots = make_plots(data.metrics, folder)
        report = build(data, plots)
        report.title = config.title
        (folder / "report.md").write_text(markdown(report), encoding="utf-8")
        (folder / "report.html").write_text(html_page(report, folder), encoding="utf-8")
        (folder / "report.json").write_text(
            json.dumps(report.data, indent=2, sort_keys=True, default=str) + "\n", "utf-8"
        )
        # The old manifest goes first: a half-replaced folder must not look finished.
        storage.delete(manifest.manifest_uri(output))
        files = []
        for path in sorted(folder.iterdir()):
            uri = storage.join(output, path.name)
            storage.upload_file(path, uri)
            files.append(manifest.file_entry(output, uri, sha256=storage.sha256_file(path)))
    result = manifest.Manifest(
        stage=REPORT_MANIFEST.stage,
        fingerprint=expected,
        inputs=inputs,
        config=config_module.dump(config),
        counts=ReportCounts(
            sections=len(report.sections), plots=len(plots), warnings=len(data.warnings)
        ),
        files=files,
        extra=Nothing(),
    )
    manifest.write_manifest(output, result)
    log.event(_log, "report written", output=output, plots=len(plots), warnings=len(data.warnings))
    return result, data.warnings
