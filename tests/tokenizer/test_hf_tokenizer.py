"""A Hugging Face `tokenizer.json` as the run's tokenizer: a byte-level BPE trained here with
`tokenizers` (the same kind as Llama-3's and BitNet 2B4T's), widened past 65,536 ids like
2B4T's 128,256, through loading, pack (uint32 shards), pretraining and the tokenizer checks."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from tests.conftest import run_tritter
from tests.pack.helpers import manifest, shard_arrays
from tests.tokenizer.hf_support import build_hf_tokenizer
from tests.tokenizer.support import HOSTILE_TEXTS, corpus_documents, pack_args, run_in_process
from tritter import storage
from tritter.errors import TritterError
from tritter.tokenizer import Tokenizer
from tritter.tokenizer.hf import HFTokenizer

WIDE = 66_000  # > 65,536: shards must be uint32


@pytest.fixture(scope="module")
def hf_folder(tmp_path_factory) -> Path:
    return build_hf_tokenizer(tmp_path_factory.mktemp("hf") / "tokenizer", wide=WIDE)


def test_loads_as_the_runs_tokenizer_with_its_own_ids(hf_folder):
    tokenizer = Tokenizer.load(hf_folder)
    assert isinstance(tokenizer, HFTokenizer)
    assert tokenizer.vocab_size == WIDE
    assert tokenizer.piece(tokenizer.eos_id) == "<|end_of_text|>"
    assert tokenizer.piece(tokenizer.bos_id) == "<|begin_of_text|>"
    assert tokenizer.pad_id == -1  # none: packing pads with EOS
    assert tokenizer.sha256 == storage.sha256_bytes((hf_folder / "tokenizer.json").read_bytes())
    assert Tokenizer.load(hf_folder / "tokenizer.json").sha256 == tokenizer.sha256


def test_round_trip_and_exact_bytes_per_token(hf_folder):
    """Lossless on hostile text, no special tokens added, and the per-token byte lengths sum to
    the text's UTF-8 length (bits per byte independent of the tokenizer)."""
    tokenizer = Tokenizer.load(hf_folder)
    lengths = tokenizer.token_byte_lengths()
    assert lengths[tokenizer.eos_id] == 0 and lengths[WIDE - 1] == 0
    # Text that spells a special token is text: never an EOS mid-document, never a marker.
    spelled = "s = '<|end_of_text|>'  # <|reserved_special_token_3|> <|begin_of_text|>\n"
    special = {tokenizer.eos_id, tokenizer.bos_id, WIDE - 1}
    for text in [spelled, *HOSTILE_TEXTS, *(d["text"] for d in corpus_documents()[:20])]:
        ids = tokenizer.encode(text)
        assert not special & set(ids)
        assert tokenizer.decode(ids) == text
        assert int(lengths[ids].sum()) == len(text.encode()), text[:40]
    batch = tokenizer.encode_batch(HOSTILE_TEXTS[:3])
    assert batch == [tokenizer.encode(t) for t in HOSTILE_TEXTS[:3]]
    assert tokenizer.decode([tokenizer.eos_id, *batch[0]]) == HOSTILE_TEXTS[0]


def test_without_a_config_the_usual_end_token_is_eos(tmp_path):
    folder = build_hf_tokenizer(tmp_path / "bare")
    (folder / "tokenizer_config.json").unlink()
    tokenizer = Tokenizer.load(folder)
    assert tokenizer.piece(tokenizer.eos_id) == "<|end_of_text|>"


def test_bad_folders_are_one_line_errors(tmp_path):
    (tmp_path / "empty").mkdir()
    with pytest.raises(TritterError, match="tokenizer model not found"):
        Tokenizer.load(tmp_path / "empty")
    broken = tmp_path / "broken"
    broken.mkdir()
    (broken / "tokenizer.json").write_text("{not json")
    with pytest.raises(TritterError, match=r"broken/tokenizer.json: not a Hugging Face"):
        Tokenizer.load(broken)
    folder = build_hf_tokenizer(tmp_path / "misnamed")
    (folder / "tokenizer_config.json").write_text(json.dumps({"eos_token": "<|eot_id|>"}))
    with pytest.raises(TritterError, match=r"eos_token '<\|eot_id\|>' is not in the vocabulary"):
        _ = Tokenizer.load(folder).eos_id


@pytest.mark.slow
def test_pack_and_pretrain_with_a_wide_hf_tokenizer(artifacts, hf_folder, tmp_path):
    """uint32 shards ending every document with the HF EOS, the tokenizer's sha recorded and
    checked: pretraining runs on them, and refuses them with the project's own tokenizer."""
    tokens = tmp_path / "tokens"
    done = run_in_process(*pack_args(artifacts.curated, hf_folder, tokens), "--workers", "1")
    assert done.returncode == 0, done.stderr
    found = manifest(tokens)
    tokenizer = Tokenizer.load(hf_folder)
    assert found["extra"]["dtype"] == "uint32"
    assert found["extra"]["vocab_size"] == WIDE
    assert found["extra"]["tokenizer_sha256"] == tokenizer.sha256
    assert found["extra"]["eos_id"] == tokenizer.eos_id
    _, array, _ = next(iter(shard_arrays(tokens)))
    assert array.dtype == np.uint32 and tokenizer.eos_id in array
    output = tmp_path / "run"
    args = ["pretrain", "--data", str(tokens), "--tokenizer", str(hf_folder),
            "--output", str(output), "--model", "tiny", "--seq-len", "64",
            "--micro-batch-size", "2", "--max-steps", "3", "--val-batches", "1",
            "--metrics-port", "0"]  # fmt: skip
    done = run_tritter(*args)
    assert done.returncode == 0, done.stderr[-3000:]
    records = [json.loads(line) for line in (output / "metrics.jsonl").read_text().splitlines()]
    assert [r["step"] for r in records if r.get("kind") == "train"][-1] == 3
    args[args.index("--tokenizer") + 1] = str(artifacts.tokenizer)
    args[args.index("--output") + 1] = str(tmp_path / "wrong")
    done = run_tritter(*args)
    assert done.returncode != 0
    assert "tokenizer" in done.stderr.strip().splitlines()[-1]
