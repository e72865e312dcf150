"""A tiny pretrained base, the identity set and an arithmetic tool-use set: the inputs of the
post-training tests, built once per session with the real stages."""

from __future__ import annotations

import json
import random
from pathlib import Path

import pytest

from tests.conftest import run_tritter
from tests.train.data import build


def tool_conversations(count: int, seed: int = 0) -> list[dict]:
    """Arithmetic questions the assistant answers by running one line of Python: the format a
    tiny model learns in a few hundred steps (generated here; CC0)."""
    rng = random.Random(seed)
    rows = []
    for _ in range(count):
        a, b, op = rng.randint(2, 99), rng.randint(2, 99), rng.choice("+-*")
        result = {"+": a + b, "-": a - b, "*": a * b}[op]
        question = rng.choice(["What is {} {} {}?", "Compute {} {} {}.", "Calculate {} {} {}."])
        rows.append({
            "messages": [
                {"role": "user", "content": question.format(a, op, b)},
                {"role": "assistant", "content": [
                    {"type": "code", "text": f"print({a} {op} {b})"},
                    {"type": "output", "text": f"{result}\n"},
                    {"type": "text", "text": f"The result is {result}."},
                ]},
            ],
            "source": "tests.sft", "license": "cc0-1.0",
        })  # fmt: skip
    return rows


def write_jsonl(path: Path, rows: list[dict], extra_lines: tuple[str, ...] = ()) -> str:
    path.write_text("".join(json.dumps(r) + "\n" for r in rows) + "".join(extra_lines))
    return str(path)


@pytest.fixture(scope="session")
def base(tmp_path_factory) -> dict[str, str]:
    """tokenizer/, tokens/ and checkpoints/ of 30 pretraining steps of `tiny`."""
    root = tmp_path_factory.mktemp("sft-base")
    data = build(root)
    checkpoints = str(root / "checkpoints")
    done = run_tritter(
        "pretrain", "--data", data["tokens"], "--tokenizer", data["tokenizer"],
        "--output", checkpoints, "--model", "tiny", "--seq-len", "64", "--micro-batch-size", "4",
        "--max-steps", "30", "--optim.lr", "3e-3", "--metrics-port", "0",
        "--checkpoint.every", "30",
    )  # fmt: skip
    assert done.returncode == 0, done.stderr[-3000:]
    return {**data, "checkpoints": checkpoints, "root": str(root)}


@pytest.fixture(scope="session")
def sources(base, tmp_path_factory) -> dict[str, str]:
    """The identity set (`tritter synth identity`) and the tool-use set, with malformed rows."""
    root = tmp_path_factory.mktemp("sft-sources")
    identity = str(root / "identity")
    done = run_tritter("synth", "identity", "--output", identity, "--count", "400")
    assert done.returncode == 0, done.stderr[-3000:]
    tools = write_jsonl(
        root / "tools.jsonl",
        tool_conversations(400),
        extra_lines=(
            "{not json\n",
            json.dumps({"messages": [{"role": "robot", "content": "hi"}]}) + "\n",
            json.dumps({"messages": [{"role": "user", "content": "hi"}]}) + "\n",
        ),
    )
    return {"identity": identity, "tools": tools}


def sft_args(base: dict, sources: dict, output: str, *extra: str) -> list[str]:
    return [
        "sft", "--phase", "sft", "--init", base["checkpoints"], "--tokenizer", base["tokenizer"],
        "--data", f"identity={sources['identity']},tools={sources['tools']}",
        "--output", output, "--seq-len", "128", "--micro-batch-size", "8",
        "--optim.lr", "3e-3", "--metrics-port", "0", *extra,
    ]  # fmt: skip


@pytest.fixture(scope="session")
def tuned(base, sources, tmp_path_factory) -> str:
    """A few hundred SFT steps on identity and tool use: enough for a tiny model to learn both
    formats."""
    output = str(tmp_path_factory.mktemp("sft-tuned") / "sft")
    done = run_tritter(*sft_args(base, sources, output, "--max-steps", "250",
                                 "--checkpoint.every", "250"))  # fmt: skip
    assert done.returncode == 0, done.stderr[-3000:]
    return output
