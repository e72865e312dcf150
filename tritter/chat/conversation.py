"""The conversation row format and its typed model.

One row (a JSONL line, a Parquet row, a `datasets` record) is one conversation:

    {"messages": [{"role": "system" | "user" | "assistant", "content": ...}, ...],
     "id": "...", "source": "...", "license": "..."}        # the last three optional

`content` is a string, or — for assistant messages only — a list of parts
`{"type": "text" | "code" | "output", "text": "..."}`: `code` is a tool call the harness runs in
the sandbox, `output` is what that run printed, fed back to the model. Other keys of a row or a
message are ignored, so datasets with extra columns read as they are.

`tritter.chat.rows` reads a row into these types checking its shape (types and field names);
`tritter.chat.rules` checks the order of turns and parts. Either failure is an
`InvalidConversation` carrying a short `reason` (the key readers count skipped rows under) and a
detail naming the message or part at fault.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Literal

from tritter.errors import TritterError

Role = Literal["system", "user", "assistant"]
PartType = Literal["text", "code", "output"]
ROLES: tuple[str, ...] = ("system", "user", "assistant")
PART_TYPES: tuple[str, ...] = ("text", "code", "output")
PROVENANCE: tuple[str, ...] = ("id", "source", "license")


class InvalidConversation(TritterError):
    """A row that is not a valid conversation: `reason` is the short key it is counted under."""

    def __init__(self, reason: str, detail: str) -> None:
        super().__init__(f"{reason}: {detail}")
        self.reason = reason
        self.detail = detail


@dataclass(frozen=True)
class Part:
    """One piece of an assistant message: prose, code to execute, or that code's output."""

    type: PartType
    text: str


@dataclass(frozen=True)
class Message:
    role: Role
    content: str | tuple[Part, ...]

    @property
    def parts(self) -> tuple[Part, ...]:
        """The content as parts (a string content is one text part)."""
        if isinstance(self.content, str):
            return (Part("text", self.content),)
        return self.content


@dataclass(frozen=True)
class Conversation:
    messages: tuple[Message, ...]
    id: str | None = None
    source: str | None = None
    license: str | None = None
    # Where the row came from (`file.jsonl:3`, `data.parquet#12`): for messages, never written.
    origin: str | None = field(default=None, compare=False)

    def to_row(self) -> dict[str, Any]:
        """The JSON row (provenance fields only when set); `from_row(to_row())` is identity."""
        row: dict[str, Any] = {"messages": [message_row(m) for m in self.messages]}
        for name in PROVENANCE:
            value = getattr(self, name)
            if value is not None:
                row[name] = value
        return row


def message_row(message: Message) -> dict[str, Any]:
    content: Any = (
        message.content
        if isinstance(message.content, str)
        else [{"type": p.type, "text": p.text} for p in message.content]
    )
    return {"role": message.role, "content": content}
