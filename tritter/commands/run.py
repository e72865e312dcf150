"""`tritter run`: a whole Kubeflow pipeline on this machine.

Runs a compiled pipeline (the very file the Helm chart uploads) with KFP's local
SubprocessRunner in this Python environment: every step runs as a subprocess, fan-outs run in
parallel, training runs the trainer directly instead of a PyTorchJob. `--pipeline` picks it:

* `pretrain` (the default): `tritter-pretrain` — curate → tokenizer → pack → pretrain →
  evaluate → report, from `--input`;
* `posttrain`: `tritter-posttrain` — identity (and docstring) conversations → mid → sft →
  (dpo) → (rl) → evaluate → report, from the weights at `--base`;
* `full`: both on the same run folder, post-training the run's own `checkpoints/` with its
  `tokenizer/`.

The defaults are sized for one machine (tiny model, short post-training, CPU unless a GPU is
present); every pipeline parameter can be changed with its flag or a `--config` file.
"""

from __future__ import annotations

import argparse
import builtins
import contextlib
import os
import sys
import tempfile
import time
import warnings
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any, TextIO

from tritter.config import add_arguments, flag_name, load_config_file, validate
from tritter.deploy.params import PipelineParams, PosttrainParams, RunParams
from tritter.errors import TritterError
from tritter.run_folder import LOGS

if TYPE_CHECKING:
    from tritter.pipelines.console import RunConsole
    from tritter.run_folder import RunFolder

PIPELINES = ("pretrain", "posttrain", "full")
# Parameters of one pipeline only (run_root belongs to both).
PRETRAIN_ONLY = frozenset(PipelineParams.model_fields) - set(RunParams.model_fields) - {"run_root"}
POSTTRAIN_ONLY = (
    frozenset(PosttrainParams.model_fields) - set(RunParams.model_fields) - {"run_root"}
)


def _common_local_defaults(gpus: int | None) -> dict[str, Any]:
    if gpus is None:
        import torch

        gpus = torch.cuda.device_count()
    return {
        "gpus_per_node": min(gpus, 8),
        "seq_len": 256,
        "micro_batch_size": 8,
        "checkpoint_every": 100,
        "eval_limit": 10,
        "eval_max_new_tokens": 128,
        "launcher": "local",
    }


def local_defaults(gpus: int | None = None) -> dict[str, Any]:
    """`tritter-pretrain` defaults that fit one machine (the cluster defaults train a 700m
    model).

    `gpus=None` counts this machine's GPUs; building the parser passes a number instead, so that
    every `tritter` invocation (torchrun workers included) does not pay for importing torch.
    """
    return {
        "model": "tiny",
        **_common_local_defaults(gpus),
        "vocab_size": 4096,
        "tokenizer_sample_bytes": 5_000_000,
        "max_steps": 200,
    }


def posttrain_local_defaults(gpus: int | None = None) -> dict[str, Any]:
    """`tritter-posttrain` defaults that fit one machine: 100 steps of each phase (the cluster
    defaults train one pass over the conversations; RL runs only when given prompts)."""
    return {**_common_local_defaults(gpus), "mid_max_steps": 100, "sft_max_steps": 100,
            "rl_max_steps": 100}  # fmt: skip


