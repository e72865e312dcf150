"""The chat template: a conversation → token ids plus the mask of what the model learns.

Layout (markers are the tokenizer's control ids, inserted directly: `encode` never produces
them, so no text a user types can forge one):

    <|system_start|> text <|system_end|>                     optional, first
    <|user_start|> text <|user_end|>
    <|assistant_start|> reply <|assistant_end|>               reply: text, or parts in order:
        text part    text
        code part    <|code_start|> code <|code_end|>
        output part  <|output_start|> output <|output_end|>
    … user and assistant turns alternating …

Nothing sits between a marker and its text (no newline, no space), and every text is encoded on
its own, so `tokenizer.decode(ids)` is exactly the concatenation of the texts (control ids decode
to nothing and the tokenizer is lossless).

The mask (`mask[i] == 1`: `ids[i]` is a training target — the loss on predicting it from
`ids[:i]` counts) marks exactly what the model must produce itself: assistant text, code parts
with their `<|code_start|>`/`<|code_end|>`, and the `<|assistant_end|>` that closes each assistant
turn. It never marks system or user turns (markers included), the `<|assistant_start|>` (the
prompt supplies it), nor output parts with their `<|output_start|>`/`<|output_end|>` (the harness
writes them after running the code).

No BOS and no EOS. Pretraining packs documents without BOS, each followed by EOS, so a document
start is "right after an EOS" to the model and a conversation's first marker says the rest.
Generation stops on `<|assistant_end|>` (learned after every assistant turn): `stop_ids` lists
it, with EOS as a fallback. A trainer that packs several conversations into one sequence puts an
EOS between them, as pretraining packing does, masked 0.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

from tritter.chat import rules
from tritter.chat.conversation import Conversation, InvalidConversation, Message
from tritter.errors import TritterError
from tritter.tokenizer.hf import HFTokenizer
from tritter.tokenizer.special import CONTROL_NAMES, SPECIAL_IDS

if TYPE_CHECKING:
    from tritter.tokenizer.model import Tokenizer

# The control markers the template uses: in Tritter's SentencePiece tokenizers control symbols
# at fixed ids, in an imported Hugging Face tokenizer special tokens claimed for them.
MARKERS: tuple[str, ...] = CONTROL_NAMES


@dataclass(frozen=True)
class Segment:
    """A run of ids that all share one mask value: one marker, or one encoded text."""

    ids: tuple[int, ...]
    learned: bool


def render(
    messages: Conversation | Sequence[Message], tokenizer: Tokenizer
) -> tuple[list[int], list[int]]:
    """Token ids of a complete training conversation and the same-length 0/1 loss mask.

    `InvalidConversation` (a `TritterError`) when the messages break `tritter.chat.rules`."""
    messages = _messages(messages)
    rules.check_conversation(messages)
    return _flatten(_segments(messages, tokenizer, close_last=True))


def render_prompt(messages: Conversation | Sequence[Message], tokenizer: Tokenizer) -> list[int]:
    """Ids to generate the next assistant reply from.

    Ending with a user turn: everything rendered, then `<|assistant_start|>`. Ending with an
    assistant turn: that turn is left open (no `<|assistant_end|>`) so the model continues it —
    how the tool loop resumes after appending an output part."""
    messages = _messages(messages)
    rules.check_prompt(messages)
    ids = [i for segment in _segments(messages, tokenizer, close_last=False) for i in segment.ids]
    if messages[-1].role != "assistant":
        ids.append(marker_ids(tokenizer)["assistant_start"])
    return ids


def _flatten(parts: Sequence[Segment]) -> tuple[list[int], list[int]]:
    ids: list[int] = []
    mask: list[int] = []
    for segment in parts:
        ids.extend(segment.ids)
        mask.extend([int(segment.learned)] * len(segment.ids))
    return ids, mask


def stop_ids(tokenizer: Tokenizer) -> tuple[int, ...]:
    """Ids that end generation: `<|assistant_end|>`, then EOS as a fallback."""
    return (marker_ids(tokenizer)["assistant_end"], tokenizer.eos_id)


def _messages(messages: Conversation | Sequence[Message]) -> tuple[Message, ...]:
    found = tuple(messages.messages if isinstance(messages, Conversation) else messages)
    for index, message in enumerate(found):
        if not isinstance(message, Message):
            raise InvalidConversation(
                "bad_message",
                f"messages[{index}] is a {type(message).__name__} (tritter.chat.rows.parse_"
                "messages turns row dicts into messages)",
            )
    return found


def marker_ids(tokenizer: Tokenizer | HFTokenizer) -> dict[str, int]:
    """Every marker's id in `tokenizer`; a one-line error when it lacks one."""
    found = tokenizer.special_ids
    missing = [name for name in MARKERS if name not in found]
    imported = isinstance(tokenizer, HFTokenizer)
    if missing:
        hint = (
            "import it with `tritter tokenizer import`, which claims reserved special tokens "
            "for them"
            if imported
            else "not trained by tritter tokenizer train?"
        )
        raise TritterError(
            f"{tokenizer.source}: tokenizer has no {', '.join(f'<|{m}|>' for m in missing)} "
            f"({hint})"
        )
    # The ids are fixed for every Tritter tokenizer; a model that puts them elsewhere would
    # render conversations the pretrained embeddings never saw in those places. An imported
    # tokenizer's are where the import claimed them (the sha256 ties them to the model).
    moved = [] if imported else [name for name in MARKERS if found[name] != SPECIAL_IDS[name]]
    if moved:
        raise TritterError(
            f"{tokenizer.source}: <|{moved[0]}|> has id {found[moved[0]]}, expected "
            f"{SPECIAL_IDS[moved[0]]}"
        )
    return {name: found[name] for name in MARKERS}


def _segments(messages: Sequence[Message], tokenizer: Tokenizer, close_last: bool) -> list[Segment]:
    ids = marker_ids(tokenizer)
    out: list[Segment] = []

    def marker(name: str, learned: bool) -> None:
        out.append(Segment((ids[name],), learned))

    def text(value: str, learned: bool) -> None:
        if value:  # an empty output part is just its two markers
            out.append(Segment(tuple(tokenizer.encode(value)), learned))

    for index, message in enumerate(messages):
        if message.role != "assistant":
            marker(f"{message.role}_start", False)
            text(message.parts[0].text, False)  # the rules allow only plain text here
            marker(f"{message.role}_end", False)
            continue
        marker("assistant_start", False)
        for part in message.parts:
            if part.type == "text":
                text(part.text, True)
            elif part.type == "code":
                marker("code_start", True)
                text(part.text, True)
                marker("code_end", True)
            else:
                marker("output_start", False)
                text(part.text, False)
                marker("output_end", False)
        if close_last or index < len(messages) - 1:
            marker("assistant_end", True)
    return out
