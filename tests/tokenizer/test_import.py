"""`tritter tokenizer import`: a Hugging Face tokenizer folder (the kind BitNet 2B4T ships)
becomes the run's tokenizer/ with a `tokenizer-import` manifest, which pack and the report read
like a trained tokenizer's."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from tests.pack.helpers import manifest
from tests.tokenizer.hf_support import build_hf_tokenizer
from tests.tokenizer.support import HOSTILE_TEXTS, corpus_documents, pack_args, run_in_process
from tritter.chat.template import MARKERS
from tritter.run_folder import TOKENIZER_IMPORT_MANIFEST, TOKENIZER_OUTPUT
from tritter.tokenizer import Tokenizer

WIDE = 66_000  # > 65,536 ids: shards of this tokenizer are uint32


@pytest.fixture(scope="module")
def base_folder(tmp_path_factory) -> Path:
    """A base-model folder as a release ships it: tokenizer files next to weights."""
    folder = build_hf_tokenizer(tmp_path_factory.mktemp("base") / "model", wide=WIDE)
    (folder / "special_tokens_map.json").write_text(json.dumps({"eos_token": "<|end_of_text|>"}))
    (folder / "config.json").write_text("{}")
    (folder / "model.safetensors").write_bytes(b"weights are not copied")
    return folder


def test_import_copies_the_tokenizer_and_measures_it_on_curated_text(
    artifacts, base_folder, tmp_path
):
    output = tmp_path / "run" / "tokenizer"
    done = run_in_process("tokenizer", "import", base_folder, "--output", output,
                          "--curated", artifacts.curated)  # fmt: skip
    assert done.returncode == 0, done.stderr
    summary = json.loads(done.stdout)
    tokenizer, copy = Tokenizer.load(base_folder), Tokenizer.load(output)
    # The chat markers went onto reserved special tokens: a new sha256, the same vocabulary.
    assert summary["sha256"] == copy.sha256 != tokenizer.sha256
    assert summary["token_dtype"] == "uint32"
    assert sorted(p.name for p in output.iterdir()) == [
        "_manifest.json", "special_tokens_map.json", "tokenizer.json", "tokenizer_config.json",
    ]  # fmt: skip
    found = TOKENIZER_OUTPUT.require(str(output))  # what pack and the report read
    assert found.stage == TOKENIZER_IMPORT_MANIFEST.stage
    assert found.extra.vocab_size == WIDE and found.extra.kind == "huggingface"
    assert found.extra.special_ids["eos"] == tokenizer.eos_id
    assert found.inputs.source_sha256 == tokenizer.sha256
    assert sorted(found.extra.chat_markers) == sorted(MARKERS)
    assert set(found.extra.chat_markers.values()) == {
        f"<|reserved_special_token_{i}|>" for i in range(10)
    }
    compression = found.counts.compression
    assert "all" in compression and len(compression) >= 2
    assert all(row.bytes_per_token > 1.0 for row in compression.values())
    # The copy encodes every text as the source does.
    texts = [doc["text"] for doc in corpus_documents()[:50]] + HOSTILE_TEXTS
    assert copy.encode_batch(texts) == tokenizer.encode_batch(texts)
    assert copy.vocab_size == tokenizer.vocab_size

    # A relaunch with the same source and options finds the finished folder.
    before = (output / "_manifest.json").read_bytes()
    again = run_in_process("tokenizer", "import", base_folder, "--output", output,
                           "--curated", artifacts.curated)  # fmt: skip
    assert again.returncode == 0, again.stderr
    assert (output / "_manifest.json").read_bytes() == before


def test_pack_uses_an_imported_tokenizer_and_checks_its_manifest(artifacts, base_folder, tmp_path):
    folder = tmp_path / "tokenizer"
    done = run_in_process("tokenizer", "import", base_folder / "tokenizer.json", "--output", folder)
    assert done.returncode == 0, done.stderr
    tokens = tmp_path / "tokens"
    packed = run_in_process(*pack_args(artifacts.curated, folder, tokens), "--workers", "1")
    assert packed.returncode == 0, packed.stderr
    assert manifest(tokens)["extra"]["dtype"] == "uint32"
    assert manifest(tokens)["extra"]["tokenizer_sha256"] == Tokenizer.load(folder).sha256

    # Replaced after import: pack refuses it against the import manifest's sha256.
    other = build_hf_tokenizer(tmp_path / "other", vocab_size=700)
    shutil.copy(other / "tokenizer.json", folder / "tokenizer.json")
    refused = run_in_process(*pack_args(artifacts.curated, folder, tmp_path / "t2"))
    assert refused.returncode == 1
    (line,) = refused.stderr.strip().splitlines()
    assert "differs from its manifest" in line and "tokenizer.json" in line


def test_the_report_shows_an_imported_tokenizer(artifacts, base_folder, tmp_path):
    run = tmp_path / "run"
    done = run_in_process("tokenizer", "import", base_folder, "--output", run / "tokenizer",
                          "--curated", artifacts.curated)  # fmt: skip
    assert done.returncode == 0, done.stderr
    shutil.copytree(artifacts.curated, run / "curated")
    reported = run_in_process("report", "--run", run)
    assert reported.returncode == 0, reported.stderr
    markdown = (run / "report" / "report.md").read_text()
    assert "Imported tokenizer" in markdown and str(base_folder) in markdown
    assert "Compression on curated documents" in markdown


def test_bad_sources_are_one_line_errors_and_write_nothing(tmp_path):
    empty = tmp_path / "empty"
    empty.mkdir()
    output = tmp_path / "out"
    done = run_in_process("tokenizer", "import", empty, "--output", output)
    assert done.returncode == 1
    (line,) = done.stderr.strip().splitlines()
    assert str(empty) in line and "tokenizer.json" in line
    broken = tmp_path / "broken"
    broken.mkdir()
    (broken / "tokenizer.json").write_text("{not json")
    done = run_in_process("tokenizer", "import", broken, "--output", output)
    assert done.returncode == 1
    (line,) = done.stderr.strip().splitlines()
    assert "not a Hugging Face tokenizer.json" in line
    assert not output.exists()
