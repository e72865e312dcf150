"""Packing steps as plain functions for Kubeflow components (`tritter.jobs.pack`).

Signatures take only URIs, ints and strings; each step is idempotent and writes whole files:

    info = plan(config_json)          # {"shards": N, "complete": bool, "output": URI}
    pack_shard(output, i)  for i in range(N)   # ParallelFor; skipped when already done
    finalize(output)                  # verifies every shard, writes _manifest.json last

`config_json` is a JSON object of `PackConfig` fields (at least `input`, `tokenizer`, `output`,
`seq_len`). `run(config_json)` does all of it in a local process pool, like `tritter pack`.
"""

from __future__ import annotations

import json
from typing import Any

from tritter.config import validate
from tritter.errors import TritterError
from tritter.pack.config import PackConfig


def parse_config(config_json: str) -> PackConfig:
    try:
        data = json.loads(config_json)
    except ValueError as err:
        raise TritterError(f"pack config: invalid JSON ({err})") from err
    if not isinstance(data, dict):
        raise TritterError("pack config: expected a JSON object of PackConfig fields")
    return validate(PackConfig, data)


def plan(config_json: str) -> dict[str, Any]:
    """Decide split, mixture and work units; writes `<output>/_work/plan.json`."""
    from tritter.pack.plan import make_plan

    config = parse_config(config_json)
    made, complete = make_plan(config)
    return {"shards": len(made.shards), "complete": complete, "output": config.output}


def pack_shard(output: str, index: int) -> dict[str, Any]:
    """Pack work unit `index` (skipped when its files and marker are already in place)."""
    from tritter.pack.shard import pack_shard as pack_one

    result = pack_one(output, int(index))
    keys = ("index", "split", "subset", "tokens", "documents")
    return {**{k: result.get(k) for k in keys}, "skipped": bool(result.get("skipped"))}


def finalize(output: str) -> dict[str, Any]:
    """Verify every shard and publish `_manifest.json`; returns its counts."""
    from tritter.pack.finalize import finalize as finish

    return finish(output).counts


def run(config_json: str) -> dict[str, Any]:
    """All steps locally (process pool of `workers`)."""
    from tritter.pack.runner import run as run_all

    return run_all(parse_config(config_json)).counts
