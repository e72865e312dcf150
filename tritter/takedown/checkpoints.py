"""Which checkpoints trained on the tokens a takedown removes.

A pretraining checkpoint records its loader state (`tritter.loader.dataset.TokenLoader.
state_dict`): the global position p (samples consumed by all ranks), seed, seq_len, split,
subset, samples per epoch and the pack fingerprint. The loader's order is computed, not stored
(`tritter.loader.permutation`), so the samples a checkpoint consumed are exactly those at
positions [0, p): sample i is stream tokens [i·L, (i+1)·L + 1). A checkpoint is named when
one of them overlaps a removed span (a whole epoch or more: when any span is in its split).

Precision limits, said in `basis`: a checkpoint whose loader state is unreadable or whose sample
count differs from the pack's is named on fingerprint alone; when an earlier takedown already
compacted this token folder, the positions of older checkpoints no longer map onto today's
layout, so every checkpoint that trained on the folder is named. `final/` holds the weights of
the run's last step: named when any step is, or when no checkpoint at its step is left.
"""

from __future__ import annotations

import json
from dataclasses import dataclass

import numpy as np

from tritter import storage
from tritter.loader.permutation import FeistelPermutation
from tritter.run_folder import (
    DPO,
    FINAL,
    FINAL_INFO,
    MID,
    PRETRAIN_MANIFEST,
    RL,
    SFT,
    TRAIN_CONFIG,
    TRAINER_STATE,
    PackManifest,
    RunFolder,
)
from tritter.takedown.scan import ShardHit

CHUNK = 1 << 20  # permutation indexes computed at once


@dataclass
class Named:
    checkpoints: list[str]
    basis: str


