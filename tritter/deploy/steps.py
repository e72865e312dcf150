"""The body of every pipeline step, as plain functions of strings and ints.

Each `tritter.pipelines` component imports one of these and calls it, so a step's behaviour is
tested here like any other code. Every function first checks the pipeline parameters it was
given (`params.check`: one line naming a bad parameter), points S3 at the configured endpoint,
and then calls the stage's job module (`tritter.jobs.*`). Steps exchange run-root URIs, never
data. Fan-out steps return the work units to iterate over (settings plus index, see
`work_units`). A stage that is already complete still yields units, each a quick no-op, so a
relaunch walks through finished stages without redoing them (never an empty loop: KFP's local
runner cannot collect the outputs of a loop that ran no iteration).
"""

from __future__ import annotations

import json
import os
from typing import Any

from tritter import log, storage
from tritter.deploy import params as params_lib
from tritter.errors import TritterError

_log = log.get_logger("deploy.steps")

# Fixed folder names of a run root (DESIGN §1).
CURATED, TOKENIZER, TOKENS, CHECKPOINTS, EVAL, REPORT = (
    "curated",
    "tokenizer",
    "tokens",
    "checkpoints",
    "eval",
    "report",
)
METRICS_PORT = 9400  # the chart's PodMonitor scrapes the port by its name, `metrics`


def folder(run_root: str, name: str) -> str:
    return storage.join(run_root, name)


def prepare(settings: str) -> Any:
    """Parse and re-check the settings JSON made by `check_parameters` (a step may also be
    launched by hand), and set up S3 and Pushgateway access for this process."""
    try:
        values = json.loads(settings)
    except ValueError as err:
        raise TritterError(f"pipeline settings: invalid JSON ({err})") from err
    if not isinstance(values, dict):
        raise TritterError("pipeline settings: expected a JSON object of pipeline parameters")
    checked = params_lib.check(**values)
    if checked.s3_endpoint:
        os.environ["AWS_ENDPOINT_URL_S3"] = checked.s3_endpoint
        storage.reset_clients()
    if checked.pushgateway_url:
        os.environ["TRITTER_PUSHGATEWAY_URL"] = checked.pushgateway_url
    if storage.is_s3(checked.run_root) and not _has_s3_credentials():
        raise TritterError(
            f"run_root {checked.run_root} is on S3 but no credentials are set: create the "
            f"Secret '{checked.s3_secret}' with AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY"
        )
    return checked


def _has_s3_credentials() -> bool:
    keys = os.environ.get("AWS_ACCESS_KEY_ID") and os.environ.get("AWS_SECRET_ACCESS_KEY")
    # Workload identity (IRSA and friends) provides credentials without keys.
    return bool(keys or os.environ.get("AWS_WEB_IDENTITY_TOKEN_FILE"))


# What a loop body needs to find its unit: the rest of the settings stays out of the fan-out
# list, which KFP stores as one parameter (kept small for stages with thousands of units).
UNIT_SETTINGS = ("run_root", "s3_endpoint", "s3_secret", "pushgateway_url")


def work_units(settings: str, count: int) -> list[str]:
    """Fan-out items: each carries the run's location with its index, so a loop body needs no
    input from outside its ParallelFor (KFP's local runner mishandles those)."""
    values = json.loads(settings)
    located = {key: values[key] for key in UNIT_SETTINGS if key in values}
    return [json.dumps({"settings": located, "index": i}, sort_keys=True) for i in range(count)]


def open_unit(unit: str) -> tuple[Any, int]:
    """(checked parameters, index) of one fan-out item."""
    try:
        data = json.loads(unit)
        settings, index = json.dumps(data["settings"]), int(data["index"])
    except (ValueError, KeyError, TypeError) as err:
        raise TritterError(f"work unit: expected {{settings, index}} JSON ({err})") from err
    return prepare(settings), index


def check_parameters(**values: Any) -> str:
    """The pipeline's first step: every parameter at once, before hours of curation. Returns
    the settings JSON every later step receives."""
    checked = prepare(json.dumps(values))
    storage.ensure_writable(checked.run_root)
    log.event(_log, "pipeline parameters accepted", run_root=checked.run_root)
    return json.dumps(checked.model_dump(mode="json"), sort_keys=True)


