"""Hardcoded credentials: a document holding one is always rejected.

Each detector is a named regular expression; the scan returns only the detector's *name*. The
matched value is never returned, logged or stored, so it cannot leak into a reject list, a log
line or a manifest. To keep the scan cheap, each detector has literal trigger strings that must
occur (case-insensitively) before its regex runs; most documents trigger none.

Placeholders (`"<password>"`, `"${TOKEN}"`, `"changeme"`, `"xxxx"`, `"%s"`, `"password"`…) are not
secrets: values must look like real material (length, variety, no templating syntax).
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable
from dataclasses import dataclass


@dataclass(frozen=True)
class Detector:
    """One credential shape.

    `locator` is a literal-led regex that finds candidate spots fast (CPython's regex engine
    searches a literal prefix at ~1 GB/s, but a pattern that opens with `\\b`, a lookbehind, an
    alternation or case-insensitivity crawls at ~30-70 MB/s); `pattern`, the full credential shape,
    is then matched at each spot. Case-insensitive detectors run on the lower-cased text.
    """

    name: str
    locator: re.Pattern[str] | tuple[re.Pattern[str], ...]  # several: one scan each
    pattern: re.Pattern[str]
    accept: Callable[[re.Match[str]], bool] = lambda match: True
    lowered: bool = False


_PLACEHOLDER = re.compile(
    r"^(?:x+|\*+|\.+|-+|_+|#+|0+|1234\w*|12345678|abc\w*|test\w*|dummy\w*|fake\w*|example\w*|"
    r"sample\w*|secret\w*|passw\w*|pass|pwd|changeme|change_me|changeit|redacted|removed|"
    r"hidden|none|null|nil|undefined|true|false|admin|root|user\w*|username|foo\w*|bar\w*|"
    r"baz|qux|your\w*|my\w*|some\w*|todo|fixme|tbd|placeholder\w*|default|empty|\w*token\w*|"
    r"\w*key\w*|not[-_]?set|unset|n/?a)$",
    re.IGNORECASE,
)
_TEMPLATED = re.compile(r"[{}<>$%\[\]\\]|^\w+\(|\s")


def _real_value(value: str, min_length: int = 8) -> bool:
    """A literal that looks like actual secret material rather than a placeholder."""
    if len(value) < min_length or _TEMPLATED.search(value) or _PLACEHOLDER.match(value):
        return False
    if len(set(value)) < 5:  # "aaaaaaaa", "abababab"
        return False
    return _entropy(value) >= 2.5


def _looks_like_password(value: str) -> bool:
    """Human-chosen secrets mix letters with digits or symbols (`hunter22`, `s3cr3t!`);
    header names, MIME types and identifiers (`Authorization`, `application/json`) do not."""
    if not _real_value(value, 8):
        return False
    letters = any(c.isalpha() for c in value)
    digits_or_symbols = any(c.isdigit() or not (c.isalnum() or c in "-_./") for c in value)
    return letters and digits_or_symbols


def _entropy(value: str) -> float:
    counts: dict[str, int] = {}
    for char in value:
        counts[char] = counts.get(char, 0) + 1
    total = len(value)
    return -sum(n / total * math.log2(n / total) for n in counts.values())


# Where a name whose string value is a credential may start (`password`, `passwd`,
# `db_pass`, `client_secret`, `access_token`, `api_key`…); the value test decides.
_ASSIGNED_NAMES = tuple(
    re.compile(n) for n in ("pass", "pwd", "secret", "token", "api_key", "apikey")
)

DETECTORS: tuple[Detector, ...] = (
    Detector(
        "aws_access_key_id",
        re.compile(r"AKIA|ASIA"),
        re.compile(r"(?<![A-Z0-9])(?:AKIA|ASIA)[A-Z2-7]{16}(?![A-Z0-9])"),
    ),
    Detector(
        "aws_secret_access_key",
        re.compile(r"secret_?access_?key"),
        re.compile(
            r"secret_?access_?key[\"']?\s*[:=]\s*[\"']?(?P<value>[a-z0-9/+=]{40})(?![a-z0-9/+=])"
        ),
        lambda m: _real_value(m.group("value"), 40),
        lowered=True,
    ),
    Detector(
        "github_token",
        re.compile(r"gh[pousr]_|github_pat_"),
        re.compile(r"\b(?:gh[pousr]_[A-Za-z0-9]{36,255}|github_pat_[A-Za-z0-9_]{60,255})\b"),
    ),
    Detector(
        "gitlab_token",
        re.compile(r"glpat-"),
        re.compile(r"\bglpat-[A-Za-z0-9_-]{20,}\b"),
    ),
    Detector(
        "slack_token",
        re.compile(r"xox[abposr]-"),
        re.compile(r"\bxox[abposr]-[0-9]{6,}-[A-Za-z0-9-]{10,}\b"),
    ),
    Detector(
        "slack_webhook",
        re.compile(r"hooks\.slack\.com/services/"),
        re.compile(r"hooks\.slack\.com/services/T[A-Z0-9]+/B[A-Z0-9]+/[A-Za-z0-9]{16,}"),
    ),
    Detector(
        "google_api_key",
        re.compile(r"AIza"),
        re.compile(r"\bAIza[0-9A-Za-z_-]{35}(?![0-9A-Za-z_-])"),
    ),
    Detector(
        "stripe_key",
        re.compile(r"k_live_"),
        re.compile(r"(?<=[rs])k_live_[0-9A-Za-z]{20,}\b"),
    ),
    Detector(
        "openai_api_key",
        re.compile(r"sk-"),
        re.compile(r"\bsk-(?:proj-|svcacct-)?[A-Za-z0-9_-]{20,}T3BlbkFJ[A-Za-z0-9_-]{20,}"),
    ),
    Detector(
        "huggingface_token",
        re.compile(r"hf_"),
        re.compile(r"\bhf_[A-Za-z]{34}\b"),
        lambda m: _real_value(m.group(0)[3:], 20),
    ),
    Detector(
        "jwt",
        re.compile(r"eyJ"),
        re.compile(r"\beyJ[A-Za-z0-9_-]{10,}\.eyJ[A-Za-z0-9_-]{10,}\.[A-Za-z0-9_-]{16,}"),
    ),
    Detector(
        "private_key",
        re.compile(r"-----BEGIN "),
        # The armour header alone is often a constant in crypto code; a key has a body.
        re.compile(
            r"-----BEGIN (?:RSA |DSA |EC |OPENSSH |PGP |ENCRYPTED )?PRIVATE KEY(?: BLOCK)?-----"
            r"(?:\\n|\s)+(?:[A-Za-z0-9+/=:,-]+(?:\\n|\s)+){0,4}[A-Za-z0-9+/=]{40,}"
        ),
    ),
    Detector(
        "connection_string_password",
        re.compile(r"://"),
        # scheme://user:password@host — the password must be a literal, not a placeholder.
        re.compile(r"://(?P<user>[^\s:/@\"'`]{1,64}):(?P<value>[^\s:/@\"'`]{4,128})@[a-z0-9.-]+"),
        lambda m: _real_value(m.group("value"), 6),
        lowered=True,
    ),
    Detector(
        "password_assignment",
        _ASSIGNED_NAMES,
        # name = "literal" / name: 'literal' / "name": "literal" / name == "literal" in code
        re.compile(
            r"[a-z]+\w*[\"']?\s*(?::=|==?|:|=>)\s*[bru]?(?P<quote>[\"'])"
            r"(?P<value>[^\"'\n]{6,200})(?P=quote)"
        ),
        lambda m: _looks_like_password(m.group("value")),
        lowered=True,
    ),
)


def find_secret(text: str, lowered: str | None = None) -> str | None:
    """The name of the first detector that finds a real credential in `text`, else None."""
    for detector in DETECTORS:
        if detector.lowered:
            lowered = text.lower() if lowered is None else lowered
            haystack = lowered
        else:
            haystack = text
        match_at = detector.pattern.match
        locators = detector.locator if isinstance(detector.locator, tuple) else (detector.locator,)
        for locator in locators:
            for spot in locator.finditer(haystack):
                match = match_at(haystack, spot.start())
                if match is not None and detector.accept(match):
                    return detector.name
    return None
