"""The filter step: pairs and/or conversations → synth/filtered/ (`tritter synth filter`).

The input is any finished folder holding pairs.jsonl (preference rows) and/or
conversations.jsonl (`tritter.chat` rows), normally synth/pairs/ (whose two files share ids:
a pair and its revised conversation are kept or dropped together). A row is dropped, counted
under the first reason that applies:

1. `unsafe:<category>` — the rule filter or the optional classifier (`tritter.synth.safety`)
   flags any of its text (prompt, chosen and rejected). Work units: this part fans out.
2. `exact_duplicate` / `near_duplicate` — its user turns plus answer (chosen) repeat an earlier
   row's word for word (after lower-casing and dropping punctuation), or reach
   `near_threshold` Jaccard similarity of word 5-grams with one (MinHash LSH candidates
   verified exactly: the curation near-dedup code, `tritter.curate.minhash`/`dedup`). The
   earliest row of a cluster is kept.
3. `contaminated:<benchmark>` — it contains a HumanEval or MBPP problem (prompt or reference
   solution): `decontamination_overlap` of the snippet's word n-grams occur in the row
   (`tritter.curate.decontam`, the same index curation uses).

Outputs keep the input's files and row format (pairs.jsonl, conversations.jsonl), in input
order, and the manifest counts every reason.
"""

from __future__ import annotations

import hashlib
from collections import Counter
from dataclasses import dataclass
from typing import Any

import numpy as np

from tritter import log, manifest, storage
from tritter.curate import decontam, dedup, minhash
from tritter.errors import TritterError
from tritter.manifest import Manifest
from tritter.run_folder import (
    IDENTITY_CONVERSATIONS,
    PAIRS_FILE,
    SYNTH_FILTER_MANIFEST,
    SynthFilterCounts,
    SynthFilterExtra,
    SynthFilterInputs,
    SynthFilterManifest,
)
from tritter.synth import safety, work
from tritter.synth.config import FilterConfig

_log = log.get_logger("synth.filter")
SHINGLE_WORDS = 5


@dataclass
class Item:
    """One row of the input: a pair, a conversation, or both (same id)."""

    pair: dict[str, Any] | None
    conversation: dict[str, Any] | None

    def _messages(self) -> list[dict[str, Any]]:
        source = self.pair["prompt"] if self.pair else self.conversation["messages"]  # type: ignore[index]
        return [m for m in source if isinstance(m, dict)]

    @staticmethod
    def _text(content: Any) -> str:
        if isinstance(content, str):
            return content
        if isinstance(content, list):
            return "\n".join(str(p.get("text", "")) for p in content if isinstance(p, dict))
        return ""

    def all_text(self) -> str:
        parts = [self._text(m.get("content")) for m in self._messages()]
        if self.pair:
            parts += [str(self.pair.get("chosen", "")), str(self.pair.get("rejected", ""))]
        if self.conversation:
            parts += [self._text(m.get("content")) for m in self.conversation.get("messages", [])
                      if isinstance(m, dict)]  # fmt: skip
        return "\n".join(parts)

    def dedup_text(self) -> str:
        """The user turns and the answer taught (chosen, or the last assistant turn)."""
        users = [self._text(m.get("content")) for m in self._messages() if m.get("role") == "user"]
        if self.pair:
            answer = str(self.pair.get("chosen", ""))
        else:
            messages = self.conversation.get("messages", [])  # type: ignore[union-attr]
            answer = self._text(messages[-1].get("content")) if messages else ""
        return "\n".join([*users, answer])


