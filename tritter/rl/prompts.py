"""Prompt rows: the format, reading them, and what keeps a row out of training.

One row (a JSONL line, a Parquet row, a `datasets` record) is one prompt:

    {"prompt": "text" | [messages...], ...}

`prompt` is a plain string (one user turn) or a list of chat messages (`tritter.chat` format)
ending with a user turn. Every other field goes to the reward as it is (`test` for
`unit_tests`, `answer` for `numeric`, anything for a user's reward). Rows are read with
`tritter.chat.reader.iter_rows` (files, folders, `s3://` prefixes, `hf://`), or from the shipped
set `builtin:arithmetic` (`tritter.rl.arithmetic`).

A malformed row stops the run with a one-line error naming it and the field (`prompts.jsonl:7:
'prompt' is missing`): a reward must never see a row it cannot score, and silently training on
a subset of what was asked for is worse than stopping. Two kinds of well-formed rows are left
out and counted instead:

* `too_long`: the rendered prompt leaves no token of `--seq-len` for the completion;
* `contaminated:<benchmark>`: the row holds an evaluation problem — a HumanEval prompt or
  solution, or an MBPP test-split (task ids 11–510) description or solution (half of its word
  10-grams or more, as curation's decontamination measures), or one of an MBPP test-split
  problem's assert lines. Training on the problems the model is scored on would make the
  scores meaningless; the MBPP train and validation splits stay usable.
"""

from __future__ import annotations

import functools
import json
import re
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from importlib import resources
from typing import Any

from tritter.chat import rules
from tritter.chat.conversation import InvalidConversation, Message, message_row
from tritter.chat.reader import iter_rows
from tritter.chat.rows import parse_messages
from tritter.errors import TritterError

BUILTIN_PREFIX = "builtin:"
BUILTIN_SETS = {"arithmetic": "arithmetic.jsonl"}
DECONTAMINATION_NGRAM = 10
DECONTAMINATION_OVERLAP = 0.5


@dataclass(frozen=True)
class PromptRow:
    messages: tuple[Message, ...]  # ends with a user turn
    row: dict[str, Any]  # every field of the row, as read (JSON values)
    origin: str

    @property
    def text(self) -> str:
        """What a reward gets as `prompt`: the last user turn's text."""
        return self.messages[-1].parts[0].text

    def to_row(self) -> dict[str, Any]:
        """The row as written to prompts.jsonl: the prompt as messages, the rest as read."""
        return {**self.row, "prompt": [message_row(m) for m in self.messages]}


def resolve_source(source: str) -> str:
    """The URI to read: the packaged file for `builtin:NAME`, else `source` itself."""
    if not source.startswith(BUILTIN_PREFIX):
        return source
    name = source[len(BUILTIN_PREFIX) :]
    if name not in BUILTIN_SETS:
        raise TritterError(
            f"--prompts {source}: unknown built-in prompt set (known: "
            f"{', '.join(BUILTIN_PREFIX + n for n in sorted(BUILTIN_SETS))})"
        )
    return str(resources.files("tritter.rl") / BUILTIN_SETS[name])


def read_rows(source: str, required: tuple[str, ...] = ()) -> Iterator[PromptRow]:
    """Every row of `source` as a `PromptRow`; the first malformed one is a `TritterError`
    naming it (`required`: fields every row must carry, for the reward)."""
    for origin, row in iter_rows(resolve_source(source)):
        if isinstance(row, InvalidConversation):
            raise TritterError(f"{origin}: {row.detail}")
        yield parse_row(row, origin, required)


def parse_row(row: object, origin: str, required: tuple[str, ...] = ()) -> PromptRow:
    if not isinstance(row, Mapping):
        raise TritterError(f"{origin}: the row is a {type(row).__name__}, not an object")
    if row.get("prompt") is None:
        raise TritterError(f"{origin}: 'prompt' is missing")
    try:
        messages = _messages(row["prompt"])
    except InvalidConversation as problem:
        raise TritterError(f"{origin}: 'prompt': {problem.detail}") from problem
    for name in required:
        if row.get(name) is None:
            raise TritterError(f"{origin}: '{name}' is missing (the reward reads it)")
    plain = json.loads(json.dumps(dict(row), default=str))  # JSON values only (Parquet types)
    return PromptRow(messages, plain, origin)


def _messages(value: object) -> tuple[Message, ...]:
    if isinstance(value, str):
        messages: tuple[Message, ...] = (Message("user", value),)
    elif isinstance(value, list | tuple) and value:
        messages = parse_messages(list(value))
    else:
        raise InvalidConversation(
            "bad_prompt", f"expected text or a list of messages, got {type(value).__name__}"
        )
    rules.check_prompt(messages)
    if messages[-1].role != "user":
        raise InvalidConversation(
            "prompt_not_user_last", f"ends with the {messages[-1].role}'s turn, not the user's"
        )
    return messages


# -- decontamination ------------------------------------------------------------------------------


def _words(text: str) -> str:
    return " ".join(text.split())


@functools.cache
def _evaluation_index() -> tuple[Any, frozenset[str]]:
    """The n-gram index of the evaluation problems (HumanEval, MBPP test split) and the MBPP
    test split's assert lines (whitespace-normalised)."""
    from tritter.benchmarks import MBPP_TEST_IDS, load_humaneval, load_mbpp
    from tritter.curate.decontam import BenchmarkIndex, Snippet

    texts: list[str] = []
    snippets: list[Snippet] = []
    mbpp = load_mbpp(task_ids=MBPP_TEST_IDS)
    for problem in [*load_humaneval(), *mbpp]:
        for part, text in (("prompt", problem.prompt), ("solution", problem.solution)):
            if text and text.strip():
                texts.append(text)
                snippets.append(Snippet(problem.benchmark, problem.task_id, part))
    asserts = frozenset(_words(test) for problem in mbpp for test in problem.tests)
    return BenchmarkIndex(texts, snippets, DECONTAMINATION_NGRAM), asserts


def contamination(rows: list[PromptRow]) -> list[str | None]:
    """For each row: the benchmark whose evaluation problem it holds, or None."""
    from tritter.curate import minhash

    index, asserts = _evaluation_index()
    texts = [_row_text(row) for row in rows]
    words = minhash.word_hashes([text.encode() for text in texts])
    found: list[str | None] = [
        None if snippet is None else snippet.benchmark
        for snippet in index.contaminated(words, DECONTAMINATION_OVERLAP)
    ]
    for position, row in enumerate(rows):
        if found[position] is None and asserts.intersection(_assert_lines(row.row)):
            found[position] = "mbpp"
    return found


def _row_text(row: PromptRow) -> str:
    """Everything a row says: its turns and every text field."""
    parts = [part.text for message in row.messages for part in message.parts]
    parts += [value for key, value in row.row.items() if key != "prompt" and isinstance(value, str)]
    return "\n".join(parts)


def _assert_lines(row: dict[str, Any]) -> set[str]:
    lines = set()
    for value in row.values():
        if isinstance(value, str):
            lines.update(_words(m) for m in re.findall(r"^\s*assert\b.*$", value, re.M))
    return lines
