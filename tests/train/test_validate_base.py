"""`tritter validate-base` on a base model shaped like a release: a random `transformers`
BitNetForCausalLM saved with its own byte-level BPE tokenizer.json in the same folder (as
microsoft/bitnet-b1.58-2B-4T-bf16 ships), shards packed with that tokenizer."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import accelerate  # noqa: F401 - transformers' quantized loading needs it
import pytest

from tests.conftest import run_tritter
from tests.tokenizer.hf_support import build_hf_tokenizer

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def base(hf_base) -> dict[str, str]:
    return hf_base


def test_a_sound_base_model_passes_every_check(base, tmp_path):
    output = tmp_path / "validate"
    done = run_tritter("validate-base", base["base"], "--data", base["tokens"], "--output",
                       str(output), "--steps", "12", "--seq-len", "64", "--micro-batch-size",
                       "4", "--lr", "3e-3", "--device", "cpu")  # fmt: skip
    assert done.returncode == 0, done.stderr[-3000:]
    report = json.loads((output / "validate-base.json").read_text())
    assert report["passed"]
    assert report["parity"]["max_relative_diff"] < 1e-4
    assert report["parity"]["argmax_agreement"] == 1.0
    norms = report["gradients"]["norms"]
    assert set(norms) == {"embedding", "final_norm", "layers.0.attention", "layers.0.mlp",
                          "layers.0.norms", "layers.1.attention", "layers.1.mlp",
                          "layers.1.norms"}  # fmt: skip
    assert all(n > 0 for n in norms.values())
    training = report["training"]
    assert training["steps"] == 12 and training["checkpoints"] == [6, 12]
    assert training["last_quarter_loss"] < training["first_quarter_loss"]
    assert [line[:4] for line in done.stdout.strip().splitlines()] == ["ok  "] * 4
    manifest = json.loads((output / "continued" / "_manifest.json").read_text())
    assert manifest["inputs"]["init_identity"]


def test_shards_of_another_tokenizer_are_a_one_line_error(base, packed, tmp_path):
    other = Path(base["root"]) / "other"
    if not other.exists():
        shutil.copytree(base["base"], other)
        build_hf_tokenizer(other, vocab_size=500)
    done = run_tritter("validate-base", str(other), "--data", base["tokens"],
                       "--output", str(tmp_path / "v"), "--steps", "4")  # fmt: skip
    assert done.returncode == 1
    (line,) = done.stderr.strip().splitlines()
    assert "tokenizer" in line and base["tokens"] in line
    assert not (tmp_path / "v" / "validate-base.json").exists()
