"""The synth steps of `tritter-posttrain`: the identity set, and the docstring instruction set
when no conversation sources are given. Both are deterministic for the run's seed and skip when
their folder's manifest matches."""

from __future__ import annotations

from tritter.deploy.params import PosttrainParams
from tritter.jobs.settings import prepare_posttrain, run_folder
from tritter.run_folder import SYNTH_DOCSTRINGS, SYNTH_IDENTITY
from tritter.synth import docstrings_stage, identity_stage
from tritter.synth.config import DocstringsConfig, IdentityConfig


def identity_config(params: PosttrainParams) -> IdentityConfig:
    return IdentityConfig(
        output=run_folder(params).part(SYNTH_IDENTITY),
        count=params.identity_count,
        seed=params.seed,
    )


def docstrings_config(params: PosttrainParams) -> DocstringsConfig:
    return DocstringsConfig(
        output=run_folder(params).part(SYNTH_DOCSTRINGS),
        count=params.docstrings_count,
        seed=params.seed,
    )


def identity(settings: str) -> str:
    """Generate the identity set (or find it generated); returns its folder, or "" when
    identity_count is 0."""
    params = prepare_posttrain(settings)
    if not params.identity_count:
        return ""
    made = identity_config(params)
    identity_stage.run(made)
    return made.output


def docstrings(settings: str) -> str:
    """Generate the docstring instruction set when `conversations` is empty; returns its
    folder, or "" when the given sources replace it."""
    params = prepare_posttrain(settings)
    if params.given_sources():
        return ""
    made = docstrings_config(params)
    docstrings_stage.run(made)
    return made.output
