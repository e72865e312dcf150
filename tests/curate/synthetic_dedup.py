"""Synthetic dedup inputs: the `_work/` of a planned, fully processed curation run, written
directly (plan record, and per shard `dedup.npz`, `signatures.npy`, `shingles.npy` and the
`stats.json` marker), so that the dedup steps run on planted structures of any size.

Documents are sets of random 64-bit shingles; a *variant* replaces some shingles of another
document (Jaccard (L-k)/(L+k) for k of L replaced), an *exact copy* repeats its content hash
and shingles. Signatures and band keys come from the stage's own MinHash code
(`tritter.curate.minhash`), so LSH and verification behave as on real text.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Protocol

import numpy as np

from tritter import config as config_lib
from tritter import storage
from tritter.curate import dedup, minhash, sources
from tritter.curate.config import CurateConfig
from tritter.curate.plan import PlanRecord, dedup_layout
from tritter.curate.process import ShardStats
from tritter.curate.work import WorkFolder, npy_bytes, npz_bytes, write_json, write_marker

FINGERPRINT = "synthetic-dedup"


@dataclass
class Corpus:
    """Documents under construction (index = creation order)."""

    rng: np.random.Generator
    length: int = 24  # shingles per document
    shingles: list[np.ndarray] = field(default_factory=list)
    exact: list[int] = field(default_factory=list)
    lic: list[int] = field(default_factory=list)
    quality: list[float] = field(default_factory=list)
    stars: list[int] = field(default_factory=list)

    def __len__(self) -> int:
        return len(self.exact)

    def _add(self, shingles: np.ndarray, exact: int, lic: int | None, quality: float | None,
             stars: int | None) -> int:  # fmt: skip
        rng = self.rng
        self.shingles.append(shingles)
        self.exact.append(exact)
        self.lic.append(int(rng.random() < 0.9) if lic is None else lic)
        self.quality.append(round(float(rng.random()), 4) if quality is None else quality)
        self.stars.append(int(rng.integers(-1, 4)) if stars is None else stars)
        return len(self.exact) - 1

    def base(self, lic: int | None = None, quality: float | None = None,
             stars: int | None = None) -> int:  # fmt: skip
        shingles = self.rng.integers(1, 2**63, size=self.length, dtype=np.uint64)
        return self._add(shingles, int(self.rng.integers(1, 2**63)), lic, quality, stars)

    def variant(self, of: int, changed: int | list[int], lic: int | None = None,
                quality: float | None = None, stars: int | None = None) -> int:  # fmt: skip
        """`of` with `changed` shingles replaced (a count: random positions; or the positions)."""
        shingles = self.shingles[of].copy()
        positions = (self.rng.choice(shingles.size, size=changed, replace=False)
                     if isinstance(changed, int) else np.asarray(changed))  # fmt: skip
        shingles[positions] = self.rng.integers(1, 2**63, size=positions.size, dtype=np.uint64)
        return self._add(shingles, int(self.rng.integers(1, 2**63)), lic, quality, stars)

    def shingle_sets(self, docs: list[int]) -> list[np.ndarray]:
        return [self.shingles[d] for d in docs]

    def copy(self, of: int, lic: int | None = None, quality: float | None = None,
             stars: int | None = None) -> int:  # fmt: skip
        return self._add(self.shingles[of], self.exact[of], lic, quality, stars)


class Documents(Protocol):
    """What `write_run` reads of a document set (`Corpus`, or the benchmark's arrays)."""

    exact: Sequence[int] | np.ndarray
    lic: Sequence[int] | np.ndarray
    quality: Sequence[float] | np.ndarray
    stars: Sequence[int] | np.ndarray

    def __len__(self) -> int: ...

    def shingle_sets(self, docs: list[int]) -> list[np.ndarray]: ...


def write_run(
    output: str,
    corpus: Documents,
    docs_per_shard: int,
    partitions: int | None = None,
    order: np.ndarray | None = None,
    threshold: float = 0.8,
    num_perm: int = 128,
    band_groups: int = 4,
    batch: int = 20_000,
    **settings: object,
) -> tuple[str, np.ndarray]:
    """Write a planned, processed run to `output` (a folder or S3 URI) with the documents in
    `order` (default: creation order), `docs_per_shard` per shard. Returns (output, refs by
    creation index)."""
    config = CurateConfig(input="python-stdlib", output=output, dedup_threshold=threshold,
                          num_perm=num_perm, band_groups=band_groups,
                          dedup_partitions=partitions, **settings)  # fmt: skip
    bands, rows = config.band_layout()
    groups = min(band_groups, bands)
    n = len(corpus)
    order = np.arange(n) if order is None else np.asarray(order)
    shards = max(1, -(-n // docs_per_shard))
    partitions, dedup_units = dedup_layout(config, shards)
    work = WorkFolder(output)
    record = PlanRecord(
        fingerprint=FINGERPRINT, config=config_lib.dump(config),
        source=sources.resolve(config).to_json(), shards=shards, band_groups=groups,
        partitions=partitions, dedup_units=dedup_units, bands=bands, rows=rows, input_files=n,
        input_bytes=0, listing_sha256="synthetic", started=time.time(),
    )  # fmt: skip
    write_json(work.plan, record.model_dump(mode="json"))
    perms = minhash.Permutations.create(num_perm, config.minhash_seed)
    refs = np.empty(n, dtype=np.int64)
    exact = np.asarray(corpus.exact, dtype=np.uint64)
    lic = np.asarray(corpus.lic, dtype=np.uint8)
    quality = np.asarray(corpus.quality, dtype=np.float64)
    stars = np.asarray(corpus.stars, dtype=np.int64)
    pending: list[tuple[np.ndarray, np.ndarray]] = []  # (documents, signatures) not yet written
    shard = 0
    for start in range(0, n, batch):
        docs = order[start : start + batch]
        hashes = corpus.shingle_sets(docs.tolist())
        offsets = np.concatenate(([0], np.cumsum([h.size for h in hashes]))).astype(np.int64)
        sigs = minhash.signatures(minhash.WordHashes(np.concatenate(hashes), offsets), perms)
        pending.append((docs, sigs))
        while sum(d.size for d, _ in pending) >= docs_per_shard or (start + batch >= n and pending):
            docs_all = np.concatenate([d for d, _ in pending])
            sigs_all = np.concatenate([s for _, s in pending])
            here, rest = docs_all[:docs_per_shard], docs_all[docs_per_shard:]
            _write_shard(work, shard, here, sigs_all[:docs_per_shard], corpus, exact, lic,
                         quality, stars, bands, rows, groups)  # fmt: skip
            refs[here] = dedup.make_refs(shard, here.size)
            shard += 1
            pending = [(rest, sigs_all[docs_per_shard:])] if rest.size else []
    assert shard == shards, (shard, shards)
    return output, refs


def _write_shard(work: WorkFolder, shard: int, docs: np.ndarray, sigs: np.ndarray,
                 corpus: Documents, exact: np.ndarray, lic: np.ndarray, quality: np.ndarray,
                 stars: np.ndarray, bands: int, rows: int, groups: int) -> None:  # fmt: skip
    sets = [(s >> np.uint64(32)).astype(np.uint32) for s in corpus.shingle_sets(docs.tolist())]
    offsets = np.concatenate(([0], np.cumsum([s.size for s in sets]))).astype(np.int64)
    idhash = minhash.splitmix(exact[docs] ^ docs.astype(np.uint64))  # distinct per document
    arrays = {
        "exact": exact[docs],
        "lic_rank": lic[docs],
        "quality": quality[docs],
        "stars": stars[docs],
        "idhash": idhash,
        "ids": np.array([f"{d:064x}".encode() for d in docs.tolist()], dtype="S64"),
        "shingle_offsets": offsets,
    }
    keys = minhash.band_keys(sigs, bands, rows)
    for group, (lo, hi) in enumerate(dedup.group_bands(bands, groups)):
        arrays[f"bands_{group}"] = np.ascontiguousarray(keys[:, lo:hi])
    storage.write_bytes(work.shard(shard, "dedup.npz"), npz_bytes(arrays))
    storage.write_bytes(work.shard(shard, "signatures.npy"), npy_bytes(sigs))
    values = np.concatenate(sets) if sets else np.zeros(0, np.uint32)
    storage.write_bytes(work.shard(shard, "shingles.npy"), npy_bytes(values))
    write_marker(work.shard(shard, "stats.json"), ShardStats(
        fingerprint=FINGERPRINT, index=shard, passed=int(docs.size), dropped={}, flaws={},
        input_documents=int(docs.size), input_bytes=0, read_bytes=0, seconds=0.0,
    ))  # fmt: skip
