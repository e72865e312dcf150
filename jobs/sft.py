"""The post-training steps of `tritter-posttrain`: midtraining from the base, then SFT from the
midtrained weights, each on the run's conversation sources.

Like pretraining, each phase runs as a PyTorchJob in a cluster (pods running `tritter sft
--phase mid|sft ...`) and as a child process with the same command otherwise; the trainer
renders the conversations into `<phase>/data/`, trains, and skips when the phase folder's
manifest matches its inputs and settings.
"""

from __future__ import annotations

from typing import Literal

from tritter.deploy.params import IDENTITY_SOURCE, PosttrainParams
from tritter.deploy.pytorchjob import JobSpec, job_name
from tritter.jobs.pretrain import METRICS_PORT, launcher, run_training
from tritter.jobs.settings import prepare_posttrain, run_folder
from tritter.run_folder import MID, SFT, SYNTH_DOCSTRINGS, SYNTH_IDENTITY

DOCSTRINGS_SOURCE = "docstrings"


def sources(params: PosttrainParams) -> dict[str, str]:
    """The conversation sources both phases train on, name → URI: the identity set (unless
    identity_count is 0), then the given sources or, without any, the docstring set."""
    run = run_folder(params)
    named = {IDENTITY_SOURCE: run.part(SYNTH_IDENTITY)} if params.identity_count else {}
    named.update(params.given_sources() or {DOCSTRINGS_SOURCE: run.part(SYNTH_DOCSTRINGS)})
    return named


def job_spec(
    params: PosttrainParams, phase: Literal["mid", "sft"], init: str, mode: str
) -> JobSpec:
    """The training job of one phase (pure: no cluster, no environment)."""
    max_steps = params.mid_max_steps if phase == "mid" else params.sft_max_steps
    return JobSpec(
        name=job_name(params.run_root, phase),
        image=params.train_image,
        phase=phase,
        init=init,
        data=",".join(f"{name}={uri}" for name, uri in sources(params).items()),
        tokenizer=params.tokenizer_uri(),
        output=run_folder(params).part(MID if phase == "mid" else SFT),
        lr=params.mid_lr if phase == "mid" else params.sft_lr,
        nodes=params.nodes,
        gpus_per_node=params.gpus_per_node,
        max_steps=max_steps or None,  # 0: one pass over the conversations
        checkpoint_every=params.checkpoint_every,
        seq_len=params.seq_len,
        micro_batch_size=params.micro_batch_size,
        global_batch_tokens=params.global_batch_tokens,
        seed=params.seed,
        # Locally nothing scrapes the trainer; port 0 leaves the machine's ports alone.
        metrics_port=METRICS_PORT if mode == "kubernetes" else 0,
        namespace=params.namespace or None,
        s3_secret=params.s3_secret or None,
        s3_endpoint=params.s3_endpoint,
        active_deadline_seconds=int(params.train_timeout_hours * 3600),
        extra_env=(
            {"TRITTER_PUSHGATEWAY_URL": params.pushgateway_url} if params.pushgateway_url else {}
        ),
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


def sft(settings: str, mid: str) -> str:
    """Fine-tune from the midtrained weights to the end; returns the sft folder."""
    return _train(settings, "sft", init=mid)
