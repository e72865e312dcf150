"""Typed configuration: flags, config files, dotted overrides and one-line field errors."""

from __future__ import annotations

import argparse
from typing import Literal

import pytest
from pydantic import Field

from tritter.config import Config, add_arguments, build_config, flag_name, json_schema
from tritter.errors import TritterError


class Optim(Config):
    lr: float = Field(1e-3, gt=0, description="peak learning rate")
    betas: list[str] = Field(default_factory=lambda: ["0.9", "0.95"])


class Example(Config):
    input: str = Field(description="input URI")
    seq_len: int = Field(2048, gt=0, description="tokens per sample")
    precision: Literal["fp32", "bf16"] = "fp32"
    compile: bool = False
    mix: dict[str, float] = Field(default_factory=lambda: {"python": 0.4})
    optim: Optim = Field(default_factory=Optim)


def parse(argv):
    parser = argparse.ArgumentParser()
    add_arguments(parser, Example)
    parser.add_argument("--config")
    return parser.parse_args(argv)


def test_flags_build_a_validated_config():
    args = parse(
        [
            "--input",
            "s3://b/x",
            "--seq-len",
            "512",
            "--compile",
            "--optim.lr",
            "0.01",
            "--mix",
            "python=0.5,rust=0.5",
        ]
    )
    config = build_config(Example, args)
    assert config.seq_len == 512 and config.compile is True
    assert config.optim.lr == 0.01
    assert config.mix == {"python": 0.5, "rust": 0.5}


def test_file_then_flags_precedence(tmp_path):
    path = tmp_path / "c.yaml"
    path.write_text("input: from-file\nseq_len: 128\noptim:\n  lr: 0.5\n")
    config = build_config(Example, parse(["--seq-len", "64"]), config_file=str(path))
    assert (config.input, config.seq_len, config.optim.lr) == ("from-file", 64, 0.5)


@pytest.mark.parametrize(
    ("argv", "yaml_text", "expected"),
    [
        (
            ["--input", "x", "--seq-len", "-3"],
            None,
            "'seq_len' (--seq-len): Input should be greater than 0",
        ),
        (["--input", "x", "--optim.lr", "0"], None, "'optim.lr' (--optim.lr)"),
        ([], None, "'input' (--input): Field required"),
        ([], "input: x\nseqlen: 3\n", "'seqlen' (--seqlen): unknown field"),
        ([], "input: x\nseq_len: many\n", "(got 'many')"),
    ],
)
def test_errors_name_the_field(tmp_path, argv, yaml_text, expected):
    config_file = None
    if yaml_text:
        config_file = str(tmp_path / "bad.yaml")
        (tmp_path / "bad.yaml").write_text(yaml_text)
    with pytest.raises(TritterError) as info:
        build_config(Example, parse(argv), config_file=config_file)
    assert expected in str(info.value)
    assert "\n" not in str(info.value)
    if config_file:
        assert str(info.value).startswith(config_file)


def test_bad_yaml_and_missing_file(tmp_path):
    (tmp_path / "broken.yaml").write_text("a: [1, 2\n")
    with pytest.raises(TritterError, match="invalid YAML"):
        build_config(Example, parse([]), config_file=str(tmp_path / "broken.yaml"))
    with pytest.raises(TritterError, match="config file not found"):
        build_config(Example, parse([]), config_file=str(tmp_path / "absent.yaml"))


def test_mapping_flag_rejects_garbage(capsys):
    with pytest.raises(SystemExit):
        parse(["--mix", "python:0.4"])
    assert "expected name=weight" in capsys.readouterr().err


def test_schema_and_flag_names():
    schema = json_schema(Example)
    assert schema["properties"]["seq_len"]["exclusiveMinimum"] == 0
    assert flag_name("optim.weight_decay") == "--optim.weight-decay"
