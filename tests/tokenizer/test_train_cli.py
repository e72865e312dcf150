"""`tritter tokenizer train` through the real CLI: outputs, manifest, special ids, plain
SentencePiece loading, relaunch."""

from __future__ import annotations

import hashlib
import json
import subprocess
import sys

import sentencepiece

from tests.conftest import run_tritter
from tests.tokenizer.support import VOCAB_SIZE, read_manifest, run_in_process, train_args
from tritter.tokenizer import SPECIAL_IDS, SPECIAL_TOKENS, Tokenizer
from tritter.tokenizer.special import FIRST_BYTE_ID

CHAT_AND_TOOL = (
    "system_start", "system_end", "user_start", "user_end", "assistant_start", "assistant_end",
    "code_start", "code_end", "output_start", "output_end",
)  # fmt: skip


def test_outputs_and_summary(artifacts):
    folder = artifacts.tokenizer
    assert sorted(p.name for p in folder.iterdir()) == [
        "_manifest.json",
        "tokenizer.model",
        "tokenizer.vocab",
    ]
    found = read_manifest(folder)
    model = (folder / "tokenizer.model").read_bytes()
    assert found["stage"] == "tokenizer"
    assert found["extra"]["sha256"] == hashlib.sha256(model).hexdigest()
    assert found["extra"]["vocab_size"] == VOCAB_SIZE == found["counts"]["vocab_size"]
    files = {entry["path"]: entry for entry in found["files"]}
    assert files["tokenizer.model"]["sha256"] == hashlib.sha256(model).hexdigest()
    assert files["tokenizer.model"]["size"] == len(model)
    vocab_lines = (folder / "tokenizer.vocab").read_text().splitlines()
    assert len(vocab_lines) == VOCAB_SIZE
    assert vocab_lines[2].split("\t")[0] == "</s>"
    assert vocab_lines[FIRST_BYTE_ID].split("\t")[0] == "<0x00>"
    # every piece on one line: no raw newline/tab inside a piece
    assert all(line.count("\t") == 1 for line in vocab_lines)


def test_manifest_records_sample_and_compression(artifacts):
    found = read_manifest(artifacts.tokenizer)
    sample = found["counts"]["sample"]
    assert sample["documents"] > 0 and sample["sentences"] >= sample["documents"]
    assert set(sample["subsets"]) == {"python", "rust", "docs", "conversations"}
    assert sum(v["bytes"] for v in sample["subsets"].values()) == sample["bytes"]
    assert sample["bytes"] <= 600_000 * 1.05  # --sample-bytes, within one document
    assert sum(sample["languages_bytes"].values()) == sample["bytes"]
    assert abs(sum(sample["mixture_realized"].values()) - 1) < 1e-3
    # curated_repos is in the default mixture but absent: renormalized and recorded
    mixture = found["extra"]["mixture"]
    assert mixture["renormalized"] is True
    assert mixture["missing_subsets"] == ["curated_repos"]
    assert abs(sum(mixture["target"].values()) - 1) < 1e-6
    compression = found["counts"]["compression"]
    assert {"python", "rust", "markdown", "text", "all"} <= set(compression)
    for language, row in compression.items():
        assert row["tokens"] > 0, language
        assert row["chars_per_token"] == round(row["chars"] / row["tokens"], 4)
        assert row["bytes_per_token"] == round(row["bytes"] / row["tokens"], 4)
        assert row["bytes_per_token"] >= row["chars_per_token"]
    # code-sized pieces: better than bytes, not whole lines
    assert 2.0 < compression["python"]["chars_per_token"] < 6.0
    # the held-out documents never entered training
    for subset, held in found["counts"]["heldout"].items():
        assert held["documents"] >= 1, subset
    assert found["counts"]["seconds"]["train"] > 0
    assert found["counts"]["peak_rss_bytes"] > 0


