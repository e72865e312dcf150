"""SentencePiece training for `tritter tokenizer train`: a unigram model that is lossless on code.

Why these SentencePiece settings (each default would damage code):

* `normalization_rule_name=identity` — NFKC would rewrite characters (full-width forms,
  ligatures) and `remove_extra_whitespaces=False` keeps runs of spaces, so indentation, blank
  lines and trailing whitespace survive. `add_dummy_prefix=False`: no invented leading space.
* `byte_fallback=True` — any character outside the vocabulary (emoji, rare CJK, control
  characters) becomes its UTF-8 bytes instead of `<unk>`: every text round-trips exactly.
* `allow_whitespace_only_pieces=True` — a run of indentation can be one piece.
* `split_by_unicode_script=False` (default here) — pieces may mix letters and punctuation
  (`self.`, `):\\n`, `::new(`), which is where code compresses.
* Sentences are whole chunks of documents with their newlines, so newlines join pieces too.

Special tokens get the fixed ids of `tritter.tokenizer.special`; training fails loudly if
SentencePiece ever placed them elsewhere.
"""

from __future__ import annotations

import io
import logging
from typing import Any

from tritter import log
from tritter.errors import TritterError
from tritter.tokenizer.config import TokenizerConfig
from tritter.tokenizer.model import Tokenizer
from tritter.tokenizer.sample import Sample
from tritter.tokenizer.special import CONTROL_PIECES, FIRST_BYTE_ID, SPECIAL_TOKENS

_log = log.get_logger("tokenizer")


def trainer_options(config: TokenizerConfig) -> dict[str, Any]:
    """The SentencePiece trainer options (also recorded in the manifest)."""
    return {
        "model_type": "unigram",
        "vocab_size": config.vocab_size,
        "character_coverage": config.character_coverage,
        "normalization_rule_name": "identity",
        "remove_extra_whitespaces": False,
        "add_dummy_prefix": False,
        "byte_fallback": True,
        "allow_whitespace_only_pieces": True,
        "split_by_whitespace": config.split_by_whitespace,
        "split_by_unicode_script": config.split_by_unicode_script,
        "split_by_number": True,
        "split_digits": config.split_digits,
        "max_sentencepiece_length": config.max_piece_length,
        "max_sentence_length": config.sentence_bytes,
        "input_sentence_size": 0,  # the sample is already drawn: use all of it
        "shuffle_input_sentence": False,
        "hard_vocab_limit": True,
        "unk_id": 0,
        "bos_id": 1,
        "eos_id": 2,
        "pad_id": 3,
        "unk_piece": SPECIAL_TOKENS[0].piece,
        "bos_piece": SPECIAL_TOKENS[1].piece,
        "eos_piece": SPECIAL_TOKENS[2].piece,
        "pad_piece": SPECIAL_TOKENS[3].piece,
        "control_symbols": ",".join(CONTROL_PIECES),
    }


def run_sentencepiece(sample: Sample, config: TokenizerConfig, threads: int) -> bytes:
    import sentencepiece

    if sample.sentences == 0:
        raise TritterError(f"{config.input}: the tokenizer sample is empty (no usable text)")
    sentencepiece.set_random_generator_seed(config.seed)
    buffer = io.BytesIO()
    quiet = _log.getEffectiveLevel() > logging.DEBUG
    try:
        sentencepiece.SentencePieceTrainer.train(
            sentence_iterator=sample.iter_sentences(),
            model_writer=buffer,
            num_threads=threads,
            minloglevel=2 if quiet else 0,
            **trainer_options(config),
        )
    except RuntimeError as err:
        # "INTERNAL: src/trainer.cc(744) [check] Vocabulary size too high…" → the human part
        message = str(err).strip().split("\n")[-1].rsplit("] ", 1)[-1].strip() or str(err)
        hint = ""
        if "Vocabulary size" in message:
            hint = (
                " (the sample is too small for this vocabulary: raise --sample-bytes or lower "
                "--vocab-size)"
            )
        raise TritterError(
            f"{config.input}: SentencePiece training failed: {message}{hint}"
        ) from err
    return buffer.getvalue()


def check_layout(tokenizer: Tokenizer, vocab_size: int) -> None:
    """The trained model must have exactly the fixed special ids and byte pieces."""
    if tokenizer.vocab_size != vocab_size:
        raise TritterError(
            f"trained vocabulary has {tokenizer.vocab_size} pieces, not {vocab_size}"
        )
    for token in SPECIAL_TOKENS:
        if tokenizer.piece(token.id) != token.piece:
            raise TritterError(
                f"special token {token.piece} is not at id {token.id} "
                f"(found {tokenizer.piece(token.id)!r})"
            )
    for byte in range(256):
        if tokenizer.piece(FIRST_BYTE_ID + byte) != f"<0x{byte:02X}>":
            raise TritterError(f"byte piece <0x{byte:02X}> is not at id {FIRST_BYTE_ID + byte}")


def escape_piece(piece: str) -> str:
    """One-line form of a piece for tokenizer.vocab (backslash escapes for control chars)."""
    out = []
    for char in piece:
        if char == "\\":
            out.append("\\\\")
        elif char in "\t\n\r":
            out.append({"\t": "\\t", "\n": "\\n", "\r": "\\r"}[char])
        elif ord(char) < 0x20 or ord(char) == 0x7F:
            out.append(f"\\x{ord(char):02x}")
        else:
            out.append(char)
    return "".join(out)


def vocab_text(proto: bytes) -> str:
    """`piece<TAB>score` per id, in id order (pieces escaped: see `escape_piece`)."""
    import sentencepiece

    sp = sentencepiece.SentencePieceProcessor()
    sp.LoadFromSerializedProto(proto)
    lines = [
        f"{escape_piece(sp.id_to_piece(i))}\t{sp.get_score(i):.6g}"
        for i in range(sp.get_piece_size())
    ]
    return "\n".join(lines) + "\n"


def sentencepiece_version() -> str:
    import sentencepiece

    return getattr(sentencepiece, "__version__", "unknown")
