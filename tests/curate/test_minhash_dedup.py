"""Vectorised MinHash against exact Jaccard (and datasketch), LSH banding, dedup decisions,
benchmark decontamination."""

from __future__ import annotations

import random
import re
from pathlib import Path

import numpy as np
import pytest
from datasketch import MinHash

from tritter.benchmarks import load_humaneval, load_mbpp
from tritter.curate import components, dedup, minhash
from tritter.curate.decontam import BenchmarkIndex

SAMPLES = Path(__file__).parent / "samples"
SOURCES = sorted(p for p in SAMPLES.rglob("*") if p.suffix in (".py", ".rs", ".js", ".c", ".md"))
WORD = re.compile(rb"[a-z0-9_\x80-\xff]+")


def reference_words(data: bytes) -> list[bytes]:
    return WORD.findall(data.lower())


def shingle_set(data: bytes, n: int = 5) -> set[tuple[bytes, ...]]:
    words = reference_words(data)
    if len(words) < n:
        return {tuple(words)} if words else set()
    return {tuple(words[i : i + n]) for i in range(len(words) - n + 1)}


def jaccard(a: set, b: set) -> float:
    return len(a & b) / len(a | b) if a | b else 1.0


def test_word_hashes_match_a_regex_tokenizer_and_ignore_position():
    texts = [p.read_bytes() for p in SOURCES] + [b"", b"!!! ---", "Ünïcode wörds".encode()]
    words = minhash.word_hashes(texts)
    by_word: dict[bytes, int] = {}
    for index, text in enumerate(texts):
        expected = reference_words(text)
        hashes = words.hashes[words.offsets[index] : words.offsets[index + 1]]
        assert len(hashes) == len(expected)
        for word, value in zip(expected, hashes.tolist(), strict=True):
            # The same word hashes the same wherever it occurs; different words differ.
            assert by_word.setdefault(word, value) == value
    assert len(set(by_word.values())) == len(by_word)


def test_ngrams_never_cross_documents():
    words = minhash.word_hashes([b"alpha beta gamma", b"delta epsilon zeta eta theta iota"])
    grams = minhash.ngram_hashes(words, 5)
    assert np.diff(grams.offsets).tolist() == [1, 2]  # short document: one n-gram of all words
    assert np.diff(minhash.ngram_hashes(words, 5, short=False).offsets).tolist() == [0, 2]


def edited(text: bytes, rng: random.Random, edits: int) -> bytes:
    lines = text.split(b"\n")
    for _ in range(edits):
        position = rng.randrange(len(lines))
        lines[position] = b"changed_" + str(rng.random()).encode() + b" = None"
    return b"\n".join(lines)


def test_signature_agreement_estimates_exact_jaccard():
    rng = random.Random(7)
    base = [p.read_bytes() for p in SOURCES if p.stat().st_size > 1500]
    docs = []
    for text in base:
        docs += [text, edited(text, rng, rng.choice([1, 3, 8, 20]))]
    perms = minhash.Permutations.create(256, seed=3)
    sigs = minhash.signatures(minhash.ngram_hashes(minhash.word_hashes(docs), 5), perms)
    errors, datasketch_errors = [], []
    for i in range(0, len(docs), 2):
        a, b = shingle_set(docs[i]), shingle_set(docs[i + 1])
        exact = jaccard(a, b)
        ours = float((sigs[i] == sigs[i + 1]).mean())
        theirs = []
        for shingles in (a, b):
            mh = MinHash(num_perm=256, seed=3)
            mh.update_batch([b" ".join(s) for s in shingles])
            theirs.append(mh)
        errors.append(abs(ours - exact))
        datasketch_errors.append(abs(theirs[0].jaccard(theirs[1]) - exact))
    # Standard error of a 256-permutation estimate is at most 1/32 ≈ 0.031.
    assert max(errors) < 0.12
    assert np.mean(errors) < 0.04
    assert np.mean(errors) < 2 * np.mean(datasketch_errors) + 0.01
    unrelated = float((sigs[0] == sigs[2]).mean())
    assert unrelated < 0.2


def test_identical_documents_have_identical_signatures_and_band_keys():
    text = SOURCES[0].read_bytes()
    perms = minhash.Permutations.create(128, seed=1)
    sigs = minhash.signatures(
        minhash.ngram_hashes(minhash.word_hashes([text, b"", text]), 5), perms
    )
    assert (sigs[0] == sigs[2]).all()
    assert (sigs[1] == minhash.EMPTY).all()
    keys = minhash.band_keys(sigs, 16, 8)
    assert (keys[0] == keys[2]).all() and (keys[0] != 0).all()
    assert (keys[1] == 0).all()  # no shingles: never bucketed


def test_band_choice_matches_the_lsh_error_integral():
    from datasketch.lsh import _optimal_param

    for threshold in (0.7, 0.8, 0.9):
        assert minhash.choose_bands(threshold, 128) == _optimal_param(threshold, 128, 0.01, 0.99)


