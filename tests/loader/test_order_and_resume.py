"""TokenLoader: sample contents, deterministic global order, rank sharding, exact resume."""

from __future__ import annotations

import itertools
from collections import Counter

import numpy as np
import pytest
import torch

from tests.pack.helpers import manifest
from tritter.errors import TritterError
from tritter.loader import TokenLoader, list_subsets

SEQ = 64
SUBSET = "conversations"  # ~7k train tokens: ~110 samples, a whole epoch is cheap to read


def reference_stream(folder, split, subset=None) -> np.ndarray:
    """The split's tokens as the format documents them: shards concatenated in manifest order."""
    parts = [
        np.load(folder / row["tokens"])
        for row in manifest(folder)["extra"]["shards"]
        if row["split"] == split and (subset is None or row["subset"] == subset)
    ]
    return np.concatenate(parts).astype(np.int64)


def windows(stream: np.ndarray, seq: int) -> list[tuple[int, ...]]:
    count = (len(stream) - 1) // seq
    return [tuple(stream[i * seq : (i + 1) * seq + 1].tolist()) for i in range(count)]


def rows(batch) -> list[tuple[int, ...]]:
    """Each row as its seq_len + 1 token window (inputs plus the last target)."""
    inputs, targets = batch[0], batch[1]
    out = []
    for x, y in zip(inputs.tolist(), targets.tolist(), strict=True):
        if y[-1] != -100:
            out.append((*x, y[-1]))
    return out


def make(artifacts, **kwargs) -> TokenLoader:
    options = {"split": "train", "seq_len": SEQ, "micro_batch_size": 4, "seed": 11}
    options.update(kwargs)
    return TokenLoader(str(artifacts.tokens), **options)


def take(loader: TokenLoader, count: int) -> list[tuple[torch.Tensor, ...]]:
    return list(itertools.islice(iter(loader), count))


def same(a, b) -> bool:
    return len(a) == len(b) and all(
        len(x) == len(y) and all(u.equal(v) for u, v in zip(x, y, strict=True))
        for x, y in zip(a, b, strict=True)
    )


def test_one_epoch_is_every_sample_once(artifacts):
    loader = make(artifacts, subset=SUBSET, loop=False)
    expected = Counter(windows(reference_stream(artifacts.tokens, "train", SUBSET), SEQ))
    assert loader.samples_per_epoch == sum(expected.values())
    seen = Counter(r for batch in loader for r in rows(batch))
    assert seen == expected
    for inputs, targets in take(make(artifacts, subset=SUBSET), 3):
        assert inputs.dtype == targets.dtype == torch.int64
        assert inputs.shape == targets.shape == (4, SEQ)
        assert torch.equal(inputs[:, 1:], targets[:, :-1])


def test_whole_split_stream_matches_the_format(artifacts):
    """Sample i of the whole train split is window i of the concatenated shards."""
    loader = make(artifacts)
    stream = reference_stream(artifacts.tokens, "train")
    assert loader.samples_per_epoch == (len(stream) - 1) // SEQ
    inputs, targets = next(iter(loader))
    ids = loader.sample_ids(np.arange(4))
    for row, sample in enumerate(ids):
        window = stream[sample * SEQ : (sample + 1) * SEQ + 1]
        assert inputs[row].tolist() == window[:-1].tolist()
        assert targets[row].tolist() == window[1:].tolist()


def test_order_is_a_deterministic_permutation_per_seed_and_epoch(artifacts):
    loader = make(artifacts, subset=SUBSET)
    n = loader.samples_per_epoch
    epoch0 = loader.sample_ids(np.arange(n))
    epoch1 = loader.sample_ids(np.arange(n, 2 * n))
    assert sorted(epoch0.tolist()) == sorted(epoch1.tolist()) == list(range(n))
    assert not np.array_equal(epoch0, epoch1)
    assert not np.array_equal(epoch0, np.arange(n))  # shuffled
    again = make(artifacts, subset=SUBSET)
    assert np.array_equal(again.sample_ids(np.arange(2 * n)), np.r_[epoch0, epoch1])
    other = make(artifacts, subset=SUBSET, seed=12)
    assert not np.array_equal(other.sample_ids(np.arange(n)), epoch0)
    assert same(take(make(artifacts), 3), take(make(artifacts), 3))
    # validation is read in stream order
    val = make(artifacts, split="val")
    assert np.array_equal(val.sample_ids(np.arange(5)), np.arange(5))


