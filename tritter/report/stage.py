"""`tritter report`: collect the run, draw the plots, write HTML + Markdown + JSON + PNGs."""

from __future__ import annotations

import json
import tempfile
from pathlib import Path
from typing import Any

from tritter import config as config_module
from tritter import log, manifest, storage
from tritter.report.build import build
from tritter.report.collect import collect
from tritter.report.config import ReportConfig
from tritter.report.plots import make_plots
from tritter.report.render import html_page, markdown

STAGE = "report"
_log = log.get_logger("report")


def run(config: ReportConfig) -> dict[str, Any]:
    """Write the report; returns {"output": URI, "files": [...], "warnings": [...]}."""
    data = collect(config.run)
    output = config.output or storage.join(data.root, "report")
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
    inputs = {
        "run": data.root,
        "manifests": {name: m.fingerprint for name, m in sorted(data.manifests.items())},
        "metrics_records": len(data.metrics),
    }
    settings = config_module.dump(config)
    manifest.write_manifest(
        output,
        manifest.Manifest(
            stage=STAGE,
            fingerprint=manifest.fingerprint(STAGE, inputs, settings),
            inputs=inputs,
            config=settings,
            counts={
                "sections": len(report.sections),
                "plots": len(plots),
                "warnings": len(data.warnings),
            },
            files=files,
        ),
    )
    log.event(_log, "report written", output=output, plots=len(plots), warnings=len(data.warnings))
    return {"output": output, "files": [f.path for f in files], "warnings": data.warnings}
