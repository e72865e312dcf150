"""The pretrain step, and the training pod's own entrypoint.

In a cluster the step creates the PyTorchJob (`tritter.deploy.pytorchjob`) whose pods run
`tritter pretrain`, follows it and deletes it (`tritter.deploy.launch`); without one it runs
the same command as a child process. `python -m tritter.jobs.pretrain [flags]` takes exactly
the flags of `tritter pretrain` and exits 1 with a one-line `tritter: error: …` on bad input or
when a rank fails (the relaunch resumes).
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from typing import Any

from tritter import log
from tritter.config import add_arguments, build_config
from tritter.deploy import launch
from tritter.deploy.params import PipelineParams, RunParams, split_list
from tritter.deploy.pytorchjob import JobSpec, job_name
from tritter.errors import TritterError, exit_code
from tritter.jobs.settings import prepare, run_folder
from tritter.train.config import TrainConfig

METRICS_PORT = 9400  # the chart's PodMonitor scrapes the port by its name, `metrics`


def cluster_fields(params: RunParams, mode: str) -> dict[str, Any]:
    """What every training job (pretrain, mid, sft) takes from the shared parameters: its size,
    batch, seed, where it runs and what its pods need from the cluster."""
    return {
        "image": params.train_image,
        "nodes": params.nodes,
        "gpus_per_node": params.gpus_per_node,
        "checkpoint_every": params.checkpoint_every,
        "seq_len": params.seq_len,
        "micro_batch_size": params.micro_batch_size,
        "global_batch_tokens": params.global_batch_tokens,
        "seed": params.seed,
        # Locally nothing scrapes the trainer; port 0 leaves the machine's ports alone.
        "metrics_port": METRICS_PORT if mode != "local" else 0,
        "namespace": params.namespace or None,
        "s3_secret": params.s3_secret or None,
        "s3_endpoint": params.s3_endpoint,
        "image_pull_secrets": tuple(split_list(params.image_pull_secrets)),
        "service_account": params.service_account or None,
        "gang_scheduling": params.gang_scheduling,
        "scheduling_queue": params.scheduling_queue or None,
        "cpu": params.train_cpu,
        "memory": params.train_memory,
        **params.training_placement(),
        "active_deadline_seconds": int(params.train_timeout_hours * 3600),
        "extra_env": (
            {"TRITTER_PUSHGATEWAY_URL": params.pushgateway_url} if params.pushgateway_url else {}
        ),
    }


def train_job_spec(params: PipelineParams, data: str, tokenizer: str, mode: str) -> JobSpec:
    """The training job for these parameters (pure: no cluster, no environment)."""
    return JobSpec(
        name=job_name(params.run_root, "train"),
        data=data,
        tokenizer=tokenizer,
        output=run_folder(params).checkpoints,
        # Continued pretraining: the shape comes from the base weights (`--init`).
        model=None if params.base_model else params.model,
        init=params.base_model or None,
        max_steps=params.max_steps,
        **cluster_fields(params, mode),
    )


def pretrain(settings: str, data: str, tokenizer: str) -> str:
    """Train to the end (a PyTorchJob in a cluster, a child process locally); returns the
    checkpoints folder."""
    params = prepare(settings)
    mode = launcher(params)
    spec = train_job_spec(params, data, tokenizer, mode)
    run_training(params, spec, mode)
    return spec.output


def launcher(params: RunParams) -> str:
    """`kubernetes` or `local` for these parameters (a multi-node job needs a cluster)."""
    mode = launch.choose_launcher(params.launcher)
    if mode == "local" and params.nodes > 1:
        raise TritterError(
            f"pipeline parameter 'nodes': {params.nodes} nodes need launcher=kubernetes"
        )
    return mode


def run_training(params: RunParams, spec: JobSpec, mode: str) -> None:
    """Run the job to its end under `train_timeout_hours`: a PyTorchJob, or a child process."""
    timeout = params.train_timeout_hours * 3600
    if mode in ("kubernetes", "trainjob"):
        kind = "trainjob" if mode == "trainjob" else "pytorchjob"
        launch.run_kubernetes(spec, timeout, kind=kind)
    else:
        launch.run_local(spec, timeout)


def main(argv: Sequence[str] | None = None) -> int:
    """The training container's entrypoint: `tritter pretrain` without the subcommand."""
    parser = argparse.ArgumentParser(
        prog="python -m tritter.jobs.pretrain", description="Same flags as `tritter pretrain`."
    )
    parser.add_argument("--config", metavar="FILE", help="YAML file with the options below")
    add_arguments(parser, TrainConfig)
    args = parser.parse_args(argv)
    log.configure()

    def body() -> None:
        from tritter.train import stage

        stage.run_in_this_process(build_config(TrainConfig, args, args.config))

    return exit_code(body)


if __name__ == "__main__":
    sys.exit(main())
