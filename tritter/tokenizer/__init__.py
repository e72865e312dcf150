"""The Tritter tokenizer: a lossless SentencePiece unigram model for code.

`from tritter.tokenizer import Tokenizer` loads a trained `tokenizer.model`; the stage
(`tritter tokenizer train`) is `tritter.tokenizer.stage`. Attributes are imported lazily so that
the CLI can read the config class without importing SentencePiece.
"""

from __future__ import annotations

from typing import Any

__all__ = ["SPECIAL_IDS", "SPECIAL_TOKENS", "Tokenizer", "TokenizerConfig"]


def __getattr__(name: str) -> Any:
    if name == "Tokenizer":
        from tritter.tokenizer.model import Tokenizer

        return Tokenizer
    if name == "TokenizerConfig":
        from tritter.tokenizer.config import TokenizerConfig

        return TokenizerConfig
    if name in ("SPECIAL_TOKENS", "SPECIAL_IDS"):
        from tritter.tokenizer import special

        return getattr(special, name)
    raise AttributeError(f"module 'tritter.tokenizer' has no attribute {name!r}")
