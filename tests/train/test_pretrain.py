"""End-to-end `tritter pretrain` runs on real packed shards (CPU, gloo), as CI runs them.

* 2 local ranks reading shards from and checkpointing to SeaweedFS S3, scraped live over
  Prometheus; the same run with rank 1 SIGKILLed mid-save (files uploaded, commit marker not
  written) and relaunched reproduces every loss of the uninterrupted run exactly.
* The PyTorchJob path: two "nodes" started with exactly the operator's environment on loopback
  (FSDP2), then the run resumed on one DDP rank from their 2-rank sharded checkpoint;
  `load_model` reads it back.
"""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import time
import urllib.request

import pytest
import torch

from tests.conftest import run_tritter
from tests.train.conftest import pretrain_args
from tritter import storage
from tritter.train.launch import free_port
from tritter.train.store import CheckpointStore

METRIC_NAMES = (
    "tritter_train_loss", "tritter_train_tokens_per_second", "tritter_train_mfu_ratio",
    "tritter_train_grad_norm", "tritter_train_learning_rate", "tritter_train_step",
    "tritter_train_tokens_total", "tritter_train_step_duration_seconds",
    "tritter_train_data_wait_ratio", "tritter_checkpoint_save_seconds",
)  # fmt: skip


def records(output: str, kind: str = "train") -> list[dict]:
    text = storage.read_text(storage.join(output, "metrics.jsonl"))
    return [r for r in map(json.loads, text.splitlines()) if r["kind"] == kind]


def losses(output: str) -> dict[int, float]:
    found = records(output)
    assert len({r["step"] for r in found}) == len(found), "a step was recorded twice"
    return {r["step"]: r["loss"] for r in found}


def scrape(port: int) -> str | None:
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=2) as response:
            return response.read().decode()
    except OSError:
        return None


def sample(text: str, name: str) -> float | None:
    match = re.search(rf"^{name}\{{([^}}]*)\}} (\S+)$", text, re.MULTILINE)
    return float(match.group(2)) if match else None


def launch(args: list[str], env: dict[str, str]) -> subprocess.Popen:
    return subprocess.Popen(
        [sys.executable, "-m", "tritter.cli", *args],
        env={**os.environ, **env}, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
    )  # fmt: skip


@pytest.mark.slow
def test_two_ranks_on_s3_survive_sigkill_with_identical_losses_and_serve_metrics(
    packed, s3_bucket, s3_env
):
    # Shards and tokenizer are read from S3 too, as in a cluster.
    remote = {}
    for name in ("tokens", "tokenizer"):
        for item in storage.list_objects(packed[name]):
            relative = os.path.relpath(item.uri, packed[name])
            storage.upload_file(item.uri, f"{s3_bucket}/data/{name}/{relative}")
        remote[name] = f"{s3_bucket}/data/{name}"
    packed = {**packed, **remote}
    common = ["--nproc", "2", "--max-steps", "8", "--checkpoint.every", "2", "--val-every", "4",
              "--checkpoint.keep-last", "2"]  # fmt: skip
    reference = f"{s3_bucket}/reference/checkpoints"
    port = free_port()
    process = launch(
        pretrain_args(packed, reference, *common, "--metrics-port", str(port),
                      "--hold-metrics-seconds", "6"),
        s3_env,
    )  # fmt: skip
    scraped, deadline = None, time.time() + 240
    while process.poll() is None and time.time() < deadline:
        text = scrape(port)
        if text and sample(text, "tritter_train_step") == 8.0:
            scraped = text
        time.sleep(0.3)
    output = process.communicate(timeout=60)[0]
    assert process.returncode == 0, output
    assert scraped is not None, f"never scraped step 8 from the live endpoint\n{output}"
    for name in METRIC_NAMES:
        assert re.search(
            rf'^{name}\{{rank="0",run="reference"\}} ', scraped, re.MULTILINE
        ) or re.search(rf'^{name}\{{run="reference",rank="0"\}} ', scraped, re.MULTILINE), name
    assert sample(scraped, "tritter_train_tokens_total") == 8 * 2 * 4 * 64
    assert 0 < sample(scraped, "tritter_train_loss") < 10
    expected = losses(reference)
    assert sorted(expected) == list(range(1, 9))
    assert all(r["world_size"] == 2 and r["tokens_per_second"] > 0 for r in records(reference))
    val = records(reference, "val")
    assert [r["step"] for r in val] == [4, 8]
    assert set(val[0]["per_subset"]) == {"python", "rust", "docs", "conversations"}
    assert all(v["bpb"] > 0 for v in val[0]["per_subset"].values())
    saves = records(reference, "checkpoint")
    assert [r["step"] for r in saves] == [2, 4, 6, 8]
    assert all(0 < r["blocking_seconds"] <= r["save_seconds"] for r in saves)
    assert CheckpointStore(reference).committed_steps() == [6, 8]  # keep last 2
    # What evaluation imports, straight from S3: the newest step and the Hugging Face export.
    from tritter.train.checkpoint import load_model

    model, info = load_model(reference)
    exported, hf_info = load_model(f"{reference}/final")
    assert (info["step"], hf_info["step"], hf_info["kind"]) == (8, 8, "huggingface")
    ids = torch.randint(0, model.config.vocab_size, (1, 12))
    with torch.no_grad():
        assert torch.equal(model(ids), exported(ids))
    assert storage.exists(f"{reference}/config.yaml")
    assert json.loads(storage.read_text(f"{reference}/_manifest.json"))["counts"]["steps"] == 8

    # The same run, killed with SIGKILL while saving and relaunched with the same command.
    crashy = f"{s3_bucket}/crashy/checkpoints"
    args = pretrain_args(packed, crashy, *common)
    # Rank 1 dies during the save of step 6, after uploading its files, before the commit.
    first = run_tritter(*args, env={**s3_env, "TRITTER_FAULT": "kill:rank=1:step=6:phase=commit"})
    assert first.returncode == 1
    assert first.stderr.strip().splitlines()[-1].startswith("tritter: error: training stopped")
    store = CheckpointStore(crashy)
    assert store.latest().step == 4
    assert storage.list_objects(f"{crashy}/step-00000006"), "the interrupted save left files"
    # The relaunch resumes from step 4, never from the uncommitted step 6, and finishes.
    second = run_tritter(*args, env=s3_env)
    assert second.returncode == 0, second.stderr
    assert "resumed from checkpoint step=4" in second.stderr
    assert losses(crashy) == expected  # bit-identical on CPU
    assert [r["step"] for r in records(crashy, "val")] == [4, 8]


