"""`chat_markers.claim`: the chat markers go onto reserved special tokens of an HF tokenizer,
and nothing else about it changes."""

from __future__ import annotations

import json

import pytest

from tests.tokenizer.hf_support import build_hf_tokenizer
from tritter.chat.template import MARKERS, marker_ids
from tritter.errors import TritterError
from tritter.tokenizer.chat_markers import claim
from tritter.tokenizer.hf import HFTokenizer


@pytest.fixture(scope="module")
def reserved(tmp_path_factory):
    folder = build_hf_tokenizer(tmp_path_factory.mktemp("hf") / "tok", vocab_size=400, reserved=12)
    config = json.loads((folder / "tokenizer_config.json").read_text())
    added = json.loads((folder / "tokenizer.json").read_text())["added_tokens"]
    # As transformers writes it: every added token by id.
    config["added_tokens_decoder"] = {str(t["id"]): {"content": t["content"], "special": True}
                                      for t in added}  # fmt: skip
    (folder / "tokenizer_config.json").write_text(json.dumps(config))
    return folder


def test_markers_take_the_lowest_reserved_ids_and_the_config_follows(reserved):
    raw = (reserved / "tokenizer.json").read_bytes()
    config = (reserved / "tokenizer_config.json").read_bytes()
    claimed = claim(raw, config, "tok.json")
    before = HFTokenizer(raw, "before")
    after = HFTokenizer(claimed.tokenizer_json, "after", json.loads(claimed.tokenizer_config))
    first = before._tok.token_to_id("<|reserved_special_token_0|>")
    assert marker_ids(after) == {name: first + i for i, name in enumerate(MARKERS)}
    assert claimed.renamed["output_end"] == "<|reserved_special_token_9|>"
    # The two spare reserved tokens stay; the vocabulary and every text's ids are unchanged.
    assert after._tok.token_to_id("<|reserved_special_token_10|>") == first + 10
    assert after.vocab_size == before.vocab_size
    text = "x = 1  # <|reserved_special_token_0|> <|user_start|>\n"
    assert after.encode(text) == before.encode(text)
    decoder = json.loads(claimed.tokenizer_config)["added_tokens_decoder"]
    assert decoder[str(first)]["content"] == "<|system_start|>"
    # Claimed once, a second claim changes nothing.
    again = claim(claimed.tokenizer_json, claimed.tokenizer_config, "tok.json")
    assert again.renamed == {} and again.tokenizer_json == claimed.tokenizer_json


def test_too_few_reserved_tokens_leave_the_tokenizer_as_it_is(tmp_path):
    folder = build_hf_tokenizer(tmp_path / "tok", vocab_size=400, reserved=9)
    raw = (folder / "tokenizer.json").read_bytes()
    claimed = claim(raw, None, "tok.json")
    assert claimed.renamed == {} and claimed.tokenizer_json == raw
    with pytest.raises(TritterError, match=r"tok\.json: tokenizer has no <\|system_start\|>"):
        marker_ids(HFTokenizer(raw, "tok.json"))


def test_a_marker_that_is_an_ordinary_token_is_a_one_line_error(reserved):
    data = json.loads((reserved / "tokenizer.json").read_text())
    data["added_tokens"].append({"id": 10_000, "content": "<|code_start|>", "single_word": False,
                                 "lstrip": False, "rstrip": False, "normalized": False,
                                 "special": False})  # fmt: skip
    with pytest.raises(TritterError, match=r"^tok\.json: <\|code_start\|> is an ordinary token"):
        claim(json.dumps(data).encode(), None, "tok.json")
