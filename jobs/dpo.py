"""The DPO step of `tritter-posttrain`: preference optimisation from the SFT model, when there
are preference pairs (given by `preference_pairs`, and the filtered constitutional pairs when
they are generated). Without pairs the SFT model is the pipeline's result and the step returns
its folder unchanged.

Like the other training steps it runs `tritter dpo` as a PyTorchJob in a cluster and as a
child process otherwise; the trainer renders the pairs and the frozen reference's
log-probabilities into `dpo/data/`, trains, and skips when `dpo/`'s manifest matches.
"""

from __future__ import annotations

from tritter import storage
from tritter.deploy.params import CONSTITUTIONAL_SOURCE, PosttrainParams
from tritter.deploy.pytorchjob import JobSpec, job_name
from tritter.jobs.pretrain import cluster_fields, launcher, run_training
from tritter.jobs.settings import prepare_posttrain, run_folder
from tritter.jobs.synth import constitutional_kept
from tritter.run_folder import DPO, PAIRS_FILE


def pairs(params: PosttrainParams) -> dict[str, str]:
    """The preference-pair sources, name → URI."""
    named = dict(params.given_pairs())
    filtered = constitutional_kept(params)
    if filtered:
        named[CONSTITUTIONAL_SOURCE] = storage.join(filtered, PAIRS_FILE)
    return named


def job_spec(params: PosttrainParams, init: str, mode: str) -> JobSpec:
    """The DPO training job (pure: no cluster, no environment)."""
    return JobSpec(
        name=job_name(params.run_root, DPO),
        phase="dpo",
        init=init,
        data=",".join(f"{name}={uri}" for name, uri in pairs(params).items()),
        tokenizer=params.tokenizer_uri(),
        output=run_folder(params).part(DPO),
        lr=params.dpo_lr,
        beta=params.dpo_beta,
        max_steps=params.dpo_max_steps or None,  # 0: one pass over the pairs
        **cluster_fields(params, mode),
    )


def dpo(settings: str, sft: str, constitutional: str) -> str:
    """Train DPO from `sft` to the end and return the dpo folder; without pairs return `sft`
    (`constitutional`, the filter step's folder or "", only orders this step after it)."""
    del constitutional
    params = prepare_posttrain(settings)
    if not pairs(params):
        return sft
    mode = launcher(params)
    spec = job_spec(params, sft, mode)
    run_training(params, spec, mode)
    return spec.output
