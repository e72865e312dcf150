"""The conversations of a midtraining/SFT run, rendered into token shards with loss spans.

Each source is read (`tritter.chat.read_conversations`: bad rows counted and skipped), every
conversation rendered with the chat template (`tritter.chat.render`) and followed by EOS, and
the result written in the pack stage's shard format plus a `.mask.npy` of loss spans per shard,
so the pretraining loader and trainer read it unchanged:

    <phase folder>/data/<split>/<source>/00000.tokens.npy | .docs.npy | .mask.npy

* Split: a conversation is held out for validation when a keyed hash of its content is below
  `--val-fraction`, so the split is stable wherever and in whatever order the data is read.
* Mixture: `--mix` weights are token shares of the training split, met by repeating (at most
  `--max-repetition` times) or subsampling a source's conversations, whole conversations only,
  decided by hash as in packing; without `--mix` every source is used once, as it is.
* Order: the training copies are ordered by a hash of (conversation, copy), which scatters a
  repeated conversation's copies through the stream.

One shard per (split, source): conversation sets are small next to pretraining text.
"""

from __future__ import annotations

import hashlib
import json
import math
import tempfile
from collections import Counter, defaultdict
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from tritter import log, manifest, storage
from tritter.chat import read_conversations, render
from tritter.config import Config
from tritter.data.mixture import allocate
from tritter.data.selection import unit_hash
from tritter.data.shardfile import (
    TokenFileWriter,
    mask_path,
    shard_paths,
    spans_of,
    token_dtype,
    write_docs,
    write_spans,
)
from tritter.errors import TritterError
from tritter.run_folder import (
    SFT_DATA_MANIFEST,
    SftDataCounts,
    SftDataExtra,
    SftDataInputs,
    SftDataManifest,
    SftMixture,
    ShardRecord,
)

if TYPE_CHECKING:
    from tritter.chat import Conversation
    from tritter.tokenizer import Tokenizer

_log = log.get_logger("sft")
SPLITS = ("train", "val")
TEMPLATE = "tritter.chat.template: control markers, loss on assistant text, code, assistant_end"


class DataSettings(Config):
    """The options that decide the rendered data (a subset of `SftConfig`)."""

    mix: dict[str, float]
    val_fraction: float
    max_repetition: float
    seed: int


@dataclass
class Rendered:
    """One conversation as tokens: ids (EOS last) and its 0/1 loss mask."""

    key: str  # sha256 of the conversation's canonical row: the hash key of every choice
    ids: list[int]
    mask: list[int]


def prepare(
    sources: dict[str, str], settings: DataSettings, tokenizer: Tokenizer, output: str
) -> SftDataManifest:
    """Read, render, split, mix and write the data (or find it written for the same inputs)."""
    read, skipped, digests = {}, {}, {}
    for name, uri in sources.items():
        result = read_conversations(uri)
        if not result.conversations:
            reasons = ", ".join(f"{k} {v}" for k, v in sorted(result.skipped.items())) or "none"
            raise TritterError(
                f"{uri}: no valid conversation in source '{name}' ({result.rows} rows; "
                f"skipped: {reasons})"
            )
        read[name] = result.conversations
        skipped[name] = dict(sorted(result.skipped.items()))
        digests[name] = _digest(result.conversations)
    inputs = SftDataInputs(
        sources=sources, source_sha256=digests, tokenizer_sha256=tokenizer.sha256
    )
    expected = SFT_DATA_MANIFEST.fingerprint(settings, inputs)
    done = SFT_DATA_MANIFEST.current(output, expected)
    if done is not None:
        return done
    storage.ensure_writable(output)
    storage.delete(manifest.manifest_uri(output))
    rendered = {name: [_render(c, tokenizer) for c in conversations]
                for name, conversations in read.items()}  # fmt: skip
    splits = {name: _split(items, settings) for name, items in rendered.items()}
    repetition = _repetition({n: s["train"] for n, s in splits.items()}, settings)
    return _write(output, splits, repetition, settings, tokenizer, inputs, expected, skipped)


def _digest(conversations: list[Conversation]) -> str:
    digest = hashlib.sha256()
    for conversation in conversations:
        digest.update(json.dumps(conversation.to_row(), sort_keys=True).encode())
        digest.update(b"\n")
    return digest.hexdigest()


def _render(conversation: Conversation, tokenizer: Tokenizer) -> Rendered:
    ids, mask = render(conversation, tokenizer)
    key = hashlib.sha256(json.dumps(conversation.to_row(), sort_keys=True).encode()).hexdigest()
    # EOS closes the conversation as it closes a pretraining document; it is never a target.
    return Rendered(key, [*ids, tokenizer.eos_id], [*mask, 0])


def _split(items: list[Rendered], settings: DataSettings) -> dict[str, list[Rendered]]:
    held = unit_hash([r.key for r in items], settings.seed, "val") < settings.val_fraction
    return {
        "train": [r for r, h in zip(items, held, strict=True) if not h],
        "val": [r for r, h in zip(items, held, strict=True) if h],
    }


