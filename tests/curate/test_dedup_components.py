"""Partitioned dedup (issue #17 point 4): the connected components, the steps' files, and the
decisions against the former in-memory algorithm (`dedup_reference`) on planted structures."""

from __future__ import annotations

import shutil
import threading
from pathlib import Path

import numpy as np
import pytest

from tests.curate import dedup_reference
from tests.curate.synthetic_dedup import Corpus, write_run
from tritter import storage
from tritter.curate import dedup, index
from tritter.curate.config import CurateConfig
from tritter.curate.plan import load_run, plan
from tritter.curate.work import read_slice, write_slices
from tritter.errors import TritterError

# --------------------------------------------------------------------------------------------
# Connected components, the pure array functions over in-memory partitions


def union_find_roots(u: np.ndarray, v: np.ndarray) -> dict[int, int]:
    return dedup_reference.components(u, v)  # {node: smallest node of its component}


def partitioned_components(u: np.ndarray, v: np.ndarray, partitions: int) -> tuple[dict, int]:
    """The steps' algorithm with lists for files: ({node: centre}, rounds)."""

    def route(edges: np.ndarray, to: np.ndarray) -> list[np.ndarray]:
        slices = dedup.node_partition(to, partitions)
        return [edges[slices == p] for p in range(partitions)]

    both = dedup.both_directions(u, v)
    current = route(both, both["u"])
    rounds = 0
    while True:
        rounds += 1
        outputs = [dedup.large_star(part) for part in current]
        if sum(unsettled for _, unsettled in outputs) == 0:
            break
        larger = np.concatenate([out for out, _ in outputs])
        stars = [dedup.small_star(part)[0] for part in route(larger, larger["u"])]
        merged = np.concatenate(stars)
        both = dedup.both_directions(merged["u"], merged["v"])
        current = route(both, both["u"])
    centre_of = {}
    for part in current:
        centres, members = dedup.star_members(part)
        for centre, member in zip(centres.tolist(), members.tolist(), strict=True):
            assert centre_of.setdefault(member, centre) == centre
    return centre_of, rounds


def random_graph(rng: np.random.Generator, nodes: int, edges: int) -> tuple[np.ndarray, ...]:
    ids = rng.choice(2**40, size=nodes, replace=False).astype(np.int64)
    a, b = rng.integers(0, nodes, size=(2, edges))
    return ids[a], ids[b]


@pytest.mark.parametrize("partitions", [1, 3, 8])
def test_components_are_the_union_find_components_centred_on_the_smallest(partitions):
    rng = np.random.default_rng(partitions)
    pieces = [random_graph(rng, 3000, 2500)]  # many small trees and a few larger components
    chain = rng.permutation(2**41 + np.arange(500))  # a path of 500 in random ref order
    pieces.append((chain[:-1], chain[1:]))
    centre = 2**42  # a star
    pieces.append((np.full(300, centre), centre + 1 + np.arange(300)))
    u = np.concatenate([p[0] for p in pieces]).astype(np.int64)
    v = np.concatenate([p[1] for p in pieces]).astype(np.int64)
    centre_of, rounds = partitioned_components(u, v, partitions)
    assert centre_of == union_find_roots(u, v)
    assert rounds <= 12  # O(log n) in practice


def test_a_long_chain_converges_in_logarithmic_rounds():
    chain = np.random.default_rng(5).permutation(100_000).astype(np.int64)
    centre_of, rounds = partitioned_components(chain[:-1], chain[1:], 4)
    assert set(centre_of.values()) == {0} and len(centre_of) == 100_000
    assert rounds <= 30


def test_star_members_refuses_edges_that_are_not_stars():
    path = dedup.both_directions(np.array([1, 2]), np.array([2, 3]))
    with pytest.raises(ValueError, match="not a forest of stars"):
        dedup.star_members(path)


