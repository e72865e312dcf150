"""The tokenizer step: train (or find trained) the run's tokenizer on the curated folder."""

from __future__ import annotations

from tritter.config import validate
from tritter.deploy.params import PipelineParams
from tritter.jobs.settings import prepare, run_folder
from tritter.tokenizer import stage
from tritter.tokenizer.config import TokenizerConfig


def config(params: PipelineParams, curated: str) -> TokenizerConfig:
    mix = {"mix": params.mixture} if params.mixture.strip() else {}
    return validate(
        TokenizerConfig,
        {
            "input": curated,
            "output": run_folder(params).tokenizer,
            "vocab_size": params.vocab_size,
            "sample_bytes": params.tokenizer_sample_bytes,
            "seed": params.seed,
            **mix,
        },
    )


def train(settings: str, curated: str) -> str:
    """Returns the tokenizer folder."""
    made = config(prepare(settings), curated)
    stage.run(made)
    return made.output
