"""Planning a pack: split, mixture and output shards, decided before any shard is written.

Planning reads only small columns of every curated document plus a little text per subset (to
estimate tokens per byte), then fixes every decision as a threshold on a keyed content hash
(`tritter.data.selection`) so that each output shard can be packed independently, in any order,
on any machine:

* validation: per subset, documents whose `val` hash is below `val_threshold` (about
  `val_fraction` of the subset's tokens, at least one sequence, at most `val_max_tokens`);
* mixture: the budget is water-filled over subsets by weight with caps of `max_repetition ×`
  the subset's training tokens (`tritter.data.mixture.allocate`), giving each subset a
  repetition factor r. A training document is packed `floor(r)` times, plus once more when its
  `repeat` hash is below the threshold that realizes the fractional part (r < 1 subsamples);
* output shards: per (split, subset), consecutive curated rows grouped into work units of about
  `shard_tokens` tokens.

Token counts here are estimates; the shards record exact counts and the manifest the realized
mixture.
"""

from __future__ import annotations

import json
import math
import time
from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np

from tritter import config as config_module
from tritter import log, manifest, storage
from tritter.data import curated as curated_input
from tritter.data.mixture import allocate, resolve
from tritter.data.render import render
from tritter.data.selection import threshold_for, unit_hash
from tritter.data.shardfile import token_dtype
from tritter.errors import TritterError
from tritter.pack.config import PackConfig
from tritter.run_folder import PACK_MANIFEST, TOKENIZER_OUTPUT, WORK, PackInputs
from tritter.tokenizer.model import Tokenizer

_log = log.get_logger("pack")
SPLITS = ("train", "val")


@dataclass
class SubsetPlan:
    weight: float
    documents: int
    bytes: int
    tokens_per_byte: float
    estimated_tokens: float
    val_threshold: float
    estimated_val_tokens: float
    estimated_train_tokens: float  # unique training tokens available
    repetition: float  # planned training tokens / available
    repeat_base: int
    repeat_threshold: float
    estimated_train_tokens_used: float


@dataclass
class ShardPlan:
    index: int
    split: str
    subset: str
    ordinal: int
    ranges: list[tuple[int, int, int]]  # (curated shard, first row, end row)
    estimated_tokens: float


@dataclass
class Plan:
    fingerprint: str
    output: str
    input: str
    input_fingerprint: str
    input_shards: list[tuple[str, int]]  # (uri, size)
    tokenizer: str
    tokenizer_sha256: str
    vocab_size: int
    eos_id: int
    pad_id: int
    dtype: str
    config: dict[str, Any]
    subsets: dict[str, SubsetPlan]
    shards: list[ShardPlan]
    mixture: dict[str, Any]
    budget: float
    started: float = field(default_factory=time.time)

    @property
    def pack_config(self) -> PackConfig:
        return config_module.validate(PackConfig, self.config)

    def to_json(self) -> str:
        return json.dumps(asdict(self), indent=1, sort_keys=True)

    @classmethod
    def from_json(cls, text: str, uri: str) -> Plan:
        try:
            data = json.loads(text)
            data["subsets"] = {k: SubsetPlan(**v) for k, v in data["subsets"].items()}
            data["shards"] = [
                ShardPlan(**{**s, "ranges": [tuple(r) for r in s["ranges"]]})
                for s in data["shards"]
            ]
            data["input_shards"] = [tuple(s) for s in data["input_shards"]]
            return cls(**data)
        except (ValueError, TypeError, KeyError) as err:
            raise TritterError(f"{uri}: corrupt pack plan ({err})") from err

    def curated_shard(self, index: int) -> curated_input.CuratedShard:
        uri, size = self.input_shards[index]
        return curated_input.CuratedShard(index, uri, size)


def work_uri(output: str, *parts: str) -> str:
    return storage.join(output, WORK, *parts)


def plan_uri(output: str) -> str:
    return work_uri(output, "plan.json")


def load_plan(output: str) -> Plan:
    """The plan of the pack under `output` (from `_work/`, or from the finished manifest)."""
    uri = plan_uri(output)
    try:
        return Plan.from_json(storage.read_text(uri), uri)
    except FileNotFoundError:
        found = PACK_MANIFEST.read(output)
        if found is not None:
            return Plan.from_json(json.dumps(found.extra.plan), manifest.manifest_uri(output))
    raise TritterError(f"{output}: no pack plan (run the plan step first)")


def load_tokenizer(uri: str) -> Tokenizer:
    """The tokenizer, checked against its own manifest when it has one."""
    tokenizer = Tokenizer.load(uri)
    if not uri.endswith(".model"):
        found = TOKENIZER_OUTPUT.read(uri)
        recorded = found.extra.sha256 if found else None
        if recorded and recorded != tokenizer.sha256:
            raise TritterError(
                f"{tokenizer.source}: sha256 {tokenizer.sha256[:12]} differs from its manifest's "
                f"{recorded[:12]} (tokenizer replaced or corrupt)"
            )
    if tokenizer.eos_id < 0:
        raise TritterError(f"{tokenizer.source}: the tokenizer has no EOS token")
    return tokenizer