def test_partitioned_files_round_trip_and_damage_is_a_one_line_error(tmp_path):
    records = np.zeros(10, dtype=dedup.EDGE)
    records["u"] = np.arange(10)
    slices = np.array([2, 0, 2, 2, 3, 0, 2, 3, 3, 2])
    uri = str(tmp_path / "edges")
    write_slices(uri, records, slices, 5)
    for q in range(5):
        found = read_slice(uri, q, 5, dedup.EDGE)["u"]
        assert found.tolist() == np.flatnonzero(slices == q).tolist()
    data = Path(uri).read_bytes()
    Path(uri).write_bytes(data[:-8])
    with pytest.raises(TritterError, match="slice 3 is truncated"):
        read_slice(uri, 3, 5, dedup.EDGE)


# --------------------------------------------------------------------------------------------
# The steps on planted structures, against the former algorithm


def planted(seed: int = 11) -> tuple[Corpus, dict[str, list[int]]]:
    """Chains, stars, pairs, exact-duplicate groups (some of near-duplicates), singletons."""
    corpus = Corpus(np.random.default_rng(seed), length=24)
    shape: dict[str, list[int]] = {}
    # a–b–c–d: adjacent documents share 22 of 26 shingles (Jaccard 0.85), a and c 20 of 28 (0.71).
    chain = [corpus.base(lic=1, quality=0.5, stars=1)]
    for step in range(3):
        chain.append(corpus.variant(chain[-1], [2 * step, 2 * step + 1], lic=1, quality=0.5,
                                    stars=1 if step != 1 else 5))  # fmt: skip
    shape["chain"] = chain  # c (chain[2]) has the most stars: the keeper
    # A star: leaves differ from the centre in disjoint positions, so not from each other.
    centre = corpus.base(lic=1, quality=0.3)
    shape["star"] = [centre] + [corpus.variant(centre, [2 * k, 2 * k + 1], lic=1,
                                               quality=0.9 if k == 4 else 0.2)
                                for k in range(8)]  # fmt: skip
    # Exact groups: the best copy by license, then quality, then stars; full ties by hash.
    top = corpus.base(lic=0, quality=0.99, stars=100)
    shape["exact"] = [top, corpus.copy(top, lic=1, quality=0.4, stars=3),
                      corpus.copy(top, lic=1, quality=0.4, stars=9),
                      corpus.copy(top, lic=1, quality=0.4, stars=9)]  # fmt: skip
    # An exact copy of a chain member with a better license: it represents that member.
    shape["chain_copy"] = [corpus.copy(chain[1], lic=1, quality=0.5, stars=3)]
    # Near-duplicate pairs and a long chain (several rounds).
    shape["pairs"] = []
    for _ in range(10):
        first = corpus.base()
        shape["pairs"] += [first, corpus.variant(first, 1)]
    long = [corpus.base()]
    for step in range(40):
        long.append(corpus.variant(long[-1], [(2 * step) % 24, (2 * step + 1) % 24]))
    shape["long"] = long
    shape["single"] = [corpus.base() for _ in range(300)]
    # Documents without shingles (never bucketed) and their exact copies.
    empty = corpus._add(np.zeros(0, np.uint64), 77, 1, 0.5, 0)
    shape["empty"] = [empty, corpus.copy(empty)]
    return corpus, shape


def make_run(path: Path | str, partitions: int = 5, seed: int = 11, **settings) -> tuple:
    corpus, shape = planted(seed)
    order = np.random.default_rng(seed + 1).permutation(len(corpus))
    # The star's centre first (ref 0): each bucket pairs its members with its smallest ref only
    # (datatrove's scheme), so only then is every leaf paired with the centre.
    centre = shape["star"][0]
    order = np.concatenate(([centre], order[order != centre]))
    output, refs = write_run(str(path), corpus, docs_per_shard=17, partitions=partitions,
                             order=order, **settings)  # fmt: skip
    return output, refs, shape


