"""Typed configuration shared by the CLI, config files, pipeline parameters and Helm values.

Each stage declares one pydantic model (a subclass of `Config`). From that single declaration:

* `add_arguments` builds the argparse options (`seq_len` → `--seq-len`; nested models become
  dotted flags such as `--optim.lr`), with help text from the field descriptions;
* `build_config` merges defaults ← YAML file (`--config FILE`) ← explicit flags, and validates;
* `json_schema` gives the JSON schema that the Helm chart's values.schema.json embeds.

A field declared with `runtime_field` changes where or how fast a stage runs (output location,
worker counts, batch sizes of side computations), not what it produces: `Config.settings()`
leaves it out, and so does every stage fingerprint built from it. Input locations are runtime
fields too: a stage fingerprints its inputs by their content (the upstream manifest's
fingerprint, a sha256), so a moved run folder is still recognised as done.

Validation failures become one `TritterError` line naming the field, the flag and the bad value.
Configs are written into manifests and checkpoints, so they must never hold secrets: credentials
travel only in environment variables.
"""

from __future__ import annotations

import argparse
import types
import typing
from collections.abc import Iterator
from typing import Any, Literal, TypeVar

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError
from pydantic.fields import FieldInfo

from tritter import storage
from tritter.errors import TritterError

# The key `runtime_field` sets in a field's JSON schema (the Helm values schema shows it too).
RUNTIME_KEY = "x-runtime"


def runtime_field(default: Any = ..., **kwargs: Any) -> Any:
    """A config field that does not change a stage's result (left out of `Config.settings()`)."""
    return Field(default, json_schema_extra={RUNTIME_KEY: True}, **kwargs)


def is_runtime(info: FieldInfo) -> bool:
    extra = info.json_schema_extra
    return isinstance(extra, dict) and bool(extra.get(RUNTIME_KEY))


class Config(BaseModel):
    """Base for stage configs: unknown fields are errors, defaults are validated too."""

    model_config = ConfigDict(extra="forbid", validate_default=True, protected_namespaces=())

    def settings(self) -> dict[str, Any]:
        """The fields that determine the stage's result, JSON-ready (nested configs included,
        runtime fields left out): what a stage fingerprint hashes."""
        out: dict[str, Any] = {}
        for name, info in type(self).model_fields.items():
            if is_runtime(info):
                continue
            value = getattr(self, name)
            out[name] = (
                value.settings()
                if isinstance(value, Config)
                else self.model_dump(mode="json", include={name})[name]
            )
        return out


C = TypeVar("C", bound=Config)


def flag_name(dotted: str) -> str:
    """Field path → CLI flag: `optim.weight_decay` → `--optim.weight-decay`."""
    return "--" + dotted.replace("_", "-")


def parse_mapping(text: str) -> dict[str, float]:
    """`python=0.4,rust=0.25` → {"python": 0.4, "rust": 0.25}."""
    result: dict[str, float] = {}
    for item in filter(None, (part.strip() for part in text.split(","))):
        key, sep, value = item.partition("=")
        if not sep or not key.strip():
            raise argparse.ArgumentTypeError(f"expected name=weight, got '{item}'")
        try:
            result[key.strip()] = float(value)
        except ValueError as err:
            raise argparse.ArgumentTypeError(
                f"weight for '{key}' is not a number: '{value}'"
            ) from err
    return result


def parse_list(text: str) -> list[str]:
    """`python,rust` → ["python", "rust"]."""
    return [part.strip() for part in text.split(",") if part.strip()]


def _unwrap_optional(annotation: Any) -> Any:
    if typing.get_origin(annotation) in (typing.Union, types.UnionType):
        args = [a for a in typing.get_args(annotation) if a is not type(None)]
        if len(args) == 1:
            return args[0]
    return annotation


def _fields(cls: type[Config], prefix: str = "") -> Iterator[tuple[str, Any, Any]]:
    """(dotted name, annotation, FieldInfo) for every leaf field, recursing into sub-models."""
    for name, info in cls.model_fields.items():
        annotation = _unwrap_optional(info.annotation)
        if isinstance(annotation, type) and issubclass(annotation, BaseModel):
            yield from _fields(annotation, f"{prefix}{name}.")
        else:
            yield f"{prefix}{name}", annotation, info


