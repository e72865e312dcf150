"""What makes a sequence of messages a valid conversation (beyond its shape).

Checked in message order; the first problem found is the reason a row is skipped:

* `empty_messages` — no messages at all.
* `system_not_first` — a system message anywhere but first (at most one, and it leads).
* `bad_turn_order` — after the optional system message, turns must alternate user, assistant,
  user, … starting with a user turn (two users in a row have no answer between them to learn).
* `parts_not_assistant` — a system or user message whose content is a list of parts.
* `empty_text` — a system or user message, a text part or a code part with nothing but
  whitespace, or an assistant message with no parts. An `output` part may be empty: a program
  that prints nothing is a real result.
* `output_without_code` — an `output` part that does not directly follow a `code` part (the
  harness only ever feeds output back right after running code).
* `last_not_assistant` — a training conversation ends with an assistant turn: a trailing user
  turn has no answer to learn. Together with the order rule this means at least one user and
  one assistant turn.

A prompt (`check_prompt`, what generation starts from) follows the same rules except the last:
it may end with a user turn (the model answers it) or an assistant turn (the model continues it,
as the tool loop does after an output part).
"""

from __future__ import annotations

from collections.abc import Sequence

from tritter.chat.conversation import InvalidConversation, Message


def check_conversation(messages: Sequence[Message]) -> None:
    """Raise `InvalidConversation` unless `messages` is a complete training conversation."""
    _check_turns(messages)
    if messages[-1].role != "assistant":
        raise InvalidConversation(
            "last_not_assistant",
            f"messages[{len(messages) - 1}] is a {messages[-1].role} turn: a conversation ends "
            "with an assistant turn",
        )


def check_prompt(messages: Sequence[Message]) -> None:
    """Raise `InvalidConversation` unless generation can start after `messages`."""
    _check_turns(messages)
    if messages[-1].role == "system":
        raise InvalidConversation("bad_turn_order", "a prompt needs a user turn after the system")


def _check_turns(messages: Sequence[Message]) -> None:
    if not messages:
        raise InvalidConversation("empty_messages", "'messages' is empty")
    expected = "user"
    for index, message in enumerate(messages):
        where = f"messages[{index}]"
        if message.role == "system":
            if index != 0:
                raise InvalidConversation(
                    "system_not_first", f"{where} is a system turn (only the first may be)"
                )
        elif message.role != expected:
            raise InvalidConversation(
                "bad_turn_order", f"{where} is a {message.role} turn where a {expected} turn is due"
            )
        else:
            expected = "assistant" if expected == "user" else "user"
        _check_content(message, where)


def _check_content(message: Message, where: str) -> None:
    if message.role != "assistant" and not isinstance(message.content, str):
        raise InvalidConversation(
            "parts_not_assistant", f"{where} is a {message.role} message with parts"
        )
    if isinstance(message.content, str):
        if not message.content.strip():
            raise InvalidConversation("empty_text", f"{where}.content is empty")
        return
    if not message.content:
        raise InvalidConversation("empty_text", f"{where}.content has no parts")
    previous = None
    for index, part in enumerate(message.content):
        at = f"{where}.content[{index}]"
        if part.type == "output":
            if previous != "code":
                raise InvalidConversation(
                    "output_without_code", f"{at} is an output part not right after a code part"
                )
        elif not part.text.strip():
            raise InvalidConversation("empty_text", f"{at} ({part.type}) is empty")
        previous = part.type
