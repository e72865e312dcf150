"""The dpo stage: preference pairs + `--init` SFT weights → dpo/ (`tritter dpo`).

It renders the pairs and scores them with the reference (= `--init`) model into
`<output>/data/` (`tritter.dpo.data`, its own manifest, redone only when the sources,
tokenizer, `--init`, `--seq-len`, split or reference precision change), then trains with the
pretraining trainer — same ranks, checkpoints, exact resume, metrics (`phase="dpo"`) and final
export — on the `Preference` objective, and writes the manifest (stage `dpo`). Ranks started
through torchrun run `tritter dpo --config <this config>`, which, inside a worker, only trains
(`run_in_this_process`): the launcher has prepared the data.
"""

from __future__ import annotations

import math
import os
import tempfile
from collections.abc import Callable
from typing import TYPE_CHECKING

import numpy as np
import yaml

from tritter import config as config_io
from tritter import storage
from tritter.dpo.config import DpoConfig, DpoTrainConfig
from tritter.dpo.data import DataSettings, prepare, reference_scorer
from tritter.dpo.objective import Preference
from tritter.run_folder import DPO_DATA, DPO_DATA_MANIFEST, DPO_MANIFEST, PretrainManifest
from tritter.train import launch
from tritter.train import stage as train_stage

if TYPE_CHECKING:
    from tritter.tokenizer import Tokenizer

Sequences = list[tuple[np.ndarray, np.ndarray]]

# DpoConfig's own fields: the trainer does not know them.
DATA_FIELDS = ("val_fraction", "epochs")


def is_done(output: str) -> PretrainManifest | None:
    return DPO_MANIFEST.read(output)


def reference_device(config: DpoConfig) -> str:
    """Where the reference pass runs: the first GPU when training would use GPUs."""
    import torch

    if config.device == "cuda" or (config.device == "auto" and torch.cuda.is_available()):
        return "cuda"
    return "cpu"


def data_settings(config: DpoConfig) -> DataSettings:
    import torch

    from tritter.train.parallelize import bf16_compute

    bf16 = bf16_compute(config, torch.device(reference_device(config)))
    return DataSettings(
        val_fraction=config.val_fraction,
        seed=config.seed,
        seq_len=config.seq_len,
        precision="bf16" if bf16 else "fp32",
    )


def train_config(config: DpoConfig, data: str, train_pairs: int) -> DpoTrainConfig:
    """The trainer's config on the rendered pairs (`epochs` passes unless a length is given:
    a pair counts `--seq-len` tokens of the trainer's global batch)."""
    values = config.model_dump(mode="json", exclude={*DATA_FIELDS, "data"})
    if config.max_steps is None and config.token_budget is None:
        values["token_budget"] = max(1, math.ceil(config.epochs * train_pairs * config.seq_len))
    return DpoTrainConfig.model_validate({**values, "data": data})


def _train_pairs(data: str) -> int:
    return sum(DPO_DATA_MANIFEST.require(data).counts.pairs.get("train", {}).values())


def run(config: DpoConfig) -> PretrainManifest:
    """Render and score the pairs (or find them so), then train to the end (or find it done)."""
    from tritter.tokenizer import Tokenizer
    from tritter.train.preflight import model_config_for

    tokenizer = Tokenizer.load(config.tokenizer)
    model_config_for(config, tokenizer)  # --init exists and fits the tokenizer: one line if not
    data = storage.join(config.output, DPO_DATA)
    prepare(config.sources(), data_settings(config), tokenizer, config.init, data,
            _reference(config, tokenizer))  # fmt: skip
    trainer_config = train_config(config, data, _train_pairs(data))
    with tempfile.TemporaryDirectory(prefix="tritter-dpo-launch-") as tmp:
        path = os.path.join(tmp, "config.yaml")
        with open(path, "w", encoding="utf-8") as handle:
            yaml.safe_dump(config_io.dump(config), handle, sort_keys=False)
        return train_stage.run(
            trainer_config, Preference(trainer_config), ["dpo", "--config", path]
        )


def run_in_this_process(config: DpoConfig) -> PretrainManifest | None:
    """What `tritter dpo` does: a rank that torchrun started trains on the prepared pairs (and
    returns None: rank 0 writes the manifest); anything else runs the stage."""
    if launch.detect(nproc=config.nproc).mode == "worker":
        from tritter.train.trainer import train

        data = storage.join(config.output, DPO_DATA)
        trainer_config = train_config(config, data, _train_pairs(data))
        train(trainer_config, Preference(trainer_config))
        return None
    return run(config)


def _reference(config: DpoConfig, tokenizer: Tokenizer) -> Callable[[Sequences], np.ndarray]:
    """The reference scorer, loading `--init` on first use (not at all when the data is
    already prepared)."""
    loaded: list[Callable[[Sequences], np.ndarray]] = []

    def score(sequences: Sequences) -> np.ndarray:
        if not loaded:
            import torch

            from tritter.train.checkpoint import load_model
            from tritter.train.trainer import autocast_factory

            device = torch.device(reference_device(config))
            model = load_model(config.init)[0].to(device)
            pad = tokenizer.pad_id if tokenizer.pad_id >= 0 else tokenizer.eos_id
            loaded.append(reference_scorer(model, device, autocast_factory(config, device), pad,
                                           2 * config.micro_batch_size))  # fmt: skip
        return loaded[0](sequences)

    return score
