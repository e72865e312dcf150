"""Fast in-process tests: schedule, config, launch environment, checkpoint store, metrics log."""

from __future__ import annotations

import itertools
import json
import sys

import pytest
import torch

from tritter import storage
from tritter.errors import TritterError
from tritter.train import launch, schedule
from tritter.train.config import (
    OptimConfig,
    ScheduleConfig,
    TrainConfig,
    accumulation_steps,
    total_steps,
)
from tritter.train.metrics import MetricsLog
from tritter.train.optim import parameter_groups
from tritter.train.store import COMMIT_MARKER, CheckpointStore


def make_config(**fields) -> TrainConfig:
    return TrainConfig(data="d", tokenizer="t", output="o", **{"max_steps": 100, **fields})


# -- schedule -------------------------------------------------------------------------------------


def test_bitnet_schedule_warms_up_drops_at_half_and_switches_weight_decay_off():
    optim, sched = OptimConfig(lr=1e-3), ScheduleConfig(warmup_steps=10)
    lrs = [schedule.learning_rate(s, 200, optim, sched) for s in range(200)]
    assert lrs[0] == pytest.approx(1e-4) and lrs[9] == pytest.approx(1e-3)
    assert all(b <= a for a, b in itertools.pairwise(lrs[10:100]))  # stage-1 decay
    assert lrs[99] > 0.6e-3 * 0.99 and lrs[100] == pytest.approx(0.4e-3)  # drop to lower peak
    assert lrs[-1] == pytest.approx(0.1e-3, rel=0.01)
    assert schedule.weight_decay(99, 200, optim, sched) == 0.1
    assert schedule.weight_decay(100, 200, optim, sched) == 0.0
    # A short run keeps a warm-up of at most a tenth of its steps.
    assert schedule.warmup_steps(ScheduleConfig(), 50) == 5


def test_cosine_and_constant_schedules_keep_weight_decay():
    optim = OptimConfig(lr=1.0)
    cosine = ScheduleConfig(kind="cosine", warmup_steps=0, min_lr_ratio=0.0)
    assert schedule.learning_rate(0, 100, optim, cosine) == pytest.approx(1.0)
    assert schedule.learning_rate(50, 100, optim, cosine) == pytest.approx(0.5)
    constant = ScheduleConfig(kind="constant", warmup_steps=0)
    assert schedule.learning_rate(99, 100, optim, constant) == 1.0
    assert schedule.weight_decay(99, 100, optim, cosine) == 0.1


# -- config ---------------------------------------------------------------------------------------


def test_accumulation_is_derived_from_the_global_batch_in_tokens():
    config = make_config(seq_len=64, micro_batch_size=4, global_batch_tokens=1024)
    assert accumulation_steps(config, 1) == 4
    assert accumulation_steps(config, 2) == 2
    assert accumulation_steps(config, 4) == 1
    with pytest.raises(TritterError, match=r"global_batch_tokens.*not a multiple"):
        accumulation_steps(config, 3)
    budget = make_config(max_steps=None, token_budget=10_000, seq_len=64, micro_batch_size=4)
    assert total_steps(budget, 2) == 20  # ceil(10000 / 512)


def test_config_needs_a_length_and_names_bad_fields():
    from tritter.config import validate

    with pytest.raises(TritterError, match="max-steps or --token-budget"):
        validate(TrainConfig, {"data": "d", "tokenizer": "t", "output": "o"})
    with pytest.raises(TritterError, match="'sharding'"):
        validate(TrainConfig, {"data": "d", "tokenizer": "t", "output": "o", "max_steps": 1,
                               "sharding": "zero3"})  # fmt: skip


def test_no_weight_decay_on_norms_and_embeddings():
    from tritter.model import build_model

    model = build_model("tiny", vocab_size=64)
    decay, no_decay = parameter_groups(model)
    names = {id(p): n for n, p in model.named_parameters()}
    assert all(names[id(p)].endswith("proj.weight") or names[id(p)] == "lm_head.weight"
               for p in decay["params"])  # fmt: skip
    skipped = {names[id(p)] for p in no_decay["params"]}
    assert "embed_tokens.weight" in skipped and "norm.weight" in skipped
    assert any("input_layernorm" in n for n in skipped)


