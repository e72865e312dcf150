"""`TokenLoader`: deterministic, resumable, rank-sharded batches from packed token shards.

Samples. The split's stream (see `tritter.loader.stream`) of T tokens holds
N = (T - 1) // seq_len fixed-length samples; sample i is tokens [i·L, (i+1)·L + 1), so inputs
are its first L tokens, targets the last L, and every token is a target exactly once per epoch.
Samples may span documents (each ends in EOS) and shards.

Global order. Sample positions form one endless sequence over epochs: position p is epoch
p // N, slot p % N, and holds sample perm_epoch(p % N), where perm_epoch is a Feistel
permutation keyed by (seed, epoch) (the validation split is read in order). Global batch g is
positions [g·G, (g+1)·G) with G = world_size × micro_batch_size; rank r takes the r-th block of
micro_batch_size. So every sample is seen once per epoch across ranks, ranks never overlap,
and an epoch boundary may fall inside a batch (nothing is dropped).

Resume. The whole state is the global position (samples consumed by all ranks together).
`state_dict()` records it; `load_state_dict()` restores it and the next batch is exactly the
one an uninterrupted run would have produced. Because the position is global, resuming with a
different world size or micro-batch keeps the global order: no sample lost or repeated.

With `loop=False` one pass ends at the epoch boundary; the last global batch is completed with
padding rows (inputs = pad id, targets = -100) so every rank yields the same number of batches.

Under a `torch.utils.data.DataLoader(loader, batch_size=None, num_workers=K)` worker k produces
batches k, k+K, …, which the DataLoader hands out round-robin: the same sequence as iterating
the loader directly. Only the main-process object tracks the position, so use
`loader.data_loader(num_workers=K)` (which does the same and keeps `state_dict()` exact) when
you need to resume.
"""

from __future__ import annotations

import collections
import hashlib
import os
from collections.abc import Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from functools import cached_property
from typing import TYPE_CHECKING, Any

import numpy as np
import torch
from torch.utils.data import IterableDataset, get_worker_info

from tritter import storage
from tritter.errors import TritterError
from tritter.loader.permutation import FeistelPermutation
from tritter.loader.stream import TokenStream, read_token_shards

if TYPE_CHECKING:
    from tritter.tokenizer import Tokenizer

IGNORE_INDEX = -100
STATE_FORMAT = "tritter.TokenLoader/1"
IO_THREADS = int(os.environ.get("TRITTER_LOADER_IO_THREADS", "16"))


