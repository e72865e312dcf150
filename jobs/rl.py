"""The RL step of `tritter-posttrain`: GRPO-style reinforcement learning with verifiable rewards
from the pipeline's model so far — DPO's when DPO ran, else SFT's — when `rl_prompts` names
prompt rows. Without them the step returns its input folder unchanged, so evaluation runs on the
final model (rl → dpo → sft).

Like the other training steps it runs `tritter rl` as a PyTorchJob in a cluster and as a child
process otherwise; the trainer checks the prompt rows into `rl/data/`, trains, and skips when
`rl/`'s manifest matches.
"""

from __future__ import annotations

from tritter import storage
from tritter.deploy.params import PosttrainParams
from tritter.deploy.pytorchjob import JobSpec, job_name
from tritter.jobs.pretrain import cluster_fields, launcher, run_training
from tritter.jobs.settings import prepare_posttrain, run_folder
from tritter.run_folder import RL


def job_spec(params: PosttrainParams, init: str, mode: str) -> JobSpec:
    """The RL training job (pure: no cluster, no environment)."""
    return JobSpec(
        name=job_name(params.run_root, RL),
        phase="rl",
        init=init,
        data=params.rl_prompts,
        tokenizer=params.tokenizer_uri(),
        output=run_folder(params).part(RL),
        lr=params.rl_lr,
        reward=params.rl_reward,
        samples_per_prompt=params.rl_samples_per_prompt,
        max_steps=params.rl_max_steps or None,  # 0: one pass over the prompts
        **cluster_fields(params, mode),
    )


def rl(settings: str, model: str) -> str:
    """Train RL from `model` (the dpo or sft folder) to the end and return the rl folder;
    without prompt rows return `model`."""
    params = prepare_posttrain(settings)
    if not params.rl_prompts:
        return model
    mode = launcher(params)
    spec = job_spec(params, model, mode)
    run_training(params, spec, mode)
    return spec.output


def stage_of(folder: str) -> str:
    """The stage whose model `folder` holds (rl, dpo or sft: the step's result)."""
    return storage.basename(folder.rstrip("/"))