# -- launch environment ----------------------------------------------------------------------------


def test_pytorchjob_environment_with_nproc_per_node():
    env = {
        "MASTER_ADDR": "job-master-0", "MASTER_PORT": "23456", "WORLD_SIZE": "8", "RANK": "1",
        "PET_NNODES": "2", "PET_NPROC_PER_NODE": "4", "PET_NODE_RANK": "1",
        "PET_MASTER_ADDR": "job-master-0", "PET_MASTER_PORT": "23456",
    }  # fmt: skip
    plan = launch.detect(env)
    assert (plan.mode, plan.source, plan.nnodes, plan.nproc_per_node, plan.node_rank) == (
        "torchrun", "pytorchjob", 2, 4, 1,
    )  # fmt: skip
    command = launch.torchrun_command(plan, ["pretrain", "--config", "c.yaml"])
    assert command[:3] == [sys.executable, "-m", "torch.distributed.run"]
    for flag in ("--nnodes=2", "--nproc-per-node=4", "--node-rank=1",
                 "--master-addr=job-master-0", "--master-port=23456"):  # fmt: skip
        assert flag in command
    assert command[-5:] == ["-m", "tritter.cli", "pretrain", "--config", "c.yaml"]


def test_pytorchjob_v1_one_process_per_pod_and_trainer_v2_runtime():
    v1 = launch.detect({"MASTER_ADDR": "m", "MASTER_PORT": "1234", "WORLD_SIZE": "3", "RANK": "2"})
    assert (v1.nnodes, v1.nproc_per_node, v1.node_rank, v1.master_port) == (3, 1, 2, 1234)
    # Trainer v2 torch-distributed runtime: PET_* only, elastic-style node count.
    v2 = launch.detect({"PET_NNODES": "1:4", "PET_NPROC_PER_NODE": "cpu",
                        "PET_MASTER_ADDR": "trainjob-node-0-0.trainjob", "PET_MASTER_PORT": "29400",
                        "JOB_COMPLETION_INDEX": "3"})  # fmt: skip
    assert (v2.source, v2.nnodes, v2.nproc_per_node, v2.node_rank) == (
        "torch-distributed runtime", 4, 1, 3,
    )  # fmt: skip
    with pytest.raises(TritterError, match="node rank 5 is outside"):
        launch.detect({"PET_NNODES": "2", "PET_NODE_RANK": "5", "PET_MASTER_ADDR": "m"})
    with pytest.raises(TritterError, match="PET_NPROC_PER_NODE='x'"):
        launch.detect({"PET_NNODES": "2", "PET_NODE_RANK": "0", "PET_MASTER_ADDR": "m",
                       "PET_NPROC_PER_NODE": "x"})  # fmt: skip


def test_local_and_worker_environments():
    assert launch.detect({}, nproc=None).mode == "single"
    local = launch.detect({}, nproc=3)
    assert (local.mode, local.nproc_per_node, local.master_addr) == ("torchrun", 3, "127.0.0.1")
    worker = launch.detect({"LOCAL_RANK": "1", "RANK": "3", "WORLD_SIZE": "4",
                            "LOCAL_WORLD_SIZE": "2", "GROUP_RANK": "1"})  # fmt: skip
    assert (worker.mode, worker.nnodes, worker.node_rank) == ("worker", 2, 1)
    env = launch.worker_env({"PET_NNODES": "2", "PATH": "/bin"}, local)
    assert "PET_NNODES" not in env and int(env["OMP_NUM_THREADS"]) >= 1
    assert launch.worker_env({"OMP_NUM_THREADS": "5"}, local)["OMP_NUM_THREADS"] == "5"


# -- checkpoint store ---------------------------------------------------------------------------


def _write_step(root: str, step: int, files: dict[str, bytes]) -> None:
    for name, data in files.items():
        storage.write_bytes(storage.join(root, f"step-{step:08d}", name), data)


