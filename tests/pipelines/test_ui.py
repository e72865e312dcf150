"""What a step shows in the Kubeflow run view, from real stage outputs (the session's tiny
pretraining run): its Markdown summary, its Metrics artifact, and the report page."""

from __future__ import annotations

import yaml
from kfp import dsl

from tritter.jobs import ui
from tritter.pipelines import package


def test_training_and_tokenizer_summaries_and_metrics(base, tmp_path):
    metrics = dsl.Metrics(name="metrics", uri=str(tmp_path / "m"), metadata={})
    ui.publish("pretrain", base["checkpoints"], str(tmp_path / "summary.md"), metrics)
    text = (tmp_path / "summary.md").read_text()
    assert text.startswith("### Training (pretrain)")
    assert "| steps | 30 |" in text and "final train loss" in text
    assert f"Output: `{base['checkpoints']}`" in text
    assert metrics.metadata["steps"] == 30.0 and metrics.metadata["loss"] > 0
    tokenizer = dsl.Metrics(name="metrics", uri=str(tmp_path / "t"), metadata={})
    ui.publish("tokenizer", base["tokenizer"], str(tmp_path / "tok.md"), tokenizer)
    assert "bytes/token (all)" in (tmp_path / "tok.md").read_text()
    assert 1.0 < tokenizer.metadata["bytes_per_token"] < 10.0


def test_every_stage_step_declares_its_run_view_artifacts():
    for kind, steps in (("pretrain", ("curate-finalize", "tokenizer-train", "pack-finalize",
                                      "pretrain", "evaluate")),
                        ("posttrain", ("mid", "sft", "evaluate-sft"))):  # fmt: skip
        spec = next(yaml.safe_load_all(package.committed_package(kind).read_text()))
        for step in steps:
            outputs = spec["components"][f"comp-{step}"]["outputDefinitions"]["artifacts"]
            assert outputs["summary"]["artifactType"]["schemaTitle"] == "system.Markdown", step
            assert outputs["metrics"]["artifactType"]["schemaTitle"] == "system.Metrics", step
        report = "report" if kind == "pretrain" else "report-posttrain"
        page = spec["components"][f"comp-{report}"]["outputDefinitions"]["artifacts"]["page"]
        assert page["artifactType"]["schemaTitle"] == "system.HTML"