def affected_samples(
    found: PackManifest, hits: list[ShardHit], split: str, subset: str | None, seq_len: int
) -> np.ndarray:
    """Sorted, merged [first, last] sample ranges (an [n, 2] array) that overlap a removed
    span of the `split` (`subset`) stream as the loader lays it out today."""
    by_index = {hit.index: hit for hit in hits}
    ranges = []
    start = 0
    for index, record in enumerate(found.extra.shards):
        if record.split != split or (subset is not None and record.subset != subset):
            continue
        hit = by_index.get(index)
        for a, b in hit.spans if hit else ():
            # Sample i covers [i·L, i·L + L + 1): it overlaps [a, b) when i·L < b and
            # i·L + L + 1 > a.
            first = max(0, (start + a - seq_len - 1) // seq_len + 1)
            ranges.append((first, (start + b - 1) // seq_len))
        start += record.num_tokens
    if not ranges:
        return np.zeros((0, 2), dtype=np.int64)
    ranges.sort()
    merged = [list(ranges[0])]
    for first, last in ranges[1:]:
        if first <= merged[-1][1] + 1:
            merged[-1][1] = max(merged[-1][1], last)
        else:
            merged.append([first, last])
    return np.asarray(merged, dtype=np.int64)


def consumed_any(state: dict, ranges: np.ndarray) -> bool:
    """Did positions [0, state.position) include a sample of `ranges`?"""
    samples, position = int(state["samples_per_epoch"]), int(state["position"])
    if len(ranges) == 0 or position <= 0:
        return False
    if position >= samples:
        return True  # a whole epoch: every sample
    shuffled = state.get("split") != "val"
    perm = FeistelPermutation(samples, int(state["seed"]), 0) if shuffled else None
    for first in range(0, position, CHUNK):
        indexes = np.arange(first, min(first + CHUNK, position), dtype=np.int64)
        ids = perm(indexes) if perm is not None else indexes
        at = np.searchsorted(ranges[:, 0], ids, side="right") - 1
        if np.any((at >= 0) & (ids <= ranges[np.maximum(at, 0), 1])):
            return True
    return False


def named_checkpoints(
    run: RunFolder, found: PackManifest, hits: list[ShardHit], compacted_before: bool
) -> Named:
    """The pretraining checkpoints of this run that trained on removed tokens."""
    from tritter.train.store import CheckpointStore

    root = run.checkpoints
    store = CheckpointStore(root)
    steps = [f for f in store.folders() if f.committed]
    trained = PRETRAIN_MANIFEST.read(root)
    final_uri = storage.join(root, FINAL)
    has_final = storage.exists(storage.join(final_uri, FINAL_INFO))
    if not steps and not has_final:
        return Named([], f"no checkpoints under {root}")
    if compacted_before:
        uses = trained is None or trained.inputs.data_fingerprint == found.fingerprint
        names = [f.uri for f in steps] + ([final_uri] if has_final else [])
        basis = (
            "every checkpoint trained on this token folder: an earlier takedown changed its "
            "layout, so their positions cannot be mapped onto it"
        )
        return Named(names if uses else [], basis)
    named, positions = [], {}
    notes = []
    for folder in steps:
        state = _loader_state(storage.join(folder.uri, TRAINER_STATE))
        if state is None or state.get("data_fingerprint") != found.fingerprint:
            if state is None:
                named.append(folder.uri)
                notes.append(f"{folder.uri}: no readable loader state (named)")
            continue
        positions[folder.step] = (int(state["position"]), state)
        split, subset, seq_len = state["split"], state.get("subset"), int(state["seq_len"])
        ranges = affected_samples(found, hits, split, subset, seq_len)
        if state["samples_per_epoch"] != _samples(found, split, subset, seq_len):
            named.append(folder.uri)
            notes.append(f"{folder.uri}: its sample count differs from the pack's (named)")
        elif consumed_any(state, ranges):
            named.append(folder.uri)
    if has_final and (named or not _final_covered(final_uri, positions)):
        uses = trained is None or trained.inputs.data_fingerprint == found.fingerprint
        if uses:
            named.append(final_uri)
    basis = (
        "exact: the samples each checkpoint consumed (loader position and permutation) against "
        "the removed token spans"
    )
    derived = derived_models(run, named)
    if derived:
        notes.append("post-training started from a named checkpoint: " + ", ".join(derived))
    return Named(named + derived, "; ".join([basis, *notes]))


def derived_models(run: RunFolder, named: list[str]) -> list[str]:
    """The run's post-training folders (mid/, sft/, dpo/, rl/, in training order) whose weights
    descend from a named checkpoint: `--init` (their config.yaml) is a named checkpoint, a folder
    inside one, or a checkpoints root holding one (its newest step then is not known any more,
    so the root counts as named)."""
    tainted = [storage.normalize(uri) for uri in named]
    roots = {storage.normalize(run.checkpoints)} if named else set()
    found = []
    for phase in (MID, SFT, DPO, RL):
        root = storage.normalize(run.part(phase))
        init = _init_of(root)
        if init is None:
            continue
        init = storage.normalize(init).rstrip("/")
        if init in roots or any(init == t or init.startswith(t.rstrip("/") + "/") for t in tainted):
            found.append(root)
            tainted.append(root)
            roots.add(root)
    return found


def _init_of(root: str) -> str | None:
    """The `init` a training folder was started from (its config.yaml), None without one."""
    import yaml

    try:
        config = yaml.safe_load(storage.read_text(storage.join(root, TRAIN_CONFIG)))
    except (FileNotFoundError, yaml.YAMLError):
        return None
    init = config.get("init") if isinstance(config, dict) else None
    return init if isinstance(init, str) and init.strip() else None


def _samples(found: PackManifest, split: str, subset: str | None, seq_len: int) -> int:
    """Samples per epoch of the stream the loader reads (`TokenLoader`)."""
    total = sum(
        r.num_tokens
        for r in found.extra.shards
        if r.split == split and (subset is None or r.subset == subset)
    )
    return (total - 1) // seq_len


def _final_covered(final_uri: str, positions: dict[int, tuple[int, dict]]) -> bool:
    """A checkpoint at final/'s step was analysed (so final/ saw no more than it did)."""
    try:
        step = int(json.loads(storage.read_text(storage.join(final_uri, FINAL_INFO)))["step"])
    except (FileNotFoundError, ValueError, KeyError, TypeError):
        return False
    return step in positions


def _loader_state(uri: str) -> dict | None:
    import torch

    try:
        with storage.local_copy(uri) as path:
            state = torch.load(path, weights_only=True, map_location="cpu")
    except Exception:  # missing or unreadable: the checkpoint is named, the takedown goes on
        return None
    loader = state.get("loader") if isinstance(state, dict) else None
    keys = ("position", "seed", "seq_len", "split", "samples_per_epoch", "data_fingerprint")
    return loader if isinstance(loader, dict) and all(k in loader for k in keys) else None
