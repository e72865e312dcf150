"""The packaged persona loads and says what the project says the assistant is."""

from __future__ import annotations

import pytest

from tritter.chat import persona
from tritter.errors import TritterError


def test_default_persona():
    found = persona.load()
    assert found == persona.load(persona.default_path())
    assert found.name == "Tritter"
    assert found.made_by == "the Tritter project"
    assert "ternary" in found.architecture
    assert "a human" in found.is_not
    assert {"direct", "technically precise"} <= set(found.traits)
    assert found.specialisations and found.limitations


def test_persona_fields_are_trimmed_and_required(tmp_path):
    text = persona.read_text(None)[1].replace("name: Tritter", "name: '  Quill  '")
    assert persona.parse(text, "x.yaml").name == "Quill"
    with pytest.raises(TritterError, match=r"x.yaml: invalid persona field 'specialisations'"):
        persona.parse(text.replace("specialisations:", "specialisations: []\nold:"), "x.yaml")
    with pytest.raises(TritterError, match="persona file is a folder"):
        persona.load(str(tmp_path))
