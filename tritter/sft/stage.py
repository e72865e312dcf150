"""The sft stage: conversation sources + `--init` weights → mid/ or sft/ (`tritter sft`).

It renders the conversations into `<output>/data/` (`tritter.sft.data`, its own manifest, redone
only when the sources, tokenizer or data options change), then trains exactly as `tritter
pretrain` does — same trainer, ranks, checkpoints, resume, metrics and final export — with the
phase recorded in the metrics (`phase` label) and the manifest (stage `mid` or `sft`).
"""

from __future__ import annotations

import math

from tritter import storage
from tritter.run_folder import SFT_DATA, TRAIN_MANIFESTS, PretrainManifest, TrainInputs
from tritter.sft.config import SftConfig
from tritter.sft.data import DataSettings, prepare
from tritter.train import stage as train_stage
from tritter.train.config import TrainConfig

# SftConfig's own fields: the trainer does not know them.
DATA_FIELDS = ("mix", "val_fraction", "max_repetition", "epochs")


def fingerprint(config: TrainConfig, inputs: TrainInputs) -> str:
    """Of the training part (`train_config`): the data's fingerprint is one of its inputs."""
    return train_stage.fingerprint(config, inputs)


def is_done(output: str, phase: str = "sft") -> PretrainManifest | None:
    return TRAIN_MANIFESTS[phase].read(output)


def data_settings(config: SftConfig) -> DataSettings:
    return DataSettings(
        mix=config.mix,
        val_fraction=config.val_fraction,
        max_repetition=config.max_repetition,
        seed=config.seed,
    )


def train_config(config: SftConfig, data: str, train_tokens: int) -> TrainConfig:
    """The pretraining config that trains this phase on the rendered data."""
    values = config.model_dump(mode="json", exclude={*DATA_FIELDS, "data"})
    if config.max_steps is None and config.token_budget is None:
        values["token_budget"] = max(1, math.ceil(config.epochs * train_tokens))
    return TrainConfig.model_validate({**values, "data": data})


def run(config: SftConfig) -> PretrainManifest:
    """Render the data (or find it rendered), then train to the end (or find it trained)."""
    from tritter.tokenizer import Tokenizer

    tokenizer = Tokenizer.load(config.tokenizer)
    data = storage.join(config.output, SFT_DATA)
    rendered = prepare(config.sources(), data_settings(config), tokenizer, data)
    train_tokens = sum(rendered.counts.tokens.get("train", {}).values())
    return train_stage.run(train_config(config, data, train_tokens))
