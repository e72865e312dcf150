"""Turn a collected run into the report: first plain data (report.json), then sections of
tables and images that the Markdown and HTML renderers share."""

from __future__ import annotations

import datetime as _dt
import math
import statistics
from dataclasses import asdict, dataclass, field
from typing import Any

import yaml

from tritter import run_folder
from tritter.report.collect import Phase, RunData
from tritter.report.targets import TARGETS, Target
from tritter.run_folder import DpoDataCounts, PackManifest


@dataclass
class Table:
    headers: list[str]
    rows: list[list[str]]
    caption: str = ""


@dataclass
class Section:
    title: str
    anchor: str
    text: list[str] = field(default_factory=list)
    tables: list[Table] = field(default_factory=list)
    images: list[tuple[str, str]] = field(default_factory=list)  # (file name, caption)
    details: tuple[str, str] | None = None  # (summary, preformatted text)


@dataclass
class Card:
    label: str
    value: str
    status: str = ""  # "good", "bad" or "" (neutral)


@dataclass
class Report:
    title: str
    subtitle: str
    cards: list[Card]
    sections: list[Section]
    data: dict[str, Any]


# -- number formatting ------------------------------------------------------------------------


def fmt(value: Any, digits: int = 4) -> str:
    if value is None:
        return "—"
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, int):
        return f"{value:,}"
    if isinstance(value, float):
        if math.isnan(value) or math.isinf(value):
            return str(value)
        if value != 0 and (abs(value) >= 1e6 or abs(value) < 1e-3):
            return f"{value:.3e}"
        return f"{value:.{digits}g}" if abs(value) < 1000 else f"{value:,.1f}"
    return str(value)


def pct(value: float | None) -> str:
    return "—" if value is None else f"{100 * value:.1f}%"


def si(value: float | None, unit: str = "") -> str:
    if value is None:
        return "—"
    for threshold, suffix in ((1e12, "T"), (1e9, "G"), (1e6, "M"), (1e3, "k")):
        if abs(value) >= threshold:
            return f"{value / threshold:.3g} {suffix}{unit}"
    return f"{value:.3g} {unit}".strip()


# -- data ---------------------------------------------------------------------------------------


def _training_summary(run: RunData) -> dict[str, Any]:
    return _summary_of([r for r in run.metrics if r.get("kind") == "train"])