def test_special_ids_are_fixed_and_documented(artifacts):
    found = read_manifest(artifacts.tokenizer)
    assert found["extra"]["special_ids"] == SPECIAL_IDS
    assert found["extra"]["byte_fallback_ids"] == [FIRST_BYTE_ID, FIRST_BYTE_ID + 255]
    assert [t["id"] for t in found["extra"]["special_tokens"]] == list(range(32))
    assert SPECIAL_IDS["unk"] == 0 and SPECIAL_IDS["bos"] == 1
    assert SPECIAL_IDS["eos"] == 2 and SPECIAL_IDS["pad"] == 3
    assert [SPECIAL_IDS[name] for name in CHAT_AND_TOOL] == list(range(4, 14))
    assert FIRST_BYTE_ID == 32
    # the documented table in --help matches the ids
    help_text = run_in_process("tokenizer", "train", "--help").stdout
    assert "0 <unk>, 1 <s>, 2 </s>, 3 <pad>, 4-13 chat and tool markers" in help_text
    assert "32-287 byte fallback" in help_text

    tokenizer = Tokenizer.load(artifacts.tokenizer)
    for token in SPECIAL_TOKENS:
        assert tokenizer.piece(token.id) == token.piece
    for byte in range(256):
        assert tokenizer.piece(FIRST_BYTE_ID + byte) == f"<0x{byte:02X}>"
    assert (tokenizer.unk_id, tokenizer.bos_id, tokenizer.eos_id, tokenizer.pad_id) == (0, 1, 2, 3)
    assert tokenizer.special_ids == SPECIAL_IDS


def test_control_tokens_cannot_be_typed(artifacts):
    """Text spelling a marker encodes as ordinary pieces; the marker id decodes to nothing."""
    tokenizer = Tokenizer.load(artifacts.tokenizer)
    for token in SPECIAL_TOKENS:
        ids = tokenizer.encode(f"x {token.piece} y")
        assert token.id not in ids, token.piece
        assert tokenizer.decode(ids) == f"x {token.piece} y"
    marker = SPECIAL_IDS["assistant_start"]
    assert tokenizer.decode([marker, *tokenizer.encode("hi"), SPECIAL_IDS["eos"]]) == "hi"


def test_loadable_with_plain_sentencepiece(artifacts):
    """A fresh interpreter with only sentencepiece (no tritter import) loads and round-trips."""
    script = (
        "import sentencepiece, sys\n"
        "sp = sentencepiece.SentencePieceProcessor(model_file=sys.argv[1])\n"
        "text = 'def f(x):\\n\\treturn x  \\r\\n\\n\\n# 🐍 中文\\x01\\n'\n"
        "ids = sp.encode(text)\n"
        "assert sp.decode(ids) == text, sp.decode(ids)\n"
        "assert 'tritter' not in sys.modules\n"
        "print(sp.get_piece_size(), sp.eos_id(), sp.pad_id(), sp.piece_to_id('<|user_start|>'))\n"
    )
    done = subprocess.run(
        [sys.executable, "-I", "-c", script, str(artifacts.tokenizer / "tokenizer.model")],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.split() == [str(VOCAB_SIZE), "2", "3", str(SPECIAL_IDS["user_start"])]
    # and in this process the ids agree with the Tritter wrapper
    sp = sentencepiece.SentencePieceProcessor(
        model_file=str(artifacts.tokenizer / "tokenizer.model")
    )
    tokenizer = Tokenizer.load(artifacts.tokenizer)
    text = 'fn main() {\n    println!("hi");\n}\n'
    assert sp.encode(text) == tokenizer.encode(text)


def test_relaunch_is_a_noop(artifacts):
    model = artifacts.tokenizer / "tokenizer.model"
    before = (model.stat().st_mtime_ns, (artifacts.tokenizer / "_manifest.json").read_bytes())
    done = run_tritter(*train_args(artifacts.curated, artifacts.tokenizer))
    assert done.returncode == 0, done.stderr
    assert "already trained" in done.stderr
    summary = json.loads(done.stdout)
    assert summary["sha256"] == read_manifest(artifacts.tokenizer)["extra"]["sha256"]
    assert before == (
        model.stat().st_mtime_ns,
        (artifacts.tokenizer / "_manifest.json").read_bytes(),
    )