def run_local(output: str) -> None:
    """Every dedup fan-out, unit by unit, in this process (as the local pool runs them)."""
    for step in index.dedup_steps(output):
        for unit in range(step.units):
            step.function(output, unit)


def new_decisions(output: str) -> tuple[dict[int, tuple[int, str]], dict, set]:
    found = index.read_edges(output)
    exact, near = ({int(r): (int(k), i.decode()) for r, k, i in
                    zip(found[n]["ref"], found[n]["keeper"], found[n]["keeper_id"], strict=True)}
                   for n in ("exact", "near"))  # fmt: skip
    edges = set(zip(found["edges"]["u"].tolist(), found["edges"]["v"].tolist(), strict=True))
    return exact, near, edges


@pytest.fixture(scope="module")
def reference_run(tmp_path_factory):
    """The planted run decided by the former algorithm (and kept for comparison)."""
    root = tmp_path_factory.mktemp("reference")
    output, refs, shape = make_run(root / "out")
    decisions, verified = dedup_reference.reference(output, str(root / "groups"))
    return decisions, verified, refs, shape


def assert_same_decisions(output: str, reference_run) -> None:
    decisions, verified, _, _ = reference_run
    exact, near, edges = new_decisions(output)
    assert {r: k for r, (k, _) in exact.items()} == decisions.exact
    assert {r: k for r, (k, _) in near.items()} == decisions.near
    for decided in (exact, near):
        assert all(decisions.ids[k] == i for k, i in decided.values())
    assert edges == verified
    run = load_run(output)
    summary = index.dedup_summary(run)
    assert summary.exact_groups == len(decisions.exact_group_sizes)
    assert summary.exact_removed == len(decisions.exact)
    assert summary.largest_exact_group == max(decisions.exact_group_sizes)
    assert summary.near_clusters == len(decisions.near_cluster_sizes)
    assert summary.near_removed == len(decisions.near)
    assert summary.largest_near_cluster == max(decisions.near_cluster_sizes)
    assert summary.verified_pairs == len(edges)


def test_partitioned_dedup_makes_the_former_decisions(tmp_path, reference_run):
    output, refs, shape = make_run(tmp_path / "out")
    run_local(output)
    assert_same_decisions(output, reference_run)
    exact, near, edges = new_decisions(output)
    ref = {name: [int(refs[d]) for d in docs] for name, docs in shape.items()}
    a, b, c, d = ref["chain"]
    copy = ref["chain_copy"][0]  # more stars than b: it represents b's exact group
    assert exact[b][0] == copy
    assert {near[a][0], near[copy][0], near[d][0]} == {c} and c not in near
    for x, y in ((a, copy), (copy, c), (c, d)):
        assert (min(x, y), max(x, y)) in edges
    assert (min(a, c), max(a, c)) not in edges and (min(copy, d), max(copy, d)) not in edges
    centre, *leaves = ref["star"]
    assert all(near[x][0] == leaves[4] for x in [centre, *leaves] if x != leaves[4])
    top, worse, tied, tied_too = ref["exact"]
    keeper = min(tied, tied_too, key=lambda r: dedup_reference_idhash(output, r))
    assert {exact[x][0] for x in (top, worse, tied, tied_too) if x != keeper} == {keeper}
    assert len({near[x][0] for x in ref["long"] if x in near}) == 1
    assert not any(x in near or x in exact for x in ref["single"])
    assert len([x for x in ref["empty"] if x in exact]) == 1


def dedup_reference_idhash(output: str, ref: int) -> int:
    shard, row = dedup.split_ref(ref)
    with np.load(storage.local_path(load_run(output).work.shard(shard, "dedup.npz"))) as data:
        return int(data["idhash"][row])


