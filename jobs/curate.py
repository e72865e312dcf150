"""Curation steps as plain functions for Kubeflow components (`tritter.jobs.curate`).

Signatures take only URIs, ints and strings so a lightweight KFP component can call them
directly; each is idempotent (a finished unit is skipped) and writes whole files:

    info = plan(config_json)                 # {"shards": N, "band_groups": G, "complete": …}
    process_shard(output, i)    for i in range(N)    # ParallelFor
    dedup_index(output, g)      for g in range(G)    # ParallelFor (after all shards)
    apply_shard(output, i)      for i in range(N)    # ParallelFor (after all groups)
    finalize(output)                                 # writes _manifest.json last

`config_json` is a JSON object of `CurateConfig` fields (at least `input` and `output`).
`run(config_json)` does all of it in a local process pool, like `tritter curate`.
"""

from __future__ import annotations

import json
from typing import Any

from tritter.config import validate
from tritter.curate import runner, steps
from tritter.curate.config import CurateConfig
from tritter.errors import TritterError


def parse_config(config_json: str) -> CurateConfig:
    try:
        data = json.loads(config_json)
    except ValueError as err:
        raise TritterError(f"curate config: invalid JSON ({err})") from err
    if not isinstance(data, dict):
        raise TritterError("curate config: expected a JSON object of CurateConfig fields")
    return validate(CurateConfig, data)


def plan(config_json: str) -> dict[str, Any]:
    """Enumerate the source into work units under `<output>/_work/`."""
    return steps.plan(parse_config(config_json))


def process_shard(output: str, index: int) -> dict[str, Any]:
    return steps.process_shard(output, int(index))


def dedup_index(output: str, group: int) -> dict[str, Any]:
    return steps.dedup_index(output, int(group))


def apply_shard(output: str, index: int) -> dict[str, Any]:
    return steps.apply_shard(output, int(index))


def finalize(output: str) -> dict[str, Any]:
    return steps.finalize(output)


def run(config_json: str) -> dict[str, Any]:
    """All steps locally (process pool of `workers`)."""
    return runner.run(parse_config(config_json))
