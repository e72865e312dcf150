"""The checks every document goes through, as ordered lists of rules: a new filter is one more
`Rule` in `DOCUMENT_RULES` (or `BATCH_RULES`).

A rule looks at one document (a `Doc`) and answers with

* a `Drop`: the document is rejected for one of the rule's `reasons` (with a detail for the
  reject list: a detector's name, a license id — never a secret's value; the process step
  redacts any credential in a reject's path or detail);
* a `Negative` label: the document is kept as a negative example, with the explanation of its
  flaws and their fix;
* or None: nothing to say.

`inspect` runs the rules in order: the first drop ends the inspection, and the first negative
label is the document's label (a security flaw's explanation wins over low quality). Rules also
record what later rules and the output row need on the `Doc` (decoded text, license, security
flaws, quality score). The views of the text several rules share (line statistics, lower-cased
text) are computed once, on first use, so splitting a check into several rules costs no extra
pass over the text. One rule rewrites the text — `pii` replaces personal data by placeholders,
right after the secret check — and then drops those views, so every later rule, the word
hashes, decontamination and dedup see the redacted text.

Two checks need a whole batch of documents: benchmark decontamination works on the batch's word
hashes (which MinHash reuses), and `--positive-only` runs after it, so that a contaminated
negative counts as contamination. They are `BATCH_RULES`, applied by the process step to each
batch of documents that passed `DOCUMENT_RULES`. Exact and near duplicates are decided across
all shards afterwards (`dedup`).

`REASONS`, every drop reason in the order it is checked (the order the manifest and the summary
list them in), is derived from these lists, so a new rule's reasons join it by themselves.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass, field

import numpy as np

from tritter.curate import (
    decontam,
    dedup,
    filters,
    homework,
    languages,
    licenses,
    minhash,
    pii,
    quality,
    repos,
    secrets,
    security,
    sources,
)
from tritter.curate.config import CurateConfig

_BOM = b"\xef\xbb\xbf"


@dataclass(frozen=True)
class Drop:
    """Reject the document: `reason` is one of the rule's reasons."""

    reason: str
    detail: str = ""
    pii: tuple[tuple[str, int], ...] = ()  # (kind, values) of the personal data found, if any


@dataclass(frozen=True)
class Negative:
    """Keep the document as a negative example."""

    explanation: str  # "This code has ... issues:", then a "- issue. Fix: ..." line for each
    flaws: tuple[str, ...]  # what the manifest counts the negative under


Verdict = Drop | Negative | None


@dataclass(frozen=True)
class Context:
    """What the rules need from the run."""

    config: CurateConfig
    limits: filters.Thresholds
    policy: licenses.Policy
    license_of: Callable[[sources.RawDoc, str], str]  # (document, its text) → SPDX id
    repos: repos.RepoTable = field(default_factory=repos.RepoTable)  # the unit's repositories


class Doc:
    """One document under inspection: the input, what the rules have established so far, and
    views of the text computed once, on first use."""

    def __init__(self, raw: sources.RawDoc, context: Context) -> None:
        self.raw = raw
        self.context = context
        self.language = raw.language or ""
        self.text = ""  # the decoded text (decode rule)
        self.data = b""  # its UTF-8 bytes, without a byte-order mark
        self.license = licenses.UNKNOWN  # SPDX id (license rule)
        self.flaws: list[security.Flaw] = []  # security flaws (security rule)
        self.score = 0.0  # quality score in [0, 1] (quality rule)
        self.pii: dict[str, int] = {}  # kind → personal values found (pii rule)
        self.negative: Negative | None = None  # the label, when negative
        self.repo_signals: list[str] = []  # repository-level signals its score used (quality)
        self._stats: filters.TextStats | None = None
        self._lowered: str | None = None

    @property
    def stats(self) -> filters.TextStats:
        """Line lengths and byte classes (one vectorised pass over the bytes)."""
        if self._stats is None:
            self._stats = filters.text_stats(self.data)
        return self._stats

    @property
    def lowered(self) -> str:
        """The lower-cased text (secrets, security flaws and quality search it)."""
        if self._lowered is None:
            self._lowered = self.text.lower()
        return self._lowered


@dataclass(frozen=True)
class Rule:
    """A per-document check: `check(doc)` returns a Drop for one of `reasons` (listed in the
    order the check tests them), a Negative label, or None."""

    name: str
    reasons: tuple[str, ...]
    check: Callable[[Doc], Verdict]


@dataclass(frozen=True)
class Batch:
    """Documents that passed every per-document rule, with their word hashes."""

    docs: list[Doc]
    words: minhash.WordHashes
    context: Context


@dataclass(frozen=True)
class BatchRule:
    """A check over a batch: `check(batch)` returns one Drop or None per document."""

    name: str
    reasons: tuple[str, ...]
    check: Callable[[Batch], list[Drop | None]]


