"""An instruction set from the standard library's own documentation.

Questions about public functions and classes of well-known standard-library modules ("What does
`textwrap.dedent` do?", "How do I call `heapq.merge`?"), answered with the callable's signature
and the first paragraph of its docstring. Everything comes from the running interpreter, so the
set needs no download and is licensed like CPython's documentation (PSF-2.0). The same seed and
interpreter give the same conversations.
"""

from __future__ import annotations

import hashlib
import importlib
import inspect
import json
import random
import re
from collections import Counter
from dataclasses import dataclass, field

from tritter.chat.conversation import Conversation, Message

SOURCE = "synth-docstrings"
LICENSE = "psf-2.0"
MODULES = (
    "base64", "bisect", "calendar", "collections", "contextlib", "copy", "csv", "dataclasses",
    "datetime", "difflib", "fnmatch", "fractions", "functools", "glob", "hashlib", "heapq",
    "html", "ipaddress", "itertools", "json", "math", "operator", "os.path", "pathlib",
    "pprint", "random", "re", "secrets", "shlex", "shutil", "statistics", "string", "struct",
    "tempfile", "textwrap", "time", "types", "urllib.parse", "uuid", "zlib",
)  # fmt: skip
QUESTIONS = (
    "What does `{name}` do in Python?",
    "Explain `{name}`.",
    "How do I call `{name}`?",
    "What is `{name}` for?",
    "Briefly, what does {name} do?",
)
ANSWERS = (
    "`{call}` — {summary}",
    "{summary}\n\nSignature: `{call}`.",
    "Call it as `{call}`. {summary}",
)
SUMMARY_CHARS = 600
_ADDRESS = re.compile(r" at 0x[0-9a-fA-F]+")


@dataclass(frozen=True)
class Entry:
    module: str
    name: str  # module.attribute
    call: str  # name(signature)
    summary: str  # the docstring's first paragraph, one line


@dataclass
class Generated:
    conversations: list[Conversation] = field(default_factory=list)
    documented: int = 0
    modules: Counter[str] = field(default_factory=Counter)


def documented() -> list[Entry]:
    """Every public, documented callable of MODULES with a readable signature, sorted."""
    found = []
    for module_name in MODULES:
        module = importlib.import_module(module_name)
        for attribute in sorted(dir(module)):
            value = getattr(module, attribute)
            if attribute.startswith("_") or not callable(value):
                continue
            if getattr(value, "__module__", None) not in (module.__name__, module_name):
                continue  # re-exported from elsewhere: documented under its own module
            summary = _summary(inspect.getdoc(value) or "")
            try:
                signature = str(inspect.signature(value))
            except (TypeError, ValueError):
                continue
            # Defaults that are objects print with their memory address: drop it, or the data
            # (and its fingerprint) would change with every interpreter start.
            signature = _ADDRESS.sub("", signature)
            if summary:
                name = f"{module_name}.{attribute}"
                found.append(Entry(module_name, name, f"{name}{signature}", summary))
    return found


def _summary(doc: str) -> str:
    first = doc.strip().split("\n\n", 1)[0]
    text = " ".join(first.split())
    if len(text) > SUMMARY_CHARS:
        text = text[:SUMMARY_CHARS].rsplit(" ", 1)[0] + " …"
    return text


def api_sha256(entries: list[Entry]) -> str:
    blob = json.dumps([[e.name, e.call, e.summary] for e in entries], ensure_ascii=False)
    return hashlib.sha256(blob.encode()).hexdigest()


def generate(entries: list[Entry], count: int, seed: int) -> Generated:
    """`count` conversations (at most one per documented callable), drawn with `seed`."""
    rng = random.Random(seed)
    chosen = rng.sample(entries, min(count, len(entries)))
    out = Generated(documented=len(entries))
    for entry in chosen:
        question = rng.choice(QUESTIONS).format(name=entry.name)
        answer = rng.choice(ANSWERS).format(call=entry.call, summary=entry.summary)
        identity = hashlib.sha256(f"{SOURCE}\0{question}\0{answer}".encode()).hexdigest()[:16]
        out.conversations.append(
            Conversation(
                (Message("user", question), Message("assistant", answer)),
                id=f"{SOURCE}-{identity}",
                source=SOURCE,
                license=LICENSE,
            )
        )
        out.modules[entry.module] += 1
    return out
