"""The critique step: conversations + a constitution + a base model → synth/critiques/
(`tritter synth critique`).

For each conversation of the input folder (any finished folder holding conversations.jsonl,
normally synth/generated/), the last assistant turn is the response and the turns before it
the prompt. A principle is drawn for the row (seeded), and the base model is prompted with
`shots` of the constitution's demonstrations (the principle's own first) as plain text, then
the row with the principle's critique request and `Critique:` (`tritter.synth.fewshot`).

Output: critiques.jsonl rows {id, prompt: [messages], response, principle, critique, source,
license}; dropped rows are counted: `no_response` (the conversation does not end with an
assistant turn), `empty`, `speaker_label`, `prompt_too_long`.
"""

from __future__ import annotations

import time
from collections import Counter

from tritter import log, manifest, storage
from tritter.chat import read_conversations
from tritter.chat.conversation import message_row
from tritter.errors import TritterError
from tritter.run_folder import (
    CRITIQUES_FILE,
    IDENTITY_CONVERSATIONS,
    SYNTH_CRITIQUE_MANIFEST,
    SynthCritiqueInputs,
    SynthCritiqueManifest,
)
from tritter.synth import backend, fewshot, model_step, work
from tritter.synth import constitution as constitution_module
from tritter.synth.config import CritiqueConfig
from tritter.synth.generate_stage import chat_template_of, decoding, fit

_log = log.get_logger("synth.critique")


def read_input(uri: str) -> tuple[manifest.Manifest, list]:
    found = manifest.require_manifest(uri)
    conversations = read_conversations(storage.join(uri, IDENTITY_CONVERSATIONS)).conversations
    return found, conversations


def stage_inputs(config: CritiqueConfig) -> tuple[SynthCritiqueInputs, int]:
    found, conversations = read_input(config.input)
    _, sha = constitution_module.load(config.constitution)
    inputs = SynthCritiqueInputs(
        **backend.model_inputs(config.model, config.tokenizer),
        generated=config.input,
        generated_fingerprint=found.fingerprint,
        constitution=config.constitution or constitution_module.DEFAULT_LABEL,
        constitution_sha256=sha,
    )
    return inputs, len(conversations)


def fingerprint(config: CritiqueConfig, inputs: SynthCritiqueInputs) -> str:
    return SYNTH_CRITIQUE_MANIFEST.fingerprint(config, inputs)


def is_done(output: str) -> SynthCritiqueManifest | None:
    return SYNTH_CRITIQUE_MANIFEST.read(output)


def plan(config: CritiqueConfig) -> tuple[work.StepPlan, bool]:
    inputs, rows = stage_inputs(config)
    return work.plan(SYNTH_CRITIQUE_MANIFEST, config, inputs, rows, (CRITIQUES_FILE,))


def run_unit(output: str, index: int) -> work.UnitMarker | None:
    loaded = work.load_plan(output, CritiqueConfig, SYNTH_CRITIQUE_MANIFEST.stage)
    if loaded is None:
        return None
    found, config = loaded
    existing = work.done(output, found.fingerprint, index)
    if existing is not None:
        return existing
    inputs = SynthCritiqueInputs.model_validate(found.inputs)
    source, conversations = read_input(config.input)
    constitution, sha = constitution_module.load(config.constitution)
    if source.fingerprint != inputs.generated_fingerprint or sha != inputs.constitution_sha256:
        raise TritterError(f"{output}: the input or constitution changed since the plan")
    completer = backend.open_completer(config.model, config.tokenizer, config.device,
                                       config.dtype)  # fmt: skip
    dropped: Counter[str] = Counter()
    todo = []
    for row in work.unit_range(found, index):
        conversation = conversations[row]
        if conversation.messages[-1].role != "assistant":
            dropped["no_response"] += 1
            continue
        prompt = conversation.messages[:-1]
        response = fewshot.message_text(conversation.messages[-1])
        key = conversation.id or str(row)
        rng = fewshot.row_rng(config.seed, "critique", key)
        principle = rng.choice(constitution.principles)
        examples = fewshot.pick_examples(constitution, principle, config.shots, rng)
        text = fit(completer, config, lambda k, e=examples, p=prompt, r=response, q=principle:
                   fewshot.critique_prompt(e[:k], p, r, q))  # fmt: skip
        if text is None:
            dropped["prompt_too_long"] += 1
            continue
        todo.append((key, prompt, response, principle, conversation, text))
    started = time.perf_counter()
    completions, stats = completer.complete([t[-1] for t in todo], decoding(config, index))
    rows = []
    principles: Counter[str] = Counter()
    for (key, prompt, response, principle, conversation, _), completion in zip(
        todo, completions, strict=True
    ):
        critique, reason = fewshot.parse_completion(completion)
        if critique is None:
            dropped[reason or "unparsable"] += 1
            continue
        principles[principle.id] += 1
        rows.append({
            "id": key, "prompt": [message_row(m) for m in prompt], "response": response,
            "principle": principle.id, "critique": critique,
            "source": conversation.source, "license": conversation.license or config.license,
        })  # fmt: skip
    return work.finish_unit(
        output, found.fingerprint, index, rows, dropped=dict(dropped),
        principles=dict(principles), new_tokens=stats.new_tokens,
        seconds=round(time.perf_counter() - started, 3),
    )  # fmt: skip


def finalize(output: str) -> SynthCritiqueManifest:
    loaded = work.load_plan(output, CritiqueConfig, SYNTH_CRITIQUE_MANIFEST.stage)
    if loaded is None:
        return SYNTH_CRITIQUE_MANIFEST.require(output)
    found, config = loaded
    rows, markers = work.collect(output, found)
    entry = work.write_jsonl(output, CRITIQUES_FILE, rows)
    return model_step.publish(
        SYNTH_CRITIQUE_MANIFEST, output, found, config, SynthCritiqueInputs, [entry], len(rows),
        markers, "synth-critique", chat_template_of(config),
    )  # fmt: skip


def run(config: CritiqueConfig) -> SynthCritiqueManifest:
    return model_step.run(SYNTH_CRITIQUE_MANIFEST, config, plan, run_unit, finalize)