# -- per-document rules ---------------------------------------------------------------------------


def _ingest(doc: Doc) -> Verdict:
    """Decisions made while reading (by name, size or record shape), before any content check."""
    raw = doc.raw
    return None if raw.reason is None else Drop(raw.reason, raw.detail)


def _min_stars(doc: Doc) -> Verdict:
    """`--min-stars`: only documents whose stars are known can fall below it."""
    stars, minimum = doc.raw.stars, doc.context.config.min_stars
    if stars is not None and stars < minimum:
        return Drop("min_stars", f"{stars} < {minimum}")
    return None


def _decode(doc: Doc) -> Verdict:
    raw = doc.raw
    if raw.data is not None:
        text, why = filters.decode(raw.data)
        if why:
            return Drop(why)
        doc.text = text or ""
        doc.data = raw.data[3:] if raw.data.startswith(_BOM) else raw.data
        return None
    text = raw.text or ""  # a document-set record's text field
    if "\x00" in text:
        return Drop("binary")
    try:
        doc.data = text.encode("utf-8")
    except UnicodeEncodeError:
        return Drop("undecodable", "lone surrogate")
    doc.text = text
    return None


def _empty(doc: Doc) -> Verdict:
    return None if doc.text.strip() else Drop("empty")


def _generated(doc: Doc) -> Verdict:
    return Drop("generated") if filters.is_generated(doc.text) else None


def _minified(doc: Doc) -> Verdict:
    return Drop("minified") if filters.is_minified(doc.raw.path, doc.stats) else None


def _line_count(doc: Doc) -> Verdict:
    lines, limits = doc.stats.lines, doc.context.limits
    if lines < limits.min_lines:
        return Drop("too_few_lines")
    if lines > limits.max_lines:
        return Drop("too_many_lines")
    return None


def _alphanumeric(doc: Doc) -> Verdict:
    if doc.stats.alnum_fraction <= doc.context.limits.min_alnum_fraction:
        return Drop("low_alnum")
    return None


def _long_lines(doc: Doc) -> Verdict:
    stats, limits = doc.stats, doc.context.limits
    long_lines = int(np.count_nonzero(stats.line_lengths > limits.long_line_chars))
    if long_lines > 0 and long_lines >= limits.max_long_line_fraction * stats.lines:
        return Drop("long_lines")
    return None


def _boilerplate(doc: Doc) -> Verdict:
    if filters.is_boilerplate(doc.text, doc.stats, doc.language):
        return Drop("boilerplate")
    return None


def _homework(doc: Doc) -> Verdict:
    """Student homework (`homework.py`): two signals, or a strong one."""
    if not doc.context.config.homework:
        return None
    raw = doc.raw
    found = homework.verdict(doc.lowered, raw.path, raw.repo, doc.context.repos.lookup(raw))
    return None if found is None else Drop("homework", found)


def _license(doc: Doc) -> Verdict:
    context = doc.context
    doc.license = context.license_of(doc.raw, doc.text)
    why = context.policy.verdict(doc.license)
    return None if why is None else Drop(why, doc.license)


def _secret(doc: Doc) -> Verdict:
    """A credential in the text or in any metadata field (path, repository, every other string
    field of a document-set record) rejects the document. The detail names the detector (and
    the field), never the value."""
    detector = secrets.find_secret(doc.text, doc.lowered, doc.language)
    if detector is not None:
        return Drop("secret", detector)
    found = secrets.find_in_fields(_metadata(doc.raw))
    if found is not None:
        field, detector = found
        return Drop("secret", f"{detector} in {field}")
    return None


def _metadata(raw: sources.RawDoc) -> Iterator[tuple[str, str]]:
    """(field, value) of every text field of a document besides its text."""
    yield "path", raw.path
    if raw.repo:
        yield "repo", raw.repo
    if raw.record is not None:
        for name, value in secrets.text_fields(raw.record):
            if value is not raw.text and value != raw.path and value != raw.repo:
                yield name, value


def _pii(doc: Doc) -> Verdict:
    """Personal data (`pii`): counted, then replaced by placeholders (`--pii redact`), left
    as is (`keep`) or the document dropped (`drop`). Redaction changes the text every later
    rule, the word hashes, the exact hash and MinHash see. The detail names kinds, never a
    value."""
    config = doc.context.config
    findings = pii.scan(
        doc.text,
        doc.lowered,
        license_id=doc.license,
        allow=pii.allowlist(tuple(config.pii_allowlist)),
        path=doc.raw.path,
    )
    if not findings:
        return None
    doc.pii = pii.counts(findings)
    if config.pii == "drop":
        return Drop("pii", ",".join(doc.pii), tuple(doc.pii.items()))
    if config.pii == "redact":
        doc.text = pii.redact(doc.text, findings)
        doc.data = doc.text.encode("utf-8")
        doc._stats = doc._lowered = None  # views of the text before redaction
    return None


