"""How a curated document becomes training text.

Positive documents are used verbatim. Negative documents (code with a security or
quality flaw, kept on purpose with an `explanation` of the flaw and its fix) are by default
followed by that explanation written as a comment in the document's own language, so the model
sees bad code together with why it is bad, never bad code alone. `drop` leaves negatives out;
`keep` uses them verbatim.
"""

from __future__ import annotations

from typing import Literal

NegativeMode = Literal["explain", "drop", "keep"]

_HASH_COMMENT = frozenset({"python", "shell", "ruby", "julia", "r", "perl", "yaml", "toml"})
_DASH_COMMENT = frozenset({"sql", "lua", "haskell"})
_MARKUP = frozenset({"markdown", "restructuredtext", "html", "xml"})


def comment_prefix(language: str) -> str:
    if language in _HASH_COMMENT:
        return "# "
    if language in _DASH_COMMENT:
        return "-- "
    if language in _MARKUP:
        return "> "
    return "// "  # C family, Rust, Go, Java, JavaScript, TypeScript, Kotlin, Swift, …


def render(
    text: str, language: str, negative: bool, explanation: str | None, mode: NegativeMode
) -> str | None:
    """The training text for one document, or None when it is left out."""
    if not negative or mode == "keep":
        return text
    if mode == "drop":
        return None
    note = (explanation or "").strip()
    if not note:
        return text
    prefix = comment_prefix(language)
    lines = [f"{prefix}Review: this is a negative example."]
    lines += [f"{prefix}{line}".rstrip() for line in note.splitlines()]
    separator = "" if text.endswith("\n") else "\n"
    return f"{text}{separator}\n" + "\n".join(lines) + "\n"
