"""`HFTokenizer`: a Hugging Face `tokenizer.json` as the run's tokenizer.

Continued pretraining from BitNet b1.58 2B4T must keep the tokenizer its embeddings were trained
with (a 128,256-token Llama-3 byte-level BPE), so pack, training and evaluation accept a folder
holding `tokenizer.json` (optionally `tokenizer_config.json`) wherever they accept a trained
SentencePiece folder. `Tokenizer.load` picks this class when the folder has `tokenizer.json`
and no `tokenizer.model`.

The contract with the other stages is the same as the SentencePiece model's:

* `sha256` is the sha256 of `tokenizer.json`'s bytes: packing records it, training and
  evaluation refuse shards or weights made with another tokenizer;
* `eos_id` ends every packed document: `tokenizer_config.json`'s `eos_token` when given,
  otherwise the first of the usual end-of-text tokens the vocabulary holds; `bos_id`, `pad_id`
  likewise (-1 when the tokenizer has none: packing then pads with EOS);
* `encode` adds no special tokens (packing adds EOS itself) and never makes one from text: a
  document or a user message that spells `<|end_of_text|>` or `<|assistant_start|>` gets
  ordinary tokens (`tokenizers` would otherwise match the added token in the text: a stray EOS
  in pretraining, a forged chat marker in a prompt); `decode` drops special tokens;
* `token_byte_lengths()` gives each token's UTF-8 bytes so bits per byte stay independent of
  the tokenizer: exact for byte-level BPE (GPT-2/Llama-3: every character of a token stands for
  one byte) and for byte-fallback models (`<0xNN>` is one byte, `▁` a space); special tokens
  count 0 bytes.

Chat and tool markers: `special_ids` names `<|system_start|>` … `<|output_end|>` where the
tokenizer holds them as special tokens, at whatever ids. A released tokenizer has none, but
Llama-3's (2B4T's) fills ids 128000–128255 with special tokens, most of them reserved ones that
no text encodes to: `tritter tokenizer import` renames ten of them to the markers
(`tritter.tokenizer.chat_markers`), so the
vocabulary, every text's ids and the base model's embedding rows stay as they were, and
post-training renders conversations with them (`tritter.chat.template`). Without them,
post-training refuses the tokenizer with a one-line error.
"""

from __future__ import annotations

import json
import os
from collections.abc import Sequence
from functools import cached_property
from typing import Any

import numpy as np

from tritter import storage
from tritter.errors import TritterError
from tritter.tokenizer.special import CONTROL_NAMES

TOKENIZER_JSON = "tokenizer.json"
TOKENIZER_CONFIG = "tokenizer_config.json"

# Fallbacks when tokenizer_config.json does not name them (Llama-3, GPT-2, Llama-2 and Gemma
# spellings, in that order).
_EOS = ("<|end_of_text|>", "<|endoftext|>", "</s>", "<eos>")
_BOS = ("<|begin_of_text|>", "<s>", "<bos>")
_PAD = ("<pad>", "<|pad|>", "[PAD]", "<|finetune_right_pad_id|>")
_UNK = ("<unk>", "[UNK]")


def _byte_level_alphabet() -> dict[str, int]:
    """GPT-2's printable stand-in character for each byte → the byte (ByteLevel BPE)."""
    printable = [*range(ord("!"), ord("~") + 1), *range(ord("¡"), ord("¬") + 1),
                 *range(ord("®"), ord("ÿ") + 1)]  # fmt: skip
    chars = list(printable)
    extra = 0
    for byte in range(256):
        if byte not in printable:
            printable.append(byte)
            chars.append(256 + extra)
            extra += 1
    return {chr(c): b for b, c in zip(printable, chars, strict=True)}


