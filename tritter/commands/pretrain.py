"""`tritter pretrain`: train a Tritter model on packed shards, locally or in a PyTorchJob."""

from __future__ import annotations

import argparse
import os
import signal
import subprocess
import tempfile
from typing import TYPE_CHECKING

import yaml

from tritter.config import add_arguments, build_config, dump
from tritter.errors import TritterError

if TYPE_CHECKING:
    from tritter.train.config import TrainConfig
    from tritter.train.launch import LaunchPlan


def register(subparsers: argparse._SubParsersAction) -> None:
    from tritter.train.config import TrainConfig

    parser = subparsers.add_parser(
        "pretrain",
        help="pretrain a ternary (BitNet b1.58) model on packed token shards",
        description="Train a Tritter model on the shards of `tritter pack`. --nproc N starts N "
        "local ranks through torchrun; inside a Kubeflow PyTorchJob (or a Trainer v2 "
        "torch-distributed TrainJob) the operator's MASTER_ADDR/PET_* environment decides the "
        "nodes and ranks. Resumes from the newest complete checkpoint under --output; writes "
        "config.yaml, metrics.jsonl, step-NNNNNNNN/ checkpoints and final/ there, and serves "
        "Prometheus metrics on --metrics-port.",
    )
    parser.add_argument("--config", metavar="FILE", help="YAML file with the options below")
    add_arguments(parser, TrainConfig)
    parser.add_argument(
        "--checkpoint-every",
        dest="checkpoint.every",
        type=int,
        default=argparse.SUPPRESS,
        help="same as --checkpoint.every",
    )
    parser.set_defaults(handler=handle)


def handle(args: argparse.Namespace) -> int:
    from tritter.train import launch
    from tritter.train.config import TrainConfig
    from tritter.train.preflight import check

    config = build_config(TrainConfig, args, args.config)
    plan = launch.detect(nproc=config.nproc)
    if plan.mode == "worker":
        from tritter.train.trainer import train

        train(config)
        return 0
    check(config, plan.world_size)  # bad input: one line, before any rank starts
    launch.check_devices(plan, config.device)
    if plan.mode == "single":
        from tritter.train.trainer import train

        result = train(config)
        print(f"trained {result['step']} steps ({result['tokens']:,} tokens): {config.output}")
        return 0
    return _run_torchrun(plan, config)


def _run_torchrun(plan: LaunchPlan, config: TrainConfig) -> int:
    """Start this node's ranks with torchrun; the resolved config travels as a YAML file."""
    from tritter.train import launch

    with tempfile.TemporaryDirectory(prefix="tritter-launch-") as tmp:
        path = os.path.join(tmp, "config.yaml")
        with open(path, "w", encoding="utf-8") as handle:
            yaml.safe_dump(dump(config), handle, sort_keys=False)
        command = launch.torchrun_command(plan, ["pretrain", "--config", path])
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
    print(f"training done: {config.output}")
    return 0
