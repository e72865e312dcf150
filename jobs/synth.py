"""The synth steps of `tritter-posttrain`: the identity set, the docstring instruction set when
no conversation sources are given, and (optionally) constitutional data from the base model.
Each skips when its folder's manifest matches."""

from __future__ import annotations

from tritter.deploy.params import PosttrainParams
from tritter.jobs.settings import prepare_posttrain, run_folder
from tritter.run_folder import (
    SYNTH_CRITIQUES,
    SYNTH_DOCSTRINGS,
    SYNTH_FILTER_MANIFEST,
    SYNTH_FILTERED,
    SYNTH_GENERATED,
    SYNTH_IDENTITY,
    SYNTH_PAIRS,
)
from tritter.synth import (
    critique_stage,
    docstrings_stage,
    filter_stage,
    generate_stage,
    identity_stage,
    revise_stage,
)
from tritter.synth.config import (
    CritiqueConfig,
    DocstringsConfig,
    FilterConfig,
    GenerateConfig,
    IdentityConfig,
    ReviseConfig,
)


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


# -- constitutional data: generate → critique → revise → filter (constitutional_count > 0) -------
# Each step is one stage run over all its units in the step's pod; the base model generates,
# critiques and revises by few-shot completion prompting (never a chat template: it is a base
# model). Off (constitutional_count 0), each step returns "" at once.


def _model_step(params: PosttrainParams, part: str) -> dict[str, object]:
    return {
        "model": params.base,
        "tokenizer": params.tokenizer_uri(),
        "output": run_folder(params).part(part),
        "seed": params.seed,
    }


def generate(settings: str) -> str:
    """Conversations from the base model, few-shot prompted with the shipped seed set."""
    params = prepare_posttrain(settings)
    if not params.constitutional_count:
        return ""
    made = GenerateConfig(**_model_step(params, SYNTH_GENERATED), count=params.constitutional_count)
    generate_stage.run(made)
    return made.output


def critique(settings: str, generated: str) -> str:
    """A critique of each generated reply against a principle of the constitution."""
    params = prepare_posttrain(settings)
    if not generated:
        return ""
    made = CritiqueConfig(**_model_step(params, SYNTH_CRITIQUES), input=generated)
    critique_stage.run(made)
    return made.output


def revise(settings: str, critiques: str) -> str:
    """Each reply revised after its critique: preference pairs and revised conversations."""
    params = prepare_posttrain(settings)
    if not critiques:
        return ""
    made = ReviseConfig(**_model_step(params, SYNTH_PAIRS), input=critiques)
    revise_stage.run(made)
    return made.output


def filter_pairs(settings: str, pairs: str) -> str:
    """Unsafe content, near-duplicates and evaluation-set overlap removed; returns the folder
    holding the kept pairs and conversations."""
    params = prepare_posttrain(settings)
    if not pairs:
        return ""
    made = FilterConfig(input=pairs, output=run_folder(params).part(SYNTH_FILTERED))
    filter_stage.run(made)
    return made.output


def constitutional_kept(params: PosttrainParams) -> str | None:
    """The filtered constitutional folder when it holds any rows (a tiny or weak base model
    may produce none that parse), else None: the training steps then leave it out."""
    if not params.constitutional_count:
        return None
    folder = run_folder(params).part(SYNTH_FILTERED)
    found = SYNTH_FILTER_MANIFEST.read(folder)
    return folder if found is not None and found.counts.rows_out > 0 else None