def test_dedup_index_units_at_once_or_alone_make_the_same_decisions(tmp_path, reference_run):
    output, _, _ = make_run(tmp_path / "together")
    run = load_run(output)
    assert run.dedup_units == 5
    errors = []

    def drive(unit: int) -> None:
        try:
            index.dedup_index(output, unit)
        except Exception as err:  # reported below
            errors.append(err)

    threads = [threading.Thread(target=drive, args=(u,)) for u in range(run.dedup_units)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert not errors
    assert_same_decisions(output, reference_run)
    alone, _, _ = make_run(tmp_path / "alone")
    stats = index.dedup_index(alone, 3)  # the others never start: unit 3 does everything
    assert stats.units_run > 0
    assert_same_decisions(alone, reference_run)
    assert index.dedup_index(alone, 0).units_run == 0  # a late unit finds everything done


def test_resumed_steps_rewrite_identical_files(tmp_path, reference_run):
    output, _, _ = make_run(tmp_path / "out", partitions=3)
    run_local(output)
    folder = tmp_path / "out" / "_work" / "dedup"
    before = {p: p.read_bytes() for p in folder.rglob("*") if p.is_file() and p.suffix != ".json"}
    rng = np.random.default_rng(0)
    markers = sorted(folder.rglob("*.json"))
    for marker in rng.choice(markers, size=len(markers) // 2, replace=False):
        marker.unlink()  # a unit killed before its marker: redone
    shutil.rmtree(folder / "near")  # a fan-out never started
    run_local(output)
    after = {p: p.read_bytes() for p in folder.rglob("*") if p.is_file() and p.suffix != ".json"}
    assert after == before
    assert_same_decisions(output, reference_run)


def test_components_that_do_not_converge_stop_with_a_one_line_error(tmp_path):
    output, _, _ = make_run(tmp_path / "out", dedup_max_rounds=1)
    with pytest.raises(TritterError, match=r"did not converge in 1 rounds \(raise --dedup-max"):
        run_local(output)


def test_steps_on_s3_read_only_their_slices_and_match(s3_bucket, reference_run):
    output, _, _ = make_run(f"{s3_bucket}/run", partitions=4)
    run_local(output)
    assert_same_decisions(output, reference_run)


def test_the_planted_corpus_curated_by_the_cli_gets_the_former_decisions(curated, tmp_path):
    """Real text through process-shard, then the former algorithm on the same work files."""
    output = str(curated.output)
    decisions, verified = dedup_reference.reference(output, str(tmp_path / "groups"))
    exact, near, edges = new_decisions(output)
    # (test_end_to_end checks that the corpus has its planted exact and near duplicates)
    assert {r: k for r, (k, _) in exact.items()} == decisions.exact
    assert {r: k for r, (k, _) in near.items()} == decisions.near
    assert edges == verified


def test_a_unit_claimed_by_a_dead_dedup_index_unit_is_taken_over(tmp_path, monkeypatch):
    output, _, _ = make_run(tmp_path / "out", partitions=2)
    run = load_run(output)
    index._claim(run, "exact", 1, me=1)  # unit 1 claimed exact partition 1, then died
    monkeypatch.setattr(index, "CLAIM_LEASE_SECONDS", 0.5)
    stats = index.dedup_index(output, 0)
    assert stats.units_run > 0
    assert index.dedup_summary(run).exact_groups > 0


def test_a_resumed_plan_takes_the_new_runtime_settings_and_keeps_its_layout(tmp_path):
    tree = Path(__file__).parent / "samples" / "mit_project"
    settings = {"input": str(tree), "output": str(tmp_path / "out"), "shard_mb": 0.005}
    first = plan(CurateConfig(**settings, dedup_max_rounds=1, dedup_partitions=3))
    again = plan(CurateConfig(**settings, dedup_max_rounds=9, dedup_partitions=7))
    assert (again.partitions, again.dedup_units) == (first.partitions, first.dedup_units) == (3, 3)
    run = load_run(settings["output"])
    assert run.config.dedup_max_rounds == 9 and run.partitions == 3
