"""`tritter pretrain --init`: start from existing weights (a final Hugging Face export, a
checkpoints folder or one step folder), with a fresh optimizer, and resume from the run's own
checkpoints afterwards — never from --init again."""

from __future__ import annotations

import pytest

from tests.conftest import run_tritter
from tests.train.conftest import pretrain_args
from tests.train.test_pretrain import losses
from tritter.run_folder import PRETRAIN_MANIFEST

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def base(packed, tmp_path_factory) -> str:
    """A run that has learned something: 30 steps at a high learning rate."""
    output = str(tmp_path_factory.mktemp("init") / "base")
    flags = ("--max-steps", "30", "--checkpoint.every", "15", "--optim.lr", "3e-3")
    done = run_tritter(*pretrain_args(packed, output, *flags))
    assert done.returncode == 0, done.stderr[-3000:]
    return output


@pytest.mark.parametrize("source", ["final", "checkpoints", "step-00000015"])
def test_init_starts_from_the_weights_with_a_fresh_optimizer(packed, base, tmp_path, source):
    init = {"final": f"{base}/final", "checkpoints": base, "step-00000015": f"{base}/step-00000015"}
    output = str(tmp_path / "continued")
    flags = ("--init", init[source], "--checkpoint.every", "1", "--optim.lr", "3e-3")
    done = run_tritter(*pretrain_args(packed, output, *flags, "--max-steps", "2"))
    assert done.returncode == 0, done.stderr[-3000:]
    first = losses(output)[1]
    learned_from = losses(base)[30 if source != "step-00000015" else 15]
    # Step 1 sees the same first batch as the base run's step 1 (same seed and data), but from
    # trained weights: its loss is near the base run's late losses, far below a fresh start.
    assert first < losses(base)[1] - 1.0
    assert abs(first - learned_from) < 1.0
    found = PRETRAIN_MANIFEST.require(output)
    assert found.counts.steps == 2  # the step counter and optimizer start fresh
    assert found.inputs.init == init[source]
    assert found.inputs.init_identity["kind"] == (
        "huggingface" if source == "final" else "pretrain"
    )

    # A relaunch with more steps resumes from the run's own newest checkpoint, not from --init.
    more = run_tritter(*pretrain_args(packed, output, *flags, "--max-steps", "3"))
    assert more.returncode == 0, more.stderr[-3000:]
    assert "resumed from checkpoint" in more.stderr
    assert "starting from --init" not in more.stderr
    assert sorted(losses(output)) == [1, 2, 3]


def test_a_conflicting_model_is_a_one_line_error_naming_both(packed, base, tmp_path):
    done = run_tritter(*pretrain_args(packed, str(tmp_path / "x"), "--init", f"{base}/final",
                                      "--model", "125m", "--max-steps", "1"))  # fmt: skip
    assert done.returncode == 1
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1, done.stderr
    assert "--model 125m conflicts with --init" in lines[0] and f"{base}/final" in lines[0]