def records(exact, lic, quality, stars, ids=None):
    n = len(exact)
    found = np.zeros(n, dtype=dedup.exact_record(2))
    found["exact"], found["ref"], found["lic"] = exact, np.arange(n) + 100, lic
    found["quality"], found["stars"] = quality, stars
    found["idhash"] = ids if ids is not None else range(n)
    return found


def test_exact_groups_keep_the_permissive_then_better_then_starred_copy():
    docs = records(
        exact=[5, 5, 5, 9, 9, 7],
        lic=[0, 1, 1, 1, 1, 1],
        quality=[0.9, 0.6, 0.6, 0.5, 0.5, 0.1],
        stars=[10, 3, 40, -1, -1, 0],
        ids=[1, 2, 3, 9, 4, 5],
    )
    members, representatives, sizes = dedup.exact_groups(docs)
    # Group 5: doc 0 has the best quality but an unknown license; doc 2 beats doc 1 on stars.
    # Group 9: a full tie is broken by the smaller id hash (doc 4).
    assert dict(zip(members.tolist(), representatives.tolist(), strict=True)) == {0: 2, 1: 2, 3: 4}
    assert sorted(sizes.tolist()) == [2, 3]


def test_bucket_pairs_and_cluster_keepers():
    keys = np.array([[3, 5], [3, 6], [0, 0], [3, 6], [8, 2]], dtype=np.uint64)
    entries = dedup.band_entries(np.array([40, 10, 20, 30, 50]), keys)
    pairs = dedup.bucket_pairs(entries)  # band 0: {10, 30, 40} → (10, 30), (10, 40); band 1
    found = zip(pairs["u"].tolist(), pairs["v"].tolist(), strict=True)
    assert sorted(found) == [(10, 30), (10, 40)]
    attrs = np.zeros(5, dtype=dedup.ATTRS)
    attrs["lic"] = 1
    attrs["quality"] = [0.2, 0.9, 0.5, 0.4, 0.4]
    attrs["idhash"] = [1, 2, 3, 8, 7]
    attrs["id"] = [b"a", b"b", b"c", b"d", b"e"]
    decisions, sizes = components.choose_keepers(
        np.array([10, 10, 10, 30, 30]), np.array([10, 11, 12, 30, 31]), attrs
    )
    decided = zip(decisions["ref"].tolist(), decisions["keeper"].tolist(),
                  decisions["keeper_id"].tolist(), strict=True)  # fmt: skip
    assert {r: (k, i) for r, k, i in decided} == {10: (11, b"b"), 12: (11, b"b"), 30: (31, b"e")}
    assert sorted(sizes.tolist()) == [2, 3]


@pytest.fixture(scope="module")
def benchmark_index():
    return BenchmarkIndex.from_benchmarks(10)


def contaminated(index, texts: list[str]):
    return index.contaminated(minhash.word_hashes([t.encode() for t in texts]), 0.5)


def test_benchmark_copies_are_found_even_reformatted(benchmark_index):
    problem = load_humaneval()[42]
    mbpp = load_mbpp()[120]
    copy = "import math\n\n" + problem.prompt + problem.solution + "\nprint('done')\n"
    solution_only = "# helper\n" + mbpp.solution.replace("\r\n", "\n").replace("    ", "  ")
    hits = contaminated(benchmark_index, [copy, solution_only, (SAMPLES / "unlicensed/notes.py")
                                          .read_text()])  # fmt: skip
    assert (hits[0].benchmark, hits[0].task_id) == ("humaneval", problem.task_id)
    assert (hits[1].benchmark, hits[1].task_id) == ("mbpp", mbpp.task_id)
    assert hits[2] is None


def test_partial_overlap_below_the_threshold_is_kept(benchmark_index):
    problem = load_humaneval()[10]
    words = (problem.prompt + problem.solution).split()
    fragment = " ".join(words[: len(words) // 4])  # a quarter of the prompt: not a copy
    assert contaminated(benchmark_index, [fragment + "\n" + "x = 1\n" * 5]) == [None]
    assert benchmark_index.skipped > 0  # snippets shorter than n words are not indexed


def test_shingle_sets_give_exact_jaccard_of_the_word_5_gram_sets():
    texts = [p.read_bytes() for p in SOURCES[:6]]
    rng = random.Random(3)
    texts += [edited(texts[0], rng, 4), edited(texts[1], rng, 12)]
    shingles = minhash.ngram_hashes(minhash.word_hashes(texts), 5)
    keep = np.ones(len(texts), dtype=bool)
    keep[2] = False  # dropped documents get no set
    values, offsets = minhash.shingle_sets(shingles, keep)
    kept = np.flatnonzero(keep).tolist()
    assert offsets.size == len(kept) + 1
    sets = {doc: values[offsets[i] : offsets[i + 1]] for i, doc in enumerate(kept)}
    for doc, array in sets.items():
        assert np.unique(array).size == len(shingle_set(texts[doc]))
    for a, b in ((0, 6), (1, 7), (0, 1), (3, 4)):
        expected = jaccard(shingle_set(texts[a]), shingle_set(texts[b]))
        assert minhash.exact_jaccard(sets[a], sets[b]) == pytest.approx(expected, abs=1e-9)
