"""Packing steps: plan → one step per output shard → verify and publish the manifest."""

from __future__ import annotations

from typing import Any

from tritter.config import validate
from tritter.deploy.params import PipelineParams
from tritter.jobs.settings import check_all_done, open_unit, prepare, run_folder, work_units
from tritter.pack import finalize as finalize_step
from tritter.pack.config import PackConfig
from tritter.pack.plan import load_plan, make_plan
from tritter.pack.shard import pack_shard
from tritter.pack.stage import is_done


def config(params: PipelineParams, curated: str, tokenizer: str) -> PackConfig:
    mix = {"mix": params.mixture} if params.mixture.strip() else {}
    return validate(
        PackConfig,
        {
            "input": curated,
            "tokenizer": tokenizer,
            "output": run_folder(params).tokens,
            "seq_len": params.seq_len,
            "seed": params.seed,
            "token_budget": params.token_budget or None,
            **mix,
        },
    )


def plan(settings: str, curated: str, tokenizer: str) -> list[str]:
    """Decide split, mixture and output shards; the shard units (one no-op unit when packed)."""
    made, _ = make_plan(config(prepare(settings), curated, tokenizer))
    return work_units(settings, max(len(made.shards), 1))


def shard_unit(unit: str) -> int:
    params, index = open_unit(unit)
    pack_shard(run_folder(params).tokens, index)
    return index


def finalize(settings: str, packed: list[Any]) -> str:
    """Barrier after every shard, then the manifest; returns the tokens folder."""
    tokens = run_folder(prepare(settings)).tokens
    if is_done(tokens) is None:
        check_all_done("pack", packed, len(load_plan(tokens).shards))
    finalize_step.finalize(tokens)
    return tokens
