"""The preference pairs of a DPO run, rendered, split, and scored once by the reference model.

Each source is read (`tritter.dpo.pairs.read_pairs`: bad rows counted and skipped), every pair
rendered twice with the chat template (`tritter.chat.render`): prompt + chosen and prompt +
rejected, each led by EOS (a sequence starts as a packed document does: right after an EOS),
the mask 1 only on what the assistant writes after the prompt. The files (layout in
`tritter.run_folder`, section DPO) go to `<dpo folder>/data/` with their own manifest, redone
only when the sources, tokenizer, `--init`, `--seq-len`, split or reference precision change.

* Skipped while rendering (counted with the reading reasons): `too_long` (a sequence longer than
  `--seq-len` + 1 tokens: cutting a reply would change what is preferred) and `same_reply`
  (chosen and rejected render identically: no preference to learn).
* Split: a pair is held out for validation when a keyed hash of its content is below
  `--val-fraction`, so the split is stable wherever and in whatever order the data is read.
* Reference: `--init` is loaded once, and Σ log p of each sequence's learned tokens is computed
  in batches of `--micro-batch-size` pairs, without gradients, under the training's autocast
  (bf16 on GPU, fp32 on CPU): training then holds one model, and at step 0 (policy =
  reference) every pair's log-ratio is 0 and the sigmoid loss is ln 2.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import tempfile
import time
from collections import Counter
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import torch

from tritter import log, manifest, storage
from tritter.chat import render, render_prompt
from tritter.chat.conversation import InvalidConversation
from tritter.config import Config
from tritter.data.selection import unit_hash
from tritter.data.shardfile import token_dtype
from tritter.dpo.loss import sequence_logps
from tritter.dpo.pairs import Pair, read_pairs
from tritter.errors import TritterError
from tritter.run_folder import (
    DPO_DATA_MANIFEST,
    DpoDataCounts,
    DpoDataExtra,
    DpoDataInputs,
    DpoDataManifest,
    DpoSplitRecord,
)
from tritter.train.loss import IGNORE_INDEX

if TYPE_CHECKING:
    from collections.abc import Callable

    from tritter.tokenizer import Tokenizer

_log = log.get_logger("dpo")
SPLITS = ("train", "val")
TEMPLATE = (
    "tritter.chat.template: EOS, prompt (not learned), the reply's last-turn text, code and "
    "assistant_end learned"
)
FILES = ("tokens", "offsets", "mask", "reference")


class DataSettings(Config):
    """The options that decide the rendered data and its reference log-probabilities."""

    val_fraction: float
    seed: int
    seq_len: int
    precision: str  # fp32 | bf16: the reference pass's compute (`bf16_compute`)


@dataclass
class RenderedPair:
    key: str
    source: str
    chosen: tuple[np.ndarray, np.ndarray]  # ids, 0/1 mask (same length)
    rejected: tuple[np.ndarray, np.ndarray]


def prepare(
    sources: dict[str, str],
    settings: DataSettings,
    tokenizer: Tokenizer,
    init: str,
    output: str,
    reference: Callable[[list[tuple[np.ndarray, np.ndarray]]], np.ndarray],
) -> DpoDataManifest:
    """Read, render, split, score and write the pairs (or find them written for the same
    inputs). `reference(sequences)` returns Σ log p_ref of each (ids, mask) sequence."""
    from tritter.train.store import identity

    read, skipped, digests = {}, {}, {}
    for name, uri in sources.items():
        result = read_pairs(uri)
        if not result.pairs:
            reasons = ", ".join(f"{k} {v}" for k, v in sorted(result.skipped.items())) or "none"
            example = next(iter(result.examples.values()), "")
            raise TritterError(
                f"{uri}: no valid preference pair in source '{name}' ({result.rows} rows; "
                f"skipped: {reasons}{f'; first: {example}' if example else ''})"
            )
        read[name] = result.pairs
        skipped[name] = Counter(result.skipped)
        digests[name] = _digest(result.pairs)
        for reason, example in sorted(result.examples.items()):
            log.event(_log, "pairs skipped", level=30, source=name, reason=reason,
                      rows=result.skipped[reason], example=example)  # fmt: skip
    inputs = DpoDataInputs(
        sources=sources, source_sha256=digests, tokenizer_sha256=tokenizer.sha256, init=init,
        init_identity=identity(init),
    )  # fmt: skip
    expected = DPO_DATA_MANIFEST.fingerprint(settings, inputs)
    done = DPO_DATA_MANIFEST.current(output, expected)
    if done is not None:
        return done
    storage.ensure_writable(output)
    storage.delete(manifest.manifest_uri(output))
    splits: dict[str, list[RenderedPair]] = {split: [] for split in SPLITS}
    for name, pairs in read.items():
        rendered = []
        for pair in pairs:
            item = _render(pair, name, tokenizer, settings.seq_len)
            if isinstance(item, str):
                skipped[name][item] += 1
            else:
                rendered.append(item)
        held = unit_hash([r.key for r in rendered], settings.seed, "val") < settings.val_fraction
        for item, out in zip(rendered, held, strict=True):
            splits["val" if out else "train"].append(item)
    if not splits["train"]:
        reasons = {n: dict(c) for n, c in skipped.items() if c}
        raise TritterError(
            f"{output}: no training pair left (skipped: {reasons or 'none'}; all held out?)"
        )
    return _write(output, splits, settings, tokenizer, inputs, expected, skipped, reference)


def _digest(pairs: list[Pair]) -> str:
    digest = hashlib.sha256()
    for pair in pairs:
        digest.update(json.dumps(pair.to_row(), sort_keys=True).encode())
        digest.update(b"\n")
    return digest.hexdigest()


def render_pair(pair: Pair, tokenizer: Tokenizer) -> tuple[tuple[list[int], list[int]], ...]:
    """(ids, mask) of prompt + chosen and prompt + rejected, each led by EOS; the mask is the
    template's, zeroed over the prompt (earlier assistant turns are context, not learned)."""
    prompt = render_prompt(pair.prompt, tokenizer)
    out = []
    for reply in (pair.chosen, pair.rejected):
        ids, mask = render(pair.prompt + reply, tokenizer)
        if ids[: len(prompt)] != prompt:  # the template renders a prefix as the prompt does
            raise InvalidConversation("bad_prompt", "the prompt does not render as a prefix")
        mask = [0] * len(prompt) + mask[len(prompt) :]
        out.append(([tokenizer.eos_id, *ids], [0, *mask]))
    return tuple(out)