def _repetition(train: dict[str, list[Rendered]], settings: DataSettings) -> dict[str, float]:
    """Copies per training conversation, per source, that realize the mixture."""
    available = {name: float(sum(len(r.ids) for r in items)) for name, items in train.items()}
    if not settings.mix:
        return dict.fromkeys(train, 1.0)
    weights = {name: settings.mix.get(name, 0.0) for name in train}
    caps = {name: settings.max_repetition * amount for name, amount in available.items()}
    used = allocate(weights, caps, sum(available.values()))
    return {name: used[name] / available[name] if available[name] else 0.0 for name in train}


def _copies(items: list[Rendered], repetition: float, seed: int) -> list[tuple[Rendered, int]]:
    """(conversation, copy number) of every training copy, in the stream's hashed order."""
    base = math.floor(repetition + 1e-9)
    extra = unit_hash([r.key for r in items], seed, "repeat") < repetition - base
    copies = [(r, c) for r, more in zip(items, extra, strict=True) for c in range(base + more)]
    order = unit_hash([f"{r.key}:{c}" for r, c in copies], seed, "order")
    return [copies[i] for i in np.argsort(order, kind="stable")]


def _write(
    output: str,
    splits: dict[str, dict[str, list[Rendered]]],
    repetition: dict[str, float],
    settings: DataSettings,
    tokenizer: Tokenizer,
    inputs: SftDataInputs,
    fingerprint: str,
    skipped: dict[str, dict[str, int]],
) -> SftDataManifest:
    dtype = token_dtype(tokenizer.vocab_size)
    shards, files = [], []
    conversations: dict[str, Counter] = defaultdict(Counter)
    tokens: dict[str, Counter] = defaultdict(Counter)
    learned: dict[str, Counter] = defaultdict(Counter)
    with tempfile.TemporaryDirectory(prefix="tritter-sft-data-") as tmp:
        for split in SPLITS:
            for name, by_split in splits.items():
                items = by_split[split]
                if split == "train":
                    chosen = [r for r, _ in _copies(items, repetition[name], settings.seed)]
                else:
                    chosen = items
                if not chosen:
                    continue
                record, written = _write_shard(Path(tmp), output, split, name, chosen, dtype)
                shards.append(record)
                files.extend(written)
                conversations[split][name] = len(chosen)
                tokens[split][name] = record.num_tokens
                learned[split][name] = sum(sum(r.mask) for r in chosen)
    if not tokens["train"]:
        raise TritterError(f"{output}: no training conversation left (all held out?)")
    train_total = sum(tokens["train"].values())
    weights = settings.mix or {name: tokens["train"][name] for name in tokens["train"]}
    weight_total = sum(weights.get(name, 0.0) for name in splits) or 1.0
    result = manifest.Manifest(
        stage=SFT_DATA_MANIFEST.stage,
        fingerprint=fingerprint,
        inputs=inputs,
        config=settings.model_dump(mode="json"),
        counts=SftDataCounts(
            conversations=_plain(conversations),
            tokens=_plain(tokens),
            learned_tokens=_plain(learned),
            skipped=skipped,
            mixture=SftMixture(
                target={n: round(weights.get(n, 0.0) / weight_total, 6) for n in splits},
                realized={n: round(tokens["train"][n] / train_total, 6) for n in splits},
                repetition={n: round(r, 6) for n, r in repetition.items()},
            ),
        ),
        files=files,
        extra=SftDataExtra(
            tokenizer_sha256=tokenizer.sha256,
            vocab_size=tokenizer.vocab_size,
            dtype=dtype.name,
            eos_id=tokenizer.eos_id,
            pad_id=tokenizer.pad_id if tokenizer.pad_id >= 0 else tokenizer.eos_id,
            shards=shards,
            template=TEMPLATE,
        ),
    )
    manifest.write_manifest(output, result)
    log.event(_log, "conversations rendered", output=output, train_tokens=train_total,
              learned=sum(learned["train"].values()), shards=len(shards))  # fmt: skip
    return result


def _write_shard(
    tmp: Path, output: str, split: str, name: str, chosen: list[Rendered], dtype: np.dtype
) -> tuple[ShardRecord, list[manifest.FileEntry]]:
    tokens_rel, docs_rel = shard_paths(split, name, 0)
    mask_rel = mask_path(tokens_rel)
    local = {rel: tmp / rel.replace("/", "_") for rel in (tokens_rel, docs_rel, mask_rel)}
    writer = TokenFileWriter(local[tokens_rel], dtype)
    lengths = []
    for item in chosen:
        writer.write(np.asarray(item.ids))
        lengths.append(len(item.ids))
    count = writer.close()
    write_docs(local[docs_rel], np.concatenate([[0], np.cumsum(lengths)]))
    write_spans(local[mask_rel], spans_of(np.concatenate([r.mask for r in chosen])))
    files = []
    for rel, path in local.items():
        storage.upload_file(path, storage.join(output, *rel.split("/")))
        files.append(manifest.FileEntry(rel, path.stat().st_size, storage.sha256_file(path)))
    record = ShardRecord(split=split, subset=name, tokens=tokens_rel, docs=docs_rel,
                         mask=mask_rel, num_tokens=count, num_documents=len(chosen))  # fmt: skip
    return record, files


def _plain(counters: dict[str, Counter]) -> dict[str, dict[str, int]]:
    return {split: dict(sorted(c.items())) for split, c in sorted(counters.items())}
