"""The pipeline settings every step receives, and the fan-out units built from them.

The first step checks every pipeline parameter at once (`check_parameters` for
`tritter-pretrain`, `check_posttrain_parameters` for `tritter-posttrain`) and hands the result
to all later steps as one JSON string (KFP passes parameters as strings): `prepare` turns it
back into the typed `PipelineParams` (`prepare_posttrain`: `PosttrainParams`) — checked again,
since a step can also be launched by hand — and points this process's S3 and Pushgateway clients
where the settings say.
"""

from __future__ import annotations

import json
import os
from typing import Any

from tritter import log, storage
from tritter.deploy.params import P, PipelineParams, PosttrainParams, RunParams, check_params
from tritter.errors import TritterError
from tritter.run_folder import RunFolder

_log = log.get_logger("jobs")

# What a loop body needs to find its unit: the rest of the settings stays out of the fan-out
# list, which KFP stores as one parameter (kept small for stages with thousands of units).
UNIT_SETTINGS = ("run_root", "s3_endpoint", "s3_secret", "pushgateway_url")


def prepare(settings: str) -> PipelineParams:
    """Parse and re-check the settings JSON made by `check_parameters`, and set up S3 and
    Pushgateway access for this process."""
    return _prepare(settings, PipelineParams)


def prepare_posttrain(settings: str) -> PosttrainParams:
    """`prepare` for the settings made by `check_posttrain_parameters`."""
    return _prepare(settings, PosttrainParams)


def _prepare(settings: str, kind: type[P]) -> P:
    # Every step starts here: its records get Tritter's handler (JSON in the images and under
    # `tritter run`) instead of the KFP executor's, which drops their fields.
    log.configure()
    try:
        values = json.loads(settings)
    except ValueError as err:
        raise TritterError(f"pipeline settings: invalid JSON ({err})") from err
    if not isinstance(values, dict):
        raise TritterError("pipeline settings: expected a JSON object of pipeline parameters")
    checked = check_params(kind, values)
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


def run_folder(params: RunParams) -> RunFolder:
    return RunFolder(params.run_root)


def _has_s3_credentials() -> bool:
    keys = os.environ.get("AWS_ACCESS_KEY_ID") and os.environ.get("AWS_SECRET_ACCESS_KEY")
    # Workload identity (IRSA and friends) provides credentials without keys.
    return bool(keys or os.environ.get("AWS_WEB_IDENTITY_TOKEN_FILE"))


def check_parameters(**values: Any) -> str:
    """The pipeline's first step: every parameter at once, before hours of curation. Returns
    the settings JSON every later step receives."""
    checked = prepare(json.dumps(values))
    check_source(checked.source)
    check_base(checked)
    return _accept(checked)


def check_base(params: PipelineParams) -> None:
    """Continued pretraining: the base weights and the tokenizer to import must be there
    before hours of curation."""
    from tritter.tokenizer.importer import source_files

    if params.base_model and not storage.list_objects(params.base_model, recursive=False):
        raise TritterError(
            f"pipeline parameter 'base_model': nothing at {params.base_model} (expected a "
            "Hugging Face BitNet directory, a checkpoints folder or a step folder)"
        )
    tokenizer = params.imported_tokenizer()
    if tokenizer:
        name = "tokenizer_source" if params.tokenizer_source else "base_model"
        try:
            source_files(tokenizer)
        except TritterError as err:
            raise TritterError(f"pipeline parameter '{name}': {err}") from err


def check_source(source: str) -> None:
    """A local source must exist where the steps run (s3:// and hf:// are read by curation,
    which names them when they are missing)."""
    from tritter.curate.sources import STDLIB

    text = source.strip()
    if text == STDLIB or "://" in text:
        return
    path = storage.local_path(text).expanduser()
    if not path.exists() and not path.is_symlink():
        raise TritterError(f"pipeline parameter 'source': {text}: input not found")


def check_posttrain_parameters(**values: Any) -> str:
    """The first step of `tritter-posttrain`: every parameter at once, and the base weights and
    the tokenizer must be there, before any conversation is generated."""
    checked = prepare_posttrain(json.dumps(values))
    if not storage.list_objects(checked.base, recursive=False):
        raise TritterError(
            f"pipeline parameter 'base': nothing at {checked.base} (expected a checkpoints "
            "folder, a step folder or a Hugging Face BitNet directory)"
        )
    check_chat_tokenizer(checked.tokenizer_uri())
    if checked.rl_prompts:
        check_rl_prompts(checked.rl_prompts)
    return _accept(checked)


def check_chat_tokenizer(tokenizer: str) -> None:
    """The tokenizer loads (Tritter's own, or an imported Hugging Face one) and holds the chat
    markers every post-training phase renders conversations with."""
    from tritter.chat.template import marker_ids
    from tritter.tokenizer import Tokenizer

    try:
        marker_ids(Tokenizer.load(tokenizer))
    except TritterError as err:
        raise TritterError(f"pipeline parameter 'tokenizer': {err}") from err


def check_rl_prompts(prompts: str) -> None:
    """A shipped set must exist by name and a local file or folder must be there before hours
    of SFT (s3:// and hf:// are read by the RL step, which names them when they are missing)."""
    from tritter.rl.prompts import BUILTIN_PREFIX, resolve_source

    try:
        path = resolve_source(prompts)
    except TritterError as err:
        raise TritterError(f"pipeline parameter 'rl_prompts': {err}") from err
    if prompts.startswith(BUILTIN_PREFIX) or "://" in prompts:
        return
    if not storage.local_path(path).expanduser().exists():
        raise TritterError(f"pipeline parameter 'rl_prompts': {prompts}: not found")


def _accept(checked: RunParams) -> str:
    storage.ensure_writable(checked.run_root)
    log.event(_log, "pipeline parameters accepted", run_root=checked.run_root)
    return json.dumps(checked.model_dump(mode="json"), sort_keys=True)


def work_units(settings: str, count: int) -> list[str]:
    """Fan-out items: each carries the run's location with its index, so a loop body needs no
    input from outside its ParallelFor (KFP's local runner mishandles those)."""
    values = json.loads(settings)
    located = {key: values[key] for key in UNIT_SETTINGS if key in values}
    return [json.dumps({"settings": located, "index": i}, sort_keys=True) for i in range(count)]


def open_unit(unit: str) -> tuple[PipelineParams, int]:
    """(checked parameters, index) of one fan-out item."""
    try:
        data = json.loads(unit)
        settings, index = json.dumps(data["settings"]), int(data["index"])
    except (ValueError, KeyError, TypeError) as err:
        raise TritterError(f"work unit: expected {{settings, index}} JSON ({err})") from err
    return prepare(settings), index


def check_all_done(what: str, done: list[Any], expected: int) -> None:
    """A barrier after a fan-out: every unit 0..expected-1 must have reported."""
    # KFP passes collected ints as JSON numbers (floats locally): compare as ints.
    got = sorted(int(float(v)) for v in done)
    if got != list(range(expected)):
        raise TritterError(f"{what}: expected units 0..{expected - 1} to be done, got {got}")
