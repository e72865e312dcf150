"""The pretrain stage: tokens/ + tokenizer/ → checkpoints/ (`tritter pretrain`).

`run` trains on this machine: in-process for one rank, or this node's ranks through torchrun
(locally with `--nproc N`, or in a Kubeflow PyTorchJob / TrainJob pod whose operator set the
node's place in the job). An interrupted run resumes from its newest committed checkpoint; a
run whose checkpoints folder already holds the final export for these inputs and settings is
done and does nothing. The manifest is written by rank 0 after `final/`
(`Trainer._write_manifest`), with the same fingerprint `fingerprint` computes here.
"""

from __future__ import annotations

import os
import signal
import subprocess
import tempfile
from collections.abc import Sequence
from typing import TYPE_CHECKING

import yaml

from tritter import config as config_io
from tritter import log
from tritter.errors import TritterError
from tritter.run_folder import TRAIN_MANIFESTS, PretrainManifest, TrainInputs
from tritter.train import launch
from tritter.train.config import TrainConfig
from tritter.train.preflight import check

if TYPE_CHECKING:
    from tritter.train.objective import Objective

_log = log.get_logger("train")


def fingerprint(config: TrainConfig, inputs: TrainInputs) -> str:
    return TRAIN_MANIFESTS[config.phase].fingerprint(config, inputs)


def is_done(output: str, phase: str = "pretrain") -> PretrainManifest | None:
    return TRAIN_MANIFESTS[phase].read(output)


def run(
    config: TrainConfig,
    objective: Objective | None = None,
    worker_argv: Sequence[str] | None = None,
) -> PretrainManifest:
    """Train to the end (or find it trained); returns the checkpoints folder's manifest.

    `objective` (default: language modelling on `config.data`'s token shards) is what this
    process trains with when it is the only rank. Ranks started through torchrun build their
    own: they run `tritter <worker_argv>` (default: `pretrain --config <this config>`), a
    command that, inside a worker, calls `tritter.train.trainer.train` with the same objective.
    """
    plan = launch.detect(nproc=config.nproc)
    if plan.mode == "worker":
        raise TritterError("inside a torchrun worker: call tritter.train.trainer.train instead")
    # bad input: one line, before any rank starts
    pre = check(config, plan.world_size, objective=objective)
    contract = TRAIN_MANIFESTS[config.phase]
    done = contract.current(config.output, fingerprint(config, pre.inputs))
    if done is not None:
        log.event(_log, "training already finished: nothing to do", output=config.output,
                  steps=done.counts.steps)  # fmt: skip
        return done
    launch.check_devices(plan, config.device)
    if plan.mode == "single":
        from tritter.train.trainer import train

        train(config, objective)
    else:
        _run_torchrun(plan, config, worker_argv)
    return contract.require(config.output)


def run_in_this_process(config: TrainConfig) -> PretrainManifest | None:
    """What `tritter pretrain` does: a rank that torchrun started trains as that rank (and
    returns None: rank 0 writes the manifest); anything else runs the stage."""
    if launch.detect(nproc=config.nproc).mode == "worker":
        from tritter.train.trainer import train

        train(config)
        return None
    return run(config)


def _run_torchrun(
    plan: launch.LaunchPlan, config: TrainConfig, worker_argv: Sequence[str] | None = None
) -> None:
    """Start this node's ranks with torchrun; the resolved config travels as a YAML file
    (or the ranks run `worker_argv`, which names the stage's own)."""
    with tempfile.TemporaryDirectory(prefix="tritter-launch-") as tmp:
        if worker_argv is None:
            path = os.path.join(tmp, "config.yaml")
            with open(path, "w", encoding="utf-8") as handle:
                yaml.safe_dump(config_io.dump(config), handle, sort_keys=False)
            worker_argv = ["pretrain", "--config", path]
        command = launch.torchrun_command(plan, worker_argv)
        child = subprocess.Popen(command, env=launch.worker_env(os.environ, plan))

        def forward(signum: int, _frame: object) -> None:
            child.send_signal(signum)

        previous = {s: signal.signal(s, forward) for s in (signal.SIGTERM, signal.SIGINT)}
        try:
            code = child.wait()
        finally:
            for sig, handler in previous.items():
                signal.signal(sig, handler)
    if code != 0:
        raise TritterError(
            f"training stopped: a rank exited with code {code} (its error is above); "
            "relaunching the same command resumes from the newest complete checkpoint"
        )
