"""Semantic dedup (`--semantic-dedup`, issue #17 point 3): planted paraphrases (renamed
identifiers, reordered functions) that MinHash misses are found by the embedding step, through
the real `tritter curate`, with a tiny random encoder built here.

The encoder is a 2-layer `BertModel` with random weights and a word-level tokenizer trained
with `tokenizers` on the corpus. Why a random encoder separates the planted copies robustly:
its position and token-type embeddings are zeroed, so nothing in it depends on token order
(full attention over a document is permutation-equivariant and the mean pool then invariant):
a copy with its functions reordered embeds exactly like its original. What remains is close to
a bag of tokens: each token's vector is its LayerNorm-ed random embedding (the random layers
add only small residual updates), random vectors in 256 dimensions are nearly orthogonal, so
the cosine of two mean-pooled documents is close to the cosine of their token-count vectors.
Renaming a few identifiers moves a few per cent of the counts (cosine ~0.96 here), while
unrelated modules share little beyond punctuation and keywords (cosine <= ~0.6). The test
threshold, 0.9, sits between the two with a wide margin either side; the default 0.95 is
meant for trained encoders.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

import numpy as np
import pyarrow.parquet as pq
import pytest

from tests.conftest import run_tritter
from tests.curate.semantic_corpus import MODULES, PLANTS, copy_path, paraphrase, records
from tritter.curate import minhash, semantic
from tritter.curate.config import CurateConfig

THRESHOLD = 0.9
CLUSTERS = 3


@pytest.fixture(scope="module")
def encoder_dir(tmp_path_factory) -> Path:
    """A tiny random encoder and its trained tokenizer, written with `save_pretrained`."""
    import torch
    from tokenizers import Tokenizer, models, pre_tokenizers, trainers
    from transformers import BertConfig, BertModel, PreTrainedTokenizerFast

    folder = tmp_path_factory.mktemp("encoder")
    specials = ["[PAD]", "[UNK]", "[CLS]", "[SEP]"]
    words = Tokenizer(models.WordLevel(unk_token="[UNK]"))
    words.pre_tokenizer = pre_tokenizers.Whitespace()
    words.train_from_iterator([r["text"] for r in records()],
                              trainers.WordLevelTrainer(special_tokens=specials))  # fmt: skip
    tokenizer = PreTrainedTokenizerFast(
        tokenizer_object=words, unk_token="[UNK]", pad_token="[PAD]", cls_token="[CLS]",
        sep_token="[SEP]", model_max_length=512,
    )  # fmt: skip
    torch.manual_seed(0)
    config = BertConfig(vocab_size=words.get_vocab_size(), hidden_size=256, num_hidden_layers=2,
                        num_attention_heads=4, intermediate_size=512,
                        max_position_embeddings=512)  # fmt: skip
    model = BertModel(config)
    with torch.no_grad():  # order-free: see the module docstring
        model.embeddings.position_embeddings.weight.zero_()
        model.embeddings.token_type_embeddings.weight.zero_()
    model.save_pretrained(folder)
    tokenizer.save_pretrained(folder)
    return folder


@pytest.fixture(scope="module")
def corpus(tmp_path_factory) -> Path:
    path = tmp_path_factory.mktemp("semantic") / "docs.jsonl"
    path.write_text("".join(json.dumps(row) + "\n" for row in records()))
    return path


def _args(corpus: Path, output: Path, *extra: str) -> list[str]:
    return ["curate", "--input", str(corpus), "--output", str(output), "--allow-unknown-license",
            "--shard-mb", "0.002", "--workers", "2", *extra]  # fmt: skip


@pytest.fixture(scope="module")
def curated(corpus, encoder_dir, tmp_path_factory) -> tuple[Path, str]:
    output = tmp_path_factory.mktemp("semantic") / "out"
    result = run_tritter(*_args(corpus, output, "--semantic-dedup", str(encoder_dir),
                                "--semantic-threshold", str(THRESHOLD), "--semantic-clusters",
                                str(CLUSTERS), "--keep-work"))  # fmt: skip
    assert result.returncode == 0, result.stderr
    return output, result.stdout


def _shingles(text: str) -> set[int]:
    words = minhash.word_hashes([text.encode()])
    return set(minhash.ngram_hashes(words, CurateConfig.model_fields["shingle_size"].default)
               .hashes.tolist())  # fmt: skip


def test_the_planted_copies_are_beyond_minhash():
    threshold = CurateConfig.model_fields["dedup_threshold"].default
    for path, (renames, *_) in PLANTS.items():
        original = _shingles(MODULES[path])
        copy = _shingles(paraphrase(MODULES[path], renames))
        assert len(original & copy) / len(original | copy) < threshold - 0.2, path


def _published(output: Path) -> tuple[dict[str, dict], dict[str, dict]]:
    kept = {}
    for part in sorted(output.glob("part-*.parquet")):
        kept.update({row["path"]: row for row in pq.read_table(part).to_pylist()})
    rejects = {}
    for part in sorted((output / "rejects").glob("*.jsonl")):
        for line in part.read_text().splitlines():
            record = json.loads(line)
            rejects[record["path"]] = record
    return kept, rejects


def _work_rows(output: Path) -> dict[str, dict]:
    """Every processed document's row (license, quality, stars), from the kept `_work/`."""
    rows = {}
    for docs in sorted((output / "_work" / "shards").glob("*/docs.parquet")):
        columns = ["id", "path", "license", "quality_score", "stars"]
        rows.update({r["path"]: r for r in pq.read_table(docs, columns=columns).to_pylist()})
    return rows