def stage_inputs(config: PackConfig) -> tuple[curated_input.CuratedInput, Tokenizer, PackInputs]:
    """The curated input and tokenizer, opened and checked, and their identity."""
    source = curated_input.open_input(config.input)
    tokenizer = load_tokenizer(config.tokenizer)
    inputs = PackInputs(
        curated=source.uri,
        curated_fingerprint=source.fingerprint,
        tokenizer=config.tokenizer,
        tokenizer_sha256=tokenizer.sha256,
    )
    return source, tokenizer, inputs


def _estimate_tokens_per_byte(
    source: curated_input.CuratedInput,
    docs: curated_input.DocumentTable,
    tokenizer: Tokenizer,
    config: PackConfig,
    subsets: list[str],
) -> dict[str, float]:
    """Tokenize the first `estimate_bytes` of each subset (in shard order)."""
    need = dict.fromkeys(subsets, float(config.estimate_bytes))
    counted = {s: [0, 0] for s in subsets}  # bytes, tokens
    for shard in source.shards:
        if all(v <= 0 for v in need.values()):
            break
        in_shard = np.flatnonzero(docs.shard == shard.index)
        rows = []
        for doc in in_shard:
            subset = docs.subset[doc]
            if need.get(subset, 0) > 0:
                rows.append(doc)
                need[subset] -= docs.nbytes[doc]
        if not rows:
            continue
        texts = curated_input.read_rows(shard, docs.row[rows])
        rendered = [
            render(t, docs.language[d], bool(docs.negative[d]), e, config.negatives) or ""
            for d, t, e in zip(rows, texts["text"], texts["explanation"], strict=True)
        ]
        for doc, text, ids in zip(rows, rendered, tokenizer.encode_batch(rendered), strict=True):
            counted[docs.subset[doc]][0] += len(text.encode())
            counted[docs.subset[doc]][1] += len(ids)
    return {
        s: (tokens / max(nbytes, 1)) if nbytes else 0.25 for s, (nbytes, tokens) in counted.items()
    }


