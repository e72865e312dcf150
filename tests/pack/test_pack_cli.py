"""`tritter pack` through the real CLI on the shared curated folder and tokenizer."""

from __future__ import annotations

import json

import numpy as np
import pytest

from tests.conftest import run_tritter
from tests.pack.helpers import curated_texts, documents, file_sha256, manifest, shard_arrays
from tests.tokenizer.support import pack_args, run_in_process
from tritter.tokenizer import Tokenizer


@pytest.fixture(scope="module")
def tokenizer(artifacts) -> Tokenizer:
    return Tokenizer.load(artifacts.tokenizer)


def test_shard_format(artifacts, tokenizer):
    found = manifest(artifacts.tokens)
    assert found["extra"]["dtype"] == "uint16"  # vocab 2048 fits
    assert found["extra"]["eos_id"] == tokenizer.eos_id == 2
    assert found["extra"]["vocab_size"] == tokenizer.vocab_size
    assert found["extra"]["seq_len"] == 64
    seen = 0
    for row, tokens, docs in shard_arrays(artifacts.tokens):
        seen += 1
        assert tokens.dtype == np.uint16 and tokens.ndim == 1
        assert docs.dtype == np.int64 and len(docs) == row["num_documents"] + 1
        assert docs[0] == 0 and docs[-1] == len(tokens) == row["num_tokens"]
        assert (np.diff(docs) >= 1).all()
        # EOS closes every document and appears nowhere else
        assert (tokens[docs[1:] - 1] == tokenizer.eos_id).all()
        assert int((tokens == tokenizer.eos_id).sum()) == row["num_documents"]
        assert int(tokens.max()) < tokenizer.vocab_size
    assert seen == found["counts"]["shards"] >= 8  # train+val × 4 subsets, python split in two


def test_documents_are_curated_texts_and_splits_do_not_overlap(artifacts, tokenizer):
    curated = curated_texts(artifacts.curated)
    train = documents(artifacts.tokens, tokenizer, "train")
    val = documents(artifacts.tokens, tokenizer, "val")
    assert set(train) == set(val) == {"python", "rust", "docs", "conversations"}
    for subset in train:
        assert set(train[subset]) <= curated[subset], subset
        assert set(val[subset]) <= curated[subset], subset
        assert not set(train[subset]) & set(val[subset]), subset  # split by document
        assert all(count == 1 for count in val[subset].values())  # validation never repeated
    # the negative example is packed with its explanation appended as a comment
    negative = [t for t in train["python"] | val["python"] if "import pickle" in t]
    assert len(negative) == 1 and "# Review: this is a negative example." in negative[0]


def test_manifest_counts_and_files(artifacts, tokenizer):
    found = manifest(artifacts.tokens)
    counts = found["counts"]
    assert found["inputs"]["tokenizer_sha256"] == tokenizer.sha256
    assert found["extra"]["tokenizer_sha256"] == tokenizer.sha256
    per_shard: dict[str, dict[str, int]] = {}
    for row, tokens, _ in shard_arrays(artifacts.tokens):
        split = per_shard.setdefault(row["split"], {})
        split[row["subset"]] = split.get(row["subset"], 0) + len(tokens)
    assert counts["tokens"] == per_shard
    assert counts["tokens_total"] == {s: sum(v.values()) for s, v in per_shard.items()}
    for split, by_language in counts["languages"].items():
        assert sum(by_language.values()) == counts["tokens_total"][split]
    assert set(counts["languages"]["train"]) == {"python", "rust", "markdown", "text"}
    # every file listed with its real size and sha256, and nothing else left behind
    listed = {entry["path"]: entry for entry in found["files"]}
    on_disk = {
        str(p.relative_to(artifacts.tokens))
        for p in artifacts.tokens.rglob("*")
        if p.is_file() and p.name != "_manifest.json"
    }
    assert set(listed) == on_disk
    for path, entry in listed.items():
        assert entry["size"] == (artifacts.tokens / path).stat().st_size
        assert entry["sha256"] == file_sha256(artifacts.tokens / path)


def test_default_mixture_renormalized_and_realized(artifacts):
    found = manifest(artifacts.tokens)
    mixture = found["extra"]["mixture"]
    assert mixture["renormalized"] is True
    assert mixture["missing_subsets"] == ["curated_repos"]
    assert mixture["requested"]["curated_repos"] == 0.2
    assert mixture["target"] == {
        "conversations": 0.0625,
        "docs": 0.125,
        "python": 0.5,
        "rust": 0.3125,
    }
    realized = found["counts"]["mixture"]["realized"]
    train = found["counts"]["tokens"]["train"]
    total = sum(train.values())
    assert realized == {s: round(n / total, 6) for s, n in sorted(train.items())}
    # the small subsets are capped at the default max repetition of 4 (exactly 4 copies each)
    repetition = found["counts"]["mixture"]["repetition"]
    assert repetition["rust"] == repetition["docs"] == repetition["conversations"] == 4.0


def test_repeated_documents_have_whole_copies(artifacts, tokenizer):
    train = documents(artifacts.tokens, tokenizer, "train")
    val = documents(artifacts.tokens, tokenizer, "val")
    assert set(train["rust"].values()) == {4}
    assert set(train["python"].values()) == {1}  # python is subsampled, never duplicated
    counts = manifest(artifacts.tokens)["counts"]
    # only packed documents are tokenized and counted: unique tokens of the subsampled subset
    # are its packed tokens, and text_bytes is exactly the text of the unique packed documents
    assert counts["unique_tokens"]["train"]["python"] == counts["tokens"]["train"]["python"]
    packed_text = [t for split in (train, val) for texts in split.values() for t in texts]
    assert counts["text_bytes"] == sum(len(t.encode()) for t in packed_text)