def _store_behaviour(root: str) -> None:
    store = CheckpointStore(root)
    assert store.latest() is None
    _write_step(root, 2, {".metadata": b"m", "__0_0.distcp": b"abc"})
    store.commit(2, world_size=2)
    _write_step(root, 4, {".metadata": b"m", "__0_0.distcp": b"abcd"})
    store.commit(4, world_size=2)
    _write_step(root, 6, {".metadata": b"m"})  # interrupted save: no marker
    latest = store.latest()
    assert latest is not None and latest.step == 4 and latest.world_size == 2
    assert latest.marker["sizes"]["__0_0.distcp"] == 4
    _write_step(root, 8, {"x": b"1"})
    store.commit(8, world_size=1)
    assert store.prune(keep_last=2) == [2, 6]  # oldest committed + interrupted leftover
    assert store.committed_steps() == [4, 8]
    # A committed file replaced by one of another size is a corrupt checkpoint.
    storage.write_bytes(storage.join(root, "step-00000008", "x"), b"12")
    with pytest.raises(TritterError, match="step-00000008: corrupt checkpoint: x has 2 bytes"):
        store.latest()
    storage.write_bytes(storage.join(root, "step-00000008", COMMIT_MARKER), b"{not json")
    with pytest.raises(TritterError, match="corrupt checkpoint marker"):
        store.latest()


def test_checkpoint_store_local(tmp_path):
    _store_behaviour(str(tmp_path / "checkpoints"))


def test_checkpoint_store_s3(s3_bucket):
    _store_behaviour(f"{s3_bucket}/run/checkpoints")


# -- metrics.jsonl ------------------------------------------------------------------------------


def test_metrics_log_drops_records_after_the_resumed_step(tmp_path):
    output = str(tmp_path / "out")
    first = MetricsLog(output, tmp_path / "staging")
    first.start(0)
    for step in range(1, 6):
        first.write({"kind": "train", "step": step, "loss": float(step)})
    first.write({"kind": "checkpoint", "step": 4})
    first.close()
    with open(storage.join(output, "metrics.jsonl"), "a") as handle:
        handle.write('{"kind": "train", "st')  # torn line of a killed writer
    again = MetricsLog(output, tmp_path / "staging")
    again.start(4)
    again.write({"kind": "train", "step": 5, "loss": 50.0})
    again.close()
    text = storage.read_text(storage.join(output, "metrics.jsonl"))
    records = [json.loads(line) for line in text.splitlines()]
    assert [(r["kind"], r["step"]) for r in records] == [
        ("train", 1), ("train", 2), ("train", 3), ("train", 4), ("checkpoint", 4), ("train", 5),
    ]  # fmt: skip
    assert records[-1]["loss"] == 50.0


def test_metrics_log_on_s3(s3_bucket, tmp_path):
    output = f"{s3_bucket}/run/checkpoints"
    log = MetricsLog(output, tmp_path / "staging")
    log.start(0)
    log.write({"kind": "train", "step": 1, "loss": torch.tensor(2.5).item()})
    log.close()
    assert json.loads(storage.read_text(f"{output}/metrics.jsonl"))["loss"] == 2.5


def test_cli_flags_override_the_config_file(tmp_path):
    from tritter.cli import build_parser
    from tritter.config import build_config

    path = tmp_path / "train.yaml"
    path.write_text(
        "data: s3://b/tokens\ntokenizer: s3://b/tokenizer\noutput: s3://b/checkpoints\n"
        "model: 125m\nmax_steps: 1000\nsharding: fsdp\noptim: {lr: 0.002}\n"
        "checkpoint: {every: 50, keep_last: 5}\n"
    )
    args = build_parser().parse_args(
        ["pretrain", "--config", str(path), "--checkpoint-every", "7", "--optim.beta2", "0.99"]
    )
    config = build_config(TrainConfig, args, args.config)
    assert (config.model, config.sharding, config.max_steps) == ("125m", "fsdp", 1000)
    assert (config.checkpoint.every, config.checkpoint.keep_last) == (7, 5)
    assert (config.optim.lr, config.optim.beta2) == (0.002, 0.99)