def test_semantic_dedup_drops_exactly_the_planted_copies(curated, encoder_dir):
    output, stdout = curated
    kept, rejects = _published(output)
    manifest = json.loads((output / "_manifest.json").read_text())
    counts = manifest["counts"]
    assert counts["shards"] > 2  # originals and copies in different shards
    assert "near_duplicate" not in counts["dropped"]  # MinHash missed every planted copy
    assert counts["dropped"] == {"semantic_duplicate": len(PLANTS)}
    work = _work_rows(output)
    expected = {}  # dropped path → the path kept instead
    for path in PLANTS:
        original, copy = f"src/{path}", copy_path(path)

        def preference(p: str) -> tuple:  # the keep rules: known license, quality, stars
            row = work[p]
            return (row["license"] != "unknown", row["quality_score"], row["stars"])

        keeper, dropped = sorted([original, copy], key=preference, reverse=True)
        assert preference(keeper) != preference(dropped)
        assert keeper in kept and dropped not in kept
        assert rejects[dropped]["reason"] == "semantic_duplicate"
        assert rejects[dropped]["detail"] == f"kept {work[keeper]['id']}"
        expected[dropped] = keeper
    # The license rule decides against the earlier copy too (not "first seen wins").
    assert copy_path("routes.py") in kept and "src/routes.py" not in kept
    assert "src/inventory.py" in kept
    unrelated = {f"src/{p}" for p in MODULES if p not in PLANTS}
    assert unrelated <= set(kept)
    assert len(kept) == len(MODULES)

    found = counts["dedup"]["semantic"]
    assert found["encoder"] == str(encoder_dir)
    assert (found["clusters"], found["embedded"]) == (CLUSTERS, len(MODULES) + len(PLANTS))
    assert (found["pairs"], found["groups"], found["removed"]) == (3, 3, 3)
    assert found["threshold"] == THRESHOLD and found["largest_group"] == 2
    examples = found["examples"]
    assert {e["removed_path"]: e["kept_path"] for e in examples} == expected
    for example in examples:
        assert THRESHOLD < example["cosine"] <= 1.0001
        assert example["removed_id"] == work[example["removed_path"]]["id"]
        assert example["kept_id"] == work[example["kept_path"]]["id"]
        assert "text" not in example
    assert [e["cosine"] for e in examples] == sorted(e["cosine"] for e in examples)
    assert "semantic-duplicate groups" in stdout


