"""The revise step: critiques + the constitution + a base model → synth/pairs/
(`tritter synth revise`).

Each critique row (synth/critiques/critiques.jsonl) is written back as a few-shot prompt — the
constitution's demonstrations (prompt, response, critique request, critique, revision request,
revision), then the row up to `Revision:` — and the base model's completion is the revision.

Outputs, one row per kept revision, in the same order:

* pairs.jsonl: {id, prompt: [messages], chosen: revision, rejected: original response,
  principle, critique, source, license} — the preference format `tritter dpo` reads;
* conversations.jsonl: the prompt plus the revision as the assistant turn (`tritter.chat` rows)
  for SFT.

Dropped and counted: `invalid_row` (a critiques line that is not a valid row), `empty`,
`speaker_label`, `identical` (the revision equals the response, whitespace aside),
`prompt_too_long`.
"""

from __future__ import annotations

import time
from collections import Counter
from typing import Any

from tritter import log, storage
from tritter.chat.conversation import Conversation, InvalidConversation, Message, message_row
from tritter.chat.rows import parse_messages
from tritter.chat.rules import check_prompt
from tritter.errors import TritterError
from tritter.run_folder import (
    CRITIQUES_FILE,
    IDENTITY_CONVERSATIONS,
    PAIRS_FILE,
    SYNTH_CRITIQUE_MANIFEST,
    SYNTH_REVISE_MANIFEST,
    SynthReviseInputs,
    SynthReviseManifest,
)
from tritter.synth import backend, fewshot, model_step, work
from tritter.synth import constitution as constitution_module
from tritter.synth.config import ReviseConfig
from tritter.synth.generate_stage import chat_template_of, decoding, fit

_log = log.get_logger("synth.revise")
SOURCE = "synth-revise"


def read_critiques(uri: str) -> list[dict[str, Any] | None]:
    """The critique rows of a finished critiques folder (None for an invalid line)."""
    SYNTH_CRITIQUE_MANIFEST.require(uri)
    rows: list[dict[str, Any] | None] = []
    for _, row in work.read_jsonl(storage.join(uri, CRITIQUES_FILE)):
        rows.append(_valid(row))
    return rows


def _valid(row: Any) -> dict[str, Any] | None:
    if not isinstance(row, dict):
        return None
    if not all(isinstance(row.get(k), str) and row[k].strip() for k in
               ("response", "principle", "critique")):  # fmt: skip
        return None
    try:
        messages = parse_messages(row.get("prompt"))
        check_prompt(messages)
    except InvalidConversation:
        return None
    return {**row, "messages": messages}


def stage_inputs(config: ReviseConfig) -> tuple[SynthReviseInputs, int]:
    found = SYNTH_CRITIQUE_MANIFEST.require(config.input)
    _, sha = constitution_module.load(config.constitution)
    inputs = SynthReviseInputs(
        **backend.model_inputs(config.model, config.tokenizer),
        critiques=config.input,
        critiques_fingerprint=found.fingerprint,
        constitution=config.constitution or constitution_module.DEFAULT_LABEL,
        constitution_sha256=sha,
    )
    return inputs, found.counts.rows_out


def fingerprint(config: ReviseConfig, inputs: SynthReviseInputs) -> str:
    return SYNTH_REVISE_MANIFEST.fingerprint(config, inputs)


def is_done(output: str) -> SynthReviseManifest | None:
    return SYNTH_REVISE_MANIFEST.read(output)


def plan(config: ReviseConfig) -> tuple[work.StepPlan, bool]:
    inputs, rows = stage_inputs(config)
    return work.plan(SYNTH_REVISE_MANIFEST, config, inputs, rows,
                     (PAIRS_FILE, IDENTITY_CONVERSATIONS))  # fmt: skip


def _same(a: str, b: str) -> bool:
    return " ".join(a.split()) == " ".join(b.split())


def run_unit(output: str, index: int) -> work.UnitMarker | None:
    loaded = work.load_plan(output, ReviseConfig, SYNTH_REVISE_MANIFEST.stage)
    if loaded is None:
        return None
    found, config = loaded
    existing = work.done(output, found.fingerprint, index)
    if existing is not None:
        return existing
    inputs = SynthReviseInputs.model_validate(found.inputs)
    source = SYNTH_CRITIQUE_MANIFEST.require(config.input)
    constitution, sha = constitution_module.load(config.constitution)
    if source.fingerprint != inputs.critiques_fingerprint or sha != inputs.constitution_sha256:
        raise TritterError(f"{output}: the input or constitution changed since the plan")
    critiques = read_critiques(config.input)
    known = {p.id for p in constitution.principles}
    completer = backend.open_completer(config.model, config.tokenizer, config.device,
                                       config.dtype)  # fmt: skip
    dropped: Counter[str] = Counter()
    todo = []
    for row in work.unit_range(found, index):
        item = critiques[row]
        if item is None or item["principle"] not in known:
            dropped["invalid_row"] += 1
            continue
        principle = constitution.principle(item["principle"])
        key = str(item.get("id") or row)
        rng = fewshot.row_rng(config.seed, "revise", key)
        examples = fewshot.pick_examples(constitution, principle, config.shots, rng)
        text = fit(completer, config, lambda k, e=examples, i=item, p=principle:
                   fewshot.revision_prompt(e[:k], i["messages"], i["response"], p,
                                           i["critique"]))  # fmt: skip
        if text is None:
            dropped["prompt_too_long"] += 1
            continue
        todo.append((key, item, text))
    started = time.perf_counter()
    completions, stats = completer.complete([t[-1] for t in todo], decoding(config, index))
    rows = []
    principles: Counter[str] = Counter()
    for (key, item, _), completion in zip(todo, completions, strict=True):
        revision, reason = fewshot.parse_completion(completion)
        if revision is None:
            dropped[reason or "unparsable"] += 1
            continue
        if _same(revision, item["response"]):
            dropped["identical"] += 1
            continue
        principles[item["principle"]] += 1
        license = item.get("license") or config.license
        prompt = [message_row(m) for m in item["messages"]]
        pair = {
            "id": key, "prompt": prompt, "chosen": revision, "rejected": item["response"],
            "principle": item["principle"], "critique": item["critique"], "source": SOURCE,
            "license": license,
        }  # fmt: skip
        conversation = Conversation(
            messages=(*item["messages"], Message("assistant", revision)), id=key, source=SOURCE,
            license=license,
        )  # fmt: skip
        rows.append({"pair": pair, "conversation": conversation.to_row()})
    return work.finish_unit(
        output, found.fingerprint, index, rows, dropped=dict(dropped),
        principles=dict(principles), new_tokens=stats.new_tokens,
        seconds=round(time.perf_counter() - started, 3),
    )  # fmt: skip


def finalize(output: str) -> SynthReviseManifest:
    loaded = work.load_plan(output, ReviseConfig, SYNTH_REVISE_MANIFEST.stage)
    if loaded is None:
        return SYNTH_REVISE_MANIFEST.require(output)
    found, config = loaded
    rows, markers = work.collect(output, found)
    files = [
        work.write_jsonl(output, PAIRS_FILE, [r["pair"] for r in rows]),
        work.write_jsonl(output, IDENTITY_CONVERSATIONS, [r["conversation"] for r in rows]),
    ]
    return model_step.publish(
        SYNTH_REVISE_MANIFEST, output, found, config, SynthReviseInputs, files, len(rows),
        markers, SOURCE, chat_template_of(config),
    )  # fmt: skip


def run(config: ReviseConfig) -> SynthReviseManifest:
    return model_step.run(SYNTH_REVISE_MANIFEST, config, plan, run_unit, finalize)
