"""Identity conversations: who the assistant is, asked many ways, answered from the persona.

Each conversation is drawn from the text bank (`tritter.synth.templates`) with one seeded
`random.Random`, so a seed gives the same conversations in the same order on any machine:

* an optional system turn (probability `system_fraction`): the persona's own prompt or a
  generic one;
* one user question, or (probability `multi_turn_fraction`) two or three on different topics,
  each a paraphrase with an optional opener or follow-up prefix, sometimes lower-cased or without
  its final punctuation, the way people type;
* after each question an answer template of that topic filled from the persona, with the
  persona's lists sampled and shuffled.

Identical conversations are drawn again (counted as `duplicates_skipped`); when the bank cannot
give `count` distinct conversations, fewer are returned. Rows carry `source` = `synth-identity`,
the licence chosen in the config, and an id derived from the content.
"""

from __future__ import annotations

import hashlib
import json
import random
import string
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field

from tritter.chat.conversation import Conversation, Message
from tritter.chat.persona import Persona
from tritter.synth.templates import FOLLOW_UPS, OPENERS, SYSTEM_PROMPTS, TOPICS, Topic

SOURCE = "synth-identity"
# Draws allowed per requested conversation before giving up on finding new distinct ones.
ATTEMPTS_PER_CONVERSATION = 20


@dataclass
class Generated:
    conversations: list[Conversation] = field(default_factory=list)
    duplicates_skipped: int = 0
    topics: Counter[str] = field(default_factory=Counter)  # topic → user turns asking it


def templates_sha256() -> str:
    """Identity of the text bank: part of the stage fingerprint."""
    bank = {
        "topics": [asdict(topic) for topic in TOPICS],
        "system": SYSTEM_PROMPTS,
        "openers": OPENERS,
        "follow_ups": FOLLOW_UPS,
    }
    return hashlib.sha256(json.dumps(bank, sort_keys=True).encode()).hexdigest()


def generate(
    persona: Persona,
    count: int,
    seed: int,
    system_fraction: float,
    multi_turn_fraction: float,
    license: str,
) -> Generated:
    """Up to `count` distinct identity conversations, deterministic for `seed`."""
    rng = random.Random(seed)
    result = Generated()
    seen: set[str] = set()
    for _ in range(count * ATTEMPTS_PER_CONVERSATION):
        if len(result.conversations) >= count:
            break
        messages, topics = _draw(persona, rng, system_fraction, multi_turn_fraction)
        key = json.dumps([[m.role, m.content] for m in messages], ensure_ascii=False)
        if key in seen:
            result.duplicates_skipped += 1
            continue
        seen.add(key)
        result.topics.update(topics)
        result.conversations.append(
            Conversation(
                messages=tuple(messages),
                id=f"identity-{hashlib.sha256(key.encode()).hexdigest()[:16]}",
                source=SOURCE,
                license=license,
            )
        )
    return result


def _draw(
    persona: Persona, rng: random.Random, system_fraction: float, multi_turn_fraction: float
) -> tuple[list[Message], list[str]]:
    messages: list[Message] = []
    if rng.random() < system_fraction:
        messages.append(Message("system", fill(rng.choice(SYSTEM_PROMPTS), persona, rng)))
    turns = rng.choice((2, 3)) if rng.random() < multi_turn_fraction else 1
    topics: Sequence[Topic] = rng.sample(TOPICS, turns)
    for index, topic in enumerate(topics):
        prefix = rng.choice(OPENERS if index == 0 else FOLLOW_UPS)
        question = _typed(_after(prefix, rng.choice(topic.questions)), rng)
        messages.append(Message("user", question))
        messages.append(Message("assistant", fill(rng.choice(topic.answers), persona, rng)))
    return messages, [topic.name for topic in topics]


def _after(prefix: str, question: str) -> str:
    """`Hey, ` + `Who are you?` → `Hey, who are you?` (a sentence start keeps its capital)."""
    if prefix.endswith((", ", ": ")) or prefix in ("And ",):
        question = question[0].lower() + question[1:]
    return prefix + question


def _typed(question: str, rng: random.Random) -> str:
    """Sometimes all lower case, sometimes without the final punctuation."""
    if rng.random() < 0.2:
        question = question.lower()
    if rng.random() < 0.2:
        question = question.rstrip("?.!")
    return question


def fill(template: str, persona: Persona, rng: random.Random) -> str:
    """A template with its placeholders (`tritter.synth.templates`) filled, first letter
    capitalised."""
    names = [name for _, name, _, _ in string.Formatter().parse(template) if name]
    values = {name: _FIELDS[name](persona, rng) for name in dict.fromkeys(names)}
    text = template.format(**values)
    return text[:1].upper() + text[1:]


def _some(items: Sequence[str], rng: random.Random, low: int, high: int) -> list[str]:
    """Between `low` and `high` items (as many as there are, at most), in random order."""
    k = rng.randint(min(low, len(items)), min(high, len(items)))
    return rng.sample(list(items), k)


def _join(items: Sequence[str], word: str) -> str:
    """`a, b and c`; items that hold commas themselves are separated by semicolons."""
    items = list(items)
    if len(items) < 2:
        return "".join(items)
    if any("," in item for item in items):
        return "; ".join(items[:-1]) + f"; {word} " + items[-1]
    return ", ".join(items[:-1]) + f" {word} " + items[-1]


def _bullets(items: Sequence[str], rng: random.Random) -> str:
    return "\n".join(f"- {item}" for item in rng.sample(list(items), len(items)))


def _is_not(persona: Persona, rng: random.Random) -> str:
    # The first item is what the persona denies first (the default: "a human"): always said.
    first, *rest = persona.is_not
    return _join([first, *_some(rest, rng, 0, 1)], "or")


_FIELDS: dict[str, Callable[[Persona, random.Random], str]] = {
    "name": lambda p, _: p.name,
    "role": lambda p, _: p.role,
    "made_by": lambda p, _: p.made_by,
    "architecture": lambda p, _: p.architecture,
    "skill": lambda p, rng: rng.choice(p.specialisations),
    "skills": lambda p, rng: _join(_some(p.specialisations, rng, 2, 3), "and"),
    "skills_list": lambda p, rng: _bullets(p.specialisations, rng),
    "traits": lambda p, rng: _join(_some(p.traits, rng, 2, 3), "and"),
    "limitations": lambda p, rng: " ".join(_some(p.limitations, rng, 1, 2)),
    "limitations_list": lambda p, rng: _bullets(p.limitations, rng),
    "is_not": _is_not,
}
