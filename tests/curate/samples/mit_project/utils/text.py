"""Text helpers used by the report generator."""

import re
import unicodedata

_WHITESPACE = re.compile(r"\s+")
_NON_WORD = re.compile(r"[^\w\s-]")


def slugify(title: str, separator: str = "-") -> str:
    """Turn a title into a URL-safe slug: 'Área del Círculo' -> 'area-del-circulo'."""
    normalized = unicodedata.normalize("NFKD", title)
    ascii_only = normalized.encode("ascii", "ignore").decode("ascii")
    cleaned = _NON_WORD.sub("", ascii_only).strip().lower()
    return _WHITESPACE.sub(separator, cleaned)


def truncate(text: str, limit: int, ellipsis: str = "...") -> str:
    """Shorten text to at most `limit` characters, cutting at a word boundary."""
    if len(text) <= limit:
        return text
    cut = text[: limit - len(ellipsis)]
    # Prefer the last space so that words are not split in half.
    space = cut.rfind(" ")
    if space > limit // 2:
        cut = cut[:space]
    return cut.rstrip() + ellipsis


def wrap_paragraph(text: str, width: int = 80) -> list[str]:
    """Greedy word wrap: each line holds as many words as fit in `width` columns."""
    lines: list[str] = []
    current: list[str] = []
    length = 0
    for word in text.split():
        extra = len(word) + (1 if current else 0)
        if current and length + extra > width:
            lines.append(" ".join(current))
            current, length = [word], len(word)
        else:
            current.append(word)
            length += extra
    if current:
        lines.append(" ".join(current))
    return lines


def count_words(text: str) -> dict[str, int]:
    """Case-insensitive word frequencies."""
    counts: dict[str, int] = {}
    for word in re.findall(r"[a-z']+", text.lower()):
        counts[word] = counts.get(word, 0) + 1
    return counts


def title_case(text: str, minor_words: frozenset[str] = frozenset({"a", "an", "of", "the"})) -> str:
    """Capitalize words except minor ones (unless they start the title)."""
    words = text.split()
    result = []
    for position, word in enumerate(words):
        if position > 0 and word.lower() in minor_words:
            result.append(word.lower())
        else:
            result.append(word[:1].upper() + word[1:].lower())
    return " ".join(result)
