"""The constitution: the principles responses are critiqued and revised against.

A YAML file (the package ships `constitution.yaml` next to this module: the seven principles of
the Tritter seed — direct and accurate, explain reasoning, admit uncertainty, no lecturing,
respect autonomy, stay on task, working code — plus helpful, harmless and honest):

    name: tritter-default
    license: apache-2.0                    # of this file's text (and its examples)
    principles:
      - id: direct                         # unique; [a-z0-9_-]
        text: Be direct and technically accurate.
        critique: Point out anything in the answer that is vague, padded or technically wrong.
        revision: Rewrite the answer so that it is direct and technically accurate.
    examples:                              # few-shot demonstrations for critique and revision
      - principle: direct                  # an id above
        user: What does `len` return for a dict?
        response: Well, it depends, there are many things to consider...
        critique: The answer never says what len returns.
        revision: The number of keys.

The critique and revision steps prompt a base model with a few of these examples written as
plain text (`tritter.synth.fewshot`), so every principle should have at least one example (the
step falls back to other principles' examples when it has none). Validation is strict
(pydantic, unknown fields are errors, ids unique, every example names a known principle); a
bad file is a one-line `TritterError` naming the file and the field.
"""

from __future__ import annotations

from importlib import resources
from typing import Annotated

import yaml
from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    StringConstraints,
    ValidationError,
    model_validator,
)

from tritter import storage
from tritter.errors import TritterError

DEFAULT_CONSTITUTION = "constitution.yaml"
DEFAULT_LABEL = "default"

Text = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1)]
Id = Annotated[str, StringConstraints(pattern=r"^[a-z0-9][a-z0-9_-]*$")]


class Principle(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    id: Id
    text: Text  # the principle itself, one sentence
    critique: Text  # the critique request shown to the model
    revision: Text  # the revision request shown to the model


class Example(BaseModel):
    """One critique/revision demonstration."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    principle: Id
    user: Text
    response: Text
    critique: Text
    revision: Text


class Constitution(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    name: Text
    license: Annotated[str, StringConstraints(pattern=r"^[a-z0-9][a-z0-9.+-]*$")]
    principles: Annotated[list[Principle], Field(min_length=1)]
    examples: Annotated[list[Example], Field(min_length=1)]

    @model_validator(mode="after")
    def _check_ids(self) -> Constitution:
        seen: set[str] = set()
        for index, principle in enumerate(self.principles):
            if principle.id in seen:
                raise ValueError(f"principles.{index}.id: duplicate id '{principle.id}'")
            seen.add(principle.id)
        for index, example in enumerate(self.examples):
            if example.principle not in seen:
                raise ValueError(
                    f"examples.{index}.principle: unknown principle '{example.principle}'"
                )
        return self

    def principle(self, principle_id: str) -> Principle:
        return next(p for p in self.principles if p.id == principle_id)

    def examples_for(self, principle_id: str) -> list[Example]:
        return [e for e in self.examples if e.principle == principle_id]


def default_path() -> str:
    return str(resources.files(__package__) / DEFAULT_CONSTITUTION)


def read_text(uri: str | None) -> tuple[str, str]:
    """(location, text) of a constitution file; None is the packaged default."""
    location = uri or default_path()
    return location, storage.read_named_file(location, "constitution file")


def parse(text: str, location: str) -> Constitution:
    """A constitution from YAML text; one-line `TritterError` naming `location` and the field."""
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as err:
        detail = " ".join(str(err).split())
        raise TritterError(f"{location}: invalid YAML ({detail})") from err
    if not isinstance(data, dict):
        raise TritterError(f"{location}: a constitution file holds a mapping of field: value")
    try:
        return Constitution.model_validate(data)
    except ValidationError as err:
        first = err.errors()[0]
        where = ".".join(str(part) for part in first["loc"])
        message = "unknown field" if first["type"] == "extra_forbidden" else first["msg"]
        if first["type"] == "value_error":  # our own checks name their field in the message
            message = message.removeprefix("Value error, ")
            where, _, message = message.partition(": ")
        raise TritterError(
            f"{location}: invalid constitution field '{where or 'constitution'}': {message}"
        ) from err


def load(uri: str | None = None) -> tuple[Constitution, str]:
    """(constitution, sha256 of its text) at `uri`, or the packaged default."""
    location, text = read_text(uri)
    return parse(text, location), storage.sha256_bytes(text.encode())