def register(subparsers: argparse._SubParsersAction) -> None:
    gpus = {"gpus_per_node": "this machine's GPUs (up to 8)"}
    pretrain = {**local_defaults(gpus=0), **gpus}
    posttrain = {k: v for k, v in posttrain_local_defaults(gpus=0).items() if k in POSTTRAIN_ONLY}
    parser = subparsers.add_parser(
        "run",
        help="run a whole pipeline locally (curate → … → report, post-training, or both)",
        description="Run a Kubeflow pipeline on this machine with KFP's local "
        "SubprocessRunner, writing everything under --output: tritter-pretrain (curation, "
        "tokenizer, packing, pretraining, evaluation, report), tritter-posttrain (identity and "
        "docstring conversations, midtraining, SFT, evaluation, report) or both. Local "
        "defaults: " + ", ".join(f"{k}={v}" for k, v in pretrain.items()) + "; post-training "
        "also " + ", ".join(f"{k}={v}" for k, v in posttrain.items()) + ".",
        epilog="examples:\n"
        "  tritter run --input python-stdlib --output runs/demo\n"
        "  tritter run --pipeline posttrain --base runs/demo/checkpoints --output runs/demo\n"
        "  tritter run --pipeline full --output runs/full\n"
        "  tritter run --base models/bitnet-b1.58-2B-4T-bf16 --input code/ --output runs/cpt",
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument(
        "--pipeline",
        choices=PIPELINES,
        default="pretrain",
        help="pretrain (default): tritter-pretrain from --input; posttrain: tritter-posttrain "
        "from --base; full: pretrain, then post-train the run's own checkpoints",
    )
    parser.add_argument(
        "--input",
        dest="source",
        default=argparse.SUPPRESS,
        help="source code (pretrain, full): a directory, JSONL/Parquet documents, s3:// prefix, "
        "hf://DATASET[:CONFIG][:SPLIT] or python-stdlib (default: python-stdlib)",
    )
    parser.add_argument(
        "--output", dest="run_root", required=True, help="run folder: local path or s3:// URI"
    )
    parser.add_argument("--config", metavar="FILE", help="YAML file of pipeline parameters")
    parser.add_argument(
        "--verbose",
        action="store_true",
        help="print KFP's raw output of every step (always kept in <output>/logs/)",
    )
    parser.add_argument(
        "--tokenizer-from",
        dest="tokenizer_source",
        default=argparse.SUPPRESS,
        metavar="DIR",
        help="pretrain, full: import this tokenizer (a Hugging Face folder with tokenizer.json, "
        "e.g. the base model's) instead of training one; with --base, the base folder's own "
        "tokenizer is the default",
    )
    add_arguments(parser, PipelineParams, exclude=("source", "run_root"))
    add_arguments(
        parser,
        PosttrainParams,
        exclude=("run_root", *RunParams.model_fields),
    )
    parser.set_defaults(handler=handle)


def _given(args: argparse.Namespace) -> dict[str, Any]:
    """Parameters the user set in the config file or by flag (flags win)."""
    values = load_config_file(args.config) if args.config else {}
    known = set(PipelineParams.model_fields) | set(PosttrainParams.model_fields)
    values.update({k: v for k, v in vars(args).items() if k in known})
    return values


def _refuse(names: set[str], pipeline: str, belongs: str, use: str) -> None:
    if names:
        name = sorted(names)[0]
        flag = "--input" if name == "source" else flag_name(name)
        raise TritterError(
            f"{flag} is a tritter-{belongs} parameter, not one of --pipeline {pipeline} "
            f"(use --pipeline {use})"
        )


def _local(uri: str) -> str:
    """A local path made absolute (the steps may run elsewhere); URIs as they are."""
    from tritter import storage

    return uri if "://" in uri or not uri.strip() else storage.normalize(uri.strip())


def _absolute(values: dict[str, Any]) -> dict[str, Any]:
    """The post-training locations with local paths made absolute."""
    out = dict(values)
    for name in ("base", "tokenizer", "rl_prompts"):
        value = out.get(name)
        if isinstance(value, str) and not value.startswith("builtin:"):  # RL's shipped sets
            out[name] = _local(value)
    for key in ("conversations", "preference_pairs"):
        if isinstance(out.get(key), str):
            entries = [entry.partition("=") for entry in out[key].split(",")]
            out[key] = ",".join(
                f"{name}{sep}{_local(uri) if sep else uri}" for name, sep, uri in entries
            )
    return out


def _check_input(params: PipelineParams) -> None:
    """A local --input must exist, before KFP starts (the pipeline's parameter check repeats
    this where the steps run); made absolute, so the steps find it wherever they start."""
    from tritter.curate.sources import STDLIB

    source = params.source.strip()
    if source == STDLIB or "://" in source:
        return
    path = Path(source).expanduser()
    if not path.exists() and not path.is_symlink():
        raise TritterError(f"--input {source}: input not found")
    params.source = str(path.absolute())


def _check_chat_markers(tokenizer: str) -> None:
    """--pipeline full post-trains with the tokenizer it imports: it must get the chat
    markers, or post-training would refuse it after hours of pretraining."""
    from tritter.chat.template import marker_ids
    from tritter.tokenizer.importer import load_as_imported

    try:
        marker_ids(load_as_imported(tokenizer))
    except TritterError as err:
        raise TritterError(f"--pipeline full: {err}") from err


def resolve(args: argparse.Namespace) -> list[RunParams]:
    """The checked parameters of each pipeline to run, in order; nothing runs before all are
    valid."""
    from tritter import storage
    from tritter.run_folder import RunFolder

    given = _given(args)
    run_root = storage.normalize(args.run_root)
    pipeline = args.pipeline
    if pipeline in ("pretrain", "full") and "base" in given:
        # Pretraining from --base is continued pretraining: the pipeline's base_model.
        given["base_model"] = given.pop("base")
    for name in ("base_model", "tokenizer_source"):
        if isinstance(given.get(name), str):
            given[name] = _local(given[name])
    if pipeline == "posttrain":
        _refuse(set(given) & PRETRAIN_ONLY, pipeline, "pretrain", "pretrain or full")
        if not str(given.get("base", "")).strip():
            raise TritterError(
                "--pipeline posttrain needs --base: the weights to start from (a checkpoints "
                "folder, a step folder or a Hugging Face BitNet directory)"
            )
    if pipeline == "pretrain":
        _refuse(set(given) & POSTTRAIN_ONLY, pipeline, "posttrain", "posttrain or full")
    if pipeline == "full" and "tokenizer" in given:
        raise TritterError(
            "--pipeline full post-trains the run's own checkpoints/ with its tokenizer/: "
            "leave out --tokenizer (--tokenizer-from imports one for pretraining)"
        )
    unknown = set(given) - set(PipelineParams.model_fields) - set(PosttrainParams.model_fields)
    if unknown:
        raise TritterError(f"{args.config}: unknown pipeline parameter '{sorted(unknown)[0]}'")
    runs: list[RunParams] = []
    if pipeline in ("pretrain", "full"):
        mine = {k: v for k, v in given.items() if k in PipelineParams.model_fields}
        values = {**local_defaults(), **mine, "run_root": run_root}
        checked = validate(PipelineParams, values, source=args.config)
        _check_input(checked)
        if pipeline == "full" and checked.imported_tokenizer():
            _check_chat_markers(checked.imported_tokenizer())
        runs.append(checked)
    if pipeline in ("posttrain", "full"):
        mine = {k: v for k, v in given.items() if k in PosttrainParams.model_fields}
        values = {**posttrain_local_defaults(), **_absolute(mine), "run_root": run_root}
        if pipeline == "full":
            run = RunFolder(run_root)
            values.update(base=run.checkpoints, tokenizer=run.tokenizer)
        runs.append(validate(PosttrainParams, values, source=args.config))
    return runs


def handle(args: argparse.Namespace) -> int:
    from kfp import components, local

    from tritter import storage
    from tritter.pipelines.console import RunConsole
    from tritter.pipelines.package import committed_package, without_retries
    from tritter.run_folder import DPO, RL, SFT, RunFolder

    runs = resolve(args)
    kinds = ["pretrain" if isinstance(p, PipelineParams) else "posttrain" for p in runs]
    packages = [committed_package(kind) for kind in kinds]
    for package in packages:
        if not package.exists():
            raise TritterError(
                f"{package}: compiled pipeline missing; run `tritter pipeline compile`"
            )
    run = RunFolder(runs[0].run_root)
    with tempfile.TemporaryDirectory(prefix="tritter-run-") as root, _raw_log(run) as (raw, uri):
        console = RunConsole(
            sys.stdout, raw, run.root, verbose=args.verbose, interactive=sys.stdout.isatty()
        )
        local.init(runner=local.SubprocessRunner(use_venv=False), pipeline_root=root)
        try:
            for params, package in zip(runs, packages, strict=True):
                local_package = Path(root) / package.name
                text = without_retries(package.read_text(encoding="utf-8"))
                local_package.write_text(text, "utf-8")
                pipeline = components.load_component_from_file(str(local_package))
                result = _run(pipeline, params, console)
        except TritterError as err:
            console.close()
            _say(console.summary())
            raise TritterError(f"{err} (full log: {uri})") from err
        console.close()
        _say(console.summary())
        _say(f"log: {uri}")
    if any(isinstance(p, PosttrainParams) for p in runs):
        tokenizer = next(p for p in runs if isinstance(p, PosttrainParams)).tokenizer_uri()
        # The final model: RL's when it ran, else DPO's, else SFT's.
        final = next((run.part(part) for part in (RL, DPO)
                      if storage.exists(storage.join(run.part(part), "_manifest.json"))),
                     run.part(SFT))  # fmt: skip
        _say(f"chat: tritter chat --checkpoint {final} --tokenizer {tokenizer}")
    _say(f"report: {storage.join(result, 'report.html')}")
    return 0


def _say(text: str) -> None:
    # Not print(): KFP's local runner swaps builtins.print for an indenting one per task, and
    # with tasks in threads one of them can restore the wrong function.
    sys.stdout.write(text + "\n")
    sys.stdout.flush()


@contextlib.contextmanager
def _raw_log(run: RunFolder) -> Iterator[tuple[TextIO, str]]:
    """A file for KFP's raw output: `<run>/logs/run-<UTC time>.log`, written in place on a local
    run folder, uploaded when the run ends (also when it fails) on S3."""
    from tritter import storage

    name = f"run-{time.strftime('%Y%m%d-%H%M%S', time.gmtime())}.log"
    uri = storage.join(run.part(LOGS), name)
    if storage.is_s3(uri):
        with tempfile.TemporaryDirectory(prefix="tritter-log-") as folder:
            path = Path(folder) / name
            try:
                with path.open("w", encoding="utf-8") as raw:
                    yield raw, uri
            finally:
                storage.upload_file(path, uri)
        return
    path = Path(uri)
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("w", encoding="utf-8") as raw:
        yield raw, uri


def _run(pipeline: Any, params: RunParams, console: RunConsole) -> str:
    """One pipeline to its end; a failing step becomes its own one-line error."""
    saved, sys.stdout = sys.stdout, console
    # KFP's local runner swaps builtins.print per task; with a fan-out's tasks in threads it
    # can leave its indenting version installed.
    saved_print = builtins.print
    # The steps log one JSON object per line: the console parses them.
    saved_format = os.environ.get("TRITTER_LOG_FORMAT")
    os.environ["TRITTER_LOG_FORMAT"] = "json"
    try:
        with warnings.catch_warnings():
            # The steps name container images; locally they run in this environment.
            warnings.simplefilter("ignore", RuntimeWarning)
            # Resource, retry and Kubernetes settings are cluster-only; locally they are
            # no-ops by design, so KFP's per-task notice about it is noise.
            warnings.filterwarnings("ignore", r"Task '.*': settings", UserWarning)
            return str(pipeline(**params.model_dump(mode="json")).output)
    except RuntimeError as err:
        raise TritterError(console.last_error or str(err).splitlines()[0]) from err
    finally:
        sys.stdout = saved
        builtins.print = saved_print
        if saved_format is None:
            os.environ.pop("TRITTER_LOG_FORMAT", None)
        else:
            os.environ["TRITTER_LOG_FORMAT"] = saved_format
