"""GSM8K, ARC and MMLU through their real scoring paths, and `tritter evaluate` with every new
task on a tiny random model.

Multiple choice on a base model is scored from the log-likelihoods a real (tiny, random) Tritter
model gives each choice: the questions' gold answers are set by construction to the choice the
selection rule must pick (computed here independently, from an unbatched forward pass per
sequence), so the real path — batched scoring, per-byte normalisation, selection, accuracy —
must give 100 %, and 0 % with the gold moved elsewhere. Chat replies and GSM8K completions are
known-correct and known-wrong texts through the same scoring functions `tritter evaluate` uses.
"""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path

import pytest
import torch

from tests.conftest import run_tritter
from tests.support.real_parts import need
from tritter.benchmarks.choice import load_choice
from tritter.benchmarks.gsm8k import load_gsm8k
from tritter.evaluate import gsm8k, multiple_choice
from tritter.evaluate.metrics import registry_for
from tritter.run_folder import EVALUATE_MANIFEST


@pytest.fixture(scope="module")
def tiny(tmp_path_factory) -> dict[str, str]:
    """A real tokenizer (512 pieces) and a randomly initialised tiny model saved as a Hugging
    Face directory: no training, the scoring paths only need real weights."""
    from tests.train.data import build
    from tritter.model import build_model
    from tritter.tokenizer import Tokenizer

    root = tmp_path_factory.mktemp("benchmarks")
    data = build(root, python_bytes=100_000)
    tokenizer = Tokenizer.load(data["tokenizer"])
    torch.manual_seed(0)
    build_model("tiny", vocab_size=tokenizer.vocab_size).save_hf(str(root / "model"))
    return {"tokenizer": data["tokenizer"], "model": str(root / "model"), "root": str(root)}


@pytest.fixture(scope="module")
def loaded(tiny):
    from tritter.evaluate import loading

    previous = torch.get_num_threads()
    torch.set_num_threads(1)  # a tiny model: threads only contend with the other test workers
    model, _ = loading.load_model(tiny["model"], torch.device("cpu"), torch.float32)
    yield model, loading.load_tokenizer(tiny["tokenizer"])
    torch.set_num_threads(previous)


def unbatched_logprob(model, tokenizer, context: str, continuation: str) -> float:
    """log p(continuation | context), one sequence, no padding: the reference computation."""
    ids = [tokenizer.bos_id, *tokenizer.encode(context)]
    added = tokenizer.encode(continuation)
    full = torch.tensor([ids + added])
    with torch.inference_mode():
        logprobs = torch.log_softmax(model(full[:, :-1]).float(), dim=-1)[0]
    positions = range(len(ids) - 1, len(ids) - 1 + len(added))
    return float(sum(logprobs[p, token] for p, token in zip(positions, added, strict=True)))


@pytest.mark.parametrize("name", ["arc-easy", "arc-challenge", "mmlu"])
def test_base_model_choices_score_through_the_real_loglikelihood_path(loaded, name):
    model, tokenizer = loaded
    questions = load_choice(name)
    logprobs = multiple_choice.choice_logprobs(
        model, tokenizer, questions, torch.device("cpu"), 1024, batch_size=5
    )
    # Batched, right-padded scoring equals one unpadded forward per sequence (up to float
    # noise), and the pick by construction: the highest log-likelihood per UTF-8 byte.
    expected_picks = []
    for question, values in zip(questions, logprobs, strict=True):
        reference = [
            unbatched_logprob(model, tokenizer, multiple_choice.context(question), f" {choice}")
            for choice in question.choices
        ]
        assert values == pytest.approx(reference, rel=1e-4, abs=1e-3)
        per_byte = [
            v / len(f" {c}".encode()) for v, c in zip(values, question.choices, strict=True)
        ]
        expected_picks.append(max(range(len(per_byte)), key=lambda i: (per_byte[i], -i)))

    right = [
        dataclasses.replace(q, answer=pick)
        for q, pick in zip(questions, expected_picks, strict=True)
    ]
    metrics, records = multiple_choice.score_logprobs(right, logprobs)
    assert metrics["accuracy"] == 1.0 and metrics["correct"] == len(questions)
    assert [r["predicted"] for r in records] == expected_picks
    wrong = [
        dataclasses.replace(q, answer=(pick + 1) % len(q.choices))
        for q, pick in zip(questions, expected_picks, strict=True)
    ]
    metrics, _ = multiple_choice.score_logprobs(wrong, logprobs)
    assert metrics["accuracy"] == 0.0 and metrics["centered_accuracy"] < 0
    assert metrics["scoring"] == "loglikelihood" and metrics["normalization"] == "per_byte"
    baseline = sum(1 / len(q.choices) for q in questions) / len(questions)
    assert metrics["random_baseline"] == pytest.approx(baseline, abs=1e-6)
    if name == "mmlu":
        assert metrics["relevant_problems"] == 13 and set(metrics["subjects"]) >= {"astronomy"}