class HFTokenizer:
    """A `tokenizers` tokenizer behind the API of `tritter.tokenizer.model.Tokenizer` (the same
    methods and properties; see the module docstring)."""

    def __init__(
        self, tokenizer_json: bytes, source: str = "<bytes>", config: dict[str, Any] | None = None
    ) -> None:
        from tokenizers import Tokenizer as RustTokenizer

        self.source = source
        self._proto = tokenizer_json
        try:
            self._tok = RustTokenizer.from_str(tokenizer_json.decode())
        except (UnicodeDecodeError, Exception) as err:  # tokenizers raises a bare Exception
            raise TritterError(f"{source}: not a Hugging Face tokenizer.json ({err})") from err
        self._config = config or {}
        self._tok.encode_special_tokens = True  # text never becomes a special token
        self._added = {t.content: i for i, t in self._tok.get_added_tokens_decoder().items()}
        self._special = {i for i, t in self._tok.get_added_tokens_decoder().items() if t.special}

    @classmethod
    def load(cls, uri: str | os.PathLike[str]) -> HFTokenizer:
        """Load from a folder holding `tokenizer.json` (or that file itself), local or s3://."""
        uri = os.fspath(uri)
        folder = uri[: -len(TOKENIZER_JSON)].rstrip("/") if uri.endswith(".json") else uri
        json_uri = uri if uri.endswith(".json") else storage.join(uri, TOKENIZER_JSON)
        try:
            data = storage.read_bytes(json_uri)
        except FileNotFoundError as err:
            raise TritterError(f"{json_uri}: tokenizer.json not found") from err
        config: dict[str, Any] = {}
        config_uri = storage.join(folder, TOKENIZER_CONFIG) if folder else TOKENIZER_CONFIG
        if folder and storage.exists(config_uri):
            try:
                config = json.loads(storage.read_bytes(config_uri))
            except ValueError as err:
                raise TritterError(f"{config_uri}: not valid JSON ({err})") from err
        return cls(data, json_uri, config)

    # ---------------------------------------------------------------------------------------
    # Encoding and decoding

    def encode(self, text: str) -> list[int]:
        if not isinstance(text, str):
            raise TypeError(f"encode expects str, got {type(text).__name__}")
        return self._tok.encode(text, add_special_tokens=False).ids

    def encode_batch(self, texts: Sequence[str], num_threads: int = 1) -> list[list[int]]:
        # tokenizers parallelises a batch itself (RAYON_NUM_THREADS); num_threads is advisory.
        encodings = self._tok.encode_batch(list(texts), add_special_tokens=False)
        return [e.ids for e in encodings]

    def decode(self, ids: Sequence[int] | Any) -> str:
        if hasattr(ids, "tolist"):
            ids = ids.tolist()
        return self._tok.decode(list(ids), skip_special_tokens=True)

    # ---------------------------------------------------------------------------------------
    # Vocabulary facts

    @property
    def vocab_size(self) -> int:
        return self._tok.get_vocab_size(with_added_tokens=True)

    def _named(self, key: str, fallbacks: tuple[str, ...]) -> int:
        """The id of tokenizer_config.json's `key` token, else of the first known fallback."""
        named = self._config.get(key)
        if isinstance(named, dict):  # {"content": "...", ...} in older configs
            named = named.get("content")
        if isinstance(named, str):
            found = self._tok.token_to_id(named)
            if found is None:
                raise TritterError(f"{self.source}: {key} '{named}' is not in the vocabulary")
            return found
        for token in fallbacks:
            found = self._tok.token_to_id(token)
            if found is not None:
                return found
        return -1

    @cached_property
    def eos_id(self) -> int:
        return self._named("eos_token", _EOS)

    @cached_property
    def bos_id(self) -> int:
        return self._named("bos_token", _BOS)

    @cached_property
    def pad_id(self) -> int:
        return self._named("pad_token", _PAD)

    @cached_property
    def unk_id(self) -> int:
        return self._named("unk_token", _UNK)

    @cached_property
    def special_ids(self) -> dict[str, int]:
        named = {"unk": self.unk_id, "bos": self.bos_id, "eos": self.eos_id, "pad": self.pad_id}
        found = {name: i for name, i in named.items() if i >= 0}
        for name in CONTROL_NAMES:  # chat markers, only as special tokens (never from text)
            token_id = self._added.get(f"<|{name}|>")
            if token_id is not None and token_id in self._special:
                found[name] = token_id
        return found

    def piece(self, token_id: int) -> str:
        return self._tok.id_to_token(int(token_id)) or ""

    @cached_property
    def sha256(self) -> str:
        """sha256 of tokenizer.json: the identity packing and training check."""
        return storage.sha256_bytes(self._proto)

    @property
    def model_proto(self) -> bytes:
        """tokenizer.json's bytes."""
        return self._proto

    def hf_files(self) -> dict[str, bytes]:
        """The files that make this tokenizer a Hugging Face folder (what `load` reads), for
        an export that `transformers.AutoTokenizer` loads as it is."""
        files = {TOKENIZER_JSON: self._proto}
        if self._config:
            files[TOKENIZER_CONFIG] = (json.dumps(self._config, indent=2) + "\n").encode()
        return files

    def token_byte_lengths(self) -> np.ndarray:
        """int32 array [vocab]: UTF-8 bytes each token adds to decoded text (0 for special
        tokens), so that summed over `encode(text)` it is `len(text.encode())`."""
        return self._byte_lengths.copy()

    @cached_property
    def _byte_lengths(self) -> np.ndarray:
        decoder = json.loads(self._proto).get("decoder") or {}
        byte_level = _uses(decoder, "ByteLevel")
        alphabet = _byte_level_alphabet()
        lengths = np.zeros(self.vocab_size, dtype=np.int32)
        for token, token_id in self._tok.get_vocab(with_added_tokens=True).items():
            if token_id in self._special:
                continue
            if token in self._added:  # added non-special tokens are matched as plain text
                lengths[token_id] = len(token.encode())
            elif byte_level and all(c in alphabet for c in token):
                lengths[token_id] = len(token)
            elif len(token) == 6 and token.startswith("<0x") and token.endswith(">"):
                lengths[token_id] = 1  # byte fallback
            else:
                lengths[token_id] = len(token.replace("\u2581", " ").encode())
        return lengths

    def __repr__(self) -> str:
        return (
            f"HFTokenizer({self.source!r}, vocab_size={self.vocab_size}, sha256={self.sha256[:12]})"
        )


def _uses(decoder: dict[str, Any], kind: str) -> bool:
    """Whether a tokenizer.json decoder (possibly a Sequence) contains a `kind` step."""
    if decoder.get("type") == kind:
        return True
    return any(_uses(step, kind) for step in decoder.get("decoders") or [])


def is_hf_tokenizer(uri: str) -> bool:
    """A tokenizer.json file, or a folder with tokenizer.json and no SentencePiece model."""
    from tritter.run_folder import TOKENIZER_MODEL

    uri = os.fspath(uri)
    if uri.endswith(".json"):
        return True
    if uri.endswith(".model"):
        return False
    return storage.exists(storage.join(uri, TOKENIZER_JSON)) and not storage.exists(
        storage.join(uri, TOKENIZER_MODEL)
    )