def _security(doc: Doc) -> Verdict:
    if doc.language in languages.DOC_LANGUAGES:
        return None
    doc.flaws = security.find_flaws(doc.text, doc.language, doc.lowered)
    if not doc.flaws:
        return None
    return Negative(security.explain(doc.flaws), tuple(flaw.name for flaw in doc.flaws))


def _quality(doc: Doc) -> Verdict:
    raw = doc.raw
    info = doc.context.repos.lookup(raw)
    changed = repos.record_date(raw.record, repos.LAST_CHANGE_FIELDS)
    as_of = repos.record_date(raw.record, repos.SNAPSHOT_FIELDS) or doc.context.repos.as_of
    stale = repos.stale_penalty(changed, as_of)
    repo_tests = info is not None and info.tests
    base = quality.score(doc.text, doc.stats, doc.language, doc.lowered)
    scored = quality.adjust(base, repo_tests, stale)
    credited = repo_tests and base.signals.get("tests", 1.0) < repos.REPO_TESTS_CREDIT
    doc.repo_signals = [
        name
        for name, present in (
            ("stars_known", raw.stars is not None),
            ("dated", changed is not None and as_of is not None),
            ("stale", stale[0] > 0),
            ("repo_tests", credited),
        )
        if present
    ]
    doc.score = scored.score * (0.5 if doc.flaws else 1.0)  # a flawed document scores half
    if doc.score < doc.context.config.min_quality:
        return Negative(quality.explain(scored), ("low_quality",))
    return None


INGEST = Rule("ingest", sources.REASONS, _ingest)
DECODE = Rule("decode", ("binary", "undecodable"), _decode)
CONTENT_FILTERS = (
    Rule("empty", ("empty",), _empty),
    Rule("generated", ("generated",), _generated),
    Rule("minified", ("minified",), _minified),
    Rule("line_count", ("too_few_lines", "too_many_lines"), _line_count),
    Rule("alphanumeric", ("low_alnum",), _alphanumeric),
    Rule("long_lines", ("long_lines",), _long_lines),
    Rule("boilerplate", ("boilerplate",), _boilerplate),
)
DOCUMENT_RULES: tuple[Rule, ...] = (
    INGEST,
    Rule("min_stars", ("min_stars",), _min_stars),
    DECODE,
    *CONTENT_FILTERS,
    Rule("homework", ("homework",), _homework),
    Rule("license", licenses.REASONS, _license),
    Rule("secret", ("secret",), _secret),
    Rule("pii", ("pii",), _pii),
    Rule("security", (), _security),
    Rule("quality", (), _quality),
)


def inspect(
    raw: sources.RawDoc, context: Context, rules: tuple[Rule, ...] = DOCUMENT_RULES
) -> Drop | Doc:
    """Run `rules` over one document: its first Drop, or the document, labelled."""
    doc = Doc(raw, context)
    for rule in rules:
        verdict = rule.check(doc)
        if verdict is None:
            continue
        if isinstance(verdict, Drop):
            return verdict
        if doc.negative is None:
            doc.negative = verdict
    doc._stats = doc._lowered = None  # a survivor waits in a batch: keep only what its row needs
    return doc


# -- batch rules ----------------------------------------------------------------------------------


def _contamination(batch: Batch) -> list[Drop | None]:
    config = batch.context.config
    if not config.decontaminate:
        return [None] * len(batch.docs)
    index = decontam.benchmark_index(config.decontam_ngram)
    return [
        None if hit is None else Drop("contamination", f"{hit.benchmark}:{hit.task_id}:{hit.part}")
        for hit in index.contaminated(batch.words, config.decontam_overlap)
    ]


def _positive_only(batch: Batch) -> list[Drop | None]:
    if not batch.context.config.positive_only:
        return [None] * len(batch.docs)
    return [
        None if doc.negative is None else Drop("negative", ",".join(doc.negative.flaws))
        for doc in batch.docs
    ]


BATCH_RULES: tuple[BatchRule, ...] = (
    BatchRule("contamination", ("contamination",), _contamination),
    BatchRule("positive_only", ("negative",), _positive_only),
)


def screen(batch: Batch, rules: tuple[BatchRule, ...] = BATCH_RULES) -> dict[int, Drop]:
    """Run `rules` over a batch: {index in the batch: its first Drop}, in the order the rules
    dropped them (rule by rule, then batch order). Documents not in it survive."""
    dropped: dict[int, Drop] = {}
    for rule in rules:
        for i, verdict in enumerate(rule.check(batch)):
            if verdict is not None and i not in dropped:
                dropped[i] = verdict
    return dropped


# Every drop reason, in the order documents are checked for them.
REASONS: tuple[str, ...] = tuple(
    dict.fromkeys(
        [reason for rule in (*DOCUMENT_RULES, *BATCH_RULES) for reason in rule.reasons]
        + list(dedup.REASONS)
    )
)
