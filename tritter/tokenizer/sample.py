"""The tokenizer's training sample: curated text drawn across subsets in mixture proportion.

Each subset is offered `weight × sample_bytes`; a subset with less text gives all it has and the
rest is re-offered to the others (water-filling, see `tritter.data.mixture`). Within a subset,
documents are taken in the order of a seeded hash of their content digest, so the draw is
deterministic for a seed and does not depend on shard order. The first documents in that order
(up to `heldout_bytes`, at most 10 % of the subset) are held out: they never enter training and
measure the finished tokenizer's compression per language.

Documents are cut at line ends into sentences of at most `sentence_bytes` bytes. Sentences keep
their newlines and indentation, so SentencePiece can learn pieces such as `):\n` or
`▁▁▁▁▁▁▁▁return`.
"""

from __future__ import annotations

import json
from collections import Counter, defaultdict
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from tritter import log
from tritter.data import curated as curated_input
from tritter.data.mixture import ResolvedMixture, allocate, resolve
from tritter.data.render import render
from tritter.data.selection import leading_count, unit_hash
from tritter.tokenizer.config import TokenizerConfig

_log = log.get_logger("tokenizer")
HELDOUT_MAX_FRACTION = 0.10


@dataclass
class Sample:
    sentences_path: Path
    sentences: int = 0
    mixture: ResolvedMixture | None = None
    train: dict[str, dict[str, int]] = field(default_factory=dict)  # subset → docs, bytes
    train_languages: dict[str, int] = field(default_factory=dict)  # language → bytes
    heldout: dict[str, list[str]] = field(default_factory=dict)  # language → texts
    heldout_stats: dict[str, dict[str, int]] = field(default_factory=dict)  # subset → docs, bytes

    def iter_sentences(self) -> Iterator[str]:
        with open(self.sentences_path, encoding="utf-8") as handle:
            for line in handle:
                yield json.loads(line)


def split_sentences(text: str, limit: int) -> Iterator[str]:
    """Cut `text` at line ends into pieces of at most `limit` UTF-8 bytes (longer lines are cut
    at character boundaries)."""
    buffer: list[str] = []
    size = 0
    for line in text.splitlines(keepends=True):
        encoded = len(line.encode())
        if size + encoded > limit and buffer:
            yield "".join(buffer)
            buffer, size = [], 0
        while encoded > limit:  # a single over-long line: cut it by bytes, on a char boundary
            head = line.encode()[:limit].decode("utf-8", errors="ignore")
            yield head
            line = line[len(head) :]
            encoded = len(line.encode())
        if line:
            buffer.append(line)
            size += encoded
    if buffer:
        yield "".join(buffer)


def draw(config: TokenizerConfig, source: curated_input.CuratedInput, workdir: Path) -> Sample:
    """Choose, read and write the training sentences; keep the held-out texts in memory."""
    docs = curated_input.read_metadata(source)
    mixture = resolve(config.mix, set(docs.subset.tolist()))
    weighted = docs.select(np.isin(docs.subset, list(mixture.weights)))
    hashes = unit_hash(weighted.sha256, config.seed, "tokenizer-sample")

    heldout_rows: list[np.ndarray] = []
    candidates: dict[str, np.ndarray] = {}  # subset → training candidates in hash order
    available: dict[str, float] = {}
    for subset in mixture.weights:
        index = np.flatnonzero(weighted.subset == subset)
        order = index[np.argsort(hashes[index], kind="stable")]
        total = float(weighted.nbytes[order].sum())
        held_target = min(config.heldout_bytes, HELDOUT_MAX_FRACTION * total)
        held = leading_count(weighted.nbytes[order], held_target) if len(order) > 1 else 0
        heldout_rows.append(order[:held])
        candidates[subset] = order[held:]
        available[subset] = float(weighted.nbytes[order[held:]].sum())
    quotas = allocate(mixture.weights, available, config.sample_bytes)
    train_rows = [
        candidates[s][: leading_count(weighted.nbytes[candidates[s]], quotas[s])]
        for s in mixture.weights
    ]

    sample = Sample(sentences_path=workdir / "sentences.jsonl", mixture=mixture)
    chosen = np.concatenate(train_rows) if train_rows else np.array([], dtype=np.int64)
    held = np.concatenate(heldout_rows) if heldout_rows else np.array([], dtype=np.int64)
    train_set = set(chosen.tolist())
    stats: dict[str, Counter] = defaultdict(Counter)
    languages: Counter = Counter()
    held_stats: dict[str, Counter] = defaultdict(Counter)
    with open(sample.sentences_path, "w", encoding="utf-8") as out:
        # Shard then row order: deterministic, and each shard is opened once.
        rows = np.r_[chosen, held].astype(np.int64)
        rows = rows[np.lexsort((weighted.row[rows], weighted.shard[rows]))]
        for shard_index in np.unique(weighted.shard[rows]):
            in_shard = rows[weighted.shard[rows] == shard_index]
            texts = curated_input.read_rows(source.shards[int(shard_index)], weighted.row[in_shard])
            for doc, text, explanation in zip(
                in_shard, texts["text"], texts["explanation"], strict=True
            ):
                subset = str(weighted.subset[doc])
                language = str(weighted.language[doc])
                rendered = render(
                    text, language, bool(weighted.negative[doc]), explanation, "explain"
                )
                if rendered is None:
                    continue
                if int(doc) in train_set:
                    stats[subset]["documents"] += 1
                    stats[subset]["bytes"] += len(rendered.encode())
                    languages[language] += len(rendered.encode())
                    for sentence in split_sentences(rendered, config.sentence_bytes):
                        out.write(json.dumps(sentence, ensure_ascii=False) + "\n")
                        sample.sentences += 1
                else:
                    sample.heldout.setdefault(language, []).append(rendered)
                    held_stats[subset]["documents"] += 1
                    held_stats[subset]["bytes"] += len(rendered.encode())
    sample.train = {k: dict(v) for k, v in sorted(stats.items())}
    sample.train_languages = dict(sorted(languages.items()))
    sample.heldout_stats = {k: dict(v) for k, v in sorted(held_stats.items())}
    log.event(
        _log,
        "tokenizer sample drawn",
        sentences=sample.sentences,
        train_bytes=sum(v["bytes"] for v in sample.train.values()),
        heldout_bytes=sum(v["bytes"] for v in sample.heldout_stats.values()),
    )
    return sample
