"""Conversations for post-training: the row format, reading datasets, the chat template.

* `conversation` — the typed model (`Conversation`, `Message`, `Part`) and `InvalidConversation`;
* `rows` — a JSON/Parquet/`datasets` row → `Conversation` (shape checks);
* `rules` — turn and part order (what makes messages a conversation or a prompt);
* `reader` — `read_conversations(uri)`: files, folders, `s3://`, `hf://`; bad rows counted;
* `template` — `render(messages, tokenizer) -> (ids, mask)` and `render_prompt`;
* `display` — a rendered conversation as text with the learned tokens marked;
* `persona` — who the assistant is (`persona.yaml` is the packaged default);
* `config` — the options of `tritter chat render`.

The names below are imported lazily so that the CLI can read the config class without importing
the readers and the tokenizer.
"""

from __future__ import annotations

import importlib
from typing import Any

_EXPORTS = {
    "Conversation": "conversation",
    "InvalidConversation": "conversation",
    "Message": "conversation",
    "Part": "conversation",
    "ReadResult": "reader",
    "read_conversations": "reader",
    "from_row": "rows",
    "parse_messages": "rows",
    "render": "template",
    "render_prompt": "template",
    "stop_ids": "template",
}
__all__ = sorted(_EXPORTS)


def __getattr__(name: str) -> Any:
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module 'tritter.chat' has no attribute {name!r}")
    return getattr(importlib.import_module(f"tritter.chat.{module}"), name)
