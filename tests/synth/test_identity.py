"""`tritter synth identity`: deterministic, varied, on-persona identity conversations."""

from __future__ import annotations

import json
import random
import re
import string

import pytest

from tests.tokenizer.support import one_line_error, run_in_process
from tritter import storage
from tritter.chat import persona as persona_module
from tritter.chat import read_conversations
from tritter.errors import TritterError
from tritter.run_folder import SYNTH_IDENTITY_MANIFEST
from tritter.synth.identity import _FIELDS, fill
from tritter.synth.templates import SYSTEM_PROMPTS, TOPICS

# A first-person claim to be human ("I am a human", "I'm a real person", "as a human, I").
HUMAN_CLAIM = re.compile(
    r"\bI(?:'m| am) (?:a |an )?(?:real )?(?:human|person|man|woman)\b|\bas a (?:human|person)\b",
    re.IGNORECASE,
)


def _synth(output, *extra):
    done = run_in_process("synth", "identity", "--output", output, *extra)
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout)


def _rows(folder):
    return [json.loads(line) for line in (folder / "conversations.jsonl").read_text().splitlines()]


def test_same_seed_same_data_other_seed_other_data(tmp_path):
    _synth(tmp_path / "a", "--count", "300", "--seed", "3")
    _synth(tmp_path / "b", "--count", "300", "--seed", "3")
    _synth(tmp_path / "c", "--count", "300", "--seed", "4")
    first = (tmp_path / "a" / "conversations.jsonl").read_bytes()
    assert first == (tmp_path / "b" / "conversations.jsonl").read_bytes()
    assert first != (tmp_path / "c" / "conversations.jsonl").read_bytes()


def test_varied_valid_and_on_persona(tmp_path):
    summary = _synth(tmp_path / "out", "--count", "600")
    assert summary["conversations"] == 600 and summary["persona"] == "Tritter"
    rows = _rows(tmp_path / "out")
    assert len(rows) == 600 and len({row["id"] for row in rows}) == 600
    assert all(row["source"] == "synth-identity" and row["license"] == "apache-2.0" for row in rows)
    # Every row is a valid conversation in the chat format.
    read = read_conversations(str(tmp_path / "out"))
    assert len(read.conversations) == 600 and read.skipped_rows == 0
    questions = [m["content"] for r in rows for m in r["messages"] if m["role"] == "user"]
    answers = [m["content"] for r in rows for m in r["messages"] if m["role"] == "assistant"]
    assert len(set(questions)) > 300 and len(set(answers)) > 200
    for answer in answers:
        assert "Tritter" in answer, answer
        assert not HUMAN_CLAIM.search(answer), answer
    human = [
        r["messages"][i + 1]["content"]
        for r in rows
        for i, m in enumerate(r["messages"])
        if m["role"] == "user" and m["content"].lower().rstrip("?").endswith("are you human")
    ]
    denial = re.compile(r"not a (?:human|person)|no person")
    assert human and all(a.startswith("No") and denial.search(a) for a in human), human

    counts = SYNTH_IDENTITY_MANIFEST.require(str(tmp_path / "out")).counts
    assert set(counts.topics) == {topic.name for topic in TOPICS}
    assert 0 < counts.with_system < 600 and 0 < counts.multi_turn < 600
    assert counts.distinct_questions == len(set(questions))
    assert counts.messages == sum(len(r["messages"]) for r in rows)


def test_relaunch_is_a_no_op_and_a_change_regenerates(tmp_path):
    out = tmp_path / "out"
    _synth(out, "--count", "50")
    before = (out / "_manifest.json").read_text()
    again = run_in_process("synth", "identity", "--output", out, "--count", "50")
    assert again.returncode == 0 and "skipping" in again.stderr
    assert (out / "_manifest.json").read_text() == before
    _synth(out, "--count", "60")
    assert len(_rows(out)) == 60
    assert (out / "_manifest.json").read_text() != before


def test_custom_persona_and_s3_output(tmp_path, s3_bucket):
    text = (
        storage.read_text(persona_module.default_path())
        .replace("name: Tritter", "name: Quill")
        .replace("made_by: the Tritter project", "made_by: the Example lab")
    )
    (tmp_path / "quill.yaml").write_text(text)
    output = f"{s3_bucket}/run/synth/identity"
    _synth(output, "--persona", tmp_path / "quill.yaml", "--count", "80", "--license", "cc0-1.0")
    lines = storage.read_text(f"{output}/conversations.jsonl").splitlines()
    rows = [json.loads(line) for line in lines]
    answers = [m["content"] for r in rows for m in r["messages"] if m["role"] == "assistant"]
    assert len(rows) == 80 and all("Quill" in a and "Tritter" not in a for a in answers)
    assert {r["license"] for r in rows} == {"cc0-1.0"}
    manifest = SYNTH_IDENTITY_MANIFEST.require(output)
    assert manifest.inputs.persona == str(tmp_path / "quill.yaml")
    assert manifest.extra.persona_name == "Quill"


EDITS = [
    # (text to replace in the default persona, replacement, expected in the error)
    ("name: Tritter\n", "", "invalid persona field 'name': Field required"),
    ("traits:", "traits: []\nold_traits:", "invalid persona field 'traits'"),
    ("is_not:", "mood: cheerful\nis_not:", "invalid persona field 'mood': unknown field"),
    ("role: a code assistant", "role: ''", "invalid persona field 'role'"),
    ("name: Tritter", "name: [unclosed", "invalid YAML"),
]


@pytest.mark.parametrize(("old", "new", "expected"), EDITS)
def test_bad_persona_is_a_one_line_error(tmp_path, old, new, expected):
    path = tmp_path / "persona.yaml"
    text = storage.read_text(persona_module.default_path())
    assert old in text
    path.write_text(text.replace(old, new))
    done = run_in_process("synth", "identity", "--persona", path, "--output", tmp_path / "out")
    line = one_line_error(done)
    assert str(path) in line and expected in line, line
    assert not (tmp_path / "out" / "_manifest.json").exists()


def test_persona_that_is_not_a_mapping(tmp_path):
    (tmp_path / "list.yaml").write_text("- a list\n")
    with pytest.raises(TritterError, match=r"list.yaml: a persona file holds a mapping"):
        persona_module.load(str(tmp_path / "list.yaml"))


def test_missing_persona_and_bad_options(tmp_path):
    line = one_line_error(
        run_in_process("synth", "identity", "--persona", tmp_path / "no.yaml", "--output", tmp_path)
    )
    assert "no.yaml: persona file not found" in line
    line = one_line_error(
        run_in_process("synth", "identity", "--output", tmp_path / "o", "--count", "0")
    )
    assert "count" in line
    line = one_line_error(
        run_in_process("synth", "identity", "--output", tmp_path / "o", "--license", "Apache 2")
    )
    assert "license" in line


def test_every_template_names_the_persona_and_fills():
    persona = persona_module.load()
    rng = random.Random(0)
    for topic in TOPICS:
        assert len(topic.questions) >= 5 and len(topic.answers) >= 3, topic.name
        for template in topic.answers:
            assert "{name}" in template, template
            filled = fill(template, persona, rng)
            assert "{" not in filled and "Tritter" in filled and filled[0].isupper()
    for template in SYSTEM_PROMPTS:
        names = {n for _, n, _, _ in string.Formatter().parse(template) if n}
        assert names <= set(_FIELDS)
