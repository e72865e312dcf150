from __future__ import annotations

import json
import re
import shutil
import subprocess

from tests.report.sample_run import write_sample_run
from tests.support.real_parts import need_program
from tritter import manifest, storage


def test_report_from_a_full_run(tmp_path, tritter_cli):
    root = write_sample_run(str(tmp_path / "run"))
    result = tritter_cli("report", "--run", root)
    assert result.returncode == 0, result.stderr
    out = tmp_path / "run" / "report"
    names = {p.name for p in out.iterdir()}
    assert {"report.html", "report.md", "report.json", "_manifest.json", "loss.png", "lr.png",
            "throughput.png", "val_bpb.png"} <= names  # fmt: skip

    page = (out / "report.html").read_text()
    # Self-contained: every image inlined, nothing fetched, no scripts.
    assert page.count('src="data:image/png;base64,') == 4
    assert not re.search(r'(src|href)="(https?:|//|file:)', page)
    assert "<script" not in page
    for heading in ("Evaluation", "Training", "Data", "Tokenizer", "Configuration", "Checkpoints"):
        assert f"<h2>{heading}</h2>" in page

    data = json.loads((out / "report.json").read_text())
    targets = {t["key"]: t for t in data["targets"]}
    assert targets["humaneval:pass@1"]["met"] is False
    assert targets["mbpp:pass@1"]["met"] is True
    assert targets["perplexity:python"]["value"] == 2.77 and targets["perplexity:python"]["met"]
    assert targets["perplexity:rust"]["met"] is False
    assert targets["perplexity:docs"]["value"] is None  # not evaluated, not invented
    assert data["training"]["steps"] == 400
    assert data["training"]["tokens"] == 400 * 32768
    assert data["validation"]["step"] == 400
    assert [c["step"] for c in data["checkpoints"] if c["committed"]] == [100, 200, 300, 400]
    assert [c["step"] for c in data["checkpoints"] if not c["committed"]] == [450]
    assert data["final_export"] is True
    assert data["stages"]["eval"] == "complete"
    assert any("skipped 1 unreadable line" in w for w in data["warnings"])

    markdown = (out / "report.md").read_text()
    assert "| HumanEval pass@1 | > 50% | 2.4% | ❌ not met |" in markdown
    assert "| MBPP pass@1 | > 60% | 61.0% | ✅ met |" in markdown
    assert "![Training and validation loss](loss.png)" in markdown
    assert "| license | 1,400 | 11.7% |" in markdown  # dropped by reason, share of input
    assert "| python | 6,100,000 | 50.8% | 53.3% |" in markdown  # mixture realized vs requested
    assert "| rust | 3.462 | 3.481 | 26,000 | 90,500 | 30 |" in markdown  # tokenizer compression

    written = manifest.require_manifest(str(out), "report")
    manifest.verify_files(str(out), written, check_hash=True)
    assert {f.path for f in written.files} == names - {"_manifest.json"}


def test_report_on_a_run_still_training(tmp_path, tritter_cli):
    root = write_sample_run(str(tmp_path / "run"), steps=60, with_eval=False)
    shutil.rmtree(tmp_path / "run" / "curated")
    result = tritter_cli("report", "--run", root, "--output", str(tmp_path / "elsewhere"))
    assert result.returncode == 0, result.stderr
    data = json.loads((tmp_path / "elsewhere" / "report.json").read_text())
    assert data["evaluation"] is None
    assert all(t["value"] is None and t["met"] is None for t in data["targets"])
    assert "No eval/results.json yet" in (tmp_path / "elsewhere" / "report.md").read_text()
    assert "curated" not in data["stages"]


def test_report_reads_and_writes_s3(s3_bucket, s3_env, tritter_cli):
    root = write_sample_run(f"{s3_bucket}/runs/r1", steps=120)
    result = tritter_cli("report", "--run", root, env=s3_env)
    assert result.returncode == 0, result.stderr
    out = f"{root}/report"
    assert manifest.require_manifest(out, "report")
    page = storage.read_text(f"{out}/report.html")
    assert page.count("data:image/png;base64,") == 4
    assert json.loads(storage.read_text(f"{out}/report.json"))["training"]["steps"] == 120


