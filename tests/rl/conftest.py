"""Inputs of the RL tests: a real SentencePiece tokenizer (512 tokens, trained by the tokenizer
stage on the shared curated sample) and a freshly initialised `tiny` model saved as a Hugging
Face BitNet directory (what `--init` takes), plus a module of user rewards on PYTHONPATH.

A fresh model, not the session's pretrained `base`: pretraining it costs ~40 s on 2 cores, and
what these tests check — the reward rising, contained reward failures, exact resume, one-line
errors — holds for any starting weights."""

from __future__ import annotations

import json
import textwrap
from pathlib import Path

import pytest

from tests.conftest import run_tritter

REWARDS_MODULE = "tritter_test_rewards"
# User rewards: `by_mode` does what the row's `mode` says (raise, hang, return garbage or score).
REWARDS_SOURCE = """
import time


def starts_with_seven(prompt, completion, row):
    return 1.0 if completion.lstrip().startswith("7") else 0.0


def by_mode(prompt, completion, row):
    mode = row["mode"]
    if mode == "raise":
        raise ValueError("this reward is broken")
    if mode == "hang":
        time.sleep(600)
    if mode == "garbage":
        return "high"
    if mode == "nan":
        return float("nan")
    return 1.0
"""


@pytest.fixture(scope="session")
def rl_base(tmp_path_factory) -> dict[str, str]:
    """tokenizer/, init/ (a fresh tiny model) and rewards/ (a module on PYTHONPATH)."""
    import torch

    from tests.support.curated import sample_corpus, write_curated
    from tritter.model import build_model
    from tritter.tokenizer import Tokenizer
    from tritter.tokenizer.config import TokenizerConfig
    from tritter.tokenizer.stage import run as train_tokenizer

    root = tmp_path_factory.mktemp("rl-base")
    curated = write_curated(str(root / "curated"), sample_corpus(150_000))
    tokenizer = str(root / "tokenizer")
    train_tokenizer(
        TokenizerConfig(
            input=curated, output=tokenizer, vocab_size=512, sample_bytes=150_000,
            heldout_bytes=10_000, threads=2,
        )
    )  # fmt: skip
    torch.manual_seed(0)
    model = build_model("tiny", vocab_size=Tokenizer.load(tokenizer).vocab_size)
    init = str(root / "init")
    model.save_hf(init)
    rewards = root / "rewards"
    rewards.mkdir()
    (rewards / f"{REWARDS_MODULE}.py").write_text(textwrap.dedent(REWARDS_SOURCE))
    return {"tokenizer": tokenizer, "init": init, "rewards": str(rewards), "root": str(root)}


def rl_args(base: dict[str, str], prompts: str, output: str, *extra: str) -> list[str]:
    """The common flags: 8 samples of 8 tokens for each of 4 prompts per step."""
    return [
        "rl", "--init", base["init"], "--tokenizer", base["tokenizer"], "--prompts", prompts,
        "--output", output, "--seq-len", "64", "--max-new-tokens", "8",
        "--samples-per-prompt", "8", "--micro-batch-size", "32", "--metrics-port", "0",
        "--optim.lr", "3e-3", *extra,
    ]  # fmt: skip


def run_rl(*args: str, env: dict[str, str] | None = None):
    """`tritter rl` in a subprocess on one CPU thread: the tiny model's matrices gain nothing
    from a second thread, and two OpenMP threads on a loaded 2-core machine slow every step
    down tenfold."""
    return run_tritter(*args, env={"OMP_NUM_THREADS": "1", **(env or {})})


def write_rows(path: Path, rows: list[object]) -> str:
    path.write_text("".join((r if isinstance(r, str) else json.dumps(r)) + "\n" for r in rows))
    return str(path)


def train_records(output: str) -> list[dict]:
    lines = (Path(output) / "metrics.jsonl").read_text().splitlines()
    return [r for r in map(json.loads, lines) if r["kind"] == "train"]