# -- curate ------------------------------------------------------------------------------------


def curate_plan(settings: str) -> list[str]:
    from tritter.jobs import curate

    checked = prepare(settings)
    config = {
        "input": checked.source,
        "output": folder(checked.run_root, CURATED),
        "languages": params_lib.split_list(checked.languages),
    }
    info = curate.plan(json.dumps(config))
    return work_units(settings, max(info["shards"], 1))


def _curate_unit(unit: str, step: str) -> int:
    """Run one fanned-out curation unit (`step` names a `tritter.jobs.curate` function that
    takes the curated folder and the unit's index); a finished curation makes it a no-op."""
    from tritter.jobs import curate

    checked, index = open_unit(unit)
    if _curation_pending(checked.run_root):
        getattr(curate, step)(folder(checked.run_root, CURATED), index)
    return index


def _curate_barrier(settings: str, done: list[Any], label: str, expected: str, nxt: str) -> list:
    """After a curation fan-out: check all `expected` units (a run attribute) reported, then
    return the next fan-out's units (`nxt` of them)."""
    from tritter.curate import steps

    checked = prepare(settings)
    run = steps.load_run(folder(checked.run_root, CURATED))
    if run is None:
        return work_units(settings, 1)  # already curated: one no-op unit
    _check_all_done(label, done, getattr(run, expected))
    return work_units(settings, getattr(run, nxt))


def curate_process(unit: str) -> int:
    return _curate_unit(unit, "process_shard")


def curate_groups(settings: str, processed: list[Any]) -> list[str]:
    """Barrier after every shard is processed: the dedup-index work units."""
    return _curate_barrier(settings, processed, "curate process", "shards", "band_groups")


def curate_index(unit: str) -> int:
    return _curate_unit(unit, "dedup_index")


def curate_apply_units(settings: str, indexed: list[Any]) -> list[str]:
    """Barrier after every dedup band group: the per-shard apply work units."""
    return _curate_barrier(settings, indexed, "curate dedup index", "band_groups", "shards")


def curate_apply(unit: str) -> int:
    return _curate_unit(unit, "apply_shard")


def curate_finalize(settings: str, applied: list[Any]) -> str:
    from tritter.curate import steps
    from tritter.jobs import curate

    checked = prepare(settings)
    out = folder(checked.run_root, CURATED)
    run = steps.load_run(out)
    if run is not None:
        _check_all_done("curate apply", applied, run.shards)
    curate.finalize(out)
    return out


def _curation_pending(run_root: str) -> bool:
    """False once curation is complete (its plan is gone and the manifest written)."""
    from tritter.curate import steps

    return steps.load_run(folder(run_root, CURATED)) is not None


def _check_all_done(what: str, done: list[Any], expected: int) -> None:
    # KFP passes collected ints as JSON numbers (floats locally): compare as ints.
    got = sorted(int(float(v)) for v in done)
    if got != list(range(expected)):
        raise TritterError(f"{what}: expected units 0..{expected - 1} to be done, got {got}")


# -- tokenizer and pack ------------------------------------------------------------------------


def tokenizer_train(settings: str, curated: str) -> str:
    from tritter.jobs import tokenizer

    checked = prepare(settings)
    config: dict[str, Any] = {
        "input": curated,
        "output": folder(checked.run_root, TOKENIZER),
        "vocab_size": checked.vocab_size,
        "sample_bytes": checked.tokenizer_sample_bytes,
        "seed": checked.seed,
    }
    if checked.mixture.strip():
        config["mix"] = checked.mixture
    return tokenizer.train(json.dumps(config))["output"]


def pack_plan(settings: str, curated: str, tokenizer: str) -> list[str]:
    from tritter.jobs import pack

    checked = prepare(settings)
    config: dict[str, Any] = {
        "input": curated,
        "tokenizer": tokenizer,
        "output": folder(checked.run_root, TOKENS),
        "seq_len": checked.seq_len,
        "seed": checked.seed,
        "token_budget": checked.token_budget or None,
    }
    if checked.mixture.strip():
        config["mix"] = checked.mixture
    info = pack.plan(json.dumps(config))
    return work_units(settings, max(info["shards"], 1))


