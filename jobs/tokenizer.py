"""The tokenizer step: train (or find trained) the run's tokenizer on the curated folder, or,
for continued pretraining, import the base model's own tokenizer (`tokenizer_source`, else
`base_model`'s folder) and measure it on the curated folder."""

from __future__ import annotations

from tritter.config import validate
from tritter.deploy.params import PipelineParams
from tritter.jobs.settings import prepare, run_folder
from tritter.tokenizer import importer, stage
from tritter.tokenizer.config import TokenizerConfig, TokenizerImportConfig


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


def import_config(params: PipelineParams, curated: str) -> TokenizerImportConfig:
    return validate(
        TokenizerImportConfig,
        {
            "source": params.imported_tokenizer(),
            "output": run_folder(params).tokenizer,
            "curated": curated,
            "seed": params.seed,
        },
    )


def train(settings: str, curated: str) -> str:
    """Returns the tokenizer folder."""
    params = prepare(settings)
    if params.imported_tokenizer():
        imported = import_config(params, curated)
        importer.run(imported)
        return imported.output
    made = config(params, curated)
    stage.run(made)
    return made.output
