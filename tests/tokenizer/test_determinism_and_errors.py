"""Training is deterministic for a seed; bad input is a one-line error naming the cause."""

from __future__ import annotations

import hashlib

from tests.conftest import run_tritter
from tests.support.curated import write_curated
from tests.tokenizer.support import one_line_error, read_manifest, run_in_process, train_args


def _sha(folder) -> str:
    return hashlib.sha256((folder / "tokenizer.model").read_bytes()).hexdigest()


def test_same_seed_same_model_other_seed_other_sample(artifacts, tmp_path):
    again = run_tritter(*train_args(artifacts.curated, tmp_path / "again"))
    assert again.returncode == 0, again.stderr
    assert _sha(tmp_path / "again") == _sha(artifacts.tokenizer)
    assert (tmp_path / "again" / "tokenizer.vocab").read_bytes() == (
        artifacts.tokenizer / "tokenizer.vocab"
    ).read_bytes()

    other = run_in_process(*train_args(artifacts.curated, tmp_path / "seed7", "--seed", "7"))
    assert other.returncode == 0, other.stderr
    first = read_manifest(artifacts.tokenizer)["counts"]
    second = read_manifest(tmp_path / "seed7")["counts"]
    assert (first["sample"]["subsets"], first["heldout"]) != (
        second["sample"]["subsets"],
        second["heldout"],
    )
    assert _sha(tmp_path / "seed7") != _sha(artifacts.tokenizer)


def test_missing_input(tmp_path):
    line = one_line_error(run_tritter(*train_args(tmp_path / "nowhere", tmp_path / "out")))
    assert "nowhere" in line
    assert not (tmp_path / "out" / "_manifest.json").exists()


def test_empty_curated_input(tmp_path):
    write_curated(str(tmp_path / "curated"), [], shards=1)
    line = one_line_error(run_in_process(*train_args(tmp_path / "curated", tmp_path / "out")))
    assert "empty curated input" in line and "curated" in line


def test_bad_mix_names_the_field(artifacts, tmp_path):
    for mix, expected in (
        ("python=abc", "not a number"),
        ("python=0,rust=0", "sum to zero"),
        ("python", "subset=weight"),
        ("python=-1", ">= 0"),
    ):
        done = run_in_process(*train_args(artifacts.curated, tmp_path / "o", "--mix", mix))
        line = one_line_error(done)
        assert "mix" in line and expected in line, (mix, line)


def test_mixture_without_any_present_subset(artifacts, tmp_path):
    done = run_in_process(*train_args(artifacts.curated, tmp_path / "o", "--mix", "go=1"))
    line = one_line_error(done)
    assert "go" in line and "python" in line  # names what was asked and what exists


def test_vocabulary_too_large_for_sample(artifacts, tmp_path):
    args = train_args(artifacts.curated, tmp_path / "o", "--sample-bytes", "20000")
    args[args.index("--vocab-size") + 1] = "60000"
    line = one_line_error(run_in_process(*args))
    assert "Vocabulary size" in line and "--sample-bytes" in line
    assert not (tmp_path / "o" / "_manifest.json").exists()
