"""A finished stage in a few lines: what a person checks first, read from its manifest.

One summary per stage folder, used where a whole report is too much: the Kubeflow run view (a
Markdown artifact and a Metrics artifact per step, so "Compare runs" lines up losses and pass@1
across runs) and the one-line result `tritter run` prints as each stage ends.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from tritter import run_folder, storage
from tritter.errors import TritterError
from tritter.manifest import Contract, OneOf


@dataclass
class StageSummary:
    title: str
    rows: list[tuple[str, str]] = field(default_factory=list)
    metrics: dict[str, float] = field(default_factory=dict)  # numbers worth comparing across runs
    figure: str = ""  # the one line

    def markdown(self) -> str:
        lines = [f"### {self.title}", "", "| | |", "|---|---|"]
        lines += [f"| {key} | {value} |" for key, value in self.rows]
        return "\n".join(lines) + "\n"


def _bytes(value: float) -> str:
    for unit in ("B", "kB", "MB", "GB", "TB"):
        if value < 1000 or unit == "TB":
            return f"{value:.0f} {unit}" if unit == "B" else f"{value:.1f} {unit}"
        value /= 1000
    return f"{value:.1f} TB"


def _curated(found: Any, _folder: str) -> StageSummary:
    c = found.counts
    dropped = ", ".join(f"{reason} {n:,}" for reason, n in c.dropped.items()) or "none"
    return StageSummary(
        "Curation",
        [("documents in", f"{c.input_documents:,}"), ("documents kept", f"{c.kept_documents:,}"),
         ("bytes kept", _bytes(c.kept_bytes)), ("dropped", dropped),
         ("near-duplicates removed", f"{c.dedup.near_removed:,}"),
         ("subsets", ", ".join(f"{k} {v:,}" for k, v in c.subsets.items()))],
        {"kept_documents": c.kept_documents, "kept_bytes": c.kept_bytes,
         "kept_fraction": c.kept_documents / max(c.input_documents, 1)},
        f"{c.kept_documents:,} of {c.input_documents:,} documents kept ({_bytes(c.kept_bytes)})",
    )  # fmt: skip


def _tokenizer(found: Any, _folder: str) -> StageSummary:
    c = found.counts
    rows = [("vocabulary", f"{c.vocab_size:,}")]
    rows += [(f"bytes/token ({language})", f"{value.bytes_per_token:.2f}")
             for language, value in sorted(c.compression.items())]  # fmt: skip
    overall = c.compression.get("all")
    figure = f"vocabulary {c.vocab_size:,}"
    metrics: dict[str, float] = {"vocab_size": c.vocab_size}
    if overall:
        figure += f", {overall.bytes_per_token:.2f} bytes/token held out"
        metrics["bytes_per_token"] = overall.bytes_per_token
    return StageSummary("Tokenizer", rows, metrics, figure)


def _tokens(found: Any, _folder: str) -> StageSummary:
    c = found.counts
    train = c.tokens_total.get("train", 0)
    rows = [("training tokens", f"{train:,}"), ("validation tokens",
             f"{c.tokens_total.get('val', 0):,}"), ("shards", f"{c.shards:,}")]  # fmt: skip
    rows += [
        (f"share of {name} (target {c.mixture.target.get(name, 0):.1%})", f"{share:.1%}")
        for name, share in sorted(c.mixture.realized.items())
    ]
    figure = f"{train:,} training tokens in {c.shards} shards"
    return StageSummary("Token shards", rows, {"train_tokens": train}, figure)


def _last(records: list[dict[str, Any]], kind: str, key: str) -> float | None:
    values = [r[key] for r in records if r.get("kind") == kind and isinstance(r.get(key), float)]
    return values[-1] if values else None


def _trained(found: Any, folder: str) -> StageSummary:
    c = found.counts
    try:
        text = storage.read_text(storage.join(folder, run_folder.METRICS))
        records = [json.loads(line) for line in text.splitlines() if line.strip()]
    except (FileNotFoundError, ValueError):
        records = []
    rows = [("phase", found.extra.phase), ("steps", f"{c.steps:,}"), ("tokens", f"{c.tokens:,}"),
            ("skipped updates", f"{c.skipped_steps:,}")]  # fmt: skip
    metrics: dict[str, float] = {"steps": c.steps, "tokens": c.tokens}
    for label, kind, key in (("final train loss", "train", "loss"),
                             ("validation loss", "val", "val_loss"),
                             ("validation bits per byte", "val", "val_bpb"),
                             ("final reward mean", "train", "reward_mean"),  # rl
                             ("final pass rate", "train", "pass_rate"),  # rl
                             ("tokens / s", "train", "tokens_per_second")):  # fmt: skip
        value = _last(records, kind, key)
        if value is not None:
            rows.append((label, f"{value:,.4g}"))
            metrics[key] = value
    return StageSummary(
        f"Training ({found.extra.phase})", rows, metrics, f"{c.steps:,} steps, {c.tokens:,} tokens"
    )


def _evaluated(found: Any, folder: str) -> StageSummary:
    rows: list[tuple[str, str]] = []
    metrics: dict[str, float] = {}
    shown = []
    for task, values in sorted(found.counts.tasks.items()):
        for key, value in sorted(values.items()):
            if key == "problems":
                continue
            rows.append((f"{task} {key}", f"{value:.1%}" if value <= 1 else f"{value:,.4g}"))
            metrics[f"{task}_{key}".replace("@", "_at_")] = value
        if "pass@1" in values:
            shown.append(f"{task} pass@1 {values['pass@1']:.1%}")
        elif "consistency" in values:
            shown.append(f"{task} consistency {values['consistency']:.1%}")
    try:
        results = json.loads(storage.read_text(storage.join(folder, run_folder.RESULTS)))
        overall = results["tasks"]["perplexity"]["overall"]
        rows.append(("held-out bits per byte", f"{overall['bpb']:.4f}"))
        metrics["bpb"] = float(overall["bpb"])
        shown.append(f"bpb {overall['bpb']:.3f}")
    except (FileNotFoundError, ValueError, KeyError, TypeError):
        pass
    return StageSummary("Evaluation", rows, metrics, ", ".join(shown) or "done")


def _conversations(found: Any, _folder: str) -> StageSummary:
    n = found.counts.conversations
    return StageSummary(
        f"Synthetic data ({found.stage})", [("conversations", f"{n:,}")],
        {"conversations": n}, f"{n:,} conversations",
    )  # fmt: skip


Summarize = Callable[[Any, str], StageSummary]
# Stage (manifest) → its summary.
_BY_STAGE: dict[str, Summarize] = {
    run_folder.CURATE_MANIFEST.stage: _curated,
    run_folder.TOKENIZER_MANIFEST.stage: _tokenizer,
    run_folder.TOKENIZER_IMPORT_MANIFEST.stage: _tokenizer,  # the same counts that matter
    run_folder.PACK_MANIFEST.stage: _tokens,
    **{contract.stage: _trained for contract in run_folder.TRAIN_MANIFESTS.values()},
    run_folder.EVALUATE_MANIFEST.stage: _evaluated,
    run_folder.SYNTH_IDENTITY_MANIFEST.stage: _conversations,
    run_folder.SYNTH_DOCSTRINGS_MANIFEST.stage: _conversations,
}


def summarize(contract: Contract | OneOf, folder: str) -> StageSummary | None:
    """The summary of the finished stage in `folder`; None when it has none or is not finished
    (a summary never fails the step that asks for it)."""
    try:
        found = contract.read(folder)
        describe = _BY_STAGE.get(found.stage) if found is not None else None
        return describe(found, folder) if describe is not None else None
    except (TritterError, OSError, KeyError, AttributeError, ValueError):
        return None
