"""`tritter run --input SRC --output URI`: the whole Kubeflow pipeline on this machine.

Runs the compiled `tritter-pretrain` pipeline (the very file the Helm chart uploads) with KFP's
local SubprocessRunner in this Python environment: every step runs as a subprocess, fan-outs
run in parallel, training runs `tritter pretrain` directly instead of a PyTorchJob. The
defaults are sized for one machine (tiny model, CPU unless a GPU is present); every pipeline
parameter can be changed with its flag.
"""

from __future__ import annotations

import argparse
import re
import sys
import tempfile
import warnings
from pathlib import Path
from typing import Any, TextIO

from tritter.config import add_arguments, build_config
from tritter.deploy.params import PipelineParams
from tritter.errors import TritterError


def local_defaults(gpus: int | None = None) -> dict[str, Any]:
    """Pipeline defaults that fit one machine (the cluster defaults train a 700m model).

    `gpus=None` counts this machine's GPUs; building the parser passes a number instead, so that
    every `tritter` invocation (torchrun workers included) does not pay for importing torch.
    """
    if gpus is None:
        import torch

        gpus = torch.cuda.device_count()
    return {
        "model": "tiny",
        "gpus_per_node": min(gpus, 8),
        "vocab_size": 4096,
        "tokenizer_sample_bytes": 5_000_000,
        "seq_len": 256,
        "max_steps": 200,
        "micro_batch_size": 8,
        "checkpoint_every": 100,
        "eval_limit": 10,
        "eval_max_new_tokens": 128,
        "launcher": "local",
    }


def register(subparsers: argparse._SubParsersAction) -> None:
    defaults = {**local_defaults(gpus=0), "gpus_per_node": "this machine's GPUs (up to 8)"}
    parser = subparsers.add_parser(
        "run",
        help="run the whole pipeline locally (curate → … → evaluate → report)",
        description="Run the tritter-pretrain Kubeflow pipeline on this machine with KFP's "
        "local SubprocessRunner: curation, tokenizer, packing, pretraining, evaluation and the "
        "report, writing everything under --output. Local defaults: "
        + ", ".join(f"{k}={v}" for k, v in defaults.items()),
    )
    parser.add_argument(
        "--input",
        dest="source",
        default="python-stdlib",
        help="source code: a directory, JSONL/Parquet documents, s3:// prefix, "
        "hf://DATASET[:CONFIG][:SPLIT] or python-stdlib (default: python-stdlib)",
    )
    parser.add_argument(
        "--output", dest="run_root", required=True, help="run folder: local path or s3:// URI"
    )
    parser.add_argument("--config", metavar="FILE", help="YAML file of pipeline parameters")
    add_arguments(parser, PipelineParams, exclude=("source", "run_root"))
    parser.set_defaults(handler=handle)


class _ErrorTap:
    """Pass the runner's output through and remember the last step error line in it, so the
    command can end with that one line instead of a stack of KFP tracebacks."""

    PATTERN = re.compile(r"TritterError: (.+)$")

    def __init__(self, stream: TextIO) -> None:
        self.stream = stream
        self.last_error: str | None = None

    def write(self, text: str) -> int:
        for line in text.splitlines():
            found = self.PATTERN.search(line)
            if found:
                self.last_error = found.group(1).strip()
        return self.stream.write(text)

    def flush(self) -> None:
        self.stream.flush()

    def __getattr__(self, name: str) -> Any:
        return getattr(self.stream, name)


def handle(args: argparse.Namespace) -> int:
    from kfp import components, local

    from tritter import storage
    from tritter.pipelines.package import committed_package, without_retries

    params = build_config(
        PipelineParams,
        args,
        args.config,
        overrides={"source": args.source, "run_root": storage.normalize(args.run_root)},
    )
    values = {**local_defaults(), **_given(args, params)}
    values.update(source=params.source, run_root=params.run_root)
    checked = PipelineParams.model_validate(values)
    package = committed_package()
    if not package.exists():
        raise TritterError(f"{package}: compiled pipeline missing; run `tritter pipeline compile`")
    with tempfile.TemporaryDirectory(prefix="tritter-run-") as root:
        local.init(runner=local.SubprocessRunner(use_venv=False), pipeline_root=root)
        local_package = Path(root) / "tritter_pretrain.yaml"
        local_package.write_text(without_retries(package.read_text(encoding="utf-8")), "utf-8")
        pipeline = components.load_component_from_file(str(local_package))
        tap = _ErrorTap(sys.stdout)
        saved, sys.stdout = sys.stdout, tap
        try:
            with warnings.catch_warnings():
                # The steps name container images; locally they run in this environment.
                warnings.simplefilter("ignore", RuntimeWarning)
                # Resource, retry and Kubernetes settings are cluster-only; locally they are
                # no-ops by design, so KFP's per-task notice about it is noise.
                warnings.filterwarnings("ignore", r"Task '.*': settings", UserWarning)
                result = pipeline(**checked.model_dump(mode="json"))
        except RuntimeError as err:
            raise TritterError(tap.last_error or str(err).splitlines()[0]) from err
        finally:
            sys.stdout = saved
    print(f"report: {storage.join(result.output, 'report.html')}")
    return 0


def _given(args: argparse.Namespace, params: PipelineParams) -> dict[str, Any]:
    """Parameters the user set by flag or config file (they win over the local defaults)."""
    explicit = {k for k in vars(args) if k in PipelineParams.model_fields}
    explicit |= params.model_fields_set
    return {k: getattr(params, k) for k in explicit}