def test_a_long_context_keeps_its_end(loaded):
    model, tokenizer = loaded
    context = "Question: " + "word " * 400 + "\nAnswer:"
    short = multiple_choice.continuation_logprobs(
        model, tokenizer, [(context, " yes")], torch.device("cpu"), 64
    )
    assert len(short) == 1 and short[0] < 0  # truncated from the left, still scored


@pytest.mark.parametrize("name", ["arc-easy", "arc-challenge", "mmlu"])
def test_chat_replies_score_known_right_and_wrong(name):
    questions = load_choice(name)
    styles = ["{letter}", "The answer is {letter}.", "({letter})", "**{letter}**"]
    right = [
        styles[i % len(styles)].format(letter="ABCDE"[q.answer]) for i, q in enumerate(questions)
    ]
    metrics, records = multiple_choice.score_replies(questions, right)
    assert metrics["accuracy"] == 1.0 and metrics["unanswered"] == 0
    assert all(
        r["predicted_label"] == q.labels[q.answer] for r, q in zip(records, questions, strict=True)
    )
    wrong = [f"The answer is {'ABCDE'[(q.answer + 1) % len(q.choices)]}." for q in questions]
    assert multiple_choice.score_replies(questions, wrong)[0]["accuracy"] == 0.0
    metrics, _ = multiple_choice.score_replies(questions, ["I am not sure."] * len(questions))
    assert metrics["accuracy"] == 0.0 and metrics["unanswered"] == len(questions)


def test_gsm8k_scores_reference_solutions_right_and_altered_ones_wrong():
    problems = load_gsm8k()
    metrics, records = gsm8k.score(problems, [p.solution for p in problems])
    assert metrics["accuracy"] == 1.0 and metrics["correct"] == len(problems)
    altered = [p.solution.rsplit("####", 1)[0] + f"#### {int(p.answer) + 1}" for p in problems]
    assert gsm8k.score(problems, altered)[0]["accuracy"] == 0.0
    # Chat replies: markers and output parts removed; thousands separators do not matter.
    replies = [
        f"<|code_start|>print(1)<|code_end|><|output_start|>1<|output_end|>So it is "
        f"{int(p.answer):,}.\n#### {int(p.answer):,}"
        for p in problems
    ]
    metrics, records = gsm8k.score(problems, replies, chat=True)
    assert metrics["accuracy"] == 1.0 and "reply" in records[0]
    metrics, _ = gsm8k.score(problems, ["I cannot say."] * len(problems), chat=True)
    assert metrics["unanswered"] == len(problems) and metrics["accuracy"] == 0.0
    prompt = gsm8k.prompt(problems[0], shots=2)
    assert prompt.count("Question:") == 3 and prompt.endswith("muffins are left?\nAnswer:")


