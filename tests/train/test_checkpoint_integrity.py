"""Checkpoints are trusted by content, not size: every committed file's sha256 is in the commit
marker, a same-size byte flip makes training fall back to the previous committed step with a
warning and makes evaluation stop with one line naming the file — locally and on SeaweedFS S3;
the final export is checked against the checkpoints folder's manifest.
Real `tritter pretrain` / `tritter evaluate` processes on the real packed test shards."""

from __future__ import annotations

import json

import pytest

from tests.conftest import run_tritter
from tests.support.corrupt import flip_byte
from tests.train.conftest import pretrain_args
from tritter import storage
from tritter.run_folder import COMMIT_MARKER, TRAINER_STATE
from tritter.train.checkpoint import load_model
from tritter.train.store import CheckpointStore, CorruptCheckpoint


def losses(output: str) -> dict[int, float]:
    text = storage.read_text(storage.join(output, "metrics.jsonl"))
    records = [json.loads(line) for line in text.splitlines()]
    return {r["step"]: r["loss"] for r in records if r["kind"] == "train"}


def train(packed: dict[str, str], output: str, steps: int, every: int, env=None):
    done = run_tritter(
        *pretrain_args(packed, output, "--max-steps", str(steps), "--checkpoint.every",
                       str(every), "--checkpoint.keep-last", "5"),
        env=env,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr[-3000:]
    return done.stdout + done.stderr


def evaluate_error(packed: dict[str, str], checkpoint: str, output: str, env=None) -> str:
    done = run_tritter(
        "evaluate", "--checkpoint", checkpoint, "--tokenizer", packed["tokenizer"],
        "--data", packed["tokens"], "--tasks", "perplexity", "--output", output, env=env,
    )  # fmt: skip
    assert done.returncode == 1, done.stdout[-2000:]
    assert "Traceback" not in done.stderr, done.stderr[-3000:]
    last = done.stderr.strip().splitlines()[-1]
    assert last.startswith("tritter: error: "), done.stderr[-2000:]
    return last


def test_marker_hashes_flipped_bytes_fall_back_in_training_and_fail_evaluation(packed, tmp_path):
    output = str(tmp_path / "checkpoints")
    train(packed, output, steps=4, every=2)
    first = losses(output)
    store = CheckpointStore(output)
    step4 = store.step_uri(4)
    marker = json.loads(storage.read_text(storage.join(step4, COMMIT_MARKER)))
    assert sorted(marker["sha256"]) == marker["files"]
    for name, digest in marker["sha256"].items():
        assert storage.sha256_uri(storage.join(step4, name)) == digest

    # A same-size flip in a DCP shard of the newest step.
    shard = storage.join(step4, "__0_0.distcp")
    size = storage.size(shard)
    flip_byte(shard)
    assert storage.size(shard) == size
    line = evaluate_error(packed, output, str(tmp_path / "eval"))
    assert f"{shard}: sha256 differs from {storage.join(step4, COMMIT_MARKER)}" in line

    log = train(packed, output, steps=6, every=2)
    assert "corrupt checkpoint: falling back to the previous committed step" in log
    assert "__0_0.distcp: sha256 differs" in log
    assert "resumed from checkpoint step=2" in log
    again = losses(output)
    # Steps 3-4 were trained again from step 2 (a longer run: another LR schedule).
    assert sorted(again) == list(range(1, 7)) and again[2] == first[2]

    # A same-size flip in trainer_state.pt: caught by the pre-flight check, before any weights
    # are read, and by `load_model` (what evaluation calls).
    step6 = store.step_uri(6)
    flip_byte(storage.join(step6, TRAINER_STATE))
    with pytest.raises(CorruptCheckpoint, match=r"trainer_state\.pt: sha256 differs"):
        load_model(step6)
    log = train(packed, output, steps=8, every=2)
    assert "trainer_state.pt: sha256 differs" in log
    assert "resumed from checkpoint step=4" in log

    # final/ (the Hugging Face export): checked against the checkpoints folder's manifest.
    final = storage.join(output, "final")
    load_model(final)
    flip_byte(storage.join(final, "model.safetensors"))
    with pytest.raises(CorruptCheckpoint, match=r"model\.safetensors: sha256 differs from"):
        load_model(final)


def test_flipped_byte_on_s3_falls_back_and_fails_evaluation(packed, s3_bucket, s3_env, tmp_path):
    output = f"{s3_bucket}/run/checkpoints"
    train(packed, output, steps=4, every=2, env=s3_env)
    step4 = CheckpointStore(output).step_uri(4)
    flip_byte(storage.join(step4, "__0_1.distcp"))  # rewritten on S3, same size
    line = evaluate_error(packed, output, str(tmp_path / "eval"), env=s3_env)
    assert f"{step4}/__0_1.distcp: sha256 differs from {step4}/{COMMIT_MARKER}" in line
    log = train(packed, output, steps=6, every=2, env=s3_env)
    assert "corrupt checkpoint: falling back" in log
    assert "resumed from checkpoint step=2" in log
