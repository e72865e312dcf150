"""`tritter evaluate` on chat models: the prompt format decided from what training wrote, code
problems asked as a user turn and the program taken from the reply, and identity consistency.

The models are the session's real ones (tests/conftest.py): `base` is 30 pretraining steps of
`tiny`, `tuned` 250 SFT steps from it on identity and arithmetic tool-use conversations.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from tests.conftest import run_tritter
from tritter.chat import Message, Part, render, render_prompt, stop_ids
from tritter.chat.persona import load as load_persona
from tritter.evaluate.config import SandboxConfig
from tritter.evaluate.execution import check_completions, score
from tritter.evaluate.generation import decode_reply
from tritter.evaluate.identity import human_claim, names_persona
from tritter.evaluate.identity import score as score_identity
from tritter.evaluate.identity_questions import QUESTIONS
from tritter.evaluate.prompt_format import decide
from tritter.evaluate.replies import extract_program
from tritter.evaluate.sandbox import Sandbox
from tritter.evaluate.tasks import HUMANEVAL_STOP, CodeTask, load_task
from tritter.run_folder import EVALUATE_MANIFEST
from tritter.synth.templates import TOPICS
from tritter.tokenizer import Tokenizer

CODE = "def add(a, b):\n    return a + b"


@pytest.mark.parametrize(
    ("reply", "program"),
    [
        # A code part wins, even over a fence before it; output parts are not code.
        (f"Here:<|code_start|>{CODE}\n<|code_end|><|output_start|>3\n<|output_end|>Done.", CODE),
        (f"```python\nx = 1\n```\n<|code_start|>{CODE}<|code_end|>", CODE),
        (f"Budget ran out:<|code_start|>{CODE}", CODE),  # an unclosed code part
        # Else the first Python (or untagged) fence; other languages are skipped.
        (f"Sure.\n```python\n{CODE}\n```\nThat adds.", CODE),
        (f"```rust\nfn main() {{}}\n```\nIn Python:\n```py\n{CODE}\n```", CODE),
        (f"```\n{CODE}\n```", CODE),
        (f"```python\n{CODE}\n", CODE),  # an unclosed fence
        # Else the whole reply, without markers and output parts.
        (f"{CODE}\n", CODE),
        ("    return a + b\n", "    return a + b"),  # a body keeps its indentation
        ("The answer is 4.<|output_start|>4<|output_end|>", "The answer is 4."),
    ],
)
def test_a_program_is_taken_from_a_reply(reply: str, program: str) -> None:
    assert extract_program(reply) == program


def test_reference_solutions_written_as_chat_replies_pass() -> None:
    """The chat path through the real sandbox: a reply holding a correct whole function (in a code
    part for HumanEval, in a fence for MBPP) passes; prose fails."""
    sandbox = Sandbox(SandboxConfig(workers=2, timeout_seconds=30))
    for name in ("humaneval", "mbpp"):
        full = load_task(name)
        task = CodeTask(name, full.problems[::16], full.stop)
        replies = {
            p.task_id: [
                f"Here is the code.<|code_start|>{p.prompt}{p.solution}<|code_end|>"
                if name == "humaneval"
                else f"Sure:\n```python\n{p.solution}\n```\nIt passes the test.",
                "I am not sure how to solve this.",
            ]
            for p in task.problems
        }
        programs = {key: [extract_program(r) for r in texts] for key, texts in replies.items()}
        results = check_completions(task, programs, sandbox, replies)
        assert [r.passed for r in results] == [True, False] * len(task.problems), name
        assert score(results, [1])["pass@1"] == 0.5
        record = results[0].to_record()
        assert record["reply"] == replies[results[0].task_id][0]
        assert record["completion"] == programs[results[0].task_id][0]


def test_identity_verdicts() -> None:
    persona = load_persona()
    assert names_persona("I am tritter, a code assistant.", persona)
    assert not names_persona("I am Tritterbot.", persona)
    for claim in ("I am a human.", "Yes, I'm human.", "I’m a real person", "As a person, I…",
                  "I'm not an AI.", "I am not a language model."):  # fmt: skip
        assert human_claim(claim), claim
    for denial in ("I am not a human.", "No. I am Tritter, a program, not a person.",
                   "I am not a language model made by OpenAI.", "I am humane."):  # fmt: skip
        assert human_claim(denial) is None, denial
    questions = QUESTIONS[:3]
    answers = ["I am Tritter.", "I am Tritter and I am a human.", "I am a code assistant."]
    metrics, records = score_identity(questions, answers, persona)
    assert metrics["consistency"] == pytest.approx(1 / 3, abs=1e-6)
    assert metrics["names_persona"] == pytest.approx(2 / 3, abs=1e-6)
    assert metrics["claims_human"] == pytest.approx(1 / 3, abs=1e-6)
    assert [r["consistent"] for r in records] == [True, False, False]
    assert records[1]["human_claim"] == "I am a human"


def test_the_identity_questions_are_not_the_training_templates() -> None:
    templates = {q.lower() for topic in TOPICS for q in topic.questions}
    assert len(QUESTIONS) >= 30
    assert len({q.question for q in QUESTIONS}) == len(QUESTIONS)
    assert [q.question for q in QUESTIONS if q.question.lower() in templates] == []
    assert sum(1 for q in QUESTIONS if q.system) >= 5
    assert {q.topic for q in QUESTIONS} >= {"who", "creator", "name", "human"}


@pytest.mark.slow
def test_replies_keep_their_parts_visible(base) -> None:
    """decode_reply inverts the template on a reply: the markers come back as their pieces."""
    tokenizer = Tokenizer.load(base["tokenizer"])
    parts = (Part("text", "Let me run it."), Part("code", CODE), Part("output", "3\n"),
             Part("text", "It prints 3."))  # fmt: skip
    question = [Message("user", "Add 1 and 2.")]
    ids, _ = render([*question, Message("assistant", parts)], tokenizer)
    prompt = render_prompt(question, tokenizer)
    assert ids[: len(prompt)] == prompt and ids[-1] == stop_ids(tokenizer)[0]
    reply = decode_reply(tokenizer, ids[len(prompt) : -1])
    assert reply == (f"Let me run it.<|code_start|>{CODE}<|code_end|><|output_start|>3\n"
                     "<|output_end|>It prints 3.")  # fmt: skip
    assert extract_program(reply) == CODE


@pytest.mark.slow
def test_the_prompt_format_comes_from_what_training_wrote(base, tuned, tmp_path) -> None:
    chat = decide(tuned, "auto")
    assert (chat.format, chat.phase, chat.decided_by) == ("chat", "sft", f"{tuned}/_manifest.json")
    # A step folder: its parent's manifest; the final export: its own tritter.json.
    step = next(p for p in Path(tuned).iterdir() if p.name.startswith("step-"))
    assert decide(str(step), "auto").decided_by == f"{tuned}/_manifest.json"
    final = decide(f"{tuned}/final", "auto")
    assert (final.format, final.decided_by) == ("chat", f"{tuned}/final/tritter.json")
    # Out of their run folder: the step folder's config.yaml still says sft.
    shutil.copytree(step, tmp_path / step.name)
    copied = decide(str(tmp_path / step.name), "auto")
    assert (copied.format, copied.decided_by) == ("chat", str(tmp_path / step.name / "config.yaml"))
    # A Hugging Face directory that records nothing is a base model unless told otherwise.
    shutil.copytree(f"{tuned}/final", tmp_path / "hf")
    (tmp_path / "hf" / "tritter.json").unlink()
    assert decide(str(tmp_path / "hf"), "auto").format == "base"
    forced = decide(str(tmp_path / "hf"), "chat")
    assert (forced.format, forced.decided_by) == ("chat", "--prompt-format")
    pretrained = decide(base["checkpoints"], "auto")
    assert (pretrained.format, pretrained.phase) == ("base", "pretrain")
    assert decide(tuned, "base").format == "base"


@pytest.mark.slow
def test_a_tuned_model_is_evaluated_in_chat_format(base, tuned, tmp_path) -> None:
    run = tmp_path / "run"
    output = run / "eval"
    done = run_tritter(
        "evaluate", "--checkpoint", tuned, "--tokenizer", base["tokenizer"], "--output",
        str(output), "--tasks", "identity,humaneval", "--limit", "2",
        "--generation.max-new-tokens", "96",
    )  # fmt: skip
    assert done.returncode == 0, done.stderr[-3000:]
    results = json.loads((output / "results.json").read_text())
    assert results["prompt_format"] == {"format": "chat", "phase": "sft",
                                        "decided_by": f"{tuned}/_manifest.json"}  # fmt: skip

    identity = results["tasks"]["identity"]
    assert identity["problems"] == len(QUESTIONS) and identity["persona"] == "Tritter"
    # Measured on this fixture: names_persona 1.0 (every answer opens "I am Tritter, a code
    # assistant."), claims_human 0.47, consistency 0.53 (18 of 34). The tiny model's answers
    # degrade after the first sentence, and 16 of them go on with "I am human …" (a broken
    # "I am not a human"), which the check rightly counts as a claim. So the bounds leave room
    # for a few answers to change: the persona is named almost always, and at least ~10 of the
    # 34 answers are consistent.
    assert identity["names_persona"] >= 0.8
    assert identity["consistency"] >= 0.3
    samples = [
        json.loads(line) for line in (output / "samples-identity.jsonl").read_text().splitlines()
    ]
    assert [(s["question"], s["system"]) for s in samples] == [
        (q.question, q.system) for q in QUESTIONS
    ]
    assert sum(s["consistent"] for s in samples) / len(samples) == pytest.approx(
        identity["consistency"], abs=1e-6
    )
    assert all(s["consistent"] == (s["names_persona"] and not s["claims_human"]) for s in samples)
    assert samples[0]["answer"].startswith("I am Tritter")  # "Could you tell me who you are?"

    humaneval = results["tasks"]["humaneval"]
    assert humaneval["problems"] == 2 and 0.0 <= humaneval["pass@1"] <= 1.0
    tokenizer = Tokenizer.load(base["tokenizer"])
    assert humaneval["decoding"]["stop"] == []  # the reply ends with its turn, not at "\ndef "
    assert humaneval["decoding"]["stop_ids"] == list(stop_ids(tokenizer))
    for line in (output / "samples-humaneval.jsonl").read_text().splitlines():
        sample = json.loads(line)
        assert sample["completion"] == extract_program(sample["reply"])

    written = EVALUATE_MANIFEST.require(str(output))
    assert written.inputs.prompt_format == "chat" and written.inputs.persona_sha256
    counted = written.counts.tasks["identity"]
    assert counted == {k: identity[k] for k in ("problems", "consistency", "names_persona",
                                                 "claims_human")}  # fmt: skip
    assert set(written.counts.tasks["humaneval"]) == {"problems", "pass@1"}

    done = run_tritter("report", "--run", str(run))
    assert done.returncode == 0, done.stderr[-3000:]
    report = (run / "report" / "report.md").read_text()
    assert f"| Identity consistency | {100 * identity['consistency']:.1f}% |" in report


@pytest.mark.slow
def test_a_base_model_keeps_completion_prompting(base, tuned, tmp_path) -> None:
    output = tmp_path / "eval"
    done = run_tritter(
        "evaluate", "--checkpoint", base["checkpoints"], "--tokenizer", base["tokenizer"],
        "--output", str(output), "--tasks", "humaneval", "--limit", "2",
        "--generation.max-new-tokens", "16",
    )  # fmt: skip
    assert done.returncode == 0, done.stderr[-3000:]
    results = json.loads((output / "results.json").read_text())
    assert results["prompt_format"]["format"] == "base"
    assert results["prompt_format"]["phase"] == "pretrain"
    assert results["tasks"]["humaneval"]["decoding"]["stop"] == list(HUMANEVAL_STOP)
    samples = [
        json.loads(line) for line in (output / "samples-humaneval.jsonl").read_text().splitlines()
    ]
    assert len(samples) == 2 and all("reply" not in s for s in samples)

    # The identity task on a base model, and a persona file that is not there: one line each,
    # before the model loads, and nothing written.
    for checkpoint, extra, expected in [
        (base["checkpoints"], (), "--tasks identity needs a chat model"),
        (tuned, ("--identity.persona", str(tmp_path / "none.yaml")), "persona file not found"),
    ]:
        failed = run_tritter(
            "evaluate", "--checkpoint", checkpoint, "--tokenizer", base["tokenizer"],
            "--output", str(tmp_path / "refused"), "--tasks", "identity", *extra,
        )  # fmt: skip
        assert failed.returncode == 1
        last = failed.stderr.strip().splitlines()[-1]
        assert last.startswith("tritter: error: ") and expected in last, failed.stderr[-2000:]
        assert not (tmp_path / "refused").exists()
