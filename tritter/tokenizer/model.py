"""`Tokenizer`: a trained `tokenizer.model` behind the small API the other stages use.

The model file is plain SentencePiece (load it with `sentencepiece.SentencePieceProcessor`
without any Tritter code). This wrapper adds what stages need on top: loading from any storage
URI, the model's sha256 (packing records it, training refuses shards packed by another
tokenizer), named special ids, and per-token UTF-8 byte lengths for exact bits per byte.

Losslessness. The model is trained with identity normalization, no dummy prefix, no whitespace
collapsing and byte fallback, so `decode(encode(text)) == text` for any text. One character needs
help: SentencePiece writes spaces as U+2581 (▁) internally and would turn a literal ▁ in the
input into a space. `encode` therefore emits a literal ▁ as its three UTF-8 byte-fallback
tokens, which plain SentencePiece decodes back to ▁ (encoding such text with plain
SentencePiece instead of this class is the only way to lose it).
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from functools import cached_property
from typing import TYPE_CHECKING, Any

import numpy as np

from tritter import storage
from tritter.errors import TritterError
from tritter.run_folder import TOKENIZER_MODEL
from tritter.tokenizer.special import SPECIAL_TOKENS

if TYPE_CHECKING:
    from tritter.tokenizer.hf import HFTokenizer

META = "\u2581"  # SentencePiece's whitespace symbol


class Tokenizer:
    """A SentencePiece model plus Tritter's conventions (see the module docstring)."""

    def __init__(self, model_proto: bytes, source: str = "<bytes>") -> None:
        import sentencepiece

        self.source = source
        self._proto = model_proto
        self._sp = sentencepiece.SentencePieceProcessor()
        try:
            self._sp.LoadFromSerializedProto(model_proto)
        except (RuntimeError, OSError) as err:
            raise TritterError(f"{source}: not a SentencePiece model ({err})") from err
        self._meta_ids = [self._sp.piece_to_id(f"<0x{b:02X}>") for b in META.encode()]
        if any(
            self._sp.id_to_piece(i) != f"<0x{b:02X}>"
            for i, b in zip(self._meta_ids, META.encode(), strict=True)
        ):
            self._meta_ids = []  # no byte fallback: such a model cannot keep a literal ▁

    @classmethod
    def load(cls, uri: str | os.PathLike[str]) -> Tokenizer | HFTokenizer:
        """Load from a tokenizer folder (holding `tokenizer.model`) or the model file itself; a
        Hugging Face folder (`tokenizer.json`, no `tokenizer.model`) or tokenizer.json file
        gives a `tritter.tokenizer.hf.HFTokenizer`."""
        from tritter.tokenizer.hf import HFTokenizer, is_hf_tokenizer

        uri = os.fspath(uri)
        if cls is Tokenizer and is_hf_tokenizer(uri):
            return HFTokenizer.load(uri)
        model_uri = uri if uri.endswith(".model") else storage.join(uri, TOKENIZER_MODEL)
        try:
            data = storage.read_bytes(model_uri)
        except FileNotFoundError as err:
            raise TritterError(f"{model_uri}: tokenizer model not found") from err
        except IsADirectoryError as err:
            raise TritterError(f"{model_uri}: expected a file, found a folder") from err
        return cls(data, model_uri)

    # ---------------------------------------------------------------------------------------
    # Encoding and decoding

    def encode(self, text: str) -> list[int]:
        """Token ids of `text` (no BOS/EOS added)."""
        if not isinstance(text, str):
            raise TypeError(f"encode expects str, got {type(text).__name__}")
        if META not in text or not self._meta_ids:
            return self._sp.encode(text)
        ids: list[int] = []
        for index, part in enumerate(text.split(META)):
            if index:
                ids.extend(self._meta_ids)
            if part:
                ids.extend(self._sp.encode(part))
        return ids

    def encode_batch(self, texts: Sequence[str], num_threads: int = 1) -> list[list[int]]:
        """Token ids of each text; SentencePiece encodes the batch on `num_threads` threads."""
        texts = list(texts)
        plain = [i for i, t in enumerate(texts) if META not in t]
        out: list[list[int]] = [[] for _ in texts]
        if plain:
            encoded = self._sp.encode([texts[i] for i in plain], num_threads=num_threads)
            for index, ids in zip(plain, encoded, strict=True):
                out[index] = ids
        if len(plain) != len(texts):
            for index in set(range(len(texts))) - set(plain):
                out[index] = self.encode(texts[index])
        return out

    def decode(self, ids: Sequence[int] | Any) -> str:
        """Text of `ids`; control tokens render as nothing."""
        if hasattr(ids, "tolist"):
            ids = ids.tolist()
        return self._sp.decode(list(ids))

    # ---------------------------------------------------------------------------------------
    # Vocabulary facts

    @property
    def vocab_size(self) -> int:
        return self._sp.get_piece_size()

    @property
    def unk_id(self) -> int:
        return self._sp.unk_id()

    @property
    def bos_id(self) -> int:
        return self._sp.bos_id()

    @property
    def eos_id(self) -> int:
        return self._sp.eos_id()

    @property
    def pad_id(self) -> int:
        return self._sp.pad_id()

    @cached_property
    def special_ids(self) -> dict[str, int]:
        """name → id for every Tritter special token this model holds (bos, eos, user_start…)."""
        found = {}
        for token in SPECIAL_TOKENS:
            piece_id = self._sp.piece_to_id(token.piece)
            if self._sp.id_to_piece(piece_id) == token.piece:
                found[token.name] = piece_id
        return found

    def piece(self, token_id: int) -> str:
        return self._sp.id_to_piece(int(token_id))

    @cached_property
    def sha256(self) -> str:
        """sha256 of the serialized model: the identity packing and training check."""
        return storage.sha256_bytes(self._proto)

    @property
    def model_proto(self) -> bytes:
        return self._proto

    def token_byte_lengths(self) -> np.ndarray:
        """int32 array [vocab]: UTF-8 bytes each token adds to decoded text.

        Control and unknown tokens add 0, byte-fallback pieces 1, other pieces the UTF-8 length
        of their text with ▁ read as a space. Summed over `encode(text)` this is exactly
        `len(text.encode())`, which makes bits per byte exact: sum(loss nats) / (ln 2 ·
        sum(lengths[targets])).
        """
        return self._byte_lengths.copy()

    @cached_property
    def _byte_lengths(self) -> np.ndarray:
        sp = self._sp
        lengths = np.zeros(self.vocab_size, dtype=np.int32)
        for token_id in range(self.vocab_size):
            if sp.is_control(token_id) or sp.is_unknown(token_id) or sp.is_unused(token_id):
                continue
            if sp.is_byte(token_id):
                lengths[token_id] = 1
            else:
                lengths[token_id] = len(sp.id_to_piece(token_id).replace(META, " ").encode())
        return lengths

    def __repr__(self) -> str:
        return (
            f"Tokenizer({self.source!r}, vocab_size={self.vocab_size}, sha256={self.sha256[:12]})"
        )