def add_arguments(
    parser: argparse.ArgumentParser, cls: type[Config], exclude: tuple[str, ...] = ()
) -> None:
    """Add one option per config field. Options default to 'not given' so that config-file
    values are only overridden by flags the user actually typed."""
    group = parser.add_argument_group(f"{cls.__name__} options")
    for dotted, annotation, info in _fields(cls):
        if dotted in exclude:
            continue
        kwargs: dict[str, Any] = {"dest": dotted, "default": argparse.SUPPRESS}
        origin = typing.get_origin(annotation)
        default = info.get_default(call_default_factory=True)
        help_text = info.description or ""
        if annotation is bool:
            kwargs["action"] = argparse.BooleanOptionalAction
        elif origin is Literal:
            kwargs["choices"] = list(typing.get_args(annotation))
            kwargs["type"] = type(typing.get_args(annotation)[0])
        elif origin is list:
            kwargs["type"] = parse_list
            kwargs["metavar"] = "A,B,..."
        elif origin is dict:
            kwargs["type"] = parse_mapping
            kwargs["metavar"] = "K=V,..."
        elif annotation in (int, float):
            kwargs["type"] = annotation
        else:
            kwargs["type"] = str
        if info.is_required():
            help_text += " (required)"
        elif default is not None and default != [] and default != {}:
            shown = (
                ",".join(f"{k}={v}" for k, v in default.items())
                if isinstance(default, dict)
                else (",".join(map(str, default)) if isinstance(default, list) else default)
            )
            help_text += f" (default: {shown})"
        group.add_argument(flag_name(dotted), help=help_text.replace("%", "%%"), **kwargs)


def load_config_file(path: str) -> dict[str, Any]:
    """A YAML (or JSON) mapping from a local path or URI."""
    try:
        text = storage.read_text(path)
    except FileNotFoundError as err:
        raise TritterError(f"{path}: config file not found") from err
    except UnicodeDecodeError as err:
        raise TritterError(f"{path}: config file is not UTF-8 text") from err
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as err:
        raise TritterError(f"{path}: invalid YAML ({err})") from err
    if data is None:
        return {}
    if not isinstance(data, dict):
        raise TritterError(f"{path}: config file must hold a mapping of field: value")
    return data


def _set_dotted(target: dict[str, Any], dotted: str, value: Any) -> None:
    node = target
    *parents, leaf = dotted.split(".")
    for part in parents:
        child = node.get(part)
        if not isinstance(child, dict):
            child = {}
            node[part] = child
        node = child
    node[leaf] = value


def build_config(
    cls: type[C],
    args: argparse.Namespace | None = None,
    config_file: str | None = None,
    overrides: dict[str, Any] | None = None,
) -> C:
    """defaults ← config file ← CLI flags ← explicit overrides, validated into `cls`."""
    data: dict[str, Any] = load_config_file(config_file) if config_file else {}
    known = {dotted for dotted, _, _ in _fields(cls)}
    if args is not None:
        for key, value in vars(args).items():
            if key in known:
                _set_dotted(data, key, value)
    for key, value in (overrides or {}).items():
        _set_dotted(data, key, value)
    return validate(cls, data, source=config_file)


def validate(cls: type[C], data: dict[str, Any], source: str | None = None) -> C:
    try:
        return cls.model_validate(data)
    except ValidationError as err:
        raise TritterError(format_validation_error(err, source)) from err


def format_validation_error(err: ValidationError, source: str | None = None) -> str:
    """One line naming the first bad field, its flag and the offending value."""
    problems = err.errors()
    first = problems[0]
    dotted = ".".join(str(part) for part in first["loc"])
    where = f"{source}: " if source else ""
    message = first["msg"]
    if first["type"] == "extra_forbidden":
        message = "unknown field"
    elif first["type"] != "missing" and "input" in first:
        message += f" (got {first['input']!r})"
    more = f" [+{len(problems) - 1} more]" if len(problems) > 1 else ""
    return f"{where}invalid config field '{dotted}' ({flag_name(dotted)}): {message}{more}"


def dump(config: Config) -> dict[str, Any]:
    """JSON-ready dict of a config (for manifests, checkpoints and run folders)."""
    return config.model_dump(mode="json")


def save(config: Config, uri: str) -> None:
    storage.write_text(uri, yaml.safe_dump(dump(config), sort_keys=False))


def json_schema(cls: type[Config]) -> dict[str, Any]:
    """JSON schema of a config model (embedded in the Helm chart's values.schema.json)."""
    return cls.model_json_schema()