def test_missing_run_is_a_one_line_error(tmp_path, tritter_cli):
    result = tritter_cli("report", "--run", str(tmp_path / "nothing"))
    assert result.returncode == 1
    lines = result.stderr.strip().splitlines()
    assert lines == [
        f"tritter: error: {tmp_path / 'nothing'}: no run here (none of raw/, "
        "filtered/, curated/, tokenizer/, tokens/, checkpoints/, eval/ exist)"
    ]


def test_corrupt_inputs_become_warnings_not_crashes(tmp_path, tritter_cli):
    root = write_sample_run(str(tmp_path / "run"), steps=30)
    (tmp_path / "run" / "eval" / "results.json").write_text("{not json")
    (tmp_path / "run" / "tokens" / "_manifest.json").write_text("[]")
    (tmp_path / "run" / "checkpoints" / "config.yaml").write_text("a: [unclosed")
    result = tritter_cli("report", "--run", root)
    assert result.returncode == 0, result.stderr
    data = json.loads((tmp_path / "run" / "report" / "report.json").read_text())
    warnings = " | ".join(data["warnings"])
    assert "results.json: not valid JSON" in warnings
    assert "tokens/_manifest.json: corrupt manifest" in warnings
    assert "config.yaml: invalid YAML" in warnings


def test_html_renders_in_headless_chromium(tmp_path, tritter_cli):
    from PIL import Image

    chromium = need_program("chromium", "chromium")
    root = write_sample_run(str(tmp_path / "run"))
    assert tritter_cli("report", "--run", root).returncode == 0
    shot = tmp_path / "report.png"
    subprocess.run(
        [chromium, "--headless", "--no-sandbox", "--disable-gpu",
         "--disable-quic", "--no-first-run", "--disable-background-networking",
         "--disable-component-update", "--disable-sync", f"--user-data-dir={tmp_path / 'prof'}",
         f"--screenshot={shot}", "--window-size=1280,2400",
         (tmp_path / "run" / "report" / "report.html").as_uri()],
        capture_output=True, timeout=120, check=False,
    )  # fmt: skip
    image = Image.open(shot).convert("RGB")
    assert image.size == (1280, 2400)
    # The dark header band is drawn, and the page is not blank below it: the plots and tables
    # put many distinct colours on screen.
    assert image.getpixel((640, 20)) == (20, 33, 61)
    colours = image.crop((0, 200, 1280, 2400)).getcolors(maxcolors=1 << 20)
    assert colours is not None and len(colours) > 200
    shutil.copy(shot, tmp_path / "keep.png")


def test_realized_mixture_from_a_real_pack_flags_a_starved_subset(artifacts, tmp_path):
    """Report on folders the real stages wrote: the mixture table reads the pack manifest's
    own counts, and a subset packed far below its target share is flagged."""
    from tests.tokenizer.support import pack_args, run_tritter
    from tritter.report import stage
    from tritter.report.config import ReportConfig

    run = tmp_path / "run"
    run.mkdir()
    (run / "curated").symlink_to(artifacts.curated, target_is_directory=True)
    (run / "tokenizer").symlink_to(artifacts.tokenizer, target_is_directory=True)
    # Few docs documents, a 30% share for them and no repetition allowed: docs stay far below.
    mix = ("--mix", "python=0.7,docs=0.3", "--max-repetition", "1")
    packed = run_tritter(*pack_args(artifacts.curated, artifacts.tokenizer, run / "tokens", *mix))
    assert packed.returncode == 0, packed.stderr
    counts = manifest.require_manifest(str(run / "tokens")).counts
    docs_share = counts["mixture"]["realized"]["docs"]
    assert docs_share < counts["mixture"]["target"]["docs"] / 2

    stage.run(ReportConfig(run=str(run)))
    data = json.loads((run / "report" / "report.json").read_text())
    rows = {row["subset"]: row for row in data["mixture"]}
    assert rows["docs"]["flagged"] and not rows["python"]["flagged"]
    assert rows["docs"]["tokens"] == counts["tokens"]["train"]["docs"]
    markdown = (run / "report" / "report.md").read_text()
    assert f"| docs | {counts['tokens']['train']['docs']:,} | " in markdown
    assert "more than 2× off" in markdown
    # Nothing changed: a second report is a no-op (its manifest matches).
    before = (run / "report" / "_manifest.json").read_text()
    stage.run(ReportConfig(run=str(run)))
    assert (run / "report" / "_manifest.json").read_text() == before