class TokenLoader(IterableDataset):
    """Batches of `(inputs, targets[, document_ids])`, each a LongTensor [micro_batch, seq_len]."""

    def __init__(
        self,
        data_uri: str,
        *,
        split: str = "train",
        seq_len: int,
        micro_batch_size: int,
        rank: int = 0,
        world_size: int = 1,
        seed: int = 0,
        subset: str | None = None,
        with_document_ids: bool = False,
        cache_dir: str | os.PathLike[str] | None = None,
        loop: bool = True,
    ) -> None:
        super().__init__()
        if seq_len < 1 or micro_batch_size < 1:
            raise TritterError(
                f"seq_len ({seq_len}) and micro_batch_size ({micro_batch_size}) must be >= 1"
            )
        if world_size < 1 or not 0 <= rank < world_size:
            raise TritterError(f"rank {rank} is not in range for world_size {world_size}")
        self.data_uri = storage.normalize(data_uri)
        self.split, self.subset = split, subset
        self.seq_len, self.micro_batch_size = int(seq_len), int(micro_batch_size)
        self.rank, self.world_size = int(rank), int(world_size)
        self.seed, self.loop = int(seed), bool(loop)
        self.with_document_ids = bool(with_document_ids)
        self.shuffle = split != "val"
        self.stream = TokenStream(self.data_uri, split, subset, cache_dir)
        self._samples = (self.stream.total_tokens - 1) // self.seq_len
        if self._samples <= 0:
            raise TritterError(
                f"{self.data_uri}: seq_len {self.seq_len} is larger than the '{split}'"
                f"{f'/{subset}' if subset else ''} token stream ({self.stream.total_tokens} tokens)"
            )
        self._position = 0
        self._permutations: dict[int, FeistelPermutation] = {}

    # ---------------------------------------------------------------------------------------
    # Facts

    @cached_property
    def _content(self) -> str:
        """Digest of the token files' recorded sha256s: which bytes the sample numbers name."""
        entries = sorted((f.path, f.sha256) for f in self.stream.manifest.files)
        return hashlib.sha256(repr(entries).encode()).hexdigest()

    @property
    def vocab_size(self) -> int:
        return self.stream.vocab_size

    @property
    def tokenizer_sha256(self) -> str:
        return self.stream.tokenizer_sha256

    @property
    def samples_per_epoch(self) -> int:
        return self._samples

    @property
    def epoch(self) -> int:
        """Epoch of the next sample to be yielded."""
        return self._position // self._samples

    @property
    def global_batch_size(self) -> int:
        return self.world_size * self.micro_batch_size

    def batches_per_pass(self) -> int:
        """Batches one rank yields for one pass from the current position (loop=False)."""
        remaining = (self.epoch + 1) * self._samples - self._position
        return -(-remaining // self.global_batch_size)

    # ---------------------------------------------------------------------------------------
    # State

    def state_dict(self) -> dict[str, Any]:
        return {
            "format": STATE_FORMAT,
            "position": self._position,
            "epoch": self.epoch,
            "seed": self.seed,
            "seq_len": self.seq_len,
            "split": self.split,
            "subset": self.subset,
            "samples_per_epoch": self._samples,
            "data_fingerprint": self.stream.manifest.fingerprint,
            "data_content": self._content,
            "world_size": self.world_size,
            "micro_batch_size": self.micro_batch_size,
        }

    def load_state_dict(self, state: dict[str, Any]) -> None:
        if not isinstance(state, dict) or state.get("format") != STATE_FORMAT:
            raise TritterError(f"loader state: not a {STATE_FORMAT} state")
        mine = self.state_dict()
        if state.get("data_content", mine["data_content"]) != mine["data_content"]:
            # Same fingerprint, other bytes: a takedown rewrote shards in place (it keeps the
            # fingerprint so a relaunched pack keeps the cleaned output). Sample numbers now
            # name other tokens, so the saved position means nothing.
            raise TritterError(
                f"loader state: the token shards of {self.data_uri} changed since this "
                "checkpoint (rewritten by a takedown?); resuming would mis-map the data order: "
                "start a new run from the checkpoint with --init"
            )
        for key in ("seed", "seq_len", "split", "subset", "samples_per_epoch", "data_fingerprint"):
            if state.get(key) != mine[key]:
                raise TritterError(
                    f"loader state: {key} {state.get(key)!r} differs from this loader's "
                    f"{mine[key]!r} (resuming would change the data order)"
                )
        position = state.get("position")
        if not isinstance(position, int) or position < 0:
            raise TritterError(f"loader state: invalid position {position!r}")
        self._position = position

    # ---------------------------------------------------------------------------------------
    # Sample order

    def _permutation(self, epoch: int) -> FeistelPermutation:
        perm = self._permutations.get(epoch)
        if perm is None:
            if len(self._permutations) > 4:
                self._permutations.clear()
            perm = self._permutations[epoch] = FeistelPermutation(self._samples, self.seed, epoch)
        return perm

    def sample_ids(self, positions: np.ndarray) -> np.ndarray:
        """Sample index at each global position (-1 stays -1: padding)."""
        positions = np.asarray(positions, dtype=np.int64)
        out = np.full(positions.shape, -1, dtype=np.int64)
        valid = positions >= 0
        if not self.shuffle:
            out[valid] = positions[valid] % self._samples
            return out
        epochs = positions // self._samples
        for epoch in np.unique(epochs[valid]):
            mask = valid & (epochs == epoch)
            out[mask] = self._permutation(int(epoch))(positions[mask] % self._samples)
        return out

    def _positions(self, start: int, batch: int, end: int | None) -> np.ndarray:
        """This rank's global positions in batch `batch` counted from `start` (-1: padding)."""
        first = start + batch * self.global_batch_size + self.rank * self.micro_batch_size
        positions = np.arange(first, first + self.micro_batch_size, dtype=np.int64)
        if end is not None:
            positions[positions >= end] = -1
        return positions

    # ---------------------------------------------------------------------------------------
    # Batches

    def _read_sample(self, sample: int) -> tuple[np.ndarray, np.ndarray | None, np.ndarray | None]:
        """The window of L + 1 tokens, its document numbers (from 0) and, for conversations,
        which of its targets (tokens 1..L) are learned."""
        start = sample * self.seq_len
        window = self.stream.read(start, self.seq_len + 1)
        documents = None
        if self.with_document_ids:
            numbers = self.stream.document_numbers(start, self.seq_len)
            documents = numbers - numbers[0]
        learned = self.stream.learned(start + 1, self.seq_len) if self.stream.masked else None
        return window, documents, learned

    def _assemble(self, samples: np.ndarray, reads: list[Any]) -> tuple[torch.Tensor, ...]:
        length = self.seq_len
        inputs = np.full((len(samples), length), self.stream.pad_id, dtype=np.int64)
        targets = np.full((len(samples), length), IGNORE_INDEX, dtype=np.int64)
        documents = np.zeros((len(samples), length), dtype=np.int64)
        for row, read in enumerate(reads):
            if read is None:
                continue
            window, docs, learned = read
            inputs[row] = window[:length]
            targets[row] = (
                window[1:] if learned is None else np.where(learned, window[1:], IGNORE_INDEX)
            )
            if docs is not None:
                documents[row] = docs
        out = (torch.from_numpy(inputs), torch.from_numpy(targets))
        if self.with_document_ids:
            out = (*out, torch.from_numpy(documents))
        return out

    def _batch_now(self, positions: np.ndarray) -> tuple[torch.Tensor, ...]:
        samples = self.sample_ids(positions)
        reads = [self._read_sample(int(s)) if s >= 0 else None for s in samples]
        return self._assemble(samples, reads)

    def _iter_batches(self, start: int, worker: int, workers: int) -> Iterator[tuple[int, tuple]]:
        """(batch number, batch) for this rank and worker, from global position `start`."""
        end = None
        batches: Iterator[int]
        if self.loop:
            batches = _count(worker, workers)
        else:
            end = (start // self._samples + 1) * self._samples
            total = -(-(end - start) // self.global_batch_size)
            batches = iter(range(worker, total, workers))
        if not self.stream.remote:
            for batch in batches:
                yield batch, self._batch_now(self._positions(start, batch, end))
            return
        # Object storage: keep enough sample reads in flight to hide request latency.
        depth = max(2, -(-2 * IO_THREADS // self.micro_batch_size))
        with ThreadPoolExecutor(max_workers=IO_THREADS, thread_name_prefix="tritter-io") as pool:
            queue: collections.deque[tuple[int, np.ndarray, list[Future | None]]] = (
                collections.deque()
            )

            def submit(batch: int) -> None:
                samples = self.sample_ids(self._positions(start, batch, end))
                futures = [
                    pool.submit(self._read_sample, int(s)) if s >= 0 else None for s in samples
                ]
                queue.append((batch, samples, futures))

            for batch in batches:
                submit(batch)
                if len(queue) < depth:
                    continue
                number, samples, futures = queue.popleft()
                yield number, self._assemble(samples, [f.result() if f else None for f in futures])
            while queue:
                number, samples, futures = queue.popleft()
                yield number, self._assemble(samples, [f.result() if f else None for f in futures])

    def _advance(self, start: int, batches_done: int) -> int:
        position = start + batches_done * self.global_batch_size
        if not self.loop:
            position = min(position, (start // self._samples + 1) * self._samples)
        return position

    def __iter__(self) -> Iterator[tuple[torch.Tensor, ...]]:
        info = get_worker_info()
        start = self._position
        if info is not None:  # inside a DataLoader worker: produce this worker's share
            for _, batch in self._iter_batches(start, info.id, info.num_workers):
                yield batch
            return
        for number, batch in self._iter_batches(start, 0, 1):
            self._position = self._advance(start, number + 1)
            yield batch

    def data_loader(
        self, num_workers: int = 2, pin_memory: bool = False, **kwargs: Any
    ) -> Iterator:
        """Iterate through a `DataLoader` with worker processes, still tracking the position."""
        return _TrackedLoader(self, num_workers, pin_memory, kwargs)

    def __repr__(self) -> str:
        return (
            f"TokenLoader({self.data_uri!r}, split={self.split!r}, subset={self.subset!r}, "
            f"seq_len={self.seq_len}, micro_batch_size={self.micro_batch_size}, "
            f"rank={self.rank}/{self.world_size}, samples_per_epoch={self._samples})"
        )


class _TrackedLoader:
    def __init__(
        self, loader: TokenLoader, workers: int, pin: bool, kwargs: dict[str, Any]
    ) -> None:
        self.loader, self.workers, self.pin, self.kwargs = loader, workers, pin, kwargs

    def __iter__(self) -> Iterator[tuple[torch.Tensor, ...]]:
        from torch.utils.data import DataLoader

        start = self.loader._position
        data = DataLoader(
            self.loader,
            batch_size=None,
            num_workers=self.workers,
            pin_memory=self.pin,
            **self.kwargs,
        )
        for done, batch in enumerate(data, 1):
            self.loader._position = self.loader._advance(start, done)
            yield tuple(batch)


def _count(first: int, step: int) -> Iterator[int]:
    value = first
    while True:
        yield value
        value += step


def list_subsets(data_uri: str, split: str = "val") -> list[str]:
    """Subsets with tokens in `split` (e.g. the languages to report validation loss for)."""
    found = read_token_shards(storage.normalize(data_uri))
    return sorted({s.subset for s in found.extra.shards if s.split == split and s.num_tokens > 0})


def check_tokenizer(data_uri: str, tokenizer: Tokenizer | str) -> None:
    """Refuse a tokens folder packed by another tokenizer (`tokenizer`: a Tokenizer, sha or URI)."""
    from tritter.tokenizer.model import Tokenizer

    found = read_token_shards(storage.normalize(data_uri))
    if (
        isinstance(tokenizer, str)
        and len(tokenizer) == 64
        and all(c in "0123456789abcdef" for c in tokenizer)
    ):
        sha, vocab = tokenizer, None
    else:
        if isinstance(tokenizer, (str, os.PathLike)):
            tokenizer = Tokenizer.load(tokenizer)
        sha, vocab = tokenizer.sha256, tokenizer.vocab_size
    packed = found.extra.tokenizer_sha256
    if sha != packed:
        raise TritterError(
            f"{data_uri}: packed with tokenizer sha256 {packed[:12]}, but the given tokenizer is "
            f"{sha[:12]} (tokenizer/shard mismatch: re-pack or use the matching tokenizer)"
        )
    if vocab is not None and vocab != found.extra.vocab_size:
        raise TritterError(
            f"{data_uri}: packed with vocab size {found.extra.vocab_size}, tokenizer has {vocab}"
        )
