"""`tritter synth check-base`: is this really a base model, prompted as plain text?

Constitutional data generation prompts a *base* model with plain-text few-shot transcripts. Two
things silently break that assumption, and this check looks for both:

* the tokenizer applies a template on a plain `encode` (a post-processor wrapping every input
  in role markers, for example), so the "plain text" prompt is not plain;
* the model already behaves instruction-tuned: it continues a bare request the way an assistant
  answers one ("Sure! Here is ..."), or its checkpoint records a chat training phase.

A `chat_template` on a Hugging Face tokenizer is only a warning: the synth steps never apply
it. Checks and verdicts (ok | warn | fail):

    chat_template          warn when the tokenizer has one (it is not applied)
    plain_encode           fail when encoding plain text adds tokens other than BOS/EOS, or
                           any piece of the chat template's rendering
    name                   warn when the model's name says instruct/chat/-it/sft/dpo/rlhf
    training_phase         (Tritter checkpoints) fail for a mid/sft checkpoint
    behaviour              fail when at least half of the probes' plain continuations open
                           like an assistant or write chat markers; the detail also says how
                           many plain and template-style continuations were identical

The overall verdict is the worst one; the CLI exits 2 on `fail`, 0 otherwise (warnings are
printed).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from tritter import storage
from tritter.evaluate.generation import Decoding
from tritter.synth import backend

PROBES = (
    "Write a Python function that reverses a string.",
    "What is a linked list?",
    "Explain what recursion is.",
)
ASSISTANT_OPENING = re.compile(
    r"^\W*(?:sure|certainly|of course|absolutely|here(?:'s| is| are)|i'?d be happy|"
    r"i would be happy|i can help|great question|as an ai)\b",
    re.IGNORECASE,
)
CHAT_MARKERS = re.compile(r"<\|[a-z_]+\|>|\[/?INST\]|<start_of_turn>|<\|im_start\|>", re.I)
INSTRUCT_NAME = re.compile(r"instruct|chat|(?:^|[-_])it(?:$|[-_])|sft|dpo|rlhf", re.IGNORECASE)
ORDER = {"ok": 0, "warn": 1, "fail": 2}


@dataclass(frozen=True)
class Check:
    name: str
    verdict: str  # ok | warn | fail
    detail: str


def verdict(checks: list[Check]) -> str:
    return max((c.verdict for c in checks), key=ORDER.__getitem__, default="ok")


def table(checks: list[Check]) -> str:
    width = max(len(c.name) for c in checks)
    lines = [f"{'check':<{width}}  verdict  detail"]
    lines += [f"{c.name:<{width}}  {c.verdict:<7}  {c.detail}" for c in checks]
    overall = verdict(checks)
    meaning = {"ok": "a base model, prompted as plain text",
               "warn": "usable as a base model; see the warnings",
               "fail": "not a clean base model for few-shot synthesis"}[overall]  # fmt: skip
    lines.append(f"verdict: {overall} ({meaning})")
    return "\n".join(lines)


def _assistant_like(text: str) -> bool:
    return bool(ASSISTANT_OPENING.search(text) or CHAT_MARKERS.search(text))


def _behaviour(plain: list[str], templated: list[str] | None) -> Check:
    hits = sum(_assistant_like(t) for t in plain)
    detail = f"{hits}/{len(plain)} plain continuations open like an assistant"
    if templated is not None:
        same = sum(a.strip() == b.strip() for a, b in zip(plain, templated, strict=True))
        detail += f"; {same}/{len(plain)} equal to the template-style ones"
    return Check("behaviour", "fail" if hits * 2 >= len(plain) else "ok", detail)


def _name_check(model: str, config: dict[str, Any]) -> Check:
    name = f"{storage.basename(storage.normalize(model).rstrip('/'))} "
    name += str(config.get("_name_or_path", ""))
    if INSTRUCT_NAME.search(name):
        return Check(
            "name", "warn", f"the name '{name.strip()}' suggests an instruction-tuned model"
        )
    return Check("name", "ok", "nothing in the name suggests instruction tuning")


def check(model: str, tokenizer: str | None = None, device: str = "auto",
          max_new_tokens: int = 24) -> list[Check]:  # fmt: skip
    if backend.model_kind(model) == backend.HUGGINGFACE:
        return _check_hf(model, device, max_new_tokens)
    return _check_tritter(model, tokenizer, device, max_new_tokens)


def _check_hf(model: str, device: str, max_new_tokens: int) -> list[Check]:
    import json

    completer = backend.open_completer(model, None, device, "auto")
    assert isinstance(completer, backend.HFCompleter)
    tok = completer.tokenizer
    checks = []
    template = getattr(tok, "chat_template", None)
    if template:
        checks.append(
            Check(
                "chat_template",
                "warn",
                f"the tokenizer has a chat_template "
                f"({len(str(template))} chars); synth prompts are built without it",
            )
        )
    else:
        checks.append(Check("chat_template", "ok", "the tokenizer has no chat_template"))
    allowed = {t for t in (tok.bos_token, tok.eos_token) if t}
    problems = []
    for probe in PROBES:
        ids = completer.encode(probe)
        plain = list(tok(probe, add_special_tokens=False)["input_ids"])
        added = list(ids)
        for token in plain:
            if token in added:
                added.remove(token)
        extra = [t for t in tok.convert_ids_to_tokens(added) if t not in allowed]
        decoded = tok.decode(ids)
        markers = []
        if template:
            rendered = tok.apply_chat_template(
                [{"role": "user", "content": probe}], tokenize=False, add_generation_prompt=True
            )
            markers = [p.strip() for p in str(rendered).split(probe)
                       if p.strip() and p.strip() not in allowed]  # fmt: skip
        leaked = [m for m in markers if m in decoded]
        if extra or leaked:
            problems.append(f"{probe!r} encodes with {extra or leaked}")
    if problems:
        checks.append(Check("plain_encode", "fail", "plain encode applies a template: "
                            + "; ".join(problems[:2])))  # fmt: skip
    else:
        checks.append(Check("plain_encode", "ok", "plain encode adds nothing but BOS/EOS"))
    config_uri = storage.join(model, "config.json")
    checks.append(_name_check(model, json.loads(storage.read_text(config_uri))))
    decoding = Decoding(temperature=0.0, max_new_tokens=max_new_tokens, batch_size=len(PROBES))
    plain_out, _ = completer.complete([f"{p}\n" for p in PROBES], decoding)
    templated = None
    if template:
        rendered = [
            tok.apply_chat_template(
                [{"role": "user", "content": p}], tokenize=False, add_generation_prompt=True
            )
            for p in PROBES
        ]
        templated, _ = completer.complete(rendered, decoding)
    checks.append(_behaviour(plain_out, templated))
    return checks


def _check_tritter(model: str, tokenizer: str | None, device: str,
                   max_new_tokens: int) -> list[Check]:  # fmt: skip
    from tritter.chat.conversation import Message
    from tritter.chat.template import render_prompt
    from tritter.evaluate.prompt_format import CHAT_PHASES, training_phase
    from tritter.tokenizer.special import META_NAMES

    backend.model_inputs(model, tokenizer)  # a missing checkpoint or --tokenizer: its error
    completer = backend.open_completer(model, tokenizer, device, "auto")
    assert isinstance(completer, backend.TritterCompleter)
    kind = type(completer.tokenizer).__name__
    checks = [Check("chat_template", "ok", f"Tritter's own template ({kind}): no chat_template")]
    markers = {i for name, i in completer.tokenizer.special_ids.items() if name not in META_NAMES}
    leaked = [p for p in PROBES if markers & set(completer.tokenizer.encode(p))]
    checks.append(
        Check(
            "plain_encode",
            "fail" if leaked else "ok",
            f"chat markers in {leaked}" if leaked else "plain encode adds no markers",
        )
    )
    checks.append(_name_check(model, {}))
    phase, where = training_phase(model)
    if phase in CHAT_PHASES:
        checks.append(Check("training_phase", "fail", f"trained as '{phase}' ({where})"))
    else:
        checks.append(
            Check(
                "training_phase",
                "ok" if phase else "warn",
                f"'{phase}' ({where})" if phase else "no training phase recorded",
            )
        )
    decoding = Decoding(temperature=0.0, max_new_tokens=max_new_tokens, batch_size=len(PROBES))
    plain_out, _ = completer.complete([f"{p}\n" for p in PROBES], decoding)
    templated = None
    try:
        prompts = [render_prompt([Message("user", p)], completer.tokenizer) for p in PROBES]
        outputs, _ = completer.generator.generate(prompts, decoding)
        templated = [o[0] for o in outputs]
    except Exception:
        templated = None
    checks.append(_behaviour(plain_out, templated))
    return checks
