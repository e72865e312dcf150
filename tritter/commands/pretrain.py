"""`tritter pretrain`: train a Tritter model on packed shards, locally or in a PyTorchJob."""

from __future__ import annotations

import argparse

from tritter.config import build_config
from tritter.train.config import add_training_arguments


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
    add_training_arguments(parser, TrainConfig)
    parser.set_defaults(handler=handle)


def handle(args: argparse.Namespace) -> int:
    from tritter.train import stage
    from tritter.train.config import TrainConfig

    config = build_config(TrainConfig, args, args.config)
    result = stage.run_in_this_process(config)
    if result is not None:
        steps, tokens = result.counts.steps, result.counts.tokens
        print(f"trained {steps} steps ({tokens:,} tokens): {config.output}")
    return 0