@pytest.mark.parametrize("world", [2, 4])
def test_ranks_split_the_single_rank_stream(artifacts, world):
    """Global batch g = ranks' micro-batches in rank order = the single-rank batch g."""
    micro = 3
    batches = 2 * (110 // (world * micro)) + 2  # past two epoch boundaries
    single = take(make(artifacts, subset=SUBSET, micro_batch_size=world * micro), batches)
    ranks = [
        take(
            make(artifacts, subset=SUBSET, micro_batch_size=micro, rank=r, world_size=world),
            batches,
        )
        for r in range(world)
    ]
    for g in range(batches):
        for part in range(2):
            joined = torch.cat([ranks[r][g][part] for r in range(world)])
            assert torch.equal(joined, single[g][part]), (g, part)
    # within one epoch (loop=False) ranks are disjoint and together cover every sample
    per_rank = [
        Counter(
            r
            for batch in make(
                artifacts,
                subset=SUBSET,
                micro_batch_size=micro,
                rank=k,
                world_size=world,
                loop=False,
            )
            for r in rows(batch)
        )
        for k in range(world)
    ]
    union = sum(per_rank, Counter())
    assert union == Counter(windows(reference_stream(artifacts.tokens, "train", SUBSET), SEQ))
    lengths = {
        len(
            list(
                make(
                    artifacts,
                    subset=SUBSET,
                    micro_batch_size=micro,
                    rank=k,
                    world_size=world,
                    loop=False,
                )
            )
        )
        for k in range(world)
    }
    assert len(lengths) == 1  # every rank yields the same number of batches


@pytest.mark.parametrize("world", [1, 2, 4])
def test_resume_reproduces_the_uninterrupted_batches(artifacts, world):
    done, more = 5, 4
    for rank in range(world):
        options = {"subset": SUBSET, "rank": rank, "world_size": world}
        uninterrupted = take(make(artifacts, **options), done + more)
        first = make(artifacts, **options)
        iterator = iter(first)
        for _ in range(done):
            next(iterator)
        state = first.state_dict()
        assert state["position"] == done * world * 4
        resumed = make(artifacts, **options)
        resumed.load_state_dict(state)
        assert same(take(resumed, more), uninterrupted[done:])


def test_resume_with_another_world_size_keeps_the_global_order(artifacts):
    """2 ranks × 4 for 5 batches, then 3 ranks × 2: the global sample sequence continues with
    no sample lost or repeated (the state is the global position)."""
    reference = take(make(artifacts, subset=SUBSET, micro_batch_size=1), 260)
    order = [r for batch in reference for r in rows(batch)]
    before = [make(artifacts, subset=SUBSET, rank=r, world_size=2) for r in range(2)]
    consumed: list = []
    iterators = [iter(loader) for loader in before]
    for _ in range(5):
        for iterator in iterators:
            consumed += rows(next(iterator))
    states = [loader.state_dict() for loader in before]
    assert states[0]["position"] == states[1]["position"] == 40
    after = [
        make(artifacts, subset=SUBSET, micro_batch_size=2, rank=r, world_size=3) for r in range(3)
    ]
    for loader in after:
        loader.load_state_dict(states[0])
    iterators = [iter(loader) for loader in after]
    for _ in range(30):  # crosses the epoch boundary (~110 samples)
        for iterator in iterators:
            consumed += rows(next(iterator))
    assert consumed == order[: len(consumed)]
    assert len(consumed) == 40 + 30 * 6


def test_state_from_another_order_is_refused(artifacts):
    state = make(artifacts, subset=SUBSET).state_dict()
    for changed in ({"seed": 12}, {"seq_len": 32}, {"subset": "docs"}):
        with pytest.raises(TritterError, match="resuming would change the data order"):
            make(artifacts, **{"subset": SUBSET, **changed}).load_state_dict(state)
    with pytest.raises(TritterError, match="not a"):
        make(artifacts, subset=SUBSET).load_state_dict({"position": 3})


def test_padding_rows_are_ignored_targets(artifacts):
    loader = make(artifacts, split="val", subset="python", micro_batch_size=7, loop=False)
    n = loader.samples_per_epoch
    assert n % 7, "pick a micro batch that does not divide the epoch"
    batches = list(loader)
    assert len(batches) == -(-n // 7)
    inputs, targets = batches[-1]
    real = n % 7
    assert (targets[real:] == -100).all()
    assert (inputs[real:] == manifest(artifacts.tokens)["extra"]["pad_id"]).all()
    assert (targets[:real] != -100).all()
    assert loader.state_dict()["position"] == n  # the pass ends at the epoch boundary
    # the next pass is the next epoch (val keeps stream order, so the same samples)
    assert loader.epoch == 1
    again = list(loader)
    assert same(again, batches)
    assert loader.state_dict()["position"] == 2 * n
    assert "python" in list_subsets(str(artifacts.tokens), "val")


def test_document_ids_follow_eos(artifacts):
    eos = manifest(artifacts.tokens)["extra"]["eos_id"]
    loader = make(artifacts, with_document_ids=True, micro_batch_size=8)
    for inputs, targets, documents in take(loader, 6):
        assert documents.shape == inputs.shape and documents.dtype == torch.int64
        assert (documents[:, 0] == 0).all()  # numbered from 0 within each row
        step = documents[:, 1:] - documents[:, :-1]
        assert torch.equal(step, (inputs[:, :-1] == eos).long())  # a new document after EOS
        assert torch.equal(targets[:, :-1], inputs[:, 1:])
    plain = take(make(artifacts, micro_batch_size=8), 6)
    assert all(len(batch) == 2 for batch in plain)


def test_data_loader_with_workers(artifacts):
    direct = take(make(artifacts), 6)
    loader = make(artifacts)
    tracked = loader.data_loader(num_workers=2)
    got = list(itertools.islice(iter(tracked), 6))
    assert same(got, direct)
    assert loader.state_dict()["position"] == 6 * 4
    resumed = make(artifacts)
    resumed.load_state_dict(loader.state_dict())
    assert same(take(resumed, 2), take(make(artifacts), 8)[6:])
    plain = torch.utils.data.DataLoader(make(artifacts), batch_size=None, num_workers=2)
    assert same([tuple(b) for b in itertools.islice(iter(plain), 6)], direct)


def test_data_loader_workers_one_pass(artifacts):
    """loop=False with an odd number of batches: workers still hand them out in order."""
    options = {"subset": SUBSET, "loop": False, "micro_batch_size": 5}
    direct = list(make(artifacts, **options))
    assert len(direct) % 2 == 1 or len(direct) % 3
    loader = make(artifacts, **options)
    assert same(list(loader.data_loader(num_workers=2)), direct)
    assert loader.state_dict()["position"] == loader.samples_per_epoch
