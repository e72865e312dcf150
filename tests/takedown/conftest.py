"""A small real run for the takedown tests: `tritter curate` → tokenizer → pack, through the
real stage functions, once per session; each test works on its own copy."""

from __future__ import annotations

import json
import shutil
import sysconfig
from pathlib import Path

import pytest

REPOS = ("acme/alpha", "acme/beta", "acme/gamma")
TAKEN = "acme/alpha"
SEQ_LEN = 64


def write_sources(folder: Path) -> None:
    """One JSONL file per repository (so curation writes one Parquet shard each) of real
    standard-library modules, each document tagged with its repository."""
    stdlib = Path(sysconfig.get_paths()["stdlib"])
    files = [p for p in sorted(stdlib.glob("*.py")) if 2_000 < p.stat().st_size < 12_000][:90]
    folder.mkdir(parents=True)
    for number, repo in enumerate(REPOS):
        with open(folder / f"{repo.replace('/', '-')}.jsonl", "w", encoding="utf-8") as handle:
            for path in files[number::3]:
                record = {"text": path.read_text(encoding="utf-8"), "path": f"src/{path.name}",
                          "repo": repo, "language": "python", "license": "mit"}  # fmt: skip
                handle.write(json.dumps(record) + "\n")


def build_run(root: Path) -> Path:
    from tritter.curate.config import CurateConfig
    from tritter.curate.stage import run as curate
    from tritter.pack.config import PackConfig
    from tritter.pack.stage import run as pack
    from tritter.tokenizer.config import TokenizerConfig
    from tritter.tokenizer.stage import run as train_tokenizer

    write_sources(root / "sources")
    run = root / "run"
    curate(CurateConfig(input=str(root / "sources"), output=str(run / "curated"), workers=1))
    train_tokenizer(
        TokenizerConfig(
            input=str(run / "curated"), output=str(run / "tokenizer"), vocab_size=512,
            sample_bytes=200_000, heldout_bytes=10_000, threads=2,
        )
    )  # fmt: skip
    pack(
        PackConfig(
            input=str(run / "curated"), tokenizer=str(run / "tokenizer"),
            output=str(run / "tokens"), seq_len=SEQ_LEN, mix={"python": 1.0}, val_fraction=0.05,
            shard_tokens=20_000, workers=1, estimate_bytes=50_000, max_repetition=2.0,
            token_budget=250_000,
        )
    )  # fmt: skip
    return run


@pytest.fixture(scope="session")
def template(tmp_path_factory) -> Path:
    """The finished run (do not modify: copy it with `fresh_run`)."""
    return build_run(tmp_path_factory.mktemp("takedown-template"))


@pytest.fixture
def fresh_run(template, tmp_path) -> Path:
    run = tmp_path / "run"
    shutil.copytree(template, run)
    return run
