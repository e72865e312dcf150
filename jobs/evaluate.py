"""The evaluate steps: held-out perplexity and sandboxed HumanEval/MBPP on the newest
checkpoint — of pretraining into `<run_root>/eval`, of the post-trained model into
`<run_root>/sft/eval` (`dpo/eval`, `rl/eval` when those ran)."""

from __future__ import annotations

from tritter.config import validate
from tritter.deploy.params import PipelineParams, RunParams, split_list
from tritter.evaluate import stage
from tritter.evaluate.config import EvaluateConfig
from tritter.jobs.settings import prepare, prepare_posttrain, run_folder
from tritter.run_folder import DPO, DPO_EVAL, RL, RL_EVAL, SFT_EVAL


def config(
    params: RunParams,
    checkpoints: str,
    tokenizer: str,
    data: str | None,
    output: str | None = None,
) -> EvaluateConfig:
    """`output` defaults to the run's `eval/`; `data` (the packed shards) is only read by the
    perplexity task."""
    return validate(
        EvaluateConfig,
        {
            "checkpoint": checkpoints,
            "tokenizer": tokenizer,
            "data": data,
            "output": output or run_folder(params).eval,
            "tasks": split_list(params.eval_tasks),
            "limit": params.eval_limit or None,
            "generation": {"max_new_tokens": params.eval_max_new_tokens},
            # Score held-out text with the training window (the preset's may exceed the data).
            "perplexity": {"seq_len": params.seq_len},
        },
    )


def evaluate(settings: str, checkpoints: str, tokenizer: str, data: str) -> str:
    """Returns the eval folder."""
    params: PipelineParams = prepare(settings)
    made = config(params, checkpoints, tokenizer, data)
    stage.run(made)
    return made.output


def evaluate_sft(settings: str, checkpoints: str) -> str:
    """Evaluate the post-trained model — `sft/`, `dpo/` when DPO ran, `rl/` when RL ran — into
    its folder's `eval/` (the pretrained model's evaluation keeps `<run_root>/eval`, so a run
    folder holding both pipelines keeps both); perplexity reads `<run_root>/tokens`. Returns the
    eval folder."""
    params = prepare_posttrain(settings)
    run = run_folder(params)
    tokens = run.tokens if "perplexity" in split_list(params.eval_tasks) else None
    evals = {run.part(DPO): DPO_EVAL, run.part(RL): RL_EVAL}
    output = run.part(evals.get(checkpoints, SFT_EVAL))
    made = config(params, checkpoints, params.tokenizer_uri(), tokens, output)
    stage.run(made)
    return made.output
