"""Preference pairs built from the session's real post-training sources (tests/conftest.py:
`sources` — the `tritter synth identity` set and the arithmetic tool-use set), and the
`tritter dpo` arguments. Chosen is the source's own reply (the persona's answer, the correct
tool call); rejected is clearly different (another assistant's name, a wrong number)."""

from __future__ import annotations

import json
import random
from pathlib import Path

import pytest

from tests.conftest import run_tritter
from tritter.chat import read_conversations
from tritter.chat.conversation import message_row

# Malformed rows, one per reason, appended to the pairs file.
MALFORMED = {
    "invalid_json": "{not json",
    "not_object": json.dumps([1, 2]),
    "missing_rejected": json.dumps({"prompt": "hi", "chosen": "hello"}),
    "bad_prompt": json.dumps({"prompt": 7, "chosen": "a", "rejected": "b"}),
    "bad_role": json.dumps(
        {"prompt": [{"role": "robot", "content": "hi"}], "chosen": "a", "rejected": "b"}
    ),
    "empty_text": json.dumps({"prompt": "hi", "chosen": "  ", "rejected": "b"}),
    "prompt_not_user_last": json.dumps(
        {
            "prompt": [{"role": "user", "content": "hi"}, {"role": "assistant", "content": "yo"}],
            "chosen": "a",
            "rejected": "b",
        }
    ),
    "same_reply": json.dumps({"prompt": "Say hi.", "chosen": "hi", "rejected": "hi"}),
    "too_long": json.dumps(
        {"prompt": "Count.", "chosen": " ".join(map(str, range(400))), "rejected": "no"}
    ),
}
WRONG_NAMES = ("I am ChatGPT, made by OpenAI.", "My name is Claude and I was made by Anthropic.",
               "I'm Gemini, Google's assistant.")  # fmt: skip


def preference_rows(sources: dict[str, str], count: int, seed: int = 0) -> list[dict]:
    """`count` pairs, half identity (first turn of each conversation; the prompt as messages,
    a system turn kept), half tool use (the prompt as a plain string, reply as parts)."""
    rng = random.Random(seed)
    rows = []
    identity = read_conversations(sources["identity"]).conversations
    for conversation in identity[: count // 2]:
        messages = [message_row(m) for m in conversation.messages]
        first = next(i for i, m in enumerate(messages) if m["role"] == "assistant")
        rows.append({"prompt": messages[:first], "chosen": messages[first]["content"],
                     "rejected": rng.choice(WRONG_NAMES), "id": conversation.id,
                     "principle": "honesty", "critique": "names the wrong assistant"})  # fmt: skip
    for conversation in read_conversations(sources["tools"]).conversations[: count - len(rows)]:
        question, reply = conversation.messages
        parts = [{"type": p.type, "text": p.text} for p in reply.parts]
        wrong = f"The result is {rng.randint(1000, 9999)}."
        rows.append({"prompt": question.content, "chosen": parts, "rejected": wrong})
    return rows


def write_pairs(path: Path, rows: list[dict], malformed: bool = True) -> str:
    lines = [json.dumps(r) for r in rows] + (list(MALFORMED.values()) if malformed else [])
    path.write_text("".join(f"{line}\n" for line in lines))
    return str(path)


def dpo_args(init: str, base: dict, data: str, output: str, *extra: str) -> list[str]:
    return [
        "dpo", "--init", init, "--tokenizer", base["tokenizer"], "--data", data,
        "--output", output, "--seq-len", "128", "--micro-batch-size", "4",
        "--metrics-port", "0", "--val-fraction", "0.1", *extra,
    ]  # fmt: skip


@pytest.fixture(scope="session")
def pairs(sources, tmp_path_factory) -> str:
    root = tmp_path_factory.mktemp("dpo-pairs")
    return write_pairs(root / "pairs.jsonl", preference_rows(sources, PAIRS))


PAIRS = 80
TRAINED = ("--max-steps", "12", "--optim.lr", "3e-3", "--checkpoint-every", "12",
           "--val-every", "6")  # fmt: skip


@pytest.fixture(scope="session")
def trained(base, pairs, tmp_path_factory) -> str:
    """12 DPO steps from the session's pretrained tiny model (`base`; any checkpoint `tritter
    sft --init` takes will do, and the SFT fixture costs minutes on 2 cores) at a high learning
    rate: the tiny model must move in a few steps."""
    output = str(tmp_path_factory.mktemp("dpo-run") / "dpo")
    done = run_tritter(*dpo_args(base["checkpoints"], base, pairs, output, *TRAINED))
    assert done.returncode == 0, done.stderr[-3000:]
    return output
