"""A small real source tree for whole-pipeline runs: MIT-licensed Python (standard-library
text), Rust and Markdown files, enough for a tokenizer and a few training batches."""

from __future__ import annotations

from pathlib import Path

from tests.support.curated import DOC_SAMPLES, RUST_SAMPLES, stdlib_python

MIT = """MIT License

Copyright (c) 2026 Tritter test corpus

Permission is hereby granted, free of charge, to any person obtaining a copy of this software
and associated documentation files (the "Software"), to deal in the Software without
restriction, including without limitation the rights to use, copy, modify, merge, publish,
distribute, sublicense, and/or sell copies of the Software, and to permit persons to whom the
Software is furnished to do so, subject to the following conditions:

The above copyright notice and this permission notice shall be included in all copies or
substantial portions of the Software.

THE SOFTWARE IS PROVIDED "AS IS", WITHOUT WARRANTY OF ANY KIND, EXPRESS OR IMPLIED.
"""


def build_source(root: Path, python_bytes: int = 300_000) -> Path:
    """Write the tree under `root` and return it."""
    root.mkdir(parents=True, exist_ok=True)
    (root / "LICENSE").write_text(MIT)
    for doc in stdlib_python(python_bytes, max_file_bytes=20_000):
        path = root / "python" / doc["path"]
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(doc["text"])
    for i, text in enumerate(RUST_SAMPLES):
        path = root / "rust" / "src" / f"sample{i}.rs"
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
    for i, text in enumerate(DOC_SAMPLES):
        path = root / "docs" / f"page{i}.md"
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
    return root