def pack_shard(unit: str) -> int:
    from tritter.jobs import pack

    checked, index = open_unit(unit)
    pack.pack_shard(folder(checked.run_root, TOKENS), index)
    return index


def pack_finalize(settings: str, packed: list[Any]) -> str:
    from tritter import manifest
    from tritter.jobs import pack
    from tritter.pack.plan import load_plan

    checked = prepare(settings)
    out = folder(checked.run_root, TOKENS)
    if manifest.read_manifest(out) is None:
        _check_all_done("pack", packed, len(load_plan(out).shards))
    pack.finalize(out)
    return out


# -- pretrain, evaluate, report ----------------------------------------------------------------


def train_job_spec(settings: str, data: str, tokenizer: str, mode: str) -> Any:
    """The `JobSpec` of the training job for these settings (pure apart from parsing)."""
    from tritter.deploy.pytorchjob import JobSpec, job_name

    checked = params_lib.check(**json.loads(settings))
    return JobSpec(
        name=job_name(checked.run_root, "train"),
        image=checked.train_image,
        data=data,
        tokenizer=tokenizer,
        output=folder(checked.run_root, CHECKPOINTS),
        model=checked.model,
        nodes=checked.nodes,
        gpus_per_node=checked.gpus_per_node,
        max_steps=checked.max_steps,
        checkpoint_every=checked.checkpoint_every,
        seq_len=checked.seq_len,
        micro_batch_size=checked.micro_batch_size,
        global_batch_tokens=checked.global_batch_tokens,
        seed=checked.seed,
        # Locally nothing scrapes the trainer; port 0 leaves the machine's ports alone.
        metrics_port=METRICS_PORT if mode == "kubernetes" else 0,
        namespace=checked.namespace or None,
        s3_secret=checked.s3_secret or None,
        s3_endpoint=checked.s3_endpoint,
        active_deadline_seconds=int(checked.train_timeout_hours * 3600),
        extra_env=(
            {"TRITTER_PUSHGATEWAY_URL": checked.pushgateway_url} if checked.pushgateway_url else {}
        ),
    )


def pretrain(settings: str, data: str, tokenizer: str) -> str:
    from tritter.deploy import launch

    checked = prepare(settings)
    mode = launch.choose_launcher(checked.launcher)
    if mode == "local" and checked.nodes > 1:
        raise TritterError(
            f"pipeline parameter 'nodes': {checked.nodes} nodes need launcher=kubernetes"
        )
    spec = train_job_spec(settings, data, tokenizer, mode)
    timeout = checked.train_timeout_hours * 3600
    if mode == "kubernetes":
        launch.run_kubernetes(spec, timeout)
    else:
        launch.run_local(spec, timeout)
    return spec.output


def evaluate(settings: str, checkpoints: str, tokenizer: str, data: str) -> str:
    from tritter.config import validate
    from tritter.evaluate import stage
    from tritter.evaluate.config import EvaluateConfig

    checked = prepare(settings)
    output = folder(checked.run_root, EVAL)
    config = validate(
        EvaluateConfig,
        {
            "checkpoint": checkpoints,
            "tokenizer": tokenizer,
            "data": data,
            "output": output,
            "tasks": params_lib.split_list(checked.eval_tasks),
            "limit": checked.eval_limit or None,
            "generation": {"max_new_tokens": checked.eval_max_new_tokens},
            # Score held-out text with the training window (the preset's may exceed the data).
            "perplexity": {"seq_len": checked.seq_len},
        },
    )
    stage.run(config)
    return output


def report(settings: str, evaluated: str) -> str:
    from tritter.report import stage
    from tritter.report.config import ReportConfig

    checked = prepare(settings)
    del evaluated  # only orders the step after evaluation
    result = stage.run(ReportConfig(run=checked.run_root))
    return str(result["output"])