def test_budget_mixture_and_max_repetition(artifacts, tmp_path, tokenizer):
    output = tmp_path / "tokens"
    args = pack_args(artifacts.curated, artifacts.tokenizer, output)
    args += ["--mix", "python=0.6,rust=0.25,docs=0.15", "--token-budget", "80000"]
    args += ["--max-repetition", "2.5", "--workers", "1"]
    done = run_in_process(*args)
    assert done.returncode == 0, done.stderr
    found = manifest(output)
    mixture = found["counts"]["mixture"]
    train_total = found["counts"]["tokens_total"]["train"]
    assert abs(train_total - 80_000) / 80_000 < 0.05  # the budget, up to estimate error
    assert mixture["budget_tokens"] == 80_000
    assert found["extra"]["mixture"]["renormalized"] is False
    assert found["extra"]["mixture"]["excluded_subsets"] == ["conversations"]
    assert "conversations" not in found["counts"]["tokens"]["train"]
    for subset, target in {"python": 0.6, "rust": 0.25, "docs": 0.15}.items():
        assert abs(mixture["realized"][subset] - target) < 0.03, (subset, mixture)
    # no document of any subset is packed more than ceil(2.5) times
    train = documents(output, tokenizer, "train")
    assert max(max(c.values()) for c in train.values()) <= 3
    assert all(r <= 2.5 * 1.1 for r in mixture["repetition"].values()), mixture["repetition"]
    # and the stdout summary says the same
    summary = json.loads(done.stdout)
    assert summary["mixture"] == mixture["realized"]


def test_relaunch_is_a_noop(artifacts):
    files = sorted(artifacts.tokens.rglob("*"))
    before = {p: p.stat().st_mtime_ns for p in files}
    done = run_tritter(*pack_args(artifacts.curated, artifacts.tokenizer, artifacts.tokens))
    assert done.returncode == 0, done.stderr
    assert "already complete" in done.stderr
    assert sorted(artifacts.tokens.rglob("*")) == files
    assert {p: p.stat().st_mtime_ns for p in files} == before


def test_step_fan_out_resumes_and_matches_one_shot_pack(artifacts, tmp_path):
    """plan → one shard → interrupted; a plain relaunch packs only the rest; same bytes."""
    output = tmp_path / "tokens"
    base = pack_args(artifacts.curated, artifacts.tokenizer, output)
    planned = run_in_process(*base, "--step", "plan")
    assert planned.returncode == 0, planned.stderr
    shards = json.loads(planned.stdout)["shards"]
    assert shards == manifest(artifacts.tokens)["counts"]["shards"]
    one = run_in_process("pack", "--step", "shard", "--index", "0", "--output", str(output))
    assert one.returncode == 0, one.stderr
    first = json.loads(one.stdout)
    assert first["index"] == 0 and first["skipped"] is False
    marker = json.loads((output / "_work" / "shards" / "00000.json").read_text())
    packed = output / marker["tokens_path"]
    stamp = packed.stat().st_mtime_ns
    rest = run_in_process(*base, "--workers", "1")
    assert rest.returncode == 0, rest.stderr
    assert not (output / "_work").exists()  # finalize drops the work folder
    assert rest.stderr.count("shard packed") == shards - 1
    assert packed.stat().st_mtime_ns == stamp  # shard 0 was not redone
    ours = {e["path"]: e["sha256"] for e in manifest(output)["files"]}
    shared = {e["path"]: e["sha256"] for e in manifest(artifacts.tokens)["files"]}
    assert ours == shared


def test_unreachable_budget_is_reported(artifacts, tmp_path):
    output = tmp_path / "tokens"
    args = pack_args(artifacts.curated, artifacts.tokenizer, output, "--workers", "1")
    args += ["--mix", "rust=1", "--token-budget", "1000000000", "--max-repetition", "1.5"]
    done = run_in_process(*args)
    assert done.returncode == 0, done.stderr
    assert "token budget not reachable" in done.stderr
    found = manifest(output)
    mixture = found["counts"]["mixture"]
    assert mixture["budget_capped"] is True and mixture["budget_tokens"] == 10**9
    assert mixture["repetition"]["rust"] <= 2  # 1 or 2 copies per document
    train_total = found["counts"]["tokens_total"]["train"]
    assert abs(train_total / mixture["planned_tokens"] - 1) < 0.1  # estimate vs exact count
    assert mixture["planned_tokens"] < 10**9
    assert manifest(artifacts.tokens)["counts"]["mixture"]["budget_capped"] in (False, None)


def test_manifest_records_pack_time(artifacts):
    counts = manifest(artifacts.tokens)["counts"]
    assert counts["text_bytes"] > 0
    assert counts["pack_cpu_seconds"] > 0 and counts["pack_seconds"] > 0


def test_new_config_replaces_the_old_pack(artifacts, tmp_path):
    """Packing into a finished folder with other options redoes it and leaves no stale shard."""
    output = tmp_path / "tokens"
    base = pack_args(artifacts.curated, artifacts.tokenizer, output, "--workers", "1")
    first = run_in_process(*base, "--mix", "python=1", "--token-budget", "30000")
    assert first.returncode == 0, first.stderr
    second = run_in_process(*base, "--mix", "rust=1,docs=1")
    assert second.returncode == 0, second.stderr
    found = manifest(output)
    assert set(found["counts"]["tokens"]["train"]) == {"rust", "docs"}
    on_disk = {str(p.relative_to(output)) for p in output.rglob("*") if p.is_file()} - {
        "_manifest.json"
    }
    assert on_disk == {entry["path"] for entry in found["files"]}