@pytest.mark.slow
def test_pytorchjob_environment_two_nodes_then_resume_on_one_rank(packed, tmp_path):
    from tritter.train.checkpoint import load_model

    output = str(tmp_path / "run" / "checkpoints")
    port = free_port()
    nodes = []
    for node in range(2):
        env = {
            "MASTER_ADDR": "127.0.0.1", "MASTER_PORT": str(port), "WORLD_SIZE": "2",
            "RANK": str(node), "PET_NNODES": "2", "PET_NPROC_PER_NODE": "1",
            "PET_NODE_RANK": str(node), "PET_MASTER_ADDR": "127.0.0.1",
            "PET_MASTER_PORT": str(port), "TRITTER_LOG_FORMAT": "json",
        }  # fmt: skip
        nodes.append(launch(pretrain_args(packed, output, "--max-steps", "4",
                                          "--checkpoint.every", "2", "--val-every", "0",
                                          "--global-batch-tokens", "512", "--sharding", "fsdp"),
                            env))  # fmt: skip
    logs = [node.communicate(timeout=240)[0] for node in nodes]
    assert [node.returncode for node in nodes] == [0, 0], "\n".join(logs)
    # Containers log JSON: one object per line.
    events = [json.loads(line) for line in logs[0].splitlines() if line.startswith("{")]
    assert any(e.get("msg") == "training" and e.get("world_size") == 2 for e in events)
    marker = CheckpointStore(output).latest()
    assert (marker.step, marker.world_size) == (4, 2)

    # Resume on a single DDP rank from the 2-rank FSDP checkpoint (DCP reshards): same global
    # batch (2 micro batches accumulated), steps 5-6.
    result = run_tritter(*pretrain_args(packed, output, "--max-steps", "6",
                                        "--checkpoint.every", "2", "--val-every", "0",
                                        "--global-batch-tokens", "512"))  # fmt: skip
    assert result.returncode == 0, result.stderr
    assert "resumed from checkpoint step=4" in result.stderr
    assert "saved_world_size=2 world_size=1" in result.stderr
    steps = records(output)
    assert [(r["step"], r["world_size"]) for r in steps] == [
        (1, 2), (2, 2), (3, 2), (4, 2), (5, 1), (6, 1),
    ]  # fmt: skip
    assert [r["tokens"] for r in steps] == [512 * s for s in range(1, 7)]
    assert steps[5]["loss"] < steps[0]["loss"]

    # What evaluation imports: the newest step, and the Hugging Face export; same weights.
    model, info = load_model(output)
    assert (info["kind"], info["step"]) == ("pretrain", 6)
    assert len(info["tokenizer_sha256"]) == 64
    exported, hf_info = load_model(f"{output}/final")
    assert (hf_info["kind"], hf_info["step"]) == ("huggingface", 6)
    ids = torch.randint(0, model.config.vocab_size, (2, 16))
    with torch.no_grad():
        assert torch.equal(model(ids), exported(ids))


def test_sigterm_checkpoints_at_the_next_step_and_exits(packed, tmp_path):
    """Pod deletion or preemption sends SIGTERM: the run saves where it is and exits 1."""
    output = str(tmp_path / "run" / "checkpoints")
    args = pretrain_args(packed, output, "--max-steps", "500", "--checkpoint.every", "1000",
                         "--val-every", "0")  # fmt: skip
    process = launch(args, {})
    metrics = os.path.join(output, "metrics.jsonl")
    deadline = time.time() + 120
    while time.time() < deadline and process.poll() is None:
        if os.path.exists(metrics) and len(storage.read_text(metrics).splitlines()) >= 2:
            break
        time.sleep(0.2)
    process.send_signal(signal.SIGTERM)
    log = process.communicate(timeout=120)[0]
    assert process.returncode == 1, log
    last_line = log.strip().splitlines()[-1]
    match = re.match(
        r"tritter: error: stopped by SIGTERM at step (\d+)/500: checkpoint saved", last_line
    )
    assert match, log
    step = int(match.group(1))
    assert CheckpointStore(output).latest().step == step
    assert records(output)[-1]["step"] == step
