"""Helpers for the post-training tests: the arithmetic tool-use conversations and the `tritter
sft` arguments. The session fixtures built from them (`base`, `sources`, `tuned`) live in
tests/conftest.py, so that evaluation tests share the same trained models."""

from __future__ import annotations

import json
import random
from pathlib import Path


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


def sft_args(base: dict, sources: dict, output: str, *extra: str) -> list[str]:
    return [
        "sft", "--phase", "sft", "--init", base["checkpoints"], "--tokenizer", base["tokenizer"],
        "--data", f"identity={sources['identity']},tools={sources['tools']}",
        "--output", output, "--seq-len", "128", "--micro-batch-size", "8",
        "--optim.lr", "3e-3", "--metrics-port", "0", *extra,
    ]  # fmt: skip
