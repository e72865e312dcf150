"""The post-training steps of `tritter-posttrain`: midtraining from the base, then SFT from the
midtrained weights, each on the run's conversation sources (`jobs.dpo` follows).

Like pretraining, each phase runs as a PyTorchJob in a cluster (pods running `tritter sft
--phase mid|sft ...`) and as a child process with the same command otherwise; the trainer
renders the conversations into `<phase>/data/`, trains, and skips when the phase folder's
manifest matches its inputs and settings.
"""

from __future__ import annotations

from typing import Literal

from tritter import storage
from tritter.deploy.params import CONSTITUTIONAL_SOURCE, IDENTITY_SOURCE, PosttrainParams
from tritter.deploy.pytorchjob import JobSpec, job_name
from tritter.jobs.pretrain import cluster_fields, launcher, run_training
from tritter.jobs.settings import prepare_posttrain, run_folder
from tritter.jobs.synth import constitutional_kept
from tritter.run_folder import (
    IDENTITY_CONVERSATIONS,
    MID,
    SFT,
    SYNTH_DOCSTRINGS,
    SYNTH_IDENTITY,
)

DOCSTRINGS_SOURCE = "docstrings"


def sources(params: PosttrainParams, phase: str = "mid") -> dict[str, str]:
    """The conversation sources a phase trains on, name → URI: the identity set (unless
    identity_count is 0), then the given sources or, without any, the docstring set; SFT also
    gets the filtered constitutional conversations when they are generated (quality data,
    which midtraining's format-and-tasks mix leaves out)."""
    run = run_folder(params)
    named = {IDENTITY_SOURCE: run.part(SYNTH_IDENTITY)} if params.identity_count else {}
    named.update(params.given_sources() or {DOCSTRINGS_SOURCE: run.part(SYNTH_DOCSTRINGS)})
    filtered = constitutional_kept(params) if phase == "sft" else None
    if filtered:
        named[CONSTITUTIONAL_SOURCE] = storage.join(filtered, IDENTITY_CONVERSATIONS)
    return named


def job_spec(
    params: PosttrainParams, phase: Literal["mid", "sft"], init: str, mode: str
) -> JobSpec:
    """The training job of one phase (pure: no cluster, no environment)."""
    max_steps = params.mid_max_steps if phase == "mid" else params.sft_max_steps
    return JobSpec(
        name=job_name(params.run_root, phase),
        phase=phase,
        init=init,
        data=",".join(f"{name}={uri}" for name, uri in sources(params, phase).items()),
        tokenizer=params.tokenizer_uri(),
        output=run_folder(params).part(MID if phase == "mid" else SFT),
        lr=params.mid_lr if phase == "mid" else params.sft_lr,
        max_steps=max_steps or None,  # 0: one pass over the conversations
        **cluster_fields(params, mode),
    )


def _train(settings: str, phase: Literal["mid", "sft"], init: str | None = None) -> str:
    params = prepare_posttrain(settings)
    mode = launcher(params)
    spec = job_spec(params, phase, init or params.base, mode)
    run_training(params, spec, mode)
    return spec.output


def mid(settings: str, identity: str, docstrings: str) -> str:
    """Midtrain from `base` to the end; returns the mid folder (`identity` and `docstrings`,
    the synth steps' folders, only order this step after them)."""
    del identity, docstrings
    return _train(settings, "mid")


def sft(settings: str, mid: str, constitutional: str) -> str:
    """Fine-tune from the midtrained weights to the end; returns the sft folder
    (`constitutional`, the filter step's folder or "", only orders this step after it)."""
    del constitutional
    return _train(settings, "sft", init=mid)
