"""The persona: who the assistant is, read from a YAML file and validated.

Identity data (`tritter synth identity`) is generated from it, and a chat front end can build
its system prompt from it. The package ships the default, `persona.yaml` next to this module:
Tritter, a ternary-weight code model made by the Tritter project. Every field is required and
every text non-empty; a bad file is a one-line `TritterError` naming the file and the field.
"""

from __future__ import annotations

from importlib import resources
from typing import Annotated

import yaml
from pydantic import BaseModel, ConfigDict, Field, StringConstraints, ValidationError

from tritter import storage
from tritter.errors import TritterError

DEFAULT_PERSONA = "persona.yaml"

Text = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1)]
Items = Annotated[list[Text], Field(min_length=1)]


class Persona(BaseModel):
    """Who the assistant is. Each text is written to complete the sentence in its comment, so
    templates can say it in the first person."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    name: Text  # "I am {name}"
    role: Text  # "I am {name}, {role}": a noun phrase such as "a code assistant"
    made_by: Text  # "I was made by {made_by}"
    architecture: Text  # "I am {architecture}": what kind of model it is
    specialisations: Items  # "I am good at {item}"
    traits: Items  # "I am {item}": how it answers
    limitations: Items  # whole first-person sentences
    is_not: Items  # "I am not {item}"


def default_path() -> str:
    """The persona shipped in the package."""
    return str(resources.files(__package__) / DEFAULT_PERSONA)


def read_text(uri: str | None) -> tuple[str, str]:
    """(location, text) of a persona file; None is the packaged default."""
    location = uri or default_path()
    return location, storage.read_named_file(location, "persona file")


def parse(text: str, location: str) -> Persona:
    """A persona from YAML text; one-line `TritterError` naming `location` and the field."""
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as err:
        raise TritterError(f"{location}: invalid YAML ({err})") from err
    if not isinstance(data, dict):
        raise TritterError(f"{location}: a persona file holds a mapping of field: value")
    try:
        return Persona.model_validate(data)
    except ValidationError as err:
        first = err.errors()[0]
        where = ".".join(str(part) for part in first["loc"]) or "persona"
        message = "unknown field" if first["type"] == "extra_forbidden" else first["msg"]
        raise TritterError(f"{location}: invalid persona field '{where}': {message}") from err


def load(uri: str | None = None) -> Persona:
    """The persona at `uri` (a path or URI), or the packaged default."""
    location, text = read_text(uri)
    return parse(text, location)