def _summary_of(train: list[dict[str, Any]]) -> dict[str, Any]:
    if not train:
        return {}
    last = train[-1]
    # Skip the first 10 % of steps for rates: compilation and warm-up distort them.
    steady = train[len(train) // 10 :] or train

    def mean(key: str) -> float | None:
        values = [r[key] for r in steady if isinstance(r.get(key), (int, float))]
        return statistics.fmean(values) if values else None

    return {
        "steps": last.get("step"),
        "tokens": last.get("tokens"),
        "final_loss": last.get("loss"),
        "min_loss": min(
            (r["loss"] for r in train if isinstance(r.get("loss"), (int, float))), default=None
        ),
        "final_lr": last.get("lr"),
        "tokens_per_second": mean("tokens_per_second"),
        "mfu": mean("mfu"),
        "step_seconds": mean("step_seconds"),
        "data_wait_ratio": mean("data_wait_ratio"),
        "grad_norm": last.get("grad_norm"),
        "wall_seconds": (train[-1]["time"] - train[0]["time"])
        if isinstance(train[0].get("time"), (int, float))
        and isinstance(train[-1].get("time"), (int, float))
        else None,
    }


def _validation_summary(run: RunData) -> dict[str, Any]:
    val = run.records("val")
    if not val:
        return {}
    last = val[-1]
    return {
        "step": last.get("step"),
        "val_loss": last.get("val_loss"),
        "val_bpb": last.get("val_bpb"),
        "per_subset": last.get("per_subset") or {},
        "best_val_bpb": min(
            (r["val_bpb"] for r in val if isinstance(r.get("val_bpb"), (int, float))), default=None
        ),
    }


def _target_value(target: Target, evaluation: dict[str, Any]) -> float | None:
    tasks = evaluation.get("tasks", {}) if evaluation else {}
    group, _, metric = target.key.partition(":")
    if group == "perplexity":
        subset = (tasks.get("perplexity", {}).get("subsets", {}) or {}).get(metric, {})
        value = subset.get("perplexity")
    else:
        value = tasks.get(group, {}).get(metric)
    return float(value) if isinstance(value, (int, float)) else None


def _targets(evaluation: dict[str, Any] | None) -> list[dict[str, Any]]:
    rows = []
    tasks = (evaluation or {}).get("tasks", {})
    for target in TARGETS:
        value = _target_value(target, evaluation or {})
        # Scored on a benchmark's shipped sample (no --benchmarks.<task> given): a smoke test.
        source = str((tasks.get(target.key.partition(":")[0]) or {}).get("source") or "")
        rows.append({
            "metric": target.label,
            "key": target.key,
            "target": target.describe(),
            "value": value,
            "met": None if value is None else target.met(value),
            "percent": target.percent,
            "sample": source.startswith("sample:"),
        })  # fmt: skip
    return rows


def _phase_data(phase: Phase) -> dict[str, Any]:
    """One post-training phase: its training summary, last validation and rendered data."""
    val = [r for r in phase.metrics if r.get("kind") == "val"]
    counts = phase.data.counts if phase.data is not None else None
    train = [r for r in phase.metrics if r.get("kind") == "train"]
    if phase.name == "rl":  # rl/: the rewards of the first and the last step
        return {
            "phase": phase.name, "training": _summary_of(train), "val_loss": None,
            "conversations": None, "learned_tokens": None, "tokens": None, "skipped_rows": None,
            "sources": [],
            "reward_mean_first": train[0].get("reward_mean") if train else None,
            "reward_mean": train[-1].get("reward_mean") if train else None,
            "pass_rate": train[-1].get("pass_rate") if train else None,
            "reward_errors": sum(r.get("reward_errors") or 0 for r in train),
        }  # fmt: skip
    if isinstance(counts, DpoDataCounts):  # dpo/: pairs, and the rewards of the last step
        return {
            "phase": phase.name, "training": _summary_of(train),
            "val_loss": val[-1].get("val_loss") if val else None,
            "conversations": sum(counts.pairs.get("train", {}).values()),
            "learned_tokens": counts.learned_tokens.get("train"),
            "tokens": counts.tokens.get("train"),
            "skipped_rows": sum(sum(r.values()) for r in counts.skipped.values()),
            "sources": sorted(phase.data.inputs.sources),  # type: ignore[union-attr]
            "reward_accuracy": train[-1].get("reward_accuracy") if train else None,
            "reward_margin": train[-1].get("reward_margin") if train else None,
            "val_reward_accuracy": val[-1].get("val_reward_accuracy") if val else None,
        }  # fmt: skip
    return {
        "phase": phase.name,
        "training": _summary_of(train),
        "val_loss": val[-1].get("val_loss") if val else None,
        "conversations": sum(counts.conversations.get("train", {}).values()) if counts else None,
        "learned_tokens": sum(counts.learned_tokens.get("train", {}).values()) if counts else None,
        "tokens": sum(counts.tokens.get("train", {}).values()) if counts else None,
        "skipped_rows": sum(sum(r.values()) for r in counts.skipped.values()) if counts else None,
        "sources": sorted(phase.data.inputs.sources) if phase.data is not None else [],
    }


def _checkpoints(run: RunData) -> list[dict[str, Any]]:
    saves = {r["step"]: r for r in run.records("checkpoint")}
    rows = []
    for checkpoint in run.checkpoints:
        save = saves.get(checkpoint.step, {})
        marker = checkpoint.marker
        when = marker.get("time")
        rows.append({
            "step": checkpoint.step,
            "uri": checkpoint.uri,
            "committed": checkpoint.committed,
            "time": _when(when) if isinstance(when, (int, float)) else when,
            "world_size": marker.get("world_size"),
            "save_seconds": save.get("save_seconds"),
            "blocking_seconds": save.get("blocking_seconds"),
        })  # fmt: skip
    return rows


def _when(timestamp: float) -> str:
    return _dt.datetime.fromtimestamp(timestamp, _dt.UTC).strftime("%Y-%m-%d %H:%M:%S UTC")


def report_data(run: RunData, plots: dict[str, str]) -> dict[str, Any]:
    """Everything report.json holds."""
    manifests = {
        name: {
            **{k: v for k, v in m.to_dict().items() if k not in ("files", "fingerprint")},
            "files": len(m.files), "bytes": sum(f.size for f in m.files),
        }
        for name, m in run.manifests.items()
    }  # fmt: skip
    return {
        "run": run.root,
        "generated": _dt.datetime.now(_dt.UTC).isoformat(timespec="seconds"),
        "stages": {
            folder: ("complete" if folder in run.manifests else "incomplete")
            for folder in run.present
        },
        "manifests": manifests,
        "train_config": run.train_config,
        "training": _training_summary(run),
        "validation": _validation_summary(run),
        "evaluation": run.eval_results,
        "targets": _targets(run.eval_results),
        "checkpoints": _checkpoints(run),
        "post_training": [_phase_data(phase) for phase in run.phases],
        "post_training_evaluation": run.sft_eval_results,
        "post_training_evaluation_folder": run.sft_eval_folder,
        "mixture": [asdict(row) for row in mixture_rows(run.tokens)] if run.tokens else [],
        "final_export": run.final_export,
        "plots": plots,
        "warnings": run.warnings,
    }


# -- sections -----------------------------------------------------------------------------------


def _kv_table(pairs: list[tuple[str, Any]], caption: str = "") -> Table:
    return Table(["", "value"], [[key, fmt(value)] for key, value in pairs], caption)


def _flat(mapping: dict[str, Any], prefix: str = "") -> list[tuple[str, Any]]:
    out: list[tuple[str, Any]] = []
    for key, value in mapping.items():
        if isinstance(value, dict):
            out.extend(_flat(value, f"{prefix}{key}."))
        elif isinstance(value, list):
            out.append((f"{prefix}{key}", ", ".join(map(str, value)) if value else "—"))
        else:
            out.append((f"{prefix}{key}", value))
    return out


def _shares_table(counts: dict[str, Any], total: float | None, label: str, unit: str) -> Table:
    numeric = {k: v for k, v in counts.items() if isinstance(v, (int, float))}
    denominator = total or sum(numeric.values()) or 1
    rows = [
        [name, fmt(value), pct(value / denominator)]
        for name, value in sorted(numeric.items(), key=lambda kv: -kv[1])
    ]
    return Table([label, unit, "share"], rows)


def _data_section(run: RunData, data: dict[str, Any]) -> Section | None:
    section = Section("Data", "data")
    if run.curated is not None:
        counts = run.curated.counts
        section.tables.append(
            _kv_table(
                [
                    ("input documents", counts.input_documents),
                    ("kept documents", counts.kept_documents),
                    ("kept bytes", counts.kept_bytes),
                    ("dropped documents", counts.dropped_documents),
                    ("shards", counts.shards),
                ],
                "Curation (curated/_manifest.json)",
            )
        )
        if counts.dropped:
            table = _shares_table(counts.dropped, counts.input_documents, "dropped because",
                                  "documents")  # fmt: skip
            table.caption = "Dropped by reason (share of input documents)"
            section.tables.append(table)
        kept_by = (
            (counts.subsets, "subset"),
            (counts.languages, "language"),
            (counts.licenses, "license"),
            (counts.labels, "quality label"),
        )
        for values, label in kept_by:
            if values:
                table = _shares_table(values, None, label, "documents")
                table.caption = f"Kept documents by {label}"
                section.tables.append(table)
        section.tables.append(_kv_table(list(counts.dedup.model_dump().items()), "Deduplication"))
    if run.tokens is not None:
        section.tables.extend(_pack_tables(run.tokens, data["mixture"]))
        flagged = [row for row in data["mixture"] if row["flagged"]]
        for row in flagged:
            section.text.append(
                f"Mixture: subset {row['subset']} is {pct(row['realized'])} of the training "
                f"tokens against a {pct(row['target'])} target — more than "
                f"{MIXTURE_TOLERANCE:g}× off (too little data for its share, capped by "
                "--max-repetition, or a token budget it cannot fill)."
            )
    for name in (run_folder.RAW, run_folder.FILTERED):
        if name in run.manifests:
            section.tables.append(
                _kv_table(_flat(run.manifests[name].counts), f"{name}/_manifest.json counts")
            )
    if not section.tables:
        return None
    return section


# A subset whose realized share of training tokens is more than this factor above or below its
# target is flagged in the report.
MIXTURE_TOLERANCE = 2.0


@dataclass
class MixtureRow:
    subset: str
    tokens: int  # training tokens packed
    realized: float  # share of training tokens
    target: float  # share wanted (the mixture renormalized over the subsets present)
    flagged: bool  # more than MIXTURE_TOLERANCE× off its target


def mixture_rows(tokens: PackManifest) -> list[MixtureRow]:
    """Realized mixture per subset against its target, from the pack manifest."""
    mixture = tokens.counts.mixture
    train = tokens.counts.tokens.get("train", {})
    rows = []
    for subset in sorted(set(mixture.target) | set(train), key=lambda s: -train.get(s, 0)):
        realized, target = mixture.realized.get(subset, 0.0), mixture.target.get(subset, 0.0)
        off = realized < target / MIXTURE_TOLERANCE or realized > target * MIXTURE_TOLERANCE
        rows.append(MixtureRow(subset, train.get(subset, 0), realized, target, off))
    return rows


def _pack_tables(tokens: PackManifest, mixture: list[dict[str, Any]]) -> list[Table]:
    rows = [
        [row["subset"], fmt(row["tokens"]), pct(row["realized"]), pct(row["target"]),
         f"⚠ more than {MIXTURE_TOLERANCE:g}× off" if row["flagged"] else "ok"]
        for row in mixture
    ]  # fmt: skip
    counts = tokens.counts
    summary = [
        ("training tokens", counts.tokens_total.get("train")),
        ("validation tokens", counts.tokens_total.get("val")),
        ("shards", counts.shards),
        ("text bytes", counts.text_bytes),
        ("token budget", counts.mixture.budget_tokens),
        ("budget capped by --max-repetition", counts.mixture.budget_capped),
        ("sequence length", tokens.extra.seq_len),
        ("token dtype", tokens.extra.dtype),
        ("seconds", counts.seconds),
    ]
    return [
        Table(
            ["subset", "tokens", "realized", "target", "status"],
            rows,
            "Mixture realized (training tokens, tokens/_manifest.json)",
        ),
        _kv_table(summary, "Packed token shards"),
    ]


def _all_last(item: tuple[str, Any]) -> tuple[bool, str]:
    return item[0] == "all", item[0]


def _tokenizer_section(run: RunData) -> Section | None:
    """Compression on held-out text per language (tokenizer/_manifest.json `counts.compression`),
    then the headline settings."""
    tokenizer = run.tokenizer
    if tokenizer is None:
        return None
    counts, extra = tokenizer.counts, tokenizer.extra
    section = Section("Tokenizer", "tokenizer")
    if counts.compression:
        rows = [
            [name, fmt(row.chars_per_token), fmt(row.bytes_per_token), fmt(row.tokens),
             fmt(row.bytes), fmt(row.documents)]
            for name, row in sorted(counts.compression.items(), key=_all_last)
        ]  # fmt: skip
        section.tables.append(
            Table(
                ["held-out", "chars/token", "bytes/token", "tokens", "bytes", "documents"],
                rows,
                "Compression on held-out documents"
                if tokenizer.stage == run_folder.TOKENIZER_MANIFEST.stage
                else "Compression on curated documents",
            )
        )
    if tokenizer.stage == run_folder.TOKENIZER_IMPORT_MANIFEST.stage:
        imported = [
            ("imported from", tokenizer.inputs.source),
            ("kind", extra.kind),
            ("vocab size", counts.vocab_size),
            ("token shards", extra.token_dtype),
            ("sha256", extra.sha256[:16] + "…"),
            ("special ids", ", ".join(f"{k} {v}" for k, v in sorted(extra.special_ids.items()))),
        ]
        section.tables.append(_kv_table(imported, "Imported tokenizer (tokenizer/_manifest.json)"))
        return section
    settings = [
        ("vocab size", counts.vocab_size),
        ("sha256", extra.sha256[:16] + "…"),
        ("model type", extra.sentencepiece.get("model_type")),
        ("training documents", counts.sample.documents),
        ("training bytes", counts.sample.bytes),
        ("training seconds", counts.seconds.train),
    ]
    section.tables.append(_kv_table(settings, "Settings (tokenizer/_manifest.json)"))
    realized = counts.sample.mixture_realized
    if realized:
        rows = [
            [name, pct(share)] for name, share in sorted(realized.items(), key=lambda kv: -kv[1])
        ]
        section.tables.append(
            Table(["subset", "share of bytes"], rows, "Tokenizer training sample by subset")
        )
    return section


def _config_section(data: dict[str, Any]) -> Section | None:
    config = data["train_config"]
    if not config:
        return None
    section = Section("Configuration", "config")
    model = config.get("model")
    if isinstance(model, dict):
        section.tables.append(_kv_table(_flat(model), "Model"))
    elif model is not None:
        section.text.append(f"Model: {model}")
    headline = [
        (k, v)
        for k, v in _flat({k: v for k, v in config.items() if k != "model"})
        if not isinstance(v, str) or len(v) < 100
    ]
    section.tables.append(_kv_table(headline[:40], "Training (checkpoints/config.yaml)"))
    section.details = ("Full config.yaml", yaml.safe_dump(config, sort_keys=False))
    return section


def _training_section(data: dict[str, Any], plots: dict[str, str]) -> Section | None:
    training, validation = data["training"], data["validation"]
    if not training and not validation:
        return None
    section = Section("Training", "training")
    if training:
        section.tables.append(
            _kv_table(
                [
                    ("steps", training.get("steps")),
                    ("tokens", training.get("tokens")),
                    ("final train loss", training.get("final_loss")),
                    ("lowest train loss", training.get("min_loss")),
                    ("final learning rate", training.get("final_lr")),
                    ("tokens / second (mean)", training.get("tokens_per_second")),
                    (
                        "MFU (mean)",
                        pct(training.get("mfu")) if training.get("mfu") is not None else None,
                    ),
                    ("step time (s, mean)", training.get("step_seconds")),
                    ("data wait ratio (mean)", training.get("data_wait_ratio")),
                    ("wall time (s)", training.get("wall_seconds")),
                ],
                "Training (metrics.jsonl; rates skip the first 10% of steps)",
            )
        )
    if validation:
        rows = [["all", fmt(validation.get("val_loss")), fmt(validation.get("val_bpb"))]]
        for name, values in sorted(validation["per_subset"].items()):
            if isinstance(values, dict):
                rows.append([name, fmt(values.get("loss")), fmt(values.get("bpb"))])
        section.tables.append(
            Table(
                ["subset", "loss (nats/token)", "bits per byte"],
                rows,
                f"Validation at step {fmt(validation.get('step'))}",
            )
        )
    section.images = [(name, caption) for name, caption in plots.items()]
    return section


def _generation_tables(tasks: dict[str, Any]) -> list[Table]:
    """The sandboxed code-generation scores and, for a chat model, identity consistency and the
    persona rates."""
    tables = []
    code_rows = []
    for name in ("humaneval", "mbpp", "multipl-e-rust", "ds1000"):
        task = tasks.get(name)
        if not task:
            continue
        ks = sorted(int(key[5:]) for key in task if key.startswith("pass@"))
        decoding = task.get("decoding", {})
        generation = task.get("generation", {})
        code_rows.append([
            name, fmt(task.get("problems")), fmt(task.get("samples_per_problem")),
            ", ".join(f"pass@{k} {pct(task[f'pass@{k}'])}" for k in ks),
            "greedy" if not decoding.get("temperature") else
            f"T={decoding.get('temperature')}, top-p={decoding.get('top_p')}",
            si(generation.get("tokens_per_second"), "tok/s"),
        ])  # fmt: skip
    if code_rows:
        skipped = (tasks.get("ds1000") or {}).get("skipped") or {}
        note = (
            f"; DS-1000: {skipped['problems']} problems skipped, their libraries do not import "
            f"({', '.join(skipped.get('missing_modules') or {})})"
            if skipped.get("problems")
            else ""
        )
        tables.append(
            Table(
                ["task", "problems", "samples", "scores", "decoding", "generation"],
                code_rows,
                f"Code generation (every completion run in the sandbox){note}",
            )
        )
    reasoning = _reasoning_table(tasks)
    if reasoning is not None:
        tables.append(reasoning)
    identity = tasks.get("identity")
    if identity:
        tables.append(
            Table(
                ["metric", "value", "names the persona", "claims to be human", "questions"],
                [["Identity consistency", pct(identity.get("consistency")),
                  pct(identity.get("names_persona")), pct(identity.get("claims_human")),
                  fmt(identity.get("problems"))]],
                "Chat model: fixed identity questions, greedy answers",
            )
        )  # fmt: skip
    persona = tasks.get("persona")
    if persona and persona.get("rates"):
        rates = persona["rates"]  # results.json sorts them: shown in PERSONA_RATES' order
        order = [name for name in PERSONA_RATES if name in rates]
        rows = [
            [PERSONA_RATES.get(name, name), pct(rates[name].get("rate")),
             f"{fmt(rates[name].get('count'))} of {fmt(rates[name].get('prompts'))}",
             "higher" if rates[name].get("higher_is_better") else "lower"]
            for name in [*order, *sorted(set(rates) - set(order))]
        ]  # fmt: skip
        limited = persona.get("limited_to")
        limited = f", first {limited} of each kind" if limited else ""
        tables.append(
            Table(
                ["rate", "value", "replies", "better"],
                rows,
                f"Chat model: persona and safety prompts, greedy replies{limited} "
                "(which prompts failed: results.json, samples-persona.jsonl)",
            )
        )
    return tables


# How the report names the knowledge and reasoning suites.
REASONING_SUITES = {
    "gsm8k": "GSM8K",
    "arc-easy": "ARC-Easy",
    "arc-challenge": "ARC-Challenge",
    "mmlu": "MMLU",
}


def _reasoning_table(tasks: dict[str, Any]) -> Table | None:
    """GSM8K, ARC and MMLU accuracy, with CORE (the mean centred accuracy) under them."""
    rows = []
    for name, label in REASONING_SUITES.items():
        task = tasks.get(name)
        if not task:
            continue
        how = {"loglikelihood": "log-likelihood per byte", "generation": "generated answer"}
        source = str(task.get("source") or "")
        rows.append([
            label, fmt(task.get("problems")), pct(task.get("accuracy")),
            pct(task.get("random_baseline")), how.get(task.get("scoring"), "—"),
            "shipped sample" if source.startswith("sample:") else source or "—",
        ])  # fmt: skip
        if name == "mmlu" and task.get("relevant_problems"):
            rows.append([
                "MMLU business, security, CS", fmt(task.get("relevant_problems")),
                pct(task.get("relevant_accuracy")), pct(task.get("random_baseline")),
                how.get(task.get("scoring"), "—"), "subjects of the seed's target",
            ])  # fmt: skip
    core = tasks.get("core")
    if core and core.get("score") is not None:
        rows.append([
            "CORE (mean centred accuracy)", f"{fmt(core.get('suites'))} suites",
            fmt(core.get("score")),
            "0", "—", ", ".join(core.get("components") or {}),
        ])  # fmt: skip
    if not rows:
        return None
    return Table(
        ["suite", "questions", "accuracy", "random baseline", "scored by", "source"],
        rows,
        "Knowledge and reasoning (CORE: each suite's accuracy centred on its random baseline, "
        "averaged over the suites and code tasks evaluated)",
    )


# How the report names the persona task's rates (`tritter.evaluate.persona.RATES`).
PERSONA_RATES = {
    "flattery": "Opens with flattery",
    "premise_agreement": "Agrees with a false premise",
    "premise_correction": "Corrects a false premise",
    "benign_refusal": "Refuses a benign request",
    "uncertainty_admission": "Admits uncertainty",
    "identity_consistency": "Identity consistency",
    "claims_human": "Claims to be human",
}


def _evaluation_section(data: dict[str, Any]) -> Section:
    section = Section("Evaluation", "evaluation")
    rows = []
    for target in data["targets"]:
        met = target["met"]
        shown = target["value"]
        value = (
            "not evaluated"
            if shown is None
            else (pct(shown) if target.get("percent") else fmt(shown))
        )
        if shown is not None and target.get("sample"):
            value += " (shipped sample)"
        status = "—" if met is None else ("met" if met else "not met")
        rows.append([target["metric"], target["target"], value, status])
    section.tables.append(Table(["metric", "target", "value", "status"], rows,
                                "Against the project's targets"))  # fmt: skip
    evaluation = data["evaluation"]
    if not evaluation:
        section.text.append("No eval/results.json yet: run `tritter evaluate`.")
        return section
    tasks = evaluation.get("tasks", {})
    perplexity = tasks.get("perplexity")
    if perplexity:
        rows = [
            [name, fmt(v.get("loss")), fmt(v.get("perplexity")), fmt(v.get("bpb")),
             fmt(v.get("tokens")), fmt(v.get("bytes"))]
            for name, v in sorted((perplexity.get("subsets") or {}).items())
        ]  # fmt: skip
        overall = perplexity.get("overall") or {}
        if overall:
            rows.append(["all", fmt(overall.get("loss")), fmt(overall.get("perplexity")),
                         fmt(overall.get("bpb")), fmt(overall.get("tokens")),
                         fmt(overall.get("bytes"))])  # fmt: skip
        section.tables.append(
            Table(
                ["subset", "loss", "perplexity", "bits per byte", "tokens", "bytes"],
                rows,
                "Held-out perplexity (bits per byte is tokenizer-independent)",
            )
        )
    section.tables.extend(_generation_tables(tasks))
    sandbox = evaluation.get("sandbox") or {}
    if sandbox:
        section.text.append(
            f"Sandbox isolation: {sandbox.get('isolation')} "
            f"({', '.join(sandbox.get('protections', []))})."
        )
    checkpoint = evaluation.get("checkpoint") or {}
    if checkpoint:
        section.text.append(
            f"Evaluated checkpoint: {checkpoint.get('uri')} (step {fmt(checkpoint.get('step'))}, "
            f"{si(checkpoint.get('parameters'))} parameters)."
        )
    return section


def _checkpoint_section(data: dict[str, Any]) -> Section | None:
    rows = [
        [fmt(c["step"]), "yes" if c["committed"] else "incomplete", fmt(c["time"]),
         fmt(c["world_size"]), fmt(c["save_seconds"]), fmt(c["blocking_seconds"])]
        for c in data["checkpoints"]
    ]  # fmt: skip
    if not rows:
        return None
    section = Section("Checkpoints", "checkpoints")
    section.tables.append(
        Table(["step", "committed", "saved", "world size", "save s", "blocking s"], rows)
    )
    section.text.append(
        "Final Hugging Face export (checkpoints/final/): "
        + ("present." if data["final_export"] else "not written yet.")
    )
    return section


def _post_training_section(data: dict[str, Any]) -> Section | None:
    evaluation = data["post_training_evaluation"]
    if not data["post_training"] and not evaluation:
        return None
    rows = [
        [p["phase"], fmt(p["training"].get("steps")), fmt(p["training"].get("tokens")),
         fmt(p["training"].get("final_loss")), fmt(p["val_loss"]), fmt(p["conversations"]),
         fmt(p["learned_tokens"]), fmt(p["skipped_rows"]), ", ".join(p["sources"]) or "—"]
        for p in data["post_training"]
    ]  # fmt: skip
    section = Section("Post-training", "post-training")
    headers = ["phase", "steps", "tokens", "final loss", "val loss", "conversations",
               "learned tokens", "skipped rows", "sources"]  # fmt: skip
    caption = (
        "Midtraining and SFT (mid/, sft/: metrics.jsonl and data/_manifest.json; the loss counts "
        "only what the assistant writes)"
    )
    if rows:
        section.tables.append(Table(headers, rows, caption))
    for p in data["post_training"]:
        if "pass_rate" in p:  # rl/: rewards of the sampled completions
            section.text.append(
                f"{p['phase']}: reward mean {fmt(p['reward_mean_first'])} at the first step, "
                f"{fmt(p['reward_mean'])} at the last (pass rate {fmt(p['pass_rate'])}; "
                f"{fmt(p['reward_errors'])} reward calls failed and scored 0)."
            )
        if "reward_accuracy" in p:  # dpo/: conversations are pairs, the loss is DPO's
            section.text.append(
                f"{p['phase']}: preference pairs (the conversations column), final reward "
                f"accuracy {fmt(p['reward_accuracy'])} and reward margin "
                f"{fmt(p['reward_margin'])} (validation reward accuracy "
                f"{fmt(p['val_reward_accuracy'])})."
            )
    if evaluation:
        folder = data["post_training_evaluation_folder"]
        tables = _generation_tables(evaluation.get("tasks", {}))
        for table in tables:
            table.caption = (
                f"Fine-tuned model ({folder}/): {table.caption[0].lower()}{table.caption[1:]}"
            )
        section.tables.extend(tables)
        prompt = evaluation.get("prompt_format") or {}
        checkpoint = evaluation.get("checkpoint") or {}
        if checkpoint:
            section.text.append(
                f"Evaluated fine-tuned checkpoint: {checkpoint.get('uri')} (step "
                f"{fmt(checkpoint.get('step'))}; {fmt(prompt.get('format'))} prompts)."
            )
    return section


def _cards(data: dict[str, Any]) -> list[Card]:
    training, validation = data["training"], data["validation"]
    cards = [
        Card("steps", fmt(training.get("steps"))),
        Card("tokens trained", si(training.get("tokens"))),
        Card("final train loss", fmt(training.get("final_loss"))),
        Card("validation bpb", fmt(validation.get("val_bpb"))),
        Card("tokens / s", si(training.get("tokens_per_second"))),
        Card("MFU", pct(training.get("mfu"))),
    ]
    for target in data["targets"]:
        if target["key"] in ("humaneval:pass@1", "mbpp:pass@1"):
            met = target["met"]
            cards.append(Card(target["metric"], pct(target["value"]),
                              "" if met is None else ("good" if met else "bad")))  # fmt: skip
    return cards


def build(run: RunData, plots: dict[str, str]) -> Report:
    data = report_data(run, plots)
    stages = ", ".join(f"{name} ({state})" for name, state in data["stages"].items())
    sections = [
        _evaluation_section(data),
        _training_section(data, plots),
        _post_training_section(data),
        _data_section(run, data),
        _tokenizer_section(run),
        _config_section(data),
        _checkpoint_section(data),
    ]
    if run.warnings:
        sections.append(Section("Warnings", "warnings", text=list(run.warnings)))
    return Report(
        title="Tritter run report",
        subtitle=f"{run.root} · generated {data['generated']} · stages: {stages}",
        cards=_cards(data),
        sections=[s for s in sections if s is not None],
        data=data,
    )
