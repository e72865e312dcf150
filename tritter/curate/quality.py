"""Quality score in [0, 1] from documented, cheap signals, plus the explanation for negatives.

Code (weights sum to 1):

=================  ======  ============================================================
signal             weight  value
=================  ======  ============================================================
documentation      0.30    comment + docstring lines / all lines, full marks at ≥ 15 %
naming             0.20    share of defined names that are descriptive (≥ 3 chars, or
                           a conventional short name such as `i`, `x`, `db`, `id`)
line length        0.15    share of lines ≤ 100 characters
nesting            0.20    1 up to 4 indentation levels at the 95th percentile of lines,
                           falling linearly to 0 at 8 levels
tests              0.15    1 when the file holds tests or assertions; else 0.6 when its
                           repository holds test files (`repos.REPO_TESTS_CREDIT`), else 0
=================  ======  ============================================================

Docs (Markdown / reStructuredText): structure 0.4 (headings), line length 0.3 (≤ 120
characters), examples 0.3 (code blocks or inline code).

Repository freshness (`adjust`, code and docs): a repository untouched for more than 4 years
before its snapshot loses 0.03 a year beyond, at most 0.15 (`repos.stale_penalty`); the
`freshness` signal (1 − penalty / 0.15) joins the explanation below 0.5, i.e. past 6.5 years.

A document with a security flaw (see `security.py`) has its score halved and is a negative
regardless of the score; otherwise it is a negative when the score is below `--min-quality`,
and the explanation names every signal under 0.5 with its fix.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

import numpy as np

from tritter.curate import languages, repos
from tritter.curate.filters import TextStats

_HASH_COMMENT = frozenset({"python", "ruby", "shell", "r", "julia", "perl"})
_SHORT_NAMES = frozenset(
    {
        "i",
        "j",
        "k",
        "n",
        "m",
        "x",
        "y",
        "z",
        "_",
        "t",
        "f",
        "e",
        "db",
        "id",
        "ok",
        "io",
        "os",
        "fn",
        "fp",
        "np",
        "pd",
        "df",
        "tx",
        "rx",
        "ip",
        "up",
        "op",
        "cb",
        "el",
        "ex",
        "re",
        "ax",
    }
)
# Keywords that introduce a name, per language (each one is a regex pass over the text).
_KEYWORDS = {
    "python": ("def", "class"),
    "rust": ("fn", "let", "struct", "enum", "trait"),
    "javascript": ("function", "const", "let", "var", "class"),
    "typescript": ("function", "const", "let", "var", "class", "interface", "type"),
    "go": ("func", "var", "type"),
}
_DEFINITIONS = {
    language: tuple(re.compile(keyword + r" +(?:mut +)?([A-Za-z_]\w*)") for keyword in keywords)
    for language, keywords in _KEYWORDS.items()
}
_DEFAULT_DEFINITIONS = tuple(
    re.compile(keyword + r" +([A-Za-z_]\w*)")
    for keyword in ("class", "def", "function", "fn", "func", "var", "let", "const")
)
_TRIPLE_QUOTES = (re.compile('"""'), re.compile("'''"))
# Most common first: `in` stops at the first marker found.
_TEST_MARKERS = ("assert", "def test", "#[test]", "func test", "@test", "describe(", "expect(")
_HEADING = re.compile(r"^#{1,6}\s+\S|^[=\-~^\"'`#*+]{3,}\s*$", re.MULTILINE)

WEAKNESS_TEXT = {
    "documentation": "few comments or docstrings ({value:.0%} of lines). Fix: document what "
    "each function does and why non-obvious code is written the way it is.",
    "naming": "many short or unclear names ({value:.0%} descriptive). Fix: name variables and "
    "functions after what they hold or do.",
    "line_length": "long lines ({value:.0%} within 100 characters). Fix: wrap or split long "
    "expressions.",
    "nesting": "deep nesting ({value:.0f} levels). Fix: return early and extract helper functions.",
    "tests": "no tests or assertions. Fix: add tests that pin down the behaviour.",
    "structure": "no headings. Fix: organize the document into titled sections.",
    "examples": "no code examples. Fix: show usage in code blocks.",
    "freshness": "its repository was untouched for {value:.0f} years. Fix: update it to "
    "current language versions and APIs.",
}
CODE_WEIGHTS = {
    "documentation": 0.30,
    "naming": 0.20,
    "line_length": 0.15,
    "nesting": 0.20,
    "tests": 0.15,
}


@dataclass(frozen=True)
class Quality:
    score: float
    signals: dict[str, float]  # each in [0, 1]
    raw: dict[str, float]  # the measured values the explanation quotes

    def weaknesses(self) -> list[str]:
        return [name for name, value in self.signals.items() if value < 0.5]


def _leading(stats: TextStats) -> tuple[np.ndarray, np.ndarray]:
    """Per line: indentation width in bytes and the first non-blank byte (0 for blank lines)."""
    starts = stats.line_starts
    ends = starts + stats.line_lengths
    solid = np.flatnonzero(~stats.whitespace)
    if solid.size == 0:
        return np.zeros(starts.size, np.int64), np.zeros(starts.size, np.uint8)
    first = solid[np.minimum(np.searchsorted(solid, starts), solid.size - 1)]
    blank = (first >= ends) | (first < starts)
    indent = np.where(blank, 0, first - starts)
    first_byte = np.where(blank, 0, stats.data[first])
    return indent, first_byte


