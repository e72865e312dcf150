"""Which checkpoints a takedown names, against the loader's own sample order; and training
on the rewritten run."""

from __future__ import annotations

import numpy as np
import pyarrow.parquet as pq
import pytest
import torch

from tests.conftest import run_tritter
from tests.takedown.conftest import SEQ_LEN, TAKEN
from tests.takedown.support import manifest
from tests.takedown.test_takedown import takedown
from tritter.loader.dataset import TokenLoader

MICRO_BATCH = 4


def pretrain(run, output: str, steps: int, every: int) -> None:
    done = run_tritter(
        "pretrain", "--data", str(run / "tokens"), "--tokenizer", str(run / "tokenizer"),
        "--output", output, "--model", "tiny", "--seq-len", str(SEQ_LEN),
        "--micro-batch-size", str(MICRO_BATCH), "--max-steps", str(steps),
        "--checkpoint.every", str(every), "--metrics-port", "0",
    )  # fmt: skip
    assert done.returncode == 0, done.stderr[-3000:]


def consumed_ids(run, position: int) -> set[str]:
    """Curated ids of every document whose tokens the first `position` samples touch, read
    through the real loader (its permutation, its stream and document numbering)."""
    loader = TokenLoader(str(run / "tokens"), seq_len=SEQ_LEN, micro_batch_size=MICRO_BATCH)
    ids = [
        doc_id
        for row in manifest(run / "tokens")["extra"]["shards"]
        if row["split"] == "train"
        for doc_id in pq.read_table(run / "tokens" / row["documents"])["id"].to_pylist()
    ]
    found = set()
    for sample in loader.sample_ids(np.arange(position)):
        numbers = loader.stream.document_numbers(int(sample) * SEQ_LEN, SEQ_LEN + 1)
        found.update(ids[n] for n in np.unique(numbers))
    return found


@pytest.mark.slow
def test_named_checkpoints_are_those_that_consumed_the_documents(fresh_run):
    checkpoints = fresh_run / "checkpoints"
    pretrain(fresh_run, str(checkpoints), steps=6, every=3)
    seen = {}
    for step in (3, 6):
        state = torch.load(checkpoints / f"step-{step:08d}" / "trainer_state.pt", weights_only=True)
        seen[step] = consumed_ids(fresh_run, state["loader"]["position"])
    all_ids = {
        doc_id
        for row in manifest(fresh_run / "tokens")["extra"]["shards"]
        for doc_id in pq.read_table(fresh_run / "tokens" / row["documents"])["id"].to_pylist()
    }
    early = sorted(seen[3])[0]
    late = sorted(seen[6] - seen[3])[0]
    never = sorted(all_ids - seen[6])[0]
    step = {n: str(checkpoints / f"step-{n:08d}") for n in (3, 6)}
    final = str(checkpoints / "final")
    for doc_id, expected in (
        (early, [step[3], step[6], final]),
        (late, [step[6], final]),
        (never, []),
    ):
        printed = takedown(fresh_run, "--id", doc_id, "--dry-run")
        assert printed["checkpoints"] == expected, doc_id
        assert printed["checkpoints_basis"].startswith("exact")

    # Take a repository down for real, then train on what is left.
    assert takedown(fresh_run, "--repo", TAKEN)["checkpoints"]
    pretrain(fresh_run, str(fresh_run / "retrained"), steps=2, every=2)
    assert (fresh_run / "retrained" / "final" / "tritter.json").exists()
    # The run trained before the takedown cannot silently resume on the rewritten shards: its
    # saved position would name other tokens now.
    resumed = run_tritter(
        "pretrain", "--data", str(fresh_run / "tokens"), "--tokenizer",
        str(fresh_run / "tokenizer"), "--output", str(checkpoints), "--model", "tiny",
        "--seq-len", str(SEQ_LEN), "--micro-batch-size", str(MICRO_BATCH), "--max-steps", "9",
        "--checkpoint.every", "3", "--metrics-port", "0",
    )  # fmt: skip
    assert resumed.returncode == 1
    assert "changed since this checkpoint" in resumed.stderr.strip().splitlines()[-1]


def test_post_training_that_started_from_a_named_checkpoint_is_named_too(tmp_path):
    """sft/ started from a named step, dpo/ from sft/: both named; mid/ started from a step that
    never saw the documents: not named."""
    import yaml

    from tritter.run_folder import RunFolder
    from tritter.takedown.checkpoints import derived_models

    run = RunFolder(str(tmp_path / "run"))
    named = f"{run.checkpoints}/step-00000006"
    for phase, init in (("mid", f"{run.checkpoints}/step-00000003"), ("sft", named),
                        ("dpo", run.part("sft"))):  # fmt: skip
        folder = tmp_path / "run" / phase
        folder.mkdir(parents=True)
        (folder / "config.yaml").write_text(yaml.safe_dump({"init": init, "phase": phase}))
    assert derived_models(run, [named]) == [run.part("sft"), run.part("dpo")]
    assert derived_models(run, []) == []
    # A phase started from the checkpoints root (its newest step, unknown now) counts as named.
    (tmp_path / "run" / "mid" / "config.yaml").write_text(yaml.safe_dump({"init": run.checkpoints}))
    assert derived_models(run, [named])[0] == run.part("mid")
