"""Continued pretraining from a base model shaped like BitNet b1.58 2B4T: a random
`transformers` BitNetForCausalLM saved with its own byte-level BPE tokenizer.json, shards packed
with that tokenizer, `tritter pretrain --init` on it.

What makes it continued pretraining and not a fresh start: step 1's loss is the loss
`transformers` computes for the same batch with the base weights (the weights were really
loaded); the export loads back in `transformers` with the same logits; a SIGKILL mid-run resumes
bit-exactly from the run's own checkpoints; under FSDP2 each rank reads only its shards and
starts from the same weights."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import accelerate  # noqa: F401 - transformers' quantized loading needs it
import pytest
import torch

from tests.conftest import run_tritter
from tests.tokenizer.hf_support import build_hf_tokenizer
from tests.tokenizer.support import pack_args
from tests.train.test_pretrain import losses
from tritter.train.launch import free_port

pytestmark = pytest.mark.slow

SEQ, MICRO = 64, 4


@pytest.fixture(scope="module")
def base(hf_base) -> dict[str, str]:
    return hf_base


def continue_args(base: dict[str, str], output: str, *extra: str) -> list[str]:
    return [
        "pretrain", "--init", base["base"], "--data", base["tokens"],
        "--tokenizer", base["base"], "--output", output, "--seq-len", str(SEQ),
        "--micro-batch-size", str(MICRO), "--val-batches", "1", "--val-every", "0",
        "--metrics-port", "0", "--optim.lr", "3e-3", "--device", "cpu", *extra,
    ]  # fmt: skip


def transformers_loss(base: dict[str, str], folder: str) -> float:
    """transformers' mean next-token loss on the run's first batch, with `folder`'s weights."""
    from transformers import BitNetForCausalLM

    from tritter.loader import TokenLoader

    loader = TokenLoader(base["tokens"], seq_len=SEQ, micro_batch_size=MICRO, seed=0)
    inputs, targets = next(iter(loader))[:2]
    model = BitNetForCausalLM.from_pretrained(folder, torch_dtype=torch.float32).eval()
    with torch.no_grad():
        logits = model(input_ids=inputs).logits
    return float(torch.nn.functional.cross_entropy(logits.flatten(0, 1), targets.flatten(),
                                                   ignore_index=-100))  # fmt: skip


def test_continues_from_the_base_weights_and_exports_what_transformers_loads(base, tmp_path):
    output = str(tmp_path / "run" / "checkpoints")
    done = run_tritter(*continue_args(base, output, "--max-steps", "30",
                                      "--checkpoint.every", "15"))  # fmt: skip
    assert done.returncode == 0, done.stderr[-3000:]
    assert "starting from --init weights" in done.stderr
    found = losses(output)
    # Step 1 is computed before any update: the base model's loss on the first batch.
    assert found[1] == pytest.approx(transformers_loss(base, base["base"]), rel=1e-4)
    first, last = sum(found[s] for s in range(1, 8)) / 7, sum(found[s] for s in range(24, 31)) / 7
    assert last < first - 0.3

    # The export loads in transformers, with the base's tokenizer, and computes Tritter's logits.
    from transformers import AutoTokenizer, BitNetForCausalLM

    from tritter.train.checkpoint import load_model

    final = f"{output}/final"
    # final/ holds the run's tokenizer beside the weights: transformers loads both from it.
    with open(f"{final}/tokenizer.json", "rb") as ours, open(f"{base['base']}/tokenizer.json",
                                                            "rb") as theirs:  # fmt: skip
        assert ours.read() == theirs.read()
    tokenizer = AutoTokenizer.from_pretrained(final)
    ids = torch.tensor([tokenizer.encode("def add(a, b):\n    return a + b\n")])
    exported = BitNetForCausalLM.from_pretrained(final, torch_dtype=torch.float32).eval()
    model, info = load_model(output)
    assert info["step"] == 30
    with torch.no_grad():
        theirs, ours = exported(input_ids=ids).logits, model(ids)
    assert torch.allclose(theirs, ours, rtol=1e-4, atol=1e-4)


