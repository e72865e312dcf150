"""Losslessness: `decode(encode(text)) == text` for any UTF-8 text, and exact byte accounting."""

from __future__ import annotations

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.tokenizer.support import HOSTILE_TEXTS
from tritter.tokenizer import Tokenizer
from tritter.tokenizer.special import FIRST_BYTE_ID

# Code-shaped text: indentation, blank lines, CRLF, tabs, trailing blanks, plus any character.
CODE_ALPHABET = st.sampled_from(
    [" ", "    ", "\t", "\n", "\r\n", "\r", "\n\n\n", "def ", "fn ", "(", ")", ":", "{", "}",
     "self.", "::", "->", "x", "é", "中", "🐍", "\x00", "\x1b", "\u2581", "\u200b", "ﬁ", "Ａ"]
)  # fmt: skip
CODE_TEXT = st.lists(st.one_of(CODE_ALPHABET, st.text(max_size=4)), max_size=60).map("".join)
ANY_TEXT = st.text(max_size=200)  # every code point except surrogates (not valid UTF-8)


@pytest.fixture(scope="module")
def tokenizer(artifacts) -> Tokenizer:
    return Tokenizer.load(artifacts.tokenizer)


@pytest.mark.parametrize("text", HOSTILE_TEXTS)
def test_hostile_texts_round_trip(tokenizer, text):
    ids = tokenizer.encode(text)
    assert tokenizer.decode(ids) == text
    assert tokenizer.encode_batch([text, "x"], num_threads=2) == [ids, tokenizer.encode("x")]
    lengths = tokenizer.token_byte_lengths()
    assert int(lengths[ids].sum()) == len(text.encode())


def test_indentation_is_kept_in_pieces(tokenizer):
    """Leading indentation and newlines are real pieces, not normalized away."""
    text = "def f():\n        return 1\n\n\n"
    pieces = [tokenizer.piece(i) for i in tokenizer.encode(text)]
    assert "".join(pieces).replace("\u2581", " ") == text
    assert any(set(p) == {"\u2581"} and len(p) >= 4 for p in pieces), pieces


def test_characters_outside_the_vocabulary_use_byte_fallback(tokenizer):
    ids = tokenizer.encode("\U0001f9ec")  # 🧬: not in a 2k code vocabulary
    assert ids == [FIRST_BYTE_ID + b for b in "\U0001f9ec".encode()]
    assert 0 not in tokenizer.encode("\U0001f9ec \x00 \u0378")  # never <unk>


def test_batch_matches_single_encoding(tokenizer):
    texts = [*HOSTILE_TEXTS, "plain", "a\u2581b"]
    assert tokenizer.encode_batch(texts, num_threads=2) == [tokenizer.encode(t) for t in texts]


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(text=st.one_of(ANY_TEXT, CODE_TEXT))
def test_any_text_round_trips(tokenizer, text):
    ids = tokenizer.encode(text)
    assert tokenizer.decode(ids) == text
    assert 0 not in ids  # byte fallback: <unk> never appears
    assert int(tokenizer.token_byte_lengths()[ids].sum()) == len(text.encode())
