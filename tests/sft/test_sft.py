"""`tritter sft` and `tritter chat` on CPU with the tiny model: the rendered data and its loss
mask, exact resume after SIGKILL, a persona learned, and the tool loop running real code."""

from __future__ import annotations

import json
import subprocess
import sys

import numpy as np
import pytest

from tests.conftest import run_tritter
from tests.sft.conftest import sft_args
from tests.train.test_pretrain import losses
from tritter.chat import read_conversations, render
from tritter.loader import TokenLoader
from tritter.run_folder import SFT_DATA, SFT_DATA_MANIFEST, SFT_MANIFEST
from tritter.tokenizer import Tokenizer

pytestmark = pytest.mark.slow


def test_sft_writes_data_checkpoints_and_a_manifest(tuned, base, sources):
    data = SFT_DATA_MANIFEST.require(f"{tuned}/{SFT_DATA}")
    counts = data.counts
    # The three malformed rows of the tool source are counted under their reasons, not fatal.
    assert counts.skipped["tools"] == {"bad_role": 1, "invalid_json": 1, "last_not_assistant": 1}
    assert counts.skipped["identity"] == {}
    for split in ("train", "val"):
        for name in ("identity", "tools"):
            assert 0 < counts.learned_tokens[split][name] < counts.tokens[split][name]
    assert all(shard.mask for shard in data.extra.shards)
    trained = SFT_MANIFEST.require(tuned)
    assert trained.counts.steps == 250 and trained.extra.phase == "sft"
    assert trained.inputs.data_fingerprint == data.fingerprint
    assert trained.inputs.init == base["checkpoints"]
    assert trained.config["optim"]["weight_decay"] == 0.0  # the sft phase default


def test_only_what_the_assistant_writes_is_a_target(tuned, base, sources):
    """A training window from the rendered shards: every target is the next token where the
    chat template's mask is 1, and ignored (-100) everywhere else."""
    tokenizer = Tokenizer.load(base["tokenizer"])
    data = f"{tuned}/{SFT_DATA}"
    loader = TokenLoader(data, split="val", subset="tools", seq_len=64, micro_batch_size=1,
                         loop=False)  # fmt: skip
    inputs, targets = next(iter(loader))[:2]
    stream_ids = loader.stream.read(0, 65)
    learned = loader.stream.learned(1, 64)
    expected = np.where(learned, stream_ids[1:], -100)
    assert targets[0].tolist() == expected.tolist()
    assert inputs[0].tolist() == stream_ids[:64].tolist()
    # The mask is the template's: the first held-out tool conversation, rendered again.
    for conversation in read_conversations(sources["tools"]).conversations:
        ids, mask = render(conversation, tokenizer)
        if loader.stream.read(0, len(ids)).tolist() == ids:
            break
    else:
        raise AssertionError("the first validation document is none of the source's")
    assert loader.stream.learned(0, len(ids)).astype(int).tolist() == mask
    assert loader.stream.read(len(ids), 1).tolist() == [tokenizer.eos_id]
    assert not loader.stream.learned(len(ids), 1)[0]  # the EOS after it is never a target


def test_sigkill_then_relaunch_gives_identical_losses(base, sources, tmp_path):
    args = ("--max-steps", "8", "--checkpoint.every", "4")
    whole = str(tmp_path / "whole")
    assert run_tritter(*sft_args(base, sources, whole, *args)).returncode == 0
    crashy = str(tmp_path / "crashy")
    # Killed while saving the last step: that save first waits for step 4's commit,
    # so the relaunch resumes from step 4 however slow the machine is.
    first = run_tritter(*sft_args(base, sources, crashy, *args),
                        env={"TRITTER_FAULT": "kill:rank=0:step=8:phase=commit"})  # fmt: skip
    assert first.returncode != 0
    second = run_tritter(*sft_args(base, sources, crashy, *args))
    assert second.returncode == 0, second.stderr[-3000:]
    assert "resumed from checkpoint step=4" in second.stderr
    assert losses(crashy) == losses(whole)


def test_the_model_answers_with_its_persona(tuned, base):
    done = run_tritter("chat", "--checkpoint", tuned, "--tokenizer", base["tokenizer"],
                       "--prompt", "Who are you?", "--temperature", "0")  # fmt: skip
    assert done.returncode == 0, done.stderr[-3000:]
    assert "Tritter" in done.stdout


def test_the_tool_loop_runs_the_models_code_in_the_sandbox(tuned, base):
    done = run_tritter("chat", "--checkpoint", tuned, "--tokenizer", base["tokenizer"],
                       "--prompt", "What is 12 * 34?", "--json-output")  # fmt: skip
    assert done.returncode == 0, done.stderr[-3000:]
    reply = json.loads(done.stdout.strip().splitlines()[-1])
    assert reply["tool_calls"] >= 1
    parts = reply["content"]
    code = next(p["text"] for p in parts if p["type"] == "code")
    output = parts[[p["type"] for p in parts].index("code") + 1]
    assert output["type"] == "output"
    # The output part is what running that code really prints (fed back by the harness).
    real = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=30)
    assert output["text"] == real.stdout + real.stderr or real.returncode != 0


def test_bare_chat_prints_help_and_bad_checkpoint_is_one_line(tmp_path, base):
    bare = run_tritter("chat")
    assert bare.returncode == 2 and "--checkpoint" in bare.stderr
    missing = run_tritter("chat", "--checkpoint", str(tmp_path / "none"), "--tokenizer",
                          base["tokenizer"], "--prompt", "hi")  # fmt: skip
    assert missing.returncode == 1
    assert missing.stderr.strip().splitlines() == [
        f"tritter: error: {tmp_path / 'none'}: checkpoint not found"
    ]


def test_post_training_metrics_carry_their_phase():
    from prometheus_client import generate_latest

    from tritter.train.metrics import TrainGauges

    sft = TrainGauges("run-a", 0, "sft")
    sft.loss.set(1.5)
    assert 'tritter_train_loss{phase="sft",rank="0",run="run-a"} 1.5' in (
        generate_latest(sft.registry).decode()
    )
    pretrain = TrainGauges("run-b", 0)
    pretrain.loss.set(2.5)
    assert 'tritter_train_loss{rank="0",run="run-b"} 2.5' in (
        generate_latest(pretrain.registry).decode()
    )


def test_the_report_shows_the_post_training_phase(tuned, tmp_path):
    run = tmp_path / "run"
    run.mkdir()
    (run / "sft").symlink_to(tuned, target_is_directory=True)
    done = run_tritter("report", "--run", str(run))
    assert done.returncode == 0, done.stderr[-3000:]
    report = json.loads((run / "report" / "report.json").read_text())
    (phase,) = report["post_training"]
    data = SFT_DATA_MANIFEST.require(f"{tuned}/{SFT_DATA}").counts
    assert phase["phase"] == "sft" and phase["training"]["steps"] == 250
    assert phase["learned_tokens"] == sum(data.learned_tokens["train"].values())
    assert phase["skipped_rows"] == 3 and phase["sources"] == ["identity", "tools"]
    assert "| sft | 250 | " in (run / "report" / "report.md").read_text()