def test_sigkill_then_relaunch_resumes_exactly_from_the_runs_own_checkpoints(base, tmp_path):
    steps = ("--max-steps", "8", "--checkpoint.every", "4")
    clean = str(tmp_path / "clean")
    done = run_tritter(*continue_args(base, clean, *steps))
    assert done.returncode == 0, done.stderr[-3000:]
    crashy = str(tmp_path / "crashy")
    # Killed while saving the last step: that save first waits for step 4's commit,
    # so the relaunch resumes from step 4 however slow the machine is.
    first = run_tritter(*continue_args(base, crashy, *steps),
                        env={"TRITTER_FAULT": "kill:rank=0:step=8:phase=commit"})  # fmt: skip
    assert first.returncode != 0
    second = run_tritter(*continue_args(base, crashy, *steps))
    assert second.returncode == 0, second.stderr[-3000:]
    assert "resumed from checkpoint step=4" in second.stderr
    assert "starting from --init" not in second.stderr  # never back to the base weights
    assert losses(crashy) == losses(clean)  # bit-identical on CPU


def test_fsdp_ranks_read_only_their_shards_and_start_from_the_same_weights(base, tmp_path):
    """Two FSDP2 ranks: each reads about half of every tensor (the log says how much), and
    step 1's loss equals a single rank's on the same global batch."""
    single = str(tmp_path / "single")
    flags = ("--max-steps", "1", "--global-batch-tokens", str(2 * MICRO * SEQ))
    done = run_tritter(*continue_args(base, single, *flags))
    assert done.returncode == 0, done.stderr[-3000:]
    output = str(tmp_path / "fsdp")
    port = free_port()
    ranks = []
    for rank in range(2):
        env = {
            **os.environ, "MASTER_ADDR": "127.0.0.1", "MASTER_PORT": str(port),
            "WORLD_SIZE": "2", "RANK": str(rank), "LOCAL_RANK": str(rank),
            "LOCAL_WORLD_SIZE": "2", "TRITTER_LOG_FORMAT": "json",
        }  # fmt: skip
        args = continue_args(base, output, *flags, "--sharding", "fsdp")
        ranks.append(subprocess.Popen([sys.executable, "-m", "tritter.cli", *args], env=env,
                                      stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                                      text=True))  # fmt: skip
    logs = [rank.communicate(timeout=300)[0] for rank in ranks]
    assert [rank.returncode for rank in ranks] == [0, 0], "\n".join(logs)
    for log in logs:
        events = [json.loads(line) for line in log.splitlines() if line.startswith("{")]
        (loaded,) = [e for e in events if e.get("msg") == "starting from --init weights"]
        assert loaded["per_rank"] is True
        # Tied embeddings and norms dominate this tiny model; half of each sharded tensor.
        assert loaded["bytes_read"] < 0.75 * loaded["bytes_total"]
    assert losses(output)[1] == pytest.approx(losses(single)[1], rel=1e-5)


def test_a_tokenizer_wider_than_the_base_vocabulary_is_a_one_line_error(base, packed, tmp_path):
    wide = build_hf_tokenizer(tmp_path / "wide", vocab_size=600, wide=2048)
    tokens = tmp_path / "tokens"
    done = run_tritter(*pack_args(packed["curated"], wide, tokens), "--workers", "1")
    assert done.returncode == 0, done.stderr[-2000:]
    mismatched = {**base, "tokens": str(tokens)}
    done = run_tritter(*continue_args(mismatched, str(tmp_path / "x"), "--max-steps", "1",
                                      "--tokenizer", str(wide)))  # fmt: skip
    assert done.returncode == 1
    (line,) = done.stderr.strip().splitlines()
    assert "vocab" in line and "2048" in line and base["base"] in line
    assert not (tmp_path / "x" / "metrics.jsonl").exists()
