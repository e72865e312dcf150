"""Shared inputs for the tokenizer, pack and loader tests: one curated folder, one tokenizer
trained by the real CLI, one pack — built once per test session and reused.

Every builder is idempotent (the stages skip a finished output), so the tokenizer, pack and
loader test folders can each ask for the same artifacts from their own session fixtures and
only the first request does the work.
"""

from __future__ import annotations

import contextlib
import io
import json
import struct
import subprocess
from dataclasses import dataclass
from pathlib import Path

from tests.conftest import run_tritter
from tests.support.curated import (
    CONVERSATION_SAMPLES,
    DOC_SAMPLES,
    RUST_SAMPLES,
    document,
    stdlib_python,
    unsafe_pickle_document,
    write_curated,
)

# Small enough that training and packing take seconds on 2 cores, large enough that every
# subset has train and validation documents.
VOCAB_SIZE = 2048
SAMPLE_BYTES = 600_000
PYTHON_BYTES = 700_000
PYTHON_FILE_BYTES = 12_000  # small files keep per-document granularity fine for mixture checks
COPIES = 8  # variants of each Rust/doc/conversation sample (distinct texts and digests)

# Text that breaks tokenizers which normalize: indentation, blank-line runs, trailing
# whitespace, CRLF, tabs, emoji, CJK, control characters, SentencePiece's own ▁.
HOSTILE_TEXTS = [
    "def f(x):\n    if x:\n\treturn 1\n        \n\n\n\n    return 2   \n",
    "line one\r\nline two\r\n\r\n\r\n  indented\r\n",
    "\t\t\tTabs\t\tbetween\twords\t\n \t \t mixed \t\n",
    "emoji 🐍🦀 👩‍💻 flag 🇫🇷 skin 👍🏽",
    "中文注释：计算斐波那契数列 # 日本語のコメント 한국어",
    "control \x00\x01\x02\x07\x08\x0b\x0c\x1b[31mred\x1b[0m \x7f end",
    "   leading spaces and trailing   ",
    "\n\n\nstarts with newlines",
    "ends with newlines\n\n\n",
    "literal \u2581 meta ▁▁ and ▁x",
    "full-width ＡＢＣ ligature ﬁ nbsp\u00a0here zero\u200bwidth",
    "",
    " ",
    "\u2581",
    "combining e\u0301 and precomposed é",
    "    " * 30 + "deep",
]


@dataclass(frozen=True)
class Artifacts:
    curated: Path
    tokenizer: Path
    tokens: Path
    seq_len: int = 64


def corpus_documents() -> list[dict]:
    """Real Python (stdlib) plus variants of the Rust, docs and conversation samples, one
    negative example and one document made of hostile text."""
    docs = stdlib_python(PYTHON_BYTES, max_file_bytes=PYTHON_FILE_BYTES)
    for copy in range(COPIES):
        docs += [
            document(f"// variant {copy}\n{text}", "rust", "rust", f"src/s{i}-{copy}.rs")
            for i, text in enumerate(RUST_SAMPLES)
        ]
        docs += [
            document(f"{text}\n<!-- variant {copy} -->\n", "markdown", "docs", f"d/{i}-{copy}.md")
            for i, text in enumerate(DOC_SAMPLES)
        ]
        docs += [
            document(f"{text}(variant {copy})\n", "text", "conversations", f"c/{i}-{copy}.txt")
            for i, text in enumerate(CONVERSATION_SAMPLES)
        ]
    docs.append(unsafe_pickle_document())
    docs.append(document("\n".join(HOSTILE_TEXTS[:11]), "python", "python", "hostile.py"))
    # Curation removes exact duplicates (the stdlib has a few identical files): so do we.
    unique = {doc["sha256"]: doc for doc in reversed(docs)}
    return [doc for doc in docs if unique[doc["sha256"]] is doc]


def ensure_curated(folder: Path) -> Path:
    if not (folder / "_manifest.json").exists():
        write_curated(str(folder), corpus_documents(), shards=3)
    return folder


