"""The evaluate step: held-out perplexity and sandboxed HumanEval/MBPP on the newest checkpoint."""

from __future__ import annotations

from tritter.config import validate
from tritter.deploy.params import PipelineParams, split_list
from tritter.evaluate import stage
from tritter.evaluate.config import EvaluateConfig
from tritter.jobs.settings import prepare, run_folder


def config(params: PipelineParams, checkpoints: str, tokenizer: str, data: str) -> EvaluateConfig:
    return validate(
        EvaluateConfig,
        {
            "checkpoint": checkpoints,
            "tokenizer": tokenizer,
            "data": data,
            "output": run_folder(params).eval,
            "tasks": split_list(params.eval_tasks),
            "limit": params.eval_limit or None,
            "generation": {"max_new_tokens": params.eval_max_new_tokens},
            # Score held-out text with the training window (the preset's may exceed the data).
            "perplexity": {"seq_len": params.seq_len},
        },
    )


def evaluate(settings: str, checkpoints: str, tokenizer: str, data: str) -> str:
    """Returns the eval folder."""
    made = config(prepare(settings), checkpoints, tokenizer, data)
    stage.run(made)
    return made.output