@pytest.mark.slow
def test_evaluate_runs_every_new_benchmark_and_reports_them(tiny, tmp_path):
    """`tritter evaluate --tasks core,multipl-e-rust,ds1000` on the random model: results.json,
    samples, manifest counts, gauges and the report's rows."""
    from tritter.errors import TritterError
    from tritter.evaluate import rust

    try:
        rust.find_toolchain()
    except TritterError as err:
        need(False, f"{err} (Debian package rustc)")
    run = tmp_path / "run"
    output = run / "eval"
    done = run_tritter(
        "evaluate", "--checkpoint", tiny["model"], "--tokenizer", tiny["tokenizer"],
        "--output", str(output), "--tasks", "core,multipl-e-rust,ds1000", "--limit", "2",
        "--generation.max-new-tokens", "8", "--gsm8k.max-new-tokens", "8",
        env={"OMP_NUM_THREADS": "1"},
    )  # fmt: skip
    assert done.returncode == 0, done.stderr[-3000:]
    results = json.loads((output / "results.json").read_text())
    tasks = results["tasks"]
    assert set(tasks) == {"multipl-e-rust", "ds1000", "arc-easy", "arc-challenge", "mmlu",
                          "gsm8k", "core"}  # fmt: skip
    for name in ("arc-easy", "arc-challenge", "mmlu"):
        assert tasks[name]["problems"] == 2 and tasks[name]["scoring"] == "loglikelihood"
        assert 0 <= tasks[name]["accuracy"] <= 1 and tasks[name]["random_baseline"] == 0.25
        assert tasks[name]["source"] == f"sample:{name}-sample.jsonl"
    assert tasks["gsm8k"]["problems"] == 2 and tasks["gsm8k"]["shots"] == 4
    assert tasks["gsm8k"]["decoding"]["stop"] == list(gsm8k.STOP)
    rust_result = tasks["multipl-e-rust"]
    assert rust_result["problems"] == 2 and rust_result["toolchain"]["edition"] == "2021"
    assert rust_result["sandbox"]["limits"]["memory_mb"] == 2048
    assert sum(rust_result["status"].values()) == 2
    assert tasks["ds1000"]["problems"] == 2 and tasks["ds1000"]["skipped"]["problems"] == 0
    core = tasks["core"]
    assert set(core["components"]) == {"arc-easy", "arc-challenge", "mmlu", "gsm8k",
                                       "multipl-e-rust", "ds1000"}  # fmt: skip
    mean = sum(c["centered"] for c in core["components"].values()) / 6
    assert core["score"] == pytest.approx(mean, abs=1e-5)
    for name in ("multipl-e-rust", "ds1000", "arc-easy", "arc-challenge", "mmlu", "gsm8k"):
        lines = (output / f"samples-{name}.jsonl").read_text().splitlines()
        assert len(lines) == 2 and all("task_id" in json.loads(line) for line in lines)
    counts = EVALUATE_MANIFEST.require(str(output)).counts.tasks
    assert set(counts["mmlu"]) == {"problems", "accuracy"} and set(counts["core"]) == {"score"}
    assert set(counts["multipl-e-rust"]) == {"problems", "pass@1"}

    samples = {
        (metric.name, sample.labels.get("task")): sample.value
        for metric in registry_for(results, "r").collect()
        for sample in metric.samples
    }
    assert samples[("tritter_eval_accuracy_ratio", "mmlu")] == tasks["mmlu"]["accuracy"]
    assert samples[("tritter_eval_core_score", None)] == core["score"]

    done = run_tritter("report", "--run", str(run))
    assert done.returncode == 0, done.stderr[-3000:]
    report = (run / "report" / "report.md").read_text()
    rust_pct = f"{100 * rust_result['pass@1']:.1f}%"
    assert f"| MultiPL-E Rust pass@1 | > 40% | {rust_pct} (shipped sample) |" in report
    assert "| DS-1000 pass@1 | > 30% |" in report
    assert "| MMLU accuracy (business, security, CS subjects) | ≥ 60% |" in report
    assert "| CORE (mean centred accuracy) | 6 suites |" in report
    assert "| ARC-Easy | 2 |" in report


@pytest.mark.slow
def test_a_chat_model_answers_multiple_choice_and_gsm8k_by_generation(tiny, tmp_path):
    output = tmp_path / "eval"
    done = run_tritter(
        "evaluate", "--checkpoint", tiny["model"], "--tokenizer", tiny["tokenizer"],
        "--output", str(output), "--tasks", "arc-easy,mmlu,gsm8k", "--limit", "2",
        "--prompt-format", "chat", "--choice.max-new-tokens", "4",
        "--gsm8k.max-new-tokens", "6", env={"OMP_NUM_THREADS": "1"},
    )  # fmt: skip
    assert done.returncode == 0, done.stderr[-3000:]
    tasks = json.loads((output / "results.json").read_text())["tasks"]
    for name in ("arc-easy", "mmlu"):
        assert tasks[name]["scoring"] == "generation" and tasks[name]["problems"] == 2
        assert "stop_ids" in tasks[name]["decoding"] and "unanswered" in tasks[name]
    assert "shots" not in tasks["gsm8k"] and tasks["gsm8k"]["scoring"] == "generation"
    record = json.loads((output / "samples-mmlu.jsonl").read_text().splitlines()[0])
    assert {"reply", "predicted", "correct", "answer_label"} <= set(record)
    assert Path(output / "_manifest.json").exists()
