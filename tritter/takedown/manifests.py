"""The curate and pack manifests after a takedown: same fingerprint, new files and counts.

The fingerprints stay: they identify the stage's inputs and settings, which did not change; a
rerun of the same stage then finds its output done (and verifies it against the new sha256s)
instead of bringing the removed documents back from the source. Counts drop by what was
removed; curation counts the removed rows as dropped for the reason `takedown`, so every
input document is still kept or dropped for exactly one reason.
"""

from __future__ import annotations

import json
from collections import Counter
from typing import Any

from tritter.manifest import FileEntry, Manifest
from tritter.run_folder import CurateManifest, PackManifest, TakedownFile
from tritter.takedown.scan import CuratedHit, ShardHit

REASON = "takedown"


def _minus(values: dict[str, int], removed: Counter) -> dict[str, int]:
    """`values` less `removed`; keys that reach zero are dropped (as if never counted)."""
    out = {key: value - removed.get(key, 0) for key, value in values.items()}
    return {key: value for key, value in out.items() if value > 0}


def curated(found: CurateManifest, hits: list[CuratedHit]) -> dict[str, Any]:
    rows = sum(h.rows for h in hits)
    tally = {name: Counter() for name in ("labels", "languages", "subsets", "licenses")}
    for hit in hits:
        for name, counter in hit.tallies.items():
            tally[name].update(counter)
    c = found.counts
    counts = c.model_copy(
        update={
            "kept_documents": c.kept_documents - rows,
            "kept_bytes": c.kept_bytes - sum(h.bytes for h in hits),
            "dropped_documents": c.dropped_documents + rows,
            "dropped": {**c.dropped, REASON: c.dropped.get(REASON, 0) + rows},
            **{name: _minus(getattr(c, name), tally[name]) for name in tally},
        }
    )
    return _replace(found, counts=counts).to_dict()


def tokens(found: PackManifest, hits: list[ShardHit]) -> dict[str, Any]:
    c = found.counts
    counted = {
        name: {s: dict(v) for s, v in getattr(c, name).items()}
        for name in ("tokens", "documents", "unique_tokens", "languages")
    }
    shards = list(found.extra.shards)
    for hit in hits:
        split, subset = hit.record.split, hit.record.subset
        counted["tokens"][split][subset] -= hit.tokens
        counted["documents"][split][subset] -= hit.documents
        counted["unique_tokens"][split][subset] -= hit.unique_tokens
        for language, n in hit.language_tokens.items():
            counted["languages"][split][language] -= n
        shards[hit.index] = hit.record.model_copy(
            update={
                "num_tokens": hit.record.num_tokens - hit.tokens,
                "num_documents": hit.record.num_documents - hit.documents,
            }
        )
    train = counted["tokens"].get("train", {})
    train_total = sum(train.values())
    mixture = c.mixture.model_copy(
        update={
            "realized": {s: round(n / max(train_total, 1), 6) for s, n in sorted(train.items())},
            "repetition": {
                s: round(n / max(counted["unique_tokens"]["train"][s], 1), 4)
                for s, n in sorted(train.items())
            },
        }
    )
    counts = c.model_copy(
        update={
            **counted,
            "tokens_total": {split: sum(v.values()) for split, v in counted["tokens"].items()},
            "text_bytes": c.text_bytes - sum(h.text_bytes for h in hits),
            "mixture": mixture,
        }
    )
    extra = found.extra.model_copy(update={"shards": shards})
    return _replace(found, counts=counts, extra=extra).to_dict()


def _replace(found: Manifest, **parts: Any) -> Manifest:
    fields = {name: getattr(found, name) for name in found.__dataclass_fields__}
    return Manifest(**{**fields, **parts})


def with_files(data: dict[str, Any], folder: str, changed: list[TakedownFile]) -> Manifest:
    """The manifest `data` with the rewritten files' new sizes and sha256 (`folder`: the run
    part the manifest lists, its files' paths relative to it)."""
    found = Manifest.from_json(json.dumps(data))
    prefix = folder + "/"
    new = {f.path[len(prefix) :]: f for f in changed if f.path.startswith(prefix)}
    found.files = [
        FileEntry(e.path, new[e.path].new_size, new[e.path].new_sha256)  # type: ignore[arg-type]
        if e.path in new
        else e
        for e in found.files
    ]
    return found
