"""Few-shot completion prompts for a base model, and parsing its completions back.

A base model is prompted with plain-text transcripts, never an instruction template or chat
special tokens (a base model has not learnt them, and a Hugging Face tokenizer's
`chat_template` is deliberately not applied). Every block is labelled lines separated by a
blank line:

    User: How do I reverse a list?
    Assistant: Use items.reverse() ...

    User: <the target question>
    Assistant:

Critique and revision prompts add the constitution's requests to the same transcript:

    User: ...
    Assistant: <response>
    Critique request: <principle.critique>
    Critique: <critique>
    Revision request: <principle.revision>
    Revision: <revision>

The model completes the last, unfinished line; its completion ends where it starts the next
labelled line (`STOP`: "\\nUser:", "\\nCritique:", ...), and is stripped. An empty completion
is dropped under `empty`. System turns are left out of transcripts (a base model has no use for
them); an assistant message made of parts is written as its text, with code parts fenced.
"""

from __future__ import annotations

import random
from collections.abc import Sequence

from tritter.chat.conversation import Conversation, Message
from tritter.synth.constitution import Constitution, Example, Principle

USER = "User:"
ASSISTANT = "Assistant:"
CRITIQUE_REQUEST = "Critique request:"
CRITIQUE = "Critique:"
REVISION_REQUEST = "Revision request:"
REVISION = "Revision:"
LABELS = (USER, ASSISTANT, CRITIQUE_REQUEST, CRITIQUE, REVISION_REQUEST, REVISION)
# A completion ends where the model starts another labelled line.
STOP = tuple(f"\n{label}" for label in LABELS)
SEPARATOR = "\n\n"


def message_text(message: Message) -> str:
    if isinstance(message.content, str):
        return message.content.strip()
    pieces = []
    for part in message.parts:
        if part.type == "code":
            pieces.append(f"```python\n{part.text.rstrip()}\n```")
        elif part.type == "output":
            pieces.append(f"Output:\n{part.text.rstrip()}")
        else:
            pieces.append(part.text.strip())
    return "\n".join(p for p in pieces if p)


def transcript(messages: Sequence[Message]) -> str:
    """`User: …\\nAssistant: …` lines of the user and assistant turns."""
    lines = []
    for message in messages:
        if message.role == "system":
            continue
        label = USER if message.role == "user" else ASSISTANT
        lines.append(f"{label} {message_text(message)}")
    return "\n".join(lines)


def generation_prompt(examples: Sequence[Conversation], target: Sequence[Message]) -> str:
    """k example conversations, then the target (ending with a user turn) and `Assistant:`."""
    blocks = [transcript(example.messages) for example in examples]
    blocks.append(f"{transcript(target)}\n{ASSISTANT}")
    return SEPARATOR.join(blocks)


def _example_prompt(example: Example) -> list[Message]:
    return [Message("user", example.user), Message("assistant", example.response)]


def critique_block(
    prompt: Sequence[Message], response: str, principle: Principle, critique: str | None = None
) -> str:
    head = transcript([*prompt, Message("assistant", response)])
    text = f"{head}\n{CRITIQUE_REQUEST} {principle.critique}\n{CRITIQUE}"
    return text if critique is None else f"{text} {critique}"


def revision_block(
    prompt: Sequence[Message],
    response: str,
    principle: Principle,
    critique: str,
    revision: str | None = None,
) -> str:
    text = (
        f"{critique_block(prompt, response, principle, critique)}\n"
        f"{REVISION_REQUEST} {principle.revision}\n{REVISION}"
    )
    return text if revision is None else f"{text} {revision}"


def critique_prompt(
    examples: Sequence[tuple[Example, Principle]],
    prompt: Sequence[Message],
    response: str,
    principle: Principle,
) -> str:
    blocks = [
        critique_block(_example_prompt(example), example.response, example_principle,
                       example.critique)
        for example, example_principle in examples
    ]  # fmt: skip
    blocks.append(critique_block(prompt, response, principle))
    return SEPARATOR.join(blocks)


def revision_prompt(
    examples: Sequence[tuple[Example, Principle]],
    prompt: Sequence[Message],
    response: str,
    principle: Principle,
    critique: str,
) -> str:
    blocks = [
        revision_block(_example_prompt(example), example.response, example_principle,
                       example.critique, example.revision)
        for example, example_principle in examples
    ]  # fmt: skip
    blocks.append(revision_block(prompt, response, principle, critique))
    return SEPARATOR.join(blocks)


def parse_completion(text: str) -> tuple[str | None, str | None]:
    """(the completion's text, None) or (None, the reason it is dropped)."""
    cut = min((i for i in (text.find(s) for s in STOP) if i >= 0), default=-1)
    if cut >= 0:
        text = text[:cut]
    text = text.strip()
    if not text:
        return None, "empty"
    if any(text.startswith(label) for label in LABELS):
        return None, "speaker_label"
    return text, None


def sample(pool: Sequence, k: int, rng: random.Random) -> list:
    """Up to k distinct items of `pool`, in random order."""
    return rng.sample(list(pool), min(k, len(pool)))


def row_rng(seed: int, step: str, key: str) -> random.Random:
    """The random stream of one row: the same whatever unit or worker processes it."""
    return random.Random(f"{seed}:{step}:{key}")


def pick_examples(
    constitution: Constitution, principle: Principle, k: int, rng: random.Random
) -> list[tuple[Example, Principle]]:
    """k demonstrations for `principle`: its own examples first, then others' (shuffled)."""
    own = constitution.examples_for(principle.id)
    others = [e for e in constitution.examples if e.principle != principle.id]
    chosen = sample(own, k, rng)
    chosen += sample(others, k - len(chosen), rng)
    rng.shuffle(chosen)
    return [(example, constitution.principle(example.principle)) for example in chosen]
