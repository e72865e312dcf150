"""Preference pairs: the row format and reading it (files, folders, `s3://`, `hf://`).

One row (a JSONL line, a Parquet row, a `datasets` record) is one pair:

    {"prompt": "text" | [messages...],
     "chosen": "reply" | [parts...] | [messages...],
     "rejected": "reply" | [parts...] | [messages...],
     "id": "...", "source": "...", "license": "..."}          # the last three optional

`prompt` is a plain string (one user turn) or a list of chat messages (`tritter.chat` format)
ending with a user turn. `chosen` and `rejected` are assistant replies: a string, a list of parts
(`{"type": "text" | "code" | "output", "text": ...}`), or — TRL's conversational format — a list
of messages continuing the prompt and ending with an assistant turn. Other fields (principle,
critique, scores, ...) are ignored.

Rows are read with `tritter.chat.reader.iter_rows` (the same files, folders, prefixes and hub
datasets `read_conversations` reads). A row that is not a valid pair is skipped and counted under
its reason, the first of each kept as an example: `invalid_json`, `not_object`,
`missing_prompt` / `missing_chosen` / `missing_rejected`, `bad_prompt` (neither text nor a list
of messages), `prompt_not_user_last`, `bad_reply` (neither text, parts nor messages),
`bad_provenance`, and every reason of `tritter.chat.rows` / `tritter.chat.rules` (a bad role,
empty text, turn order ...) met in the prompt or either reply.
"""

from __future__ import annotations

import hashlib
import json
from collections import Counter
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from tritter.chat import rules
from tritter.chat.conversation import PROVENANCE, InvalidConversation, Message, message_row
from tritter.chat.reader import iter_rows
from tritter.chat.rows import parse_messages


@dataclass(frozen=True)
class Pair:
    prompt: tuple[Message, ...]  # ends with a user turn
    chosen: tuple[Message, ...]  # continues the prompt; ends with an assistant turn
    rejected: tuple[Message, ...]
    id: str | None = None
    source: str | None = None
    license: str | None = None
    origin: str | None = field(default=None, compare=False)

    def to_row(self) -> dict[str, Any]:
        row: dict[str, Any] = {
            "prompt": [message_row(m) for m in self.prompt],
            "chosen": [message_row(m) for m in self.chosen],
            "rejected": [message_row(m) for m in self.rejected],
        }
        for name in PROVENANCE:
            if getattr(self, name) is not None:
                row[name] = getattr(self, name)
        return row

    def key(self) -> str:
        """sha256 of the canonical row: what the split hashes."""
        return hashlib.sha256(json.dumps(self.to_row(), sort_keys=True).encode()).hexdigest()


@dataclass
class PairsRead:
    source: str
    pairs: list[Pair] = field(default_factory=list)
    rows: int = 0
    skipped: Counter[str] = field(default_factory=Counter)  # reason → rows
    examples: dict[str, str] = field(default_factory=dict)  # reason → first `origin: detail`


def read_pairs(uri: str) -> PairsRead:
    """Every valid pair of `uri`; malformed rows counted by reason, never an exception (a
    source that cannot be read at all is a one-line `TritterError`)."""
    result = PairsRead(source=uri)
    for origin, row in iter_rows(uri):
        result.rows += 1
        try:
            if isinstance(row, InvalidConversation):
                raise row
            result.pairs.append(pair_from_row(row, origin))
        except InvalidConversation as problem:
            result.skipped[problem.reason] += 1
            result.examples.setdefault(problem.reason, f"{origin}: {problem.detail}")
    return result


def pair_from_row(row: object, origin: str | None = None) -> Pair:
    """A row → `Pair`, shape and turn rules checked; `InvalidConversation` otherwise."""
    if not isinstance(row, Mapping):
        raise InvalidConversation("not_object", f"row is a {type(row).__name__}, not an object")
    for name in ("prompt", "chosen", "rejected"):
        if row.get(name) is None:
            raise InvalidConversation(f"missing_{name}", f"no '{name}' field")
    prompt = _prompt(row["prompt"])
    chosen = _reply(row["chosen"], "chosen")
    rejected = _reply(row["rejected"], "rejected")
    for reply in (chosen, rejected):
        rules.check_conversation(prompt + reply)
    provenance: dict[str, str | None] = {}
    for name in PROVENANCE:
        value = row.get(name)
        if value is not None and not isinstance(value, str):
            raise InvalidConversation(
                "bad_provenance", f"'{name}' is a {type(value).__name__}, not a string"
            )
        provenance[name] = value
    return Pair(prompt, chosen, rejected, origin=origin, **provenance)


def _prompt(value: object) -> tuple[Message, ...]:
    if isinstance(value, str):
        return (Message("user", value),)
    if not isinstance(value, list | tuple):
        raise InvalidConversation(
            "bad_prompt", f"'prompt' is a {type(value).__name__}: expected text or messages"
        )
    messages = parse_messages(list(value))
    rules.check_prompt(messages)
    if messages[-1].role != "user":
        raise InvalidConversation(
            "prompt_not_user_last", f"'prompt' ends with a {messages[-1].role} turn, not a user's"
        )
    return messages


def _reply(value: object, name: str) -> tuple[Message, ...]:
    if isinstance(value, str):
        return (Message("assistant", value),)
    if not isinstance(value, list | tuple) or not value:
        raise InvalidConversation(
            "bad_reply", f"'{name}' is a {type(value).__name__}: expected text, parts or messages"
        )
    if all(isinstance(item, Mapping) and "role" in item for item in value):
        return parse_messages(list(value))  # TRL's conversational format
    (message,) = parse_messages([{"role": "assistant", "content": list(value)}])
    return (message,)
