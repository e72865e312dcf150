"""The benchmark loaders (GSM8K, ARC, MMLU, MultiPL-E Rust, DS-1000): the shipped samples, and a
local copy in each public dataset's layout read through the same code as `hf://` (a
`save_to_disk` folder, a folder of Parquet files as the hub lays them out), Parquet and JSONL
files; bad rows are one-line errors. Also the pure parts of the scoring: GSM8K's number
extraction, a chat reply's letter, CORE from known accuracies."""

from __future__ import annotations

import json

import pytest

from tritter.benchmarks.choice import load_choice
from tritter.benchmarks.ds1000 import load_ds1000, required_modules
from tritter.benchmarks.gsm8k import final_answer, load_gsm8k, normalize_number
from tritter.benchmarks.multipl_e import load_multipl_e_rust
from tritter.benchmarks.rows import read_rows, sample_path
from tritter.errors import TritterError
from tritter.evaluate import multiple_choice
from tritter.evaluate.config import CORE_SUITES, EvaluateConfig
from tritter.evaluate.core import centered, core

SAMPLES = {
    "gsm8k": ("gsm8k-sample.jsonl", 12),
    "arc-easy": ("arc-easy-sample.jsonl", 12),
    "arc-challenge": ("arc-challenge-sample.jsonl", 10),
    "mmlu": ("mmlu-sample.jsonl", 16),
    "multipl-e-rust": ("multipl-e-rust-sample.jsonl", 12),
    "ds1000": ("ds1000-sample.jsonl", 8),
}


def load(name: str, uri: str | None = None) -> list:
    if name == "gsm8k":
        return load_gsm8k(uri)
    if name == "multipl-e-rust":
        return load_multipl_e_rust(uri)
    if name == "ds1000":
        return load_ds1000(uri)
    return load_choice(name, uri)


@pytest.mark.parametrize("name", sorted(SAMPLES))
def test_the_shipped_samples_load(name):
    items = load(name)
    assert len(items) == SAMPLES[name][1]
    assert len({item.task_id for item in items}) == len(items)


def test_samples_carry_what_the_known_answer_checks_need():
    arc = load_choice("arc-easy")
    # ARC's odd rows are there: numeric labels, 3 and 5 choices.
    assert any(q.labels == ("1", "2", "3", "4") for q in arc)
    assert {len(q.choices) for q in arc} >= {3, 4, 5}
    numeric = next(q for q in arc if q.labels[0] == "1")
    assert numeric.choices[numeric.answer] == "the roots"
    mmlu = load_choice("mmlu")
    assert all(len(q.choices) == 4 and q.subject for q in mmlu)
    assert {"computer_security", "business_ethics", "machine_learning"} <= {q.subject for q in mmlu}
    assert all(p.answer == final_answer(p.solution) for p in load_gsm8k())
    assert "<<" not in "".join(p.solution for p in load_gsm8k())  # annotations removed
    rust = load_multipl_e_rust()
    assert all(p.solution and p.entry_point and p.stop == ("\n}",) for p in rust)
    assert all(p.test.startswith("\n}") and "fn main()" in p.test for p in rust)
    ds = load_ds1000()
    assert {p.library for p in ds} == {"Numpy", "Pandas", "Scipy", "Sklearn"}
    assert all(p.solution and "def test_execution(" in p.test for p in ds)
    assert required_modules(ds[-1]) >= {"numpy", "sklearn"}


@pytest.mark.parametrize("name", sorted(SAMPLES))
def test_a_local_copy_in_the_hub_layout_reads_like_the_sample(name, tmp_path):
    """The sample's rows written as the hub stores them — Parquet under the split's name, and a
    save_to_disk folder — load through the same `hf://` path as a hub dataset, and as plain
    Parquet and JSONL files."""
    import datasets

    rows = read_rows(None, SAMPLES[name][0])
    dataset = datasets.Dataset.from_list(rows)
    hub = tmp_path / "hub"
    (hub / "data").mkdir(parents=True)
    dataset.to_parquet(str(hub / "data" / "test-00000-of-00001.parquet"))
    saved = tmp_path / "saved"
    datasets.DatasetDict({"test": dataset}).save_to_disk(str(saved))
    single = tmp_path / "single.parquet"
    dataset.to_parquet(str(single))
    lines = tmp_path / "copy.jsonl"
    lines.write_text("".join(json.dumps(row) + "\n" for row in rows))

    expected = load(name)
    for uri in (f"hf://{hub}", f"hf://{hub}::test", f"hf://{saved}", str(single), str(lines)):
        assert load(name, uri) == expected, uri


