"""Showing a rendered conversation to a person: which tokens the model learns.

Markers are shown as their pieces (`<|user_start|>`), text as it decodes. What the mask marks
as learned is green on a terminal; without colour it is wrapped in `{+` … `+}` (a plain form
tests and logs can read). A line break is added before each turn's start marker for reading;
it is not part of the ids.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

from tritter.chat.conversation import Conversation

if TYPE_CHECKING:
    from tritter.tokenizer.model import Tokenizer

LEARNED_OPEN, LEARNED_CLOSE = "{+", "+}"
_GREEN, _BOLD_GREEN, _CYAN = "\x1b[32m", "\x1b[1;32m", "\x1b[36m"
_DIM, _RESET = "\x1b[2m", "\x1b[0m"
_TURN_STARTS = ("system_start", "user_start", "assistant_start")


def format_rendered(
    ids: Sequence[int], mask: Sequence[int], tokenizer: Tokenizer, color: bool
) -> str:
    """The tokens as text, learned spans marked (ANSI colour, or `{+ … +}` without)."""
    control = set(tokenizer.special_ids.values())
    starts = {tokenizer.special_ids[name] for name in _TURN_STARTS if name in tokenizer.special_ids}
    out: list[str] = []
    index = 0
    while index < len(ids):
        learned = bool(mask[index])
        end = index
        while end < len(ids) and bool(mask[end]) == learned:
            end += 1
        body = _run(ids[index:end], control, starts, tokenizer, learned, color)
        if learned and not color:
            body = f"{LEARNED_OPEN}{body}{LEARNED_CLOSE}"
        out.append(body)
        index = end
    return "".join(out).lstrip("\n")


def _run(
    ids: Sequence[int],
    control: set[int],
    starts: set[int],
    tokenizer: Tokenizer,
    learned: bool,
    color: bool,
) -> str:
    """One run of equal mask: markers by piece, the text between them decoded."""
    pieces: list[str] = []
    text: list[int] = []

    def flush() -> None:
        if text:
            decoded = tokenizer.decode(text)
            pieces.append(f"{_GREEN}{decoded}{_RESET}" if color and learned else decoded)
            text.clear()

    for token in ids:
        if token in control:
            flush()
            if token in starts:  # a line per turn (the leading one is stripped)
                pieces.append("\n")
            piece = tokenizer.piece(token)
            if color:
                piece = f"{_BOLD_GREEN if learned else _CYAN}{piece}{_RESET}"
            pieces.append(piece)
        else:
            text.append(token)
    flush()
    return "".join(pieces)


def header(number: int, conversation: Conversation, tokens: int, learned: int, color: bool) -> str:
    """`── conversation 3  id=… source=… license=…  tokens=120 learned=45`."""
    facts = [
        f"{name}={getattr(conversation, name)}"
        for name in ("id", "source", "license", "origin")
        if getattr(conversation, name) is not None
    ]
    line = "  ".join([f"── conversation {number}", *facts, f"tokens={tokens} learned={learned}"])
    return f"{_DIM}{line}{_RESET}" if color else line