def read_items(folder: str) -> list[Item]:
    """The input's rows. Pairs and conversations are matched by id; a line that is not a JSON
    object is an error (the input is another stage's finished output, not raw data)."""

    def rows(name: str) -> list[dict[str, Any]] | None:
        uri = storage.join(folder, name)
        if not storage.exists(uri):
            return None
        found = []
        for number, row in work.read_jsonl(uri):
            if not isinstance(row, dict):
                raise TritterError(f"{uri}:{number}: not a JSON object")
            found.append(row)
        return found

    pairs, conversations = rows(PAIRS_FILE), rows(IDENTITY_CONVERSATIONS)
    if pairs is None and conversations is None:
        raise TritterError(f"{folder}: neither {PAIRS_FILE} nor {IDENTITY_CONVERSATIONS} here")
    if pairs is None:
        return [Item(None, c) for c in conversations or []]
    for number, pair in enumerate(pairs, 1):
        if not isinstance(pair.get("prompt"), list) or not all(
            isinstance(pair.get(k), str) for k in ("chosen", "rejected")
        ):
            raise TritterError(
                f"{storage.join(folder, PAIRS_FILE)}:{number}: a pair needs 'prompt' (a list of "
                "messages), 'chosen' and 'rejected' (strings)"
            )
    by_id = {c.get("id"): c for c in conversations or [] if c.get("id") is not None}
    return [Item(p, by_id.get(p.get("id")) if p.get("id") is not None else None) for p in pairs]


def stage_inputs(config: FilterConfig) -> tuple[SynthFilterInputs, int]:
    found = manifest.require_manifest(config.input)
    items = read_items(config.input)
    inputs = SynthFilterInputs(
        pairs=config.input,
        pairs_fingerprint=found.fingerprint,
        classifier=config.classifier,
        classifier_identity=safety.classifier_info(config.classifier)
        if config.classifier
        else None,
        rules_sha256=safety.rules_sha256(),
    )
    return inputs, len(items)


def fingerprint(config: FilterConfig, inputs: SynthFilterInputs) -> str:
    return SYNTH_FILTER_MANIFEST.fingerprint(config, inputs)


def is_done(output: str) -> SynthFilterManifest | None:
    return SYNTH_FILTER_MANIFEST.read(output)


def plan(config: FilterConfig) -> tuple[work.StepPlan, bool]:
    inputs, rows = stage_inputs(config)
    return work.plan(SYNTH_FILTER_MANIFEST, config, inputs, rows,
                     (PAIRS_FILE, IDENTITY_CONVERSATIONS))  # fmt: skip


_classifiers: dict[tuple[str, float, int, str], safety.Classifier] = {}


def detectors(config: FilterConfig) -> list[safety.Detector]:
    found: list[safety.Detector] = [safety.RuleFilter()]
    if config.classifier:
        key = (config.classifier, config.classifier_threshold, config.classifier_batch_size,
               config.device)  # fmt: skip
        if key not in _classifiers:
            _classifiers.clear()
            _classifiers[key] = safety.Classifier(*key)
        found.append(_classifiers[key])
    return found


def run_unit(output: str, index: int) -> work.UnitMarker | None:
    """Safety flags of the unit's rows: {"row": i, "flags": [[detector, category], ...]}."""
    loaded = work.load_plan(output, FilterConfig, SYNTH_FILTER_MANIFEST.stage)
    if loaded is None:
        return None
    found, config = loaded
    existing = work.done(output, found.fingerprint, index)
    if existing is not None:
        return existing
    items = read_items(config.input)
    if len(items) != found.rows:
        raise TritterError(f"{output}: the input changed since the plan; plan again")
    rows_here = list(work.unit_range(found, index))
    texts = [items[row].all_text() for row in rows_here]
    flags: list[list[list[str]]] = [[] for _ in rows_here]
    flagged: Counter[str] = Counter()
    for detector in detectors(config):
        for slot, category in enumerate(detector.flag(texts)):
            if category is not None:
                flags[slot].append([detector.name, category])
                flagged[f"{detector.name}:{category}"] += 1
    rows = [{"row": row, "flags": f} for row, f in zip(rows_here, flags, strict=True) if f]
    return work.finish_unit(output, found.fingerprint, index, rows, flagged=dict(flagged))


