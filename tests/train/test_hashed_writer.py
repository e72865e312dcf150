"""Checkpoint files are hashed while they are written: the digests the writer (and the
`Checkpointer`) record equal the sha256 of the files on disk, for the DCP data files (several
writer threads, tensors and bytes items), `.metadata` (written as a temp file, then renamed)
and rank 0's other files."""

from __future__ import annotations

import json
import warnings
from pathlib import Path

import torch
import torch.distributed.checkpoint as dcp

from tritter import storage
from tritter.run_folder import COMMIT_MARKER
from tritter.train.checkpoint import Checkpointer
from tritter.train.distributed import DistContext
from tritter.train.hashed_writer import HashingWriter
from tritter.train.store import CheckpointStore


def on_disk(folder: Path) -> dict[str, str]:
    return {
        p.relative_to(folder).as_posix(): storage.sha256_file(p)
        for p in folder.rglob("*")
        if p.is_file()
    }


def test_writer_digests_equal_the_files_on_disk(tmp_path):
    state = {
        "weights": {f"layer{i}": torch.randn(64, 32 + i) for i in range(6)},
        "step": torch.tensor(7),
        "notes": {"text": "a bytes item", "numbers": [1, 2, 3]},  # written as BYTE_IO items
    }
    writer = HashingWriter(str(tmp_path), thread_count=3)
    with warnings.catch_warnings():  # "assuming ... a single process": intended here
        warnings.simplefilter("ignore", UserWarning)
        dcp.save(state, storage_writer=writer, no_dist=True)
    digests = writer.digests()
    assert ".metadata" in digests and len([n for n in digests if n.endswith(".distcp")]) == 3
    assert digests == on_disk(tmp_path)


def test_checkpointer_marker_records_what_was_written(tmp_path):
    ctx = DistContext.init("cpu")
    try:
        model = torch.nn.Sequential(torch.nn.Linear(48, 96), torch.nn.Linear(96, 16))
        optimizer = torch.optim.AdamW(model.parameters())
        model(torch.randn(4, 48)).sum().backward()
        optimizer.step()
        store = CheckpointStore(str(tmp_path / "checkpoints"))
        checkpointer = Checkpointer(store, ctx, keep_last=2, run_key="test-hashed-writer")
        side = {"model.json": b'{"d": 48}\n', "config.yaml": b"seed: 0\n"}
        checkpointer.save(3, model, optimizer, {"step": 3, "rng": [torch.get_rng_state()]}, side)
        checkpointer.wait()
    finally:
        ctx.close()
    folder = tmp_path / "checkpoints" / "step-00000003"
    marker = json.loads((folder / COMMIT_MARKER).read_text())
    files = {n: d for n, d in on_disk(folder).items() if n != COMMIT_MARKER}
    assert marker["sha256"] == files
    assert {"trainer_state.pt", "model.json", "config.yaml", ".metadata"} <= set(files)