def train_args(curated: Path | str, output: Path | str, *extra: str) -> list[str]:
    return [
        "tokenizer", "train", "--input", str(curated), "--output", str(output),
        "--vocab-size", str(VOCAB_SIZE), "--sample-bytes", str(SAMPLE_BYTES),
        "--heldout-bytes", "60000", "--threads", "2", *extra,
    ]  # fmt: skip


def ensure_tokenizer(curated: Path, folder: Path) -> Path:
    """Train with the real CLI (once: relaunching is tested on its own)."""
    if (folder / "_manifest.json").exists():
        return folder
    done = run_tritter(*train_args(curated, folder))
    assert done.returncode == 0, done.stderr
    return folder


def pack_args(curated: Path | str, tokenizer: Path | str, output: Path | str, *extra: str) -> list:
    return [
        "pack", "--input", str(curated), "--tokenizer", str(tokenizer), "--output", str(output),
        "--seq-len", "64", "--val-fraction", "0.05", "--shard-tokens", "50000", "--workers", "2",
        *extra,
    ]  # fmt: skip


def ensure_tokens(curated: Path, tokenizer: Path, folder: Path) -> Path:
    if (folder / "_manifest.json").exists():
        return folder
    done = run_tritter(*pack_args(curated, tokenizer, folder))
    assert done.returncode == 0, done.stderr
    return folder


def build(base: Path, pack: bool = True) -> Artifacts:
    """Curated folder, tokenizer and (with `pack`) tokens under `base`, built on first use."""
    base.mkdir(parents=True, exist_ok=True)
    curated = ensure_curated(base / "curated")
    tokenizer = ensure_tokenizer(curated, base / "tokenizer")
    tokens = ensure_tokens(curated, tokenizer, base / "tokens") if pack else base / "tokens"
    return Artifacts(curated, tokenizer, tokens)


def read_manifest(folder: Path) -> dict:
    return json.loads((folder / "_manifest.json").read_text())


def run_in_process(*args: object) -> subprocess.CompletedProcess:
    """`tritter.cli.main(args)` in this process, output captured like `run_tritter`.

    The same code path as the `tritter` command without a new interpreter (each of which pays
    the CLI's import time): used for the many bad-input cases.
    """
    from tritter.cli import main

    out, err = io.StringIO(), io.StringIO()
    argv = [str(a) for a in args]
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        try:
            code = main(argv)
        except SystemExit as exit_:  # argparse usage errors
            code = int(exit_.code or 0)
    return subprocess.CompletedProcess(argv, code, out.getvalue(), err.getvalue())


def one_line_error(done) -> str:
    """The CLI's error: exit 1, a single `tritter: error:` line, no traceback."""
    assert done.returncode == 1, (done.returncode, done.stdout, done.stderr)
    assert "Traceback" not in done.stderr, done.stderr
    lines = [line for line in done.stderr.splitlines() if line.startswith("tritter: error:")]
    assert len(lines) == 1, done.stderr
    return lines[0]


def _varint(value: int) -> bytes:
    out = bytearray()
    while True:
        low, value = value & 0x7F, value >> 7
        if value:
            out.append(low | 0x80)
        else:
            out.append(low)
            return bytes(out)


def widen_model(proto: bytes, vocab_size: int) -> bytes:
    """A copy of a SentencePiece model padded with UNUSED pieces up to `vocab_size`.

    Appending serialized `pieces` entries (ModelProto field 1: piece=1, score=2, type=3 with
    UNUSED = 5) to the message is valid protobuf: repeated fields concatenate. Encoding never
    produces UNUSED pieces, so text encodes exactly as before, but ids now need uint32 — the
    only practical way to exercise the wide-vocabulary path without training a 66k model.
    """
    import sentencepiece

    sp = sentencepiece.SentencePieceProcessor()
    sp.LoadFromSerializedProto(proto)
    extra = bytearray()
    for index in range(vocab_size - sp.get_piece_size()):
        text = f"<|unused_{index}|>".encode()
        body = b"\x0a" + _varint(len(text)) + text + b"\x15" + struct.pack("<f", 0.0) + b"\x18\x05"
        extra += b"\x0a" + _varint(len(body)) + body
    return proto + bytes(extra)
