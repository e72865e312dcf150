"""The prompt rows of an RL run, checked once: `<rl folder>/data/prompts.jsonl` + its manifest.

The launcher reads `--prompts` (`tritter.rl.prompts`: a malformed row is a one-line error),
renders every prompt with the chat template to drop those that leave no room for a completion
(`too_long`), drops the rows that hold an evaluation problem (`contaminated:<benchmark>`), and
writes the kept rows — the prompt as messages, every other field as read — with the manifest
(stage `rl-data`) last. Redone only when the rows, tokenizer, `--seq-len` or reward change; the
training ranks read this folder (`data` of the trainer config), never the source, so a source on
the hub or S3 is read once and every rank trains on the same rows.
"""

from __future__ import annotations

import hashlib
import json
from collections import Counter
from typing import TYPE_CHECKING

from tritter import log, manifest, storage
from tritter.config import Config
from tritter.errors import TritterError
from tritter.rl.prompts import (
    DECONTAMINATION_NGRAM,
    DECONTAMINATION_OVERLAP,
    PromptRow,
    contamination,
    parse_row,
    read_rows,
)
from tritter.run_folder import (
    RL_DATA_MANIFEST,
    RL_PROMPTS_FILE,
    RlDataCounts,
    RlDataExtra,
    RlDataInputs,
    RlDataManifest,
)

if TYPE_CHECKING:
    from tritter.tokenizer import Tokenizer

_log = log.get_logger("rl")
TEMPLATE = "tritter.chat.template: render_prompt (the user turn, then <|assistant_start|>)"


class DataSettings(Config):
    """The options that decide which rows are kept."""

    seq_len: int
    reward: str
    required_fields: list[str]
    decontamination_ngram: int = DECONTAMINATION_NGRAM
    decontamination_overlap: float = DECONTAMINATION_OVERLAP


def prepare(
    source: str, settings: DataSettings, tokenizer: Tokenizer, output: str
) -> RlDataManifest:
    """Check and write the rows (or find them written for the same inputs)."""
    from tritter.chat.template import render_prompt

    rows = list(read_rows(source, tuple(settings.required_fields)))
    if not rows:
        raise TritterError(f"{source}: no prompt rows")
    inputs = RlDataInputs(
        source=source, source_sha256=_digest(rows), tokenizer_sha256=tokenizer.sha256
    )
    expected = RL_DATA_MANIFEST.fingerprint(settings, inputs)
    done = RL_DATA_MANIFEST.current(output, expected)
    if done is not None:
        return done
    dropped: Counter[str] = Counter()
    lengths = [len(render_prompt(row.messages, tokenizer)) for row in rows]
    fitting = [(row, n) for row, n in zip(rows, lengths, strict=True) if n < settings.seq_len]
    dropped["too_long"] = len(rows) - len(fitting)
    benchmarks = contamination([row for row, _ in fitting])
    kept = [(row, n) for (row, n), hit in zip(fitting, benchmarks, strict=True) if hit is None]
    dropped.update(f"contaminated:{hit}" for hit in benchmarks if hit is not None)
    dropped = Counter({reason: count for reason, count in dropped.items() if count})
    for reason, count in sorted(dropped.items()):
        log.event(_log, "prompt rows dropped", level=30, reason=reason, rows=count)
    if not kept:
        shown = ", ".join(f"{k} {v}" for k, v in sorted(dropped.items()))
        raise TritterError(f"{source}: no prompt row is left to train on (dropped: {shown})")
    target = storage.join(output, RL_PROMPTS_FILE)
    lines = (json.dumps(row.to_row(), ensure_ascii=False, sort_keys=True) for row, _ in kept)
    storage.write_text(target, "".join(f"{line}\n" for line in lines))
    sizes = [n for _, n in kept]
    prompt_tokens = {"min": min(sizes), "mean": round(sum(sizes) / len(sizes), 2),
                     "max": max(sizes)}  # fmt: skip
    result = manifest.Manifest(
        stage=RL_DATA_MANIFEST.stage,
        fingerprint=expected,
        inputs=inputs,
        config=settings.model_dump(mode="json"),
        counts=RlDataCounts(rows=len(rows), kept=len(kept), dropped=dict(sorted(dropped.items()))),
        files=[manifest.file_entry(output, target)],
        extra=RlDataExtra(
            tokenizer_sha256=tokenizer.sha256,
            seq_len=settings.seq_len,
            reward=settings.reward,
            required_fields=list(settings.required_fields),
            template=TEMPLATE,
            prompt_tokens=prompt_tokens,
        ),
    )
    manifest.write_manifest(output, result)
    log.event(_log, "prompt rows ready", rows=len(rows), kept=len(kept), uri=output)
    return RL_DATA_MANIFEST.require(output)


def load_rows(data: str) -> list[PromptRow]:
    """The kept rows of a prepared data folder, in file order."""
    uri = storage.join(data, RL_PROMPTS_FILE)
    try:
        text = storage.read_text(uri)
    except FileNotFoundError as err:
        raise TritterError(f"{uri}: missing (prepare the prompts first)") from err
    rows = []
    for number, line in enumerate(text.splitlines(), 1):
        if line.strip():
            rows.append(parse_row(json.loads(line), f"{RL_PROMPTS_FILE}:{number}"))
    return rows


def _digest(rows: list[PromptRow]) -> str:
    digest = hashlib.sha256()
    for row in rows:
        digest.update(json.dumps(row.row, sort_keys=True).encode())
        digest.update(b"\n")
    return digest.hexdigest()
