"""The program to test, taken from a chat model's reply to a code question.

A reply (as `tritter.evaluate.generation.decode_reply` writes it, control markers shown as their
pieces) is searched in this order, and the first match wins:

1. a code part, `<|code_start|>…<|code_end|>` (the first one; an unclosed one runs to the end
   of the reply, which happens when the token budget ran out);
2. a fenced block tagged `python`, `py`, `python3` or untagged (the first one; fences open and
   close at the start of a line; an unclosed fence runs to the end);
3. the whole reply, with any control markers and output parts taken out.

Whatever comes out is scored like a base model's completion (`CodeTask.program`); prose that is
not code simply fails its tests. `extract_code(reply, tags)` is the same search for another
language's fences (MultiPL-E's Rust: `rust`, `rs` or untagged); `strip_markers` gives a reply's
text without its control markers and output parts (the GSM8K and multiple-choice answers).
"""

from __future__ import annotations

import re

_CODE_PART = re.compile(r"<\|code_start\|>(.*?)(?:<\|code_end\|>|\Z)", re.DOTALL)
# Every fenced block in order (tag, body), so a closing fence is never taken for an opening one.
_FENCE = re.compile(
    r"^[ \t]*```[ \t]*([\w+.-]*)[ \t]*\r?\n(.*?)(?:^[ \t]*```|\Z)", re.DOTALL | re.M
)
_PYTHON_TAGS = ("", "python", "python3", "py")
_OUTPUT_PART = re.compile(r"<\|output_start\|>.*?(?:<\|output_end\|>|\Z)", re.DOTALL)
_MARKER = re.compile(r"<\|[a-z0-9_]+\|>")


def extract_program(reply: str) -> str:
    """The code of `reply`: its first code part, else its first Python fence, else all of it."""
    return extract_code(reply, _PYTHON_TAGS)


def extract_code(reply: str, tags: tuple[str, ...]) -> str:
    """The code of `reply`: its first code part, else its first fence tagged with one of `tags`
    (lower case; "" is an untagged fence), else all of it."""
    part = _CODE_PART.search(reply)
    if part is not None:
        return _tidy(part.group(1))
    text = strip_markers(reply)
    for fence in _FENCE.finditer(text):
        if fence.group(1).lower() in tags:
            return _tidy(fence.group(2))
    return _tidy(text)


def strip_markers(reply: str) -> str:
    """The reply without its output parts and control markers."""
    return _MARKER.sub("", _OUTPUT_PART.sub("", reply))


def _tidy(code: str) -> str:
    """Without blank lines around it; the first line keeps its indentation."""
    return code.lstrip("\r\n").rstrip()
