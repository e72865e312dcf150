"""The rl stage: prompt rows + `--init` weights (normally SFT or DPO) → rl/ (`tritter rl`).

The launcher checks the reward (a built-in name, or a `module:function` that a worker process
imports: a name that does not resolve is one line before anything is written), checks and
writes the prompt rows into `<output>/data/` (`tritter.rl.data`, its own manifest), then trains
with the pretraining trainer — same ranks, checkpoints, exact resume, metrics (`phase="rl"`) and
final export — on the `PolicyGradient` objective, and writes the manifest (stage `rl`, with the
rollout totals and reward errors in its counts). Ranks started through torchrun run `tritter rl
--config <this config>`, which, inside a worker, only trains (`run_in_this_process`).
"""

from __future__ import annotations

import math
import os
import tempfile

import yaml

from tritter import config as config_io
from tritter import storage
from tritter.rl.config import RlConfig, RlTrainConfig
from tritter.rl.data import DataSettings, prepare
from tritter.rl.objective import PolicyGradient, check_group_split
from tritter.rl.runner import RewardRunner, required_fields
from tritter.run_folder import RL_DATA, RL_DATA_MANIFEST, RL_MANIFEST, RlManifest
from tritter.train import launch
from tritter.train import stage as train_stage

# RlConfig's own fields: the trainer does not know them.
DATA_FIELDS = ("epochs", "prompts")


def is_done(output: str) -> RlManifest | None:
    return RL_MANIFEST.read(output)


def data_settings(config: RlConfig) -> DataSettings:
    return DataSettings(
        seq_len=config.seq_len,
        reward=config.reward,
        required_fields=list(required_fields(config.reward)),
    )


def train_config(config: RlConfig, data: str, prompts: int) -> RlTrainConfig:
    """The trainer's config on the checked rows (`epochs` passes unless a length is given: a
    completion counts `--seq-len` tokens of the trainer's global batch)."""
    values = config.model_dump(mode="json", exclude={*DATA_FIELDS, "data"})
    if config.max_steps is None and config.token_budget is None:
        # Each sampling serves --ppo-epochs steps.
        completions = config.epochs * prompts * config.samples_per_prompt * config.ppo_epochs
        values["token_budget"] = max(1, math.ceil(completions * config.seq_len))
    return RlTrainConfig.model_validate({**values, "data": data})


def _kept(data: str) -> int:
    return RL_DATA_MANIFEST.require(data).counts.kept


def run(config: RlConfig) -> RlManifest:
    """Check the reward and the rows (or find them checked), then train to the end (or find it
    done)."""
    from tritter.tokenizer import Tokenizer
    from tritter.train.config import accumulation_steps
    from tritter.train.preflight import model_config_for

    tokenizer = Tokenizer.load(config.tokenizer)
    model_config_for(config, tokenizer)  # --init exists and fits the tokenizer: one line if not
    plan = launch.detect(nproc=config.nproc)
    check_group_split(accumulation_steps(config, plan.world_size), config.micro_batch_size,
                      config.samples_per_prompt)  # fmt: skip
    runner = RewardRunner(config.reward, config.reward_timeout, 1)
    try:
        runner.check()  # the function imports (in a worker, as in training)
    finally:
        runner.close()
    data = storage.join(config.output, RL_DATA)
    prepare(config.prompts, data_settings(config), tokenizer, data)
    trainer_config = train_config(config, data, _kept(data))
    with tempfile.TemporaryDirectory(prefix="tritter-rl-launch-") as tmp:
        path = os.path.join(tmp, "config.yaml")
        with open(path, "w", encoding="utf-8") as handle:
            yaml.safe_dump(config_io.dump(config), handle, sort_keys=False)
        train_stage.run(trainer_config, PolicyGradient(trainer_config), ["rl", "--config", path])
    return RL_MANIFEST.require(config.output)


def run_in_this_process(config: RlConfig) -> RlManifest | None:
    """What `tritter rl` does: a rank that torchrun started trains on the checked rows (and
    returns None: rank 0 writes the manifest); anything else runs the stage."""
    if launch.detect(nproc=config.nproc).mode == "worker":
        from tritter.train.trainer import train

        data = storage.join(config.output, RL_DATA)
        trainer_config = train_config(config, data, _kept(data))
        train(trainer_config, PolicyGradient(trainer_config))
        return None
    return run(config)
