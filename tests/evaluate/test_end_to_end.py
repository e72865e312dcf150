"""`tritter evaluate` and `tritter report` on a checkpoint that `tritter pretrain` just trained.

Everything is real: curated shards → tokenizer → packed shards → a few pretraining steps of the
tiny preset → evaluation of the checkpoints folder and of the exported Hugging Face directory →
the run report rendered in headless Chromium.
"""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import pytest

from tests.conftest import run_tritter
from tests.support.real_parts import need_program
from tests.train.data import build

pytestmark = pytest.mark.slow

EVAL_FLAGS = (
    "--limit", "2",
    "--generation.max-new-tokens", "12",
    "--perplexity.max-batches", "2",
)  # fmt: skip


@pytest.fixture(scope="module")
def trained_run(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("e2e") / "run"
    data = build(root)
    result = run_tritter(
        "pretrain", "--data", data["tokens"], "--tokenizer", data["tokenizer"],
        "--output", str(root / "checkpoints"), "--model", "tiny", "--seq-len", "64",
        "--micro-batch-size", "4", "--max-steps", "8", "--checkpoint.every", "4",
        "--val-every", "4", "--val-batches", "1", "--metrics-port", "0",
    )  # fmt: skip
    assert result.returncode == 0, result.stderr[-3000:]
    return root


def _evaluate(root: Path, checkpoint: Path, output: Path, *extra: str):
    return run_tritter(
        "evaluate", "--checkpoint", str(checkpoint), "--tokenizer", str(root / "tokenizer"),
        "--data", str(root / "tokens"), "--output", str(output), *EVAL_FLAGS, *extra,
    )  # fmt: skip


def test_evaluate_a_pretrain_checkpoint_then_report(trained_run: Path, tmp_path: Path) -> None:
    result = _evaluate(trained_run, trained_run / "checkpoints", trained_run / "eval")
    assert result.returncode == 0, result.stderr[-3000:]
    results = json.loads((trained_run / "eval" / "results.json").read_text())
    assert results["checkpoint"]["step"] == 8
    perplexity = results["tasks"]["perplexity"]
    assert perplexity["seq_len"] == 64  # the packed length, not the model's context
    assert {"python", "rust"} <= set(perplexity["subsets"])
    for numbers in perplexity["subsets"].values():
        assert 0 < numbers["bpb"] < 20 and numbers["perplexity"] > 1
    for task in ("humaneval", "mbpp"):
        assert results["tasks"][task]["problems"] == 2
        assert 0.0 <= results["tasks"][task]["pass@1"] <= 1.0
        samples = (trained_run / "eval" / f"samples-{task}.jsonl").read_text().splitlines()
        assert len(samples) == 2

    result = run_tritter("report", "--run", str(trained_run))
    assert result.returncode == 0, result.stderr[-3000:]
    report = json.loads((trained_run / "report" / "report.json").read_text())
    assert report["training"]["steps"] == 8
    assert report["stages"]["eval"] == "complete"
    assert [c["step"] for c in report["checkpoints"] if c["committed"]] == [4, 8]
    assert report["final_export"] is True
    # The realized mixture comes from the pack manifest the real pack stage wrote.
    packed = json.loads((trained_run / "tokens" / "_manifest.json").read_text())["counts"]
    mixture = {row["subset"]: row for row in report["mixture"]}
    assert set(mixture) == set(packed["mixture"]["target"])
    for subset, row in mixture.items():
        assert row["tokens"] == packed["tokens"]["train"].get(subset, 0)
        assert row["realized"] == packed["mixture"]["realized"].get(subset, 0.0)

    chromium = need_program("chromium", "chromium")
    shot = tmp_path / "report.png"
    subprocess.run(
        [chromium, "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic",
         "--no-first-run", "--disable-background-networking", "--disable-component-update",
         "--disable-sync", f"--user-data-dir={tmp_path / 'profile'}", "--window-size=1200,1600",
         f"--screenshot={shot}", (trained_run / "report" / "report.html").as_uri()],
        capture_output=True, timeout=120, check=False,
    )  # fmt: skip
    assert shot.exists() and shot.stat().st_size > 20_000  # a real page with plots, not blank


def test_evaluate_the_exported_hugging_face_directory(trained_run: Path, tmp_path: Path) -> None:
    final = trained_run / "checkpoints" / "final"
    result = _evaluate(trained_run, final, tmp_path / "eval", "--tasks", "perplexity")
    assert result.returncode == 0, result.stderr[-3000:]
    from_hf = json.loads((tmp_path / "eval" / "results.json").read_text())
    from_run = json.loads((trained_run / "eval" / "results.json").read_text())
    # The export holds the same weights as the newest checkpoint: the same held-out loss.
    assert from_hf["tasks"]["perplexity"]["overall"]["loss"] == pytest.approx(
        from_run["tasks"]["perplexity"]["overall"]["loss"], rel=1e-5
    )


def test_bad_inputs_are_one_line_errors(trained_run: Path, tmp_path: Path) -> None:
    missing = _evaluate(trained_run, tmp_path / "nowhere", tmp_path / "e1")
    assert missing.returncode == 1
    assert missing.stderr.strip().splitlines()[-1].startswith("tritter: error: ")
    assert "nowhere" in missing.stderr

    unknown = _evaluate(trained_run, trained_run / "checkpoints", tmp_path / "e2", "--tasks", "x")
    assert unknown.returncode == 1 and "x" in unknown.stderr.strip().splitlines()[-1]
    assert not (tmp_path / "e1").exists() and not (tmp_path / "e2" / "results.json").exists()
