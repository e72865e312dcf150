"""Chat and tool markers for an imported Hugging Face tokenizer, on reserved special tokens.

Post-training renders conversations with ten markers (`<|system_start|>` … `<|output_end|>`,
`tritter.tokenizer.special`). A released tokenizer such as BitNet b1.58 2B4T's (Llama-3's
128,256-token byte-level BPE) has none of them, but it fills ids 128000–128255 with special
tokens, most of them `<|reserved_special_token_N|>` that no text encodes to (the others carry
Llama-3's own names: `<|begin_of_text|>`, `<|eot_id|>`, `<|start_header_id|>`, …, and are left
alone).

`claim` renames the lowest-id reserved special tokens to the missing markers, in marker order:
every id stays where it is, so the vocabulary size, the ids of every text and the base model's
embedding rows are unchanged; only which name a spare row answers to changes. The markers stay
special tokens: `encode` never produces them from text (`HFTokenizer` encodes special-token
spellings as text) and `decode` drops them. `tokenizer_config.json`'s `added_tokens_decoder` is
renamed alike, so `transformers` loads the same names.

A tokenizer that already holds every marker is returned unchanged; one with too few reserved
special tokens too (post-training then refuses it with a one-line error).
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from typing import Any

from tritter.errors import TritterError
from tritter.tokenizer.special import CONTROL_NAMES

# Llama-3's spelling; the only reserved-token convention of the BitNet releases.
RESERVED = re.compile(r"^<\|reserved_special_token_\d+\|>$")


@dataclass(frozen=True)
class Claimed:
    tokenizer_json: bytes
    tokenizer_config: bytes | None
    renamed: dict[str, str] = field(default_factory=dict)  # marker name → the token it was


def claim(
    tokenizer_json: bytes,
    tokenizer_config: bytes | None,
    source: str,
    config_source: str = "tokenizer_config.json",
) -> Claimed:
    """The tokenizer (and its config) with the missing markers on reserved special tokens;
    `source` and `config_source` name the two files in errors."""
    data = _parse(tokenizer_json, source, "not a Hugging Face tokenizer.json")
    added: list[dict[str, Any]] = data.get("added_tokens") or []
    special = {t["content"]: t for t in added if t.get("special")}
    missing = [name for name in CONTROL_NAMES if f"<|{name}|>" not in special]
    spare = sorted((t for t in special.values() if RESERVED.match(t["content"])),
                   key=lambda t: t["id"])  # fmt: skip
    if not missing or len(spare) < len(missing):
        return Claimed(tokenizer_json, tokenizer_config)
    taken = {t["content"] for t in added} | set(_model_vocab(data))
    clash = [name for name in missing if f"<|{name}|>" in taken]
    if clash:
        raise TritterError(
            f"{source}: <|{clash[0]}|> is an ordinary token of this tokenizer: it cannot also be "
            "a chat marker (use --no-chat-markers)"
        )
    renamed: dict[str, str] = {}
    by_id: dict[int, str] = {}
    for name, token in zip(missing, spare, strict=False):
        renamed[name] = token["content"]
        by_id[token["id"]] = f"<|{name}|>"
        _rename_in_model(data, token["content"], by_id[token["id"]])
        token["content"] = by_id[token["id"]]
    config = tokenizer_config
    if tokenizer_config is not None:
        config_data = _parse(tokenizer_config, config_source, "not valid JSON")
        for key, entry in (config_data.get("added_tokens_decoder") or {}).items():
            if key.isdigit() and int(key) in by_id and isinstance(entry, dict):
                entry["content"] = by_id[int(key)]
        config = _dump(config_data)
    return Claimed(_dump(data), config, renamed)


def _parse(raw: bytes, source: str, problem: str) -> dict[str, Any]:
    try:
        data = json.loads(raw)
    except ValueError as err:
        raise TritterError(f"{source}: {problem} ({err})") from err
    if not isinstance(data, dict):
        raise TritterError(f"{source}: {problem} (not a JSON object)")
    return data


def _dump(data: dict[str, Any]) -> bytes:
    return (json.dumps(data, ensure_ascii=False, indent=2) + "\n").encode("utf-8")


def _model_vocab(data: dict[str, Any]) -> list[str]:
    """The pieces of the model's own vocabulary (a dict for BPE/WordPiece, pairs for Unigram)."""
    vocab = (data.get("model") or {}).get("vocab") or {}
    if isinstance(vocab, dict):
        return list(vocab)
    return [entry[0] for entry in vocab]


def _rename_in_model(data: dict[str, Any], old: str, new: str) -> None:
    """Some tokenizers also list added tokens in the model's vocabulary: rename them there."""
    model = data.get("model") or {}
    vocab = model.get("vocab")
    if isinstance(vocab, dict) and old in vocab:
        model["vocab"] = {(new if piece == old else piece): i for piece, i in vocab.items()}
    elif isinstance(vocab, list):
        model["vocab"] = [[new, *entry[1:]] if entry[0] == old else entry for entry in vocab]
