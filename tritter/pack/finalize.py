"""Finishing a pack: check every shard, then write `_manifest.json` (last) and drop `_work/`."""

from __future__ import annotations

import logging
import time
from collections import Counter, defaultdict
from dataclasses import asdict
from typing import Any

from tritter import log, manifest, storage
from tritter.errors import TritterError
from tritter.pack.plan import load_plan
from tritter.pack.shard import read_result
from tritter.run_folder import (
    PACK_MANIFEST,
    WORK,
    PackCounts,
    PackExtra,
    PackInputs,
    PackManifest,
    PackMixture,
    ResolvedMixtureRecord,
    ShardRecord,
)

_log = log.get_logger("pack")

FORMAT = {
    "layout": "<split>/<subset>/<NNNNN>.tokens.npy + <NNNNN>.docs.npy + <NNNNN>.documents.parquet",
    "tokens": "1-D .npy of token ids (dtype below); documents back to back, each ending in EOS",
    "docs": "1-D int64 .npy of length documents+1: document d is tokens[docs[d]:docs[d+1]]",
    "documents": "Parquet, row d: curated id, repo, path, sha256, language, text_bytes and the "
    "span [start, end) of document d (tritter.data.sidecar)",
    "stream": "a split (optionally one subset) is its shards concatenated in the order of "
    "extra.shards; sample i is tokens[i*seq_len : (i+1)*seq_len + 1] of that stream",
}


def finalize(output: str) -> PackManifest:
    """Verify the packed shards against the plan and publish the manifest."""
    plan = load_plan(output)
    existing = PACK_MANIFEST.current(output, plan.fingerprint)
    if existing is not None:
        return existing
    results = []
    for index in range(len(plan.shards)):
        result = read_result(plan, index)
        if result is None:
            raise TritterError(f"{output}: shard {index} has not been packed yet")
        results.append(result)
    _check_sizes(plan.output, results)
    config = plan.pack_config

    tokens: dict[str, Counter] = defaultdict(Counter)
    documents: dict[str, Counter] = defaultdict(Counter)
    unique_tokens: dict[str, Counter] = defaultdict(Counter)
    languages: dict[str, Counter] = defaultdict(Counter)
    for result in results:
        split, subset = result["split"], result["subset"]
        tokens[split][subset] += result["tokens"]
        documents[split][subset] += result["documents"]
        unique_tokens[split][subset] += result["unique_tokens"]
        languages[split].update(result["language_tokens"])
    train_total = sum(tokens["train"].values())
    if train_total < config.seq_len + 1:
        raise TritterError(
            f"seq_len {config.seq_len} is larger than the training token stream "
            f"({train_total} tokens): lower --seq-len or add data"
        )
    val_short = sorted(s for s, n in tokens["val"].items() if n < config.seq_len + 1)
    no_val = sorted(set(plan.subsets) - set(tokens["val"]))
    if val_short or no_val:
        log.event(
            _log,
            "some subsets have no validation sequence of seq_len + 1 tokens",
            short=",".join(val_short) or None,
            none=",".join(no_val) or None,
            seq_len=config.seq_len,
        )
    realized = {s: round(n / train_total, 6) for s, n in sorted(tokens["train"].items())}
    repetition = {
        s: round(tokens["train"][s] / max(unique_tokens["train"][s], 1), 4)
        for s in sorted(tokens["train"])
    }
    # Every subset at its max_repetition cap: the budget cannot be met (say so, loudly).
    planned = sum(p.estimated_train_tokens_used for p in plan.subsets.values())
    capped = planned < plan.budget * 0.999
    if capped:
        log.event(
            _log,
            "token budget not reachable: every subset is capped by --max-repetition",
            level=logging.WARNING,
            budget_tokens=int(plan.budget),
            train_tokens=train_total,
            max_repetition=config.max_repetition,
        )
    seconds = time.time() - plan.started
    text_bytes = sum(r["text_bytes"] for r in results)
    shards = [
        ShardRecord(
            split=r["split"],
            subset=r["subset"],
            tokens=r["tokens_path"],
            docs=r["docs_path"],
            # Results of shards packed before sidecars existed have none.
            documents=r.get("documents_path"),
            num_tokens=r["tokens"],
            num_documents=r["documents"],
        )
        for r in sorted(results, key=lambda r: r["index"])
    ]
    result = manifest.Manifest(
        stage=PACK_MANIFEST.stage,
        fingerprint=plan.fingerprint,
        inputs=PackInputs(
            curated=plan.input,
            curated_fingerprint=plan.input_fingerprint,
            tokenizer=plan.tokenizer,
            tokenizer_sha256=plan.tokenizer_sha256,
        ),
        config=plan.config,
        counts=PackCounts(
            tokens=_nested(tokens),
            tokens_total={split: sum(c.values()) for split, c in sorted(tokens.items())},
            documents=_nested(documents),
            unique_tokens=_nested(unique_tokens),
            languages=_nested(languages),
            mixture=PackMixture(
                target=plan.mixture["target"],
                realized=realized,
                repetition=repetition,
                planned_repetition={s: p.repetition for s, p in sorted(plan.subsets.items())},
                budget_tokens=int(plan.budget),
                planned_tokens=int(planned),
                budget_capped=capped,
            ),
            text_bytes=text_bytes,
            shards=len(results),
            seconds=round(seconds, 2),
            pack_seconds=round(sum(r["seconds"] for r in results), 2),
            pack_cpu_seconds=round(sum(r.get("cpu_seconds", 0.0) for r in results), 2),
        ),
        files=[
            manifest.FileEntry(entry["path"], entry["size"], entry["sha256"])
            for r in results
            for entry in r["files"]
        ],
        extra=PackExtra(
            tokenizer_sha256=plan.tokenizer_sha256,
            vocab_size=plan.vocab_size,
            seq_len=config.seq_len,
            dtype=plan.dtype,
            eos_id=plan.eos_id,
            pad_id=plan.pad_id,
            format=FORMAT,
            shards=shards,
            mixture=ResolvedMixtureRecord(**plan.mixture),
            val_too_short=val_short,
            val_missing=no_val,
            plan=asdict(plan),
        ),
    )
    manifest.write_manifest(output, result)
    storage.delete_prefix(storage.join(output, WORK))
    log.event(
        _log,
        "pack finished",
        output=output,
        train_tokens=train_total,
        val_tokens=sum(tokens["val"].values()),
        shards=len(results),
        realized=",".join(f"{k}={v:.3f}" for k, v in realized.items()),
    )
    return result


def _nested(counters: dict[str, Counter]) -> dict[str, dict[str, int]]:
    """split → name → count, both levels sorted (stable manifests)."""
    return {split: dict(sorted(c.items())) for split, c in sorted(counters.items())}


def _check_sizes(output: str, results: list[dict[str, Any]]) -> None:
    listed = {storage.normalize(o.uri): o.size for o in storage.list_objects(output)}
    for result in results:
        for entry in result["files"]:
            uri = storage.join(output, entry["path"])
            size = listed.get(storage.normalize(uri))
            if size is None:
                raise TritterError(f"{uri}: packed shard file is missing")
            if size != entry["size"]:
                raise TritterError(
                    f"{uri}: size {size} differs from the packed {entry['size']} (truncated?)"
                )