def _render(pair: Pair, source: str, tokenizer: Tokenizer, seq_len: int) -> RenderedPair | str:
    """The rendered pair, or the reason it is skipped."""
    try:
        chosen, rejected = render_pair(pair, tokenizer)
    except InvalidConversation as problem:
        return problem.reason
    if max(len(chosen[0]), len(rejected[0])) > seq_len + 1:
        return "too_long"
    if chosen == rejected:
        return "same_reply"
    return RenderedPair(
        pair.key(), source,
        (np.asarray(chosen[0], np.int64), np.asarray(chosen[1], np.uint8)),
        (np.asarray(rejected[0], np.int64), np.asarray(rejected[1], np.uint8)),
    )  # fmt: skip


def collate(
    sequences: list[tuple[np.ndarray, np.ndarray]], pad_id: int
) -> tuple[torch.Tensor, torch.Tensor]:
    """(inputs, targets) [B, L] of (ids, mask) sequences, L the longest input: inputs are the
    ids but the last, right-padded with `pad_id`; targets the next ids where the mask is 1,
    `IGNORE_INDEX` elsewhere. Causal attention keeps right padding out of every real token."""
    length = max(len(ids) for ids, _ in sequences) - 1
    inputs = np.full((len(sequences), length), pad_id, dtype=np.int64)
    targets = np.full((len(sequences), length), IGNORE_INDEX, dtype=np.int64)
    for row, (ids, mask) in enumerate(sequences):
        count = len(ids) - 1
        inputs[row, :count] = ids[:-1]
        targets[row, :count] = np.where(np.asarray(mask[1:]) > 0, ids[1:], IGNORE_INDEX)
    return torch.from_numpy(inputs), torch.from_numpy(targets)


def reference_scorer(
    model: torch.nn.Module,
    device: torch.device,
    autocast: Callable[[], contextlib.AbstractContextManager[None]],
    pad_id: int,
    batch_size: int,
) -> Callable[[list[tuple[np.ndarray, np.ndarray]]], np.ndarray]:
    """`reference(sequences)`: Σ log p of each sequence's learned tokens under `model`."""

    @torch.no_grad()
    def score(sequences: list[tuple[np.ndarray, np.ndarray]]) -> np.ndarray:
        model.eval()
        out = np.zeros(len(sequences), dtype=np.float64)
        for start in range(0, len(sequences), batch_size):
            inputs, targets = collate(sequences[start : start + batch_size], pad_id)
            with autocast():
                logits = model(inputs.to(device))
            logps = sequence_logps(logits, targets.to(device))
            out[start : start + len(inputs)] = logps.double().cpu().numpy()
        return out

    return score


