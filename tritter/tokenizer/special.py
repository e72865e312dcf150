"""Special tokens: fixed ids, reserved at training time, the same in every Tritter tokenizer.

Ids 0–3 are SentencePiece's own meta pieces. The chat and tool markers that post-training and
tool use need are SentencePiece *control* symbols: encoding text never produces them (a user
typing `<|assistant_start|>` gets ordinary text tokens, not the marker — no prompt injection
through the tokenizer), and decoding renders them as the empty string. Code that builds chat or
tool transcripts inserts their ids directly. Spare control ids are reserved up front so later
stages (fill-in-the-middle, more tools) can claim fixed ids without retraining the tokenizer.

The 256 byte-fallback pieces `<0x00>`…`<0xFF>` follow directly after the last special id.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class SpecialToken:
    name: str
    piece: str
    id: int
    purpose: str


_CONTROL = (
    ("system_start", "start of a system turn"),
    ("system_end", "end of a system turn"),
    ("user_start", "start of a user turn"),
    ("user_end", "end of a user turn"),
    ("assistant_start", "start of an assistant turn"),
    ("assistant_end", "end of an assistant turn"),
    ("code_start", "start of code the assistant asks to execute"),
    ("code_end", "end of code to execute"),
    ("output_start", "start of the execution output fed back"),
    ("output_end", "end of the execution output"),
)
RESERVED = 18  # spare control ids, so that 32 ids in all are special

SPECIAL_TOKENS: tuple[SpecialToken, ...] = (
    SpecialToken("unk", "<unk>", 0, "unknown piece (never produced: byte fallback covers text)"),
    SpecialToken("bos", "<s>", 1, "beginning of sequence (optional; packing does not add it)"),
    SpecialToken("eos", "</s>", 2, "end of document: packing appends it after every document"),
    SpecialToken("pad", "<pad>", 3, "padding (never a training target)"),
    *(
        SpecialToken(name, f"<|{name}|>", 4 + i, purpose)
        for i, (name, purpose) in enumerate(_CONTROL)
    ),
    *(
        SpecialToken(f"reserved_{i}", f"<|reserved_{i}|>", 4 + len(_CONTROL) + i, "reserved")
        for i in range(RESERVED)
    ),
)

SPECIAL_IDS: dict[str, int] = {token.name: token.id for token in SPECIAL_TOKENS}
CONTROL_NAMES: tuple[str, ...] = tuple(name for name, _ in _CONTROL)  # the chat/tool markers
# The special tokens that are not control markers (unk, bos, eos, pad): every other name in a
# tokenizer's `special_ids` is a marker or a reserved control id.
META_NAMES: frozenset[str] = frozenset(token.name for token in SPECIAL_TOKENS[:4])
CONTROL_PIECES: list[str] = [token.piece for token in SPECIAL_TOKENS[4:]]
FIRST_BYTE_ID = len(SPECIAL_TOKENS)  # <0x00>; <0xFF> is FIRST_BYTE_ID + 255
