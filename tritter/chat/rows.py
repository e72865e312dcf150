"""Reading one row (a JSON object, a Parquet row, a `datasets` record) into a `Conversation`.

Shape problems — what `tritter.chat.conversation` says a row looks like — are reported here,
each under its own reason: `not_object`, `missing_messages`, `bad_messages` (not a list),
`bad_message` (an item that is not an object), `bad_role`, `bad_content` (neither text nor a
list of parts), `parts_not_assistant`, `bad_part` (not an object, unknown type, text not a
string) and `bad_provenance` (`id`/`source`/`license` present but not a string). The turn rules
of `tritter.chat.rules` follow. A null provenance field counts as absent: Parquet and
`datasets` fill missing columns with nulls.
"""

from __future__ import annotations

from collections.abc import Mapping

from tritter.chat import rules
from tritter.chat.conversation import (
    PART_TYPES,
    PROVENANCE,
    ROLES,
    Conversation,
    InvalidConversation,
    Message,
    Part,
)


def from_row(row: object, origin: str | None = None) -> Conversation:
    """A row → `Conversation`, shape and turn rules checked; `InvalidConversation` otherwise."""
    if not isinstance(row, Mapping):
        raise InvalidConversation("not_object", f"row is a {type(row).__name__}, not an object")
    if "messages" not in row or row["messages"] is None:
        raise InvalidConversation("missing_messages", "no 'messages' field")
    messages = parse_messages(row["messages"])
    provenance: dict[str, str | None] = {}
    for name in PROVENANCE:
        value = row.get(name)
        if value is not None and not isinstance(value, str):
            raise InvalidConversation(
                "bad_provenance", f"'{name}' is a {type(value).__name__}, not a string"
            )
        provenance[name] = value
    rules.check_conversation(messages)
    return Conversation(messages=messages, origin=origin, **provenance)


def parse_messages(value: object) -> tuple[Message, ...]:
    """A `messages` list (of mappings) → typed messages; shape checked, turn order not."""
    if not isinstance(value, list | tuple):
        raise InvalidConversation(
            "bad_messages", f"'messages' is a {type(value).__name__}, not a list"
        )
    return tuple(_message(item, index) for index, item in enumerate(value))


def _message(item: object, index: int) -> Message:
    where = f"messages[{index}]"
    if not isinstance(item, Mapping):
        raise InvalidConversation("bad_message", f"{where} is a {type(item).__name__}")
    role = item.get("role")
    if role not in ROLES:
        raise InvalidConversation(
            "bad_role", f"{where}.role is {role!r} (expected system, user or assistant)"
        )
    content = item.get("content")
    if isinstance(content, str):
        return Message(role=role, content=content)
    if not isinstance(content, list | tuple):
        raise InvalidConversation(
            "bad_content", f"{where}.content is {type(content).__name__}: expected text or parts"
        )
    if role != "assistant":
        raise InvalidConversation(
            "parts_not_assistant", f"{where} is a {role} message with parts (assistant only)"
        )
    return Message(
        role=role,
        content=tuple(_part(part, f"{where}.content[{i}]") for i, part in enumerate(content)),
    )


def _part(item: object, where: str) -> Part:
    if not isinstance(item, Mapping):
        raise InvalidConversation("bad_part", f"{where} is a {type(item).__name__}")
    kind = item.get("type")
    if kind not in PART_TYPES:
        raise InvalidConversation(
            "bad_part", f"{where}.type is {kind!r} (expected text, code or output)"
        )
    text = item.get("text")
    if not isinstance(text, str):
        raise InvalidConversation("bad_part", f"{where}.text is {type(text).__name__}")
    return Part(type=kind, text=text)