def _quantile(values: np.ndarray, q: float) -> float:
    """Nearest-rank quantile (np.percentile's interpolation costs 100 µs a call)."""
    k = int(q * (values.size - 1))
    return float(np.partition(values, k)[k])


def _docstring_lines(text: str) -> int:
    """Lines inside triple-quoted strings (pairs of quotes, counted only within each span)."""
    total = 0
    for quote in _TRIPLE_QUOTES:
        positions = [m.start() for m in quote.finditer(text)]
        for start, end in zip(positions[::2], positions[1::2], strict=False):
            total += text.count("\n", start, end) + 1
    return total


def _defined_names(text: str, language: str) -> list[str]:
    """Names introduced by def/class/fn/let/…: one literal-led regex per keyword (CPython's
    regex engine scans for a literal prefix in C; an alternation of keywords crawls)."""
    names: list[str] = []
    for pattern in _DEFINITIONS.get(language, _DEFAULT_DEFINITIONS):
        names += pattern.findall(text)
    return names


def score_code(text: str, stats: TextStats, language: str, lowered: str) -> Quality:
    lines = max(stats.lines, 1)
    indent, first = _leading(stats)
    nonblank = max(int(np.count_nonzero(first)), 1)
    if language in _HASH_COMMENT:
        comment_lines = int(np.count_nonzero(first == ord("#")))
    else:
        comment_lines = int(np.count_nonzero((first == ord("/")) | (first == ord("*"))))
    if language == "python":
        comment_lines += _docstring_lines(text)
    doc_ratio = min(comment_lines / nonblank, 1.0)

    names = _defined_names(text, language)
    descriptive = sum(1 for name in names if len(name) >= 3 or name.lower() in _SHORT_NAMES)
    naming = descriptive / len(names) if names else 1.0

    short_lines = float(np.count_nonzero(stats.line_lengths <= 100)) / lines

    indented = indent[indent > 0]
    if indented.size:
        line_openers = stats.data[stats.line_starts[stats.line_lengths > 0]]
        tabs = np.count_nonzero(line_openers == 9) > np.count_nonzero(line_openers == 32)
        unit = 1 if tabs else int(min(max(indented.min(), 2), 8))
        depth = _quantile(indent[first != 0] / unit, 0.95)
    else:
        depth = 0.0
    nesting = float(np.clip((8 - depth) / 4, 0, 1))

    tests = 1.0 if any(marker in lowered for marker in _TEST_MARKERS) else 0.0

    signals = {
        "documentation": min(doc_ratio / 0.15, 1.0),
        "naming": naming,
        "line_length": short_lines,
        "nesting": nesting,
        "tests": tests,
    }
    score = sum(CODE_WEIGHTS[k] * v for k, v in signals.items())
    raw = {
        "documentation": doc_ratio,
        "naming": naming,
        "line_length": short_lines,
        "nesting": depth,
        "tests": tests,
    }
    return Quality(round(float(score), 4), signals, raw)


def score_docs(text: str, stats: TextStats) -> Quality:
    lines = max(stats.lines, 1)
    headings = len(_HEADING.findall(text))
    structure = min(headings / 2, 1.0)
    short_lines = float(np.count_nonzero(stats.line_lengths <= 120)) / lines
    examples = 1.0 if ("```" in text or "::\n" in text or "`" in text or "    " in text) else 0.0
    signals = {"structure": structure, "line_length": short_lines, "examples": examples}
    score = 0.4 * structure + 0.3 * short_lines + 0.3 * examples
    raw = {"structure": float(headings), "line_length": short_lines, "examples": examples}
    return Quality(round(float(score), 4), signals, raw)


def score(text: str, stats: TextStats, language: str, lowered: str | None = None) -> Quality:
    if language in languages.DOC_LANGUAGES:
        return score_docs(text, stats)
    return score_code(text, stats, language, text.lower() if lowered is None else lowered)


def adjust(quality: Quality, repo_tests: bool, stale: tuple[float, float]) -> Quality:
    """The score with its repository's signals: the tests credit when the repository holds
    tests (code only: docs have no `tests` signal) and the staleness penalty, `stale` being
    (penalty, years untouched) from `repos.stale_penalty`."""
    signals, raw = dict(quality.signals), dict(quality.raw)
    score = quality.score
    credit = repos.REPO_TESTS_CREDIT
    if repo_tests and "tests" in signals and signals["tests"] < credit:
        score += CODE_WEIGHTS["tests"] * (credit - signals["tests"])
        signals["tests"] = credit
    penalty, years = stale
    if penalty > 0:
        score -= penalty
        signals["freshness"] = 1.0 - penalty / repos.MAX_STALE_PENALTY
        raw["freshness"] = years
    if signals == quality.signals:
        return quality
    return Quality(round(float(min(max(score, 0.0), 1.0)), 4), signals, raw)


def explain(quality: Quality) -> str:
    """A heading line, then one `- issue. Fix: …` line per weak signal."""
    lines = ["This code has quality issues:"]
    for name in quality.weaknesses():
        lines.append("- " + WEAKNESS_TEXT[name].format(value=quality.raw[name]))
    if len(lines) == 1:
        lines.append(f"- overall quality score {quality.score:.2f} is below the threshold.")
    return "\n".join(lines)