def test_similar_groups_merge_across_blocks(monkeypatch):
    # a ~ b ~ c in a chain (a and c below the threshold), d alone, e ~ f; blocks of two rows
    # so the chain's pairs arrive in different blocks and are merged into one group.
    angles = np.radians([0.0, 20.0, 40.0, 120.0, 200.0, 205.0])
    vectors = np.stack([np.cos(angles), np.sin(angles)], axis=1).astype(np.float32)
    monkeypatch.setattr(semantic, "BLOCK_ROWS", 2)
    centre, member, pairs = semantic.similar_groups(vectors, np.cos(np.radians(25.0)))
    groups = {}
    for c, m in zip(centre.tolist(), member.tolist(), strict=True):
        groups.setdefault(c, set()).add(m)
    assert groups == {0: {0, 1, 2}, 4: {4, 5}}
    assert pairs == 3  # a-b, b-c, e-f


def test_kmeans_is_deterministic_and_separates_clear_clusters():
    rng = np.random.default_rng(1)
    centres = np.eye(4, dtype=np.float32)
    points = np.repeat(centres, 25, axis=0) + rng.normal(0, 0.05, (100, 4)).astype(np.float32)
    points /= np.linalg.norm(points, axis=1, keepdims=True)
    first, iterations = semantic.kmeans(points, 4, 20, seed=0)
    again, _ = semantic.kmeans(points, 4, 20, seed=0)
    assert np.array_equal(first, again) and iterations <= 20
    labels = semantic.nearest(points, first)
    assert sorted(np.bincount(labels).tolist()) == [25, 25, 25, 25]
    assert all(len(set(labels[i * 25 : (i + 1) * 25].tolist())) == 1 for i in range(4))


@pytest.mark.parametrize(
    ("fields", "field"),
    [
        ({"semantic_threshold": 1.0}, "semantic_threshold"),
        ({"semantic_clusters": 0}, "semantic_clusters"),
        ({"semantic_dedup": "hf://"}, "semantic_dedup"),
        ({"semantic_dedup": "enc", "dedup": False}, "semantic_dedup"),
    ],
)
def test_semantic_settings_are_validated(fields, field):
    with pytest.raises(ValueError, match=field):
        CurateConfig(input="in", output="out", **fields)


def test_a_missing_encoder_stops_before_any_work(corpus, tmp_path):
    output = tmp_path / "out"
    missing = tmp_path / "no-encoder"
    result = run_tritter(*_args(corpus, output, "--semantic-dedup", str(missing)))
    assert result.returncode != 0
    assert re.search(rf"{re.escape(str(missing))}: not a Hugging Face encoder folder",
                     result.stderr)  # fmt: skip
    assert not (output / "_work" / "shards").exists()


def test_an_encoder_that_cannot_load_stops_before_any_work(corpus, tmp_path):
    """A model that needs its own code (auto_map, unknown model_type) or has no tokenizer is a
    one-line error at plan time, not after every shard was processed."""
    remote = tmp_path / "remote-code"
    remote.mkdir()
    (remote / "config.json").write_text(
        json.dumps({"model_type": "jina_code_bert", "auto_map": {"AutoModel": "m.Model"}})
    )
    output = tmp_path / "out"
    result = run_tritter(*_args(corpus, output, "--semantic-dedup", str(remote)))
    assert result.returncode != 0
    (line,) = result.stderr.strip().splitlines()
    assert "jina_code_bert" in line and "trust_remote_code" in line
    assert not (output / "_work" / "shards").exists()
    (remote / "config.json").write_text(json.dumps({"model_type": "bert"}))
    result = run_tritter(*_args(corpus, output, "--semantic-dedup", str(remote)))
    assert "no tokenizer" in result.stderr.strip().splitlines()[-1]