def make_plan(config: PackConfig, check_hash: bool = True) -> tuple[Plan, bool]:
    """Build (or reuse) the plan; returns (plan, already_complete). A complete folder is
    trusted only once every file has its recorded size and (unless `check_hash` is False)
    sha256 — whichever way the stage is run (CLI, pipeline plan step)."""
    source, tokenizer, inputs = stage_inputs(config)
    fingerprint = PACK_MANIFEST.fingerprint(config, inputs)
    output = config.output
    existing = manifest.read_manifest(output)
    if existing is not None and existing.fingerprint == fingerprint:
        done = PACK_MANIFEST.parse(existing, manifest.manifest_uri(output))
        manifest.verify_files(output, done, check_hash=check_hash)
        return Plan.from_json(json.dumps(done.extra.plan), manifest.manifest_uri(output)), True
    # Packing reads the curated shards from here on: check their content once, streaming.
    curated_input.verify(source)
    try:
        previous = load_plan(output)
    except TritterError:
        previous = None
    if previous is not None and previous.fingerprint == fingerprint:
        return previous, False
    storage.ensure_writable(output)
    # A different input or config: nothing already in the folder is valid for this plan.
    if existing is not None:
        storage.delete(manifest.manifest_uri(output))
    for prefix in (WORK, *SPLITS):
        storage.delete_prefix(storage.join(output, prefix))

    docs = curated_input.read_metadata(source)
    if config.negatives == "drop":
        docs = docs.select(~docs.negative)
    mixture = resolve(config.mix, set(docs.subset.tolist()))
    docs = docs.select(np.isin(docs.subset, list(mixture.weights)))
    if len(docs) == 0:
        raise TritterError(f"{config.input}: empty curated input: no documents left to pack")
    subsets = list(mixture.weights)
    tokens_per_byte = _estimate_tokens_per_byte(source, docs, tokenizer, config, subsets)
    estimated = docs.nbytes * np.array([tokens_per_byte[s] for s in docs.subset]) + 1.0
    val_hash = unit_hash(docs.sha256, config.seed, "val")
    repeat_hash = unit_hash(docs.sha256, config.seed, "repeat")

    subset_plans: dict[str, SubsetPlan] = {}
    available: dict[str, float] = {}
    for subset in subsets:
        mask = docs.subset == subset
        total = float(estimated[mask].sum())
        val_target = 0.0
        if config.val_fraction > 0:
            val_target = min(
                max(config.val_fraction * total, config.seq_len + 1), config.val_max_tokens
            )
            if val_target > total / 2:  # too small to give up a whole sequence: train on it all
                val_target = 0.0
        val_threshold = threshold_for(val_hash[mask], estimated[mask], val_target)
        val_tokens = float(estimated[mask & (val_hash < val_threshold)].sum())
        available[subset] = total - val_tokens
        subset_plans[subset] = SubsetPlan(
            weight=mixture.weights[subset],
            documents=int(mask.sum()),
            bytes=int(docs.nbytes[mask].sum()),
            tokens_per_byte=round(tokens_per_byte[subset], 6),
            estimated_tokens=round(total, 1),
            val_threshold=val_threshold,
            estimated_val_tokens=round(val_tokens, 1),
            estimated_train_tokens=round(available[subset], 1),
            repetition=0.0,
            repeat_base=0,
            repeat_threshold=0.0,
            estimated_train_tokens_used=0.0,
        )
    budget = float(config.token_budget or sum(available.values()))
    caps = {s: config.max_repetition * available[s] for s in subsets}
    used = allocate(mixture.weights, caps, budget)
    for subset in subsets:
        plan = subset_plans[subset]
        if available[subset] <= 0:
            continue
        repetition = used[subset] / available[subset]
        base = math.floor(repetition + 1e-9)
        mask = (docs.subset == subset) & (val_hash >= plan.val_threshold)
        fraction_target = (repetition - base) * available[subset]
        plan.repetition = round(repetition, 6)
        plan.repeat_base = base
        plan.repeat_threshold = threshold_for(repeat_hash[mask], estimated[mask], fraction_target)
        plan.estimated_train_tokens_used = round(used[subset], 1)

    multiplicity = np.zeros(len(docs), dtype=np.int64)
    is_val = np.zeros(len(docs), dtype=bool)
    for subset, plan in subset_plans.items():
        mask = docs.subset == subset
        is_val[mask] = val_hash[mask] < plan.val_threshold
        multiplicity[mask] = plan.repeat_base + (repeat_hash[mask] < plan.repeat_threshold)
    multiplicity[is_val] = 1

    shards: list[ShardPlan] = []
    for split in SPLITS:
        for subset in subsets:
            chosen = (docs.subset == subset) & (is_val if split == "val" else ~is_val)
            chosen &= multiplicity > 0
            shards.extend(
                _group_rows(
                    docs, chosen, estimated * multiplicity, split, subset, config, len(shards)
                )
            )
    if not any(s.split == "train" for s in shards):
        raise TritterError(f"{config.input}: nothing to pack into the training split")
    train_estimate = sum(s.estimated_tokens for s in shards if s.split == "train")
    if train_estimate < config.seq_len + 1:
        raise TritterError(
            f"seq_len {config.seq_len} is larger than the training token stream (about "
            f"{int(train_estimate)} tokens): lower --seq-len or add data"
        )
    plan = Plan(
        fingerprint=fingerprint,
        output=storage.normalize(output),
        input=source.uri,
        input_fingerprint=source.fingerprint,
        input_shards=[(s.uri, s.size) for s in source.shards],
        tokenizer=config.tokenizer,
        tokenizer_sha256=tokenizer.sha256,
        vocab_size=tokenizer.vocab_size,
        eos_id=tokenizer.eos_id,
        pad_id=tokenizer.pad_id if tokenizer.pad_id >= 0 else tokenizer.eos_id,
        dtype=token_dtype(tokenizer.vocab_size).name,
        config=config_module.dump(config),
        subsets=subset_plans,
        shards=shards,
        mixture=mixture.to_json(),
        budget=budget,
    )
    storage.write_text(plan_uri(output), plan.to_json())
    log.event(
        _log,
        "pack planned",
        shards=len(shards),
        subsets=",".join(subsets),
        budget_tokens=int(budget),
        missing=",".join(mixture.missing) or None,
        excluded=",".join(mixture.unweighted) or None,
    )
    return plan, False


def _group_rows(
    docs: curated_input.DocumentTable,
    chosen: np.ndarray,
    tokens: np.ndarray,
    split: str,
    subset: str,
    config: PackConfig,
    first_index: int,
) -> list[ShardPlan]:
    """Cut the chosen documents (in curated shard, row order) into work units."""
    index = np.flatnonzero(chosen)
    index = index[np.lexsort((docs.row[index], docs.shard[index]))]
    out: list[ShardPlan] = []
    ranges: list[tuple[int, int, int]] = []
    total = 0.0
    for doc in index:
        shard, row = int(docs.shard[doc]), int(docs.row[doc])
        if ranges and ranges[-1][0] == shard:
            ranges[-1] = (shard, ranges[-1][1], row + 1)
        else:
            ranges.append((shard, row, row + 1))
        total += float(tokens[doc])
        if total >= config.shard_tokens:
            out.append(ShardPlan(first_index + len(out), split, subset, len(out), ranges, total))
            ranges, total = [], 0.0
    if ranges:
        out.append(ShardPlan(first_index + len(out), split, subset, len(out), ranges, total))
    return out
