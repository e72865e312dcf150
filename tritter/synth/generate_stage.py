"""The generate step: seed conversations + a base model → synth/generated/
(`tritter synth generate`).

Target i (of `count`) is the i-th prompt conversation, cycling, cut after its last user turn;
its few-shot prompt is `shots` seed conversations drawn for that row (never the target's own
seed) written as a plain-text transcript, then the target and `Assistant:`
(`tritter.synth.fewshot`). The model's completion, cut where it starts another labelled line,
becomes the assistant's reply. Rows are dropped, counted by reason, when the completion is
empty (`empty`), starts with a speaker label (`speaker_label`), or when even a one-shot prompt
leaves no room to answer in the model's context (`prompt_too_long`; shots are reduced first).

Output: conversations.jsonl (`tritter.chat` rows, id `gen-NNNNNNN`, source `synth-generate`)
and the manifest. Planned and run in work units (`tritter.synth.work`): `plan`, `run_unit`,
`finalize` for a fan-out, `run` for all three here.
"""

from __future__ import annotations

import hashlib
import json
import time
from collections import Counter

from tritter import log, storage
from tritter.chat import read_conversations
from tritter.chat.conversation import Conversation, Message
from tritter.errors import TritterError
from tritter.evaluate.generation import Decoding
from tritter.run_folder import (
    IDENTITY_CONVERSATIONS,
    SYNTH_GENERATE_MANIFEST,
    SynthGenerateInputs,
    SynthGenerateManifest,
)
from tritter.synth import backend, fewshot, model_step, work
from tritter.synth.config import GenerateConfig, ModelStepConfig

_log = log.get_logger("synth.generate")
SOURCE = "synth-generate"
DEFAULT_SEEDS_LABEL = "default"
# Room left for the answer when a prompt is fitted into the model's context.
MIN_ANSWER_TOKENS = 16


def default_seeds() -> str:
    from importlib import resources

    return str(resources.files(__package__) / "seeds.jsonl")


def conversations_sha256(conversations: list[Conversation]) -> str:
    digest = hashlib.sha256()
    for conversation in conversations:
        digest.update(json.dumps(conversation.to_row(), sort_keys=True).encode() + b"\n")
    return digest.hexdigest()


def _read(uri: str, what: str) -> list[Conversation]:
    try:
        found = read_conversations(uri)
    except FileNotFoundError as err:
        raise TritterError(f"{uri}: {what} not found") from err
    if not found.conversations:
        raise TritterError(f"{uri}: no valid {what} conversations ({dict(found.skipped)} skipped)")
    return found.conversations


def _target(conversation: Conversation) -> tuple[Message, ...] | None:
    """The conversation up to and including its last user turn."""
    last = max((i for i, m in enumerate(conversation.messages) if m.role == "user"), default=-1)
    return conversation.messages[: last + 1] if last >= 0 else None


def read_inputs(config: GenerateConfig) -> tuple[list[Conversation], list[Conversation]]:
    seeds = _read(config.seeds or default_seeds(), "seed")
    prompts = _read(config.prompts, "prompt") if config.prompts else seeds
    prompts = [p for p in prompts if _target(p) is not None]
    if not prompts:
        raise TritterError(f"{config.prompts}: no prompt conversation has a user turn")
    return seeds, prompts


def stage_inputs(
    config: GenerateConfig, seeds: list[Conversation], prompts: list[Conversation]
) -> SynthGenerateInputs:
    return SynthGenerateInputs(
        **backend.model_inputs(config.model, config.tokenizer),
        seeds=config.seeds or DEFAULT_SEEDS_LABEL,
        seeds_sha256=conversations_sha256(seeds),
        prompts=config.prompts,
        prompts_sha256=conversations_sha256(prompts) if config.prompts else None,
    )


def fingerprint(config: GenerateConfig, inputs: SynthGenerateInputs) -> str:
    return SYNTH_GENERATE_MANIFEST.fingerprint(config, inputs)


def is_done(output: str) -> SynthGenerateManifest | None:
    return SYNTH_GENERATE_MANIFEST.read(output)


def plan(config: GenerateConfig) -> tuple[work.StepPlan, bool]:
    seeds, prompts = read_inputs(config)
    inputs = stage_inputs(config, seeds, prompts)
    return work.plan(SYNTH_GENERATE_MANIFEST, config, inputs, config.count,
                     (IDENTITY_CONVERSATIONS,))  # fmt: skip