def test_missing_or_malformed_sources_are_one_line_errors(tmp_path):
    with pytest.raises(TritterError, match="benchmark file not found"):
        load_gsm8k(str(tmp_path / "none.jsonl"))
    bad = tmp_path / "bad.jsonl"
    bad.write_text('{"question": "2 + 2?", "answer": "four"}\n')
    with pytest.raises(TritterError, match=r"bad.jsonl: row 0: the answer does not end with"):
        load_gsm8k(str(bad))
    bad.write_text('{"question": "q", "choices": ["a", "b"], "answer": 7}\n')
    with pytest.raises(TritterError, match="answer 7 is not the index"):
        load_choice("mmlu", str(bad))
    bad.write_text('{"id": "x", "question": "q", "choices": {"text": ["a"], "label": ["A"]}}\n')
    with pytest.raises(TritterError, match="lacks field 'answerKey'"):
        load_choice("arc-easy", str(bad))
    bad.write_text('{"name": "x", "prompt": 3, "tests": ""}\n')
    with pytest.raises(TritterError, match="field 'prompt' is a int, not str"):
        load_multipl_e_rust(str(bad))
    bad.write_text("not json\n")
    with pytest.raises(TritterError, match=r"bad\.jsonl:1: corrupt benchmark line"):
        load_ds1000(str(bad))
    saved = tmp_path / "saved"
    import datasets

    datasets.DatasetDict({"train": datasets.Dataset.from_list([{"a": 1}])}).save_to_disk(str(saved))
    with pytest.raises(TritterError, match=r"no split 'test' \(the saved dataset has train\)"):
        load_gsm8k(f"hf://{saved}")
    with pytest.raises(TritterError, match="expected hf://DATASET"):
        load_gsm8k("hf://a:b:c:d")
    assert sample_path("mmlu-sample.jsonl").is_file()


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("She has 42 - 35 = 7 muffins left.\n#### 7", "7"),
        ("#### 1,200", "1200"),
        ("The answer is $1,200.50.", "1200.5"),
        ("So 3 + 4 = 7, and 7 * 2 = 14.", "14"),  # no ####: the last number
        ("#### -5", "-5"),
        ("12 apples #### 3.0", "3"),
        ("#### 100", "100"),  # not 1E+2
        ("no number here", None),
        ("####", None),
    ],
)
def test_gsm8k_final_answer(text, expected):
    assert final_answer(text) == expected


def test_gsm8k_numbers_compare_as_decimals():
    assert normalize_number("1,000") == normalize_number("1000.00") == "1000"
    assert normalize_number("0.50") == "0.5" and normalize_number("abc") is None


@pytest.mark.parametrize(
    ("reply", "expected"),
    [
        ("B", 1),
        ("(C)", 2),
        ("**A**", 0),
        ("B. carbon dioxide", 1),
        ("The answer is D.", 3),
        ("Answer: (b)", 1),
        ("<|code_start|>x<|code_end|>The answer is C", 2),
        ("carbon dioxide", 1),  # quotes exactly one choice
        ("A gas that plants need", None),  # "A" the article is not an answer
        ("E", None),  # not one of the four letters
        ("I do not know.", None),
    ],
)
def test_a_chat_reply_gives_its_letter(reply, expected):
    question = load_choice("arc-easy")[0]  # oxygen, carbon dioxide, nitrogen, hydrogen
    assert multiple_choice.extract_letter(reply, question) == expected


def test_choice_selection_normalizes_per_byte_and_breaks_ties_to_the_first():
    # Raw sums favour the short choice; per byte the long one is likelier.
    logprobs = [-4.0, -10.0]
    per_byte = multiple_choice.normalized(logprobs, ["no", "certainly yes"])
    assert per_byte == [-4.0 / 3, -10.0 / 14]
    assert multiple_choice.predict(logprobs) == 0 and multiple_choice.predict(per_byte) == 1
    assert multiple_choice.predict([-1.0, -1.0, -2.0]) == 0
    assert multiple_choice.normalized([-6.0], ["é"]) == [-2.0]  # " é" is 3 bytes


def test_core_from_known_accuracies():
    assert centered(0.25, 0.25) == 0 and centered(1.0, 0.25) == 1 and centered(0.0, 0.25) == -1 / 3
    tasks = {
        "arc-easy": {"accuracy": 0.55, "random_baseline": 0.25},  # centred 0.4
        "mmlu": {"accuracy": 0.25, "random_baseline": 0.25},  # chance: 0
        "gsm8k": {"accuracy": 0.2, "random_baseline": 0.0},  # 0.2
        "humaneval": {"pass@1": 0.5, "problems": 164},  # 0.5
        "perplexity": {"overall": {}},  # not a suite
        "identity": {"consistency": 1.0},
    }
    result = core(tasks)
    assert result["suites"] == 4
    assert result["score"] == pytest.approx((0.4 + 0 + 0.2 + 0.5) / 4)
    assert result["components"]["arc-easy"] == {
        "accuracy": 0.55, "random_baseline": 0.25, "centered": 0.4,
    }  # fmt: skip
    assert core({})["score"] is None


def test_core_brings_its_suites_and_unknown_tasks_are_refused():
    config = EvaluateConfig(checkpoint="c", tokenizer="t", output="o", tasks=["core", "mbpp"])
    assert config.tasks == ["mbpp", *CORE_SUITES, "core"]
    with pytest.raises(ValueError, match="unknown task 'mmlu-pro'"):
        EvaluateConfig(checkpoint="c", tokenizer="t", output="o", tasks=["mmlu-pro"])
    assert config.benchmarks.uri("multipl-e-rust") is None