def _write(
    output: str,
    splits: dict[str, list[RenderedPair]],
    settings: DataSettings,
    tokenizer: Tokenizer,
    inputs: DpoDataInputs,
    fingerprint: str,
    skipped: dict[str, Counter],
    reference: Callable[[list[tuple[np.ndarray, np.ndarray]]], np.ndarray],
) -> DpoDataManifest:
    dtype = token_dtype(tokenizer.vocab_size)
    records, files = [], []
    pairs_count: dict[str, dict[str, int]] = {}
    tokens, learned, reference_logp = {}, {}, {}
    started = time.perf_counter()
    with tempfile.TemporaryDirectory(prefix="tritter-dpo-data-") as tmp:
        for split in SPLITS:
            items = splits[split]
            pairs_count[split] = dict(sorted(Counter(r.source for r in items).items()))
            if not items:
                continue
            sequences = [s for r in items for s in (r.chosen, r.rejected)]
            logps = reference(sequences).reshape(-1, 2)
            lengths = np.asarray([len(ids) for ids, _ in sequences], dtype=np.int64)
            arrays = {
                "tokens": np.concatenate([ids for ids, _ in sequences]).astype(dtype),
                "offsets": np.concatenate([[0], np.cumsum(lengths)]).astype(np.int64),
                "mask": np.concatenate([mask for _, mask in sequences]).astype(np.uint8),
                "reference": logps.astype(np.float64),
            }
            relative = {kind: f"{split}/{kind}.npy" for kind in FILES}
            for kind, array in arrays.items():
                local = Path(tmp) / f"{split}-{kind}.npy"
                np.save(local, array)
                storage.upload_file(local, storage.join(output, split, f"{kind}.npy"))
                files.append(
                    manifest.FileEntry(relative[kind], local.stat().st_size,
                                       storage.sha256_file(local))
                )  # fmt: skip
            records.append(DpoSplitRecord(
                split=split, pairs=len(items), num_tokens=int(lengths.sum()), **relative,
            ))  # fmt: skip
            tokens[split] = int(lengths.sum())
            learned[split] = int(arrays["mask"].sum())
            reference_logp[split] = {
                "chosen": round(float(logps[:, 0].mean()), 6),
                "rejected": round(float(logps[:, 1].mean()), 6),
            }
    result = manifest.Manifest(
        stage=DPO_DATA_MANIFEST.stage,
        fingerprint=fingerprint,
        inputs=inputs,
        config=settings.model_dump(mode="json"),
        counts=DpoDataCounts(
            pairs=pairs_count,
            tokens=tokens,
            learned_tokens=learned,
            skipped={name: dict(sorted(c.items())) for name, c in skipped.items()},
            reference_logp=reference_logp,
            reference_seconds=round(time.perf_counter() - started, 3),
        ),
        files=files,
        extra=DpoDataExtra(
            tokenizer_sha256=tokenizer.sha256,
            vocab_size=tokenizer.vocab_size,
            dtype=dtype.name,
            eos_id=tokenizer.eos_id,
            pad_id=tokenizer.pad_id if tokenizer.pad_id >= 0 else tokenizer.eos_id,
            seq_len=settings.seq_len,
            template=TEMPLATE,
            reference_precision=settings.precision,
            splits=records,
        ),
    )
    manifest.write_manifest(output, result)
    log.event(_log, "pairs rendered and scored", output=output,
              train_pairs=sum(pairs_count["train"].values()),
              val_pairs=sum(pairs_count["val"].values()),
              seconds=result.counts.reference_seconds)  # fmt: skip
    return result


@dataclass
class PairSplit:
    """One split of rendered pairs, in memory (memory-mapped when local)."""

    tokens: np.ndarray
    offsets: np.ndarray
    mask: np.ndarray
    reference: np.ndarray  # [pairs, 2]

    @property
    def pairs(self) -> int:
        return len(self.reference)

    def sequence(self, index: int) -> tuple[np.ndarray, np.ndarray]:
        start, end = int(self.offsets[index]), int(self.offsets[index + 1])
        return self.tokens[start:end].astype(np.int64), self.mask[start:end]


def load_split(data: str, split: str) -> PairSplit | None:
    """The split's arrays (None when the data has no such split); sizes and, for s3:// (which
    is downloaded once into the cache), sha256 checked against the manifest."""
    found = DPO_DATA_MANIFEST.require(data)
    if not any(r.split == split for r in found.extra.splits):
        return None
    entries = {entry.path: entry for entry in found.files}
    arrays = {}
    for kind in FILES:
        relative = f"{split}/{kind}.npy"
        entry = entries.get(relative)
        if entry is None:
            raise TritterError(f"{data}: manifest lists no {relative}")
        uri = storage.join(data, split, f"{kind}.npy")
        if storage.is_s3(uri):
            path = _cache_dir() / f"{entry.sha256}.npy"
            if not path.exists():
                storage.download_file(uri, path)
        else:
            path = storage.local_path(uri)
        if not path.exists() or path.stat().st_size != entry.size:
            raise TritterError(f"{uri}: missing or not the size its manifest says ({entry.size})")
        arrays[kind] = np.load(path, mmap_mode="r" if kind != "reference" else None)
    return PairSplit(**arrays)


def _cache_dir() -> Path:
    import os

    configured = os.environ.get("TRITTER_CACHE_DIR")
    root = (
        Path(configured)
        if configured
        else Path(tempfile.gettempdir()) / f"tritter-cache-{os.getuid()}"
    )
    return root / "dpo"