def decoding(config: ModelStepConfig, index: int) -> Decoding:
    sampling = config.sampling
    return Decoding(
        temperature=sampling.temperature, top_p=sampling.top_p,
        max_new_tokens=sampling.max_new_tokens, batch_size=sampling.batch_size,
        seed=(config.seed * 1_000_003 + index) % 2**32, stop=fewshot.STOP,
    )  # fmt: skip


def fit(completer: backend.Completer, config: ModelStepConfig, build) -> str | None:  # noqa: ANN001
    """The prompt with the most shots (from `config.shots` down to 1) that leaves room for an
    answer in the model's context; None when none does. `build(k)` makes the k-shot prompt."""
    room = completer.max_positions - min(config.sampling.max_new_tokens, MIN_ANSWER_TOKENS)
    for shots in range(config.shots, 0, -1):
        prompt = build(shots)
        if completer.count_tokens(prompt) <= room:
            return prompt
    return None


def run_unit(output: str, index: int) -> work.UnitMarker | None:
    loaded = work.load_plan(output, GenerateConfig, SYNTH_GENERATE_MANIFEST.stage)
    if loaded is None:
        return None
    found, config = loaded
    existing = work.done(output, found.fingerprint, index)
    if existing is not None:
        return existing
    seeds, prompts = read_inputs(config)
    inputs = SynthGenerateInputs.model_validate(found.inputs)
    if conversations_sha256(seeds) != inputs.seeds_sha256 or (
        config.prompts and conversations_sha256(prompts) != inputs.prompts_sha256
    ):
        raise TritterError(f"{output}: the seeds or prompts changed since the plan; plan again")
    completer = backend.open_completer(config.model, config.tokenizer, config.device,
                                       config.dtype)  # fmt: skip
    dropped: Counter[str] = Counter()
    todo: list[tuple[int, tuple[Message, ...], str]] = []
    for row in work.unit_range(found, index):
        source = prompts[row % len(prompts)]
        target = _target(source)
        assert target is not None  # read_inputs keeps only prompts with a user turn
        rng = fewshot.row_rng(config.seed, "generate", str(row))
        pool = [s for s in seeds if s is not source and s.messages[: len(target)] != target]
        order = fewshot.sample(pool, len(pool), rng)
        prompt = fit(completer, config, lambda k, o=order, t=target: fewshot.generation_prompt(
            o[:k], t))  # fmt: skip
        if prompt is None:
            dropped["prompt_too_long"] += 1
            continue
        todo.append((row, target, prompt))
    rows = []
    started = time.perf_counter()
    completions, stats = completer.complete([p for _, _, p in todo], decoding(config, index))
    for (row, target, _), completion in zip(todo, completions, strict=True):
        reply, reason = fewshot.parse_completion(completion)
        if reply is None:
            dropped[reason or "unparsable"] += 1
            continue
        conversation = Conversation(
            messages=(*target, Message("assistant", reply)), id=f"gen-{row:07d}", source=SOURCE,
            license=config.license,
        )  # fmt: skip
        rows.append(conversation.to_row())
    return work.finish_unit(
        output, found.fingerprint, index, rows, dropped=dict(dropped),
        new_tokens=stats.new_tokens, seconds=round(time.perf_counter() - started, 3),
    )  # fmt: skip


def finalize(output: str) -> SynthGenerateManifest:
    loaded = work.load_plan(output, GenerateConfig, SYNTH_GENERATE_MANIFEST.stage)
    if loaded is None:
        return SYNTH_GENERATE_MANIFEST.require(output)
    found, config = loaded
    rows, markers = work.collect(output, found)
    entry = work.write_jsonl(output, IDENTITY_CONVERSATIONS, rows)
    return model_step.publish(
        SYNTH_GENERATE_MANIFEST, output, found, config, SynthGenerateInputs, [entry], len(rows),
        markers, SOURCE, chat_template_of(config),
    )  # fmt: skip


def chat_template_of(config: ModelStepConfig) -> bool:
    """Whether the model's tokenizer carries a chat template (read from its files, not loaded)."""
    if backend.model_kind(config.model) != backend.HUGGINGFACE:
        return False
    for name in ("tokenizer_config.json", "chat_template.jinja", "chat_template.json"):
        uri = storage.join(config.model, name)
        if not storage.exists(uri):
            continue
        if name != "tokenizer_config.json":
            return True
        try:
            data = json.loads(storage.read_text(uri))
        except ValueError:
            return False
        if data.get("chat_template"):
            return True
    return False


def run(config: GenerateConfig) -> SynthGenerateManifest:
    """Plan, run every unit (skipping finished ones), finalize; a no-op on a finished output."""
    return model_step.run(SYNTH_GENERATE_MANIFEST, config, plan, run_unit, finalize)