def duplicates(texts: list[str], threshold: float, num_perm: int) -> dict[int, str]:
    """Row → `exact_duplicate` | `near_duplicate` for every row but the first of its cluster."""
    found: dict[int, str] = {}
    if not texts:
        return found
    words = minhash.word_hashes([t.encode() for t in texts])
    first_of: dict[bytes, int] = {}
    for row in range(len(texts)):
        key = words.hashes[words.offsets[row] : words.offsets[row + 1]].tobytes()
        digest = hashlib.sha256(key).digest()
        if digest in first_of:
            found[row] = "exact_duplicate"
        else:
            first_of[digest] = row
    shingles = minhash.ngram_hashes(words, SHINGLE_WORDS)
    signatures = minhash.signatures(shingles, minhash.Permutations.create(num_perm, seed=0))
    bands, rows = minhash.choose_bands(threshold, num_perm)
    keys = minhash.band_keys(signatures, bands, rows)
    eligible = np.ones(len(texts), dtype=bool)
    eligible[list(found)] = False
    rows_in = np.flatnonzero(eligible).astype(np.int64)
    candidates = dedup.bucket_pairs(dedup.band_entries(rows_in, keys[rows_in]))
    pairs = np.stack([candidates["u"], candidates["v"]], axis=1)

    def shingle_set(row: int) -> np.ndarray:
        return shingles.hashes[shingles.offsets[row] : shingles.offsets[row + 1]]

    edges = [
        (a, b) for a, b in pairs.tolist()
        if minhash.exact_jaccard(shingle_set(a), shingle_set(b)) >= threshold
    ]  # fmt: skip
    if edges:
        array = np.array(edges, dtype=np.int64)
        for row, root in dedup.connected_components(array[:, 0], array[:, 1]).items():
            if row != root:  # the root is the smallest row of its cluster: the one kept
                found[row] = "near_duplicate"
    return found


def finalize(output: str) -> SynthFilterManifest:
    loaded = work.load_plan(output, FilterConfig, SYNTH_FILTER_MANIFEST.stage)
    if loaded is None:
        return SYNTH_FILTER_MANIFEST.require(output)
    found, config = loaded
    flagged_rows, markers = work.collect(output, found)
    items = read_items(config.input)
    reasons: dict[int, str] = {r["row"]: f"unsafe:{r['flags'][0][1]}" for r in flagged_rows}
    survivors = [row for row in range(len(items)) if row not in reasons]
    dupes = duplicates([items[row].dedup_text() for row in survivors], config.near_threshold,
                       config.num_perm)  # fmt: skip
    for position, reason in dupes.items():
        reasons[survivors[position]] = reason
    survivors = [row for row in survivors if row not in reasons]
    index = decontam.benchmark_index(config.decontamination_ngram)
    words = minhash.word_hashes([items[row].all_text().encode() for row in survivors])
    for row, snippet in zip(survivors, index.contaminated(words, config.decontamination_overlap),
                            strict=True):  # fmt: skip
        if snippet is not None:
            reasons[row] = f"contaminated:{snippet.benchmark}"
    kept = [items[row] for row in range(len(items)) if row not in reasons]
    files = []
    if any(item.pair is not None for item in items):
        files.append(work.write_jsonl(output, PAIRS_FILE, [i.pair for i in kept if i.pair]))
    if any(item.conversation is not None for item in items):
        conversations = [i.conversation for i in kept if i.conversation]
        files.append(work.write_jsonl(output, IDENTITY_CONVERSATIONS, conversations))
    classifier_labels = None
    if config.classifier:
        classifier_labels = detectors(config)[-1].labels  # type: ignore[attr-defined]
    dropped = Counter(reasons.values())
    result = Manifest(
        stage=SYNTH_FILTER_MANIFEST.stage,
        fingerprint=found.fingerprint,
        inputs=SynthFilterInputs.model_validate(found.inputs),
        config=found.config,
        counts=SynthFilterCounts(
            rows_in=len(items),
            rows_out=len(kept),
            dropped=dict(sorted(dropped.items())),
            flagged=work.totals(markers)["flagged"],
            units=found.units,
        ),
        files=files,
        extra=SynthFilterExtra(
            categories=list(safety.CATEGORIES),
            classifier_labels=classifier_labels,
            near_threshold=config.near_threshold,
            decontamination_ngram=config.decontamination_ngram,
        ),
    )
    manifest.write_manifest(output, result)
    work.clear_work(output)
    log.event(_log, "filtered", output=output, kept=len(kept), **dict(dropped))
    return result


def run(config: FilterConfig) -> SynthFilterManifest:
    found, complete = plan(config)
    if complete:
        log.event(_log, "already filtered: skipping", output=config.output)
        return SYNTH_FILTER_MANIFEST.require(config.output)
    work.run_local(config.output, found.units, run_unit, config.workers, "filter")
    return finalize(config.output)
