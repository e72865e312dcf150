"""Curated folders built from real text, in the exact layout `tritter curate` writes.

Parquet shards `part-XXXXX.parquet` with `tritter.schema.CURATED_SCHEMA` plus a `_manifest.json`
of stage `curate`. Python documents are real files from the running interpreter's standard
library; Rust, Markdown and conversation documents are small hand-written samples below. Tests
and benchmarks use this when they need curated input without running curation itself.
"""

from __future__ import annotations

import hashlib
import io
import sysconfig
from collections import Counter
from collections.abc import Iterable
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq

from tritter import manifest, storage
from tritter.run_folder import (
    CURATE_MANIFEST,
    CurateCounts,
    CurateExtra,
    CurateInputs,
    CurateThroughput,
    DedupCounts,
    LicensePolicyRecord,
)
from tritter.schema import CURATED_SCHEMA

RUST_SAMPLES = [
    """use std::collections::HashMap;
use std::fmt;

/// A word counter that keeps the insertion order of first sightings.
#[derive(Debug, Default)]
pub struct WordCounter {
    counts: HashMap<String, usize>,
    order: Vec<String>,
}

impl WordCounter {
    pub fn new() -> Self {
        Self::default()
    }

    /// Count every whitespace-separated word of `text`.
    pub fn feed(&mut self, text: &str) {
        for word in text.split_whitespace() {
            let word = word.to_lowercase();
            match self.counts.get_mut(&word) {
                Some(count) => *count += 1,
                None => {
                    self.order.push(word.clone());
                    self.counts.insert(word, 1);
                }
            }
        }
    }

    pub fn most_common(&self, n: usize) -> Vec<(&str, usize)> {
        let mut items: Vec<(&str, usize)> =
            self.order.iter().map(|w| (w.as_str(), self.counts[w])).collect();
        items.sort_by(|a, b| b.1.cmp(&a.1));
        items.truncate(n);
        items
    }
}

impl fmt::Display for WordCounter {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (word, count) in self.most_common(10) {
            writeln!(f, "{word}\\t{count}")?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counts_repeated_words() {
        let mut counter = WordCounter::new();
        counter.feed("the cat and the hat");
        assert_eq!(counter.most_common(1), vec![("the", 2)]);
    }
}
""",
    """use std::io::{self, BufRead, Write};
use std::num::ParseIntError;

#[derive(Debug)]
enum Command {
    Push(i64),
    Pop,
    Add,
    Mul,
    Print,
}

#[derive(Debug)]
enum ParseError {
    Empty,
    Unknown(String),
    Number(ParseIntError),
}

impl From<ParseIntError> for ParseError {
    fn from(err: ParseIntError) -> Self {
        ParseError::Number(err)
    }
}

fn parse(line: &str) -> Result<Command, ParseError> {
    let mut parts = line.split_whitespace();
    let op = parts.next().ok_or(ParseError::Empty)?;
    Ok(match op {
        "push" => Command::Push(parts.next().ok_or(ParseError::Empty)?.parse()?),
        "pop" => Command::Pop,
        "add" => Command::Add,
        "mul" => Command::Mul,
        "print" => Command::Print,
        other => return Err(ParseError::Unknown(other.to_string())),
    })
}

fn main() -> io::Result<()> {
    let stdin = io::stdin();
    let mut stack: Vec<i64> = Vec::new();
    let mut out = io::stdout().lock();
    for line in stdin.lock().lines() {
        match parse(&line?) {
            Ok(Command::Push(value)) => stack.push(value),
            Ok(Command::Pop) => {
                stack.pop();
            }
            Ok(Command::Add) => {
                let (b, a) = (stack.pop().unwrap_or(0), stack.pop().unwrap_or(0));
                stack.push(a + b);
            }
            Ok(Command::Mul) => {
                let (b, a) = (stack.pop().unwrap_or(1), stack.pop().unwrap_or(1));
                stack.push(a * b);
            }
            Ok(Command::Print) => writeln!(out, "{:?}", stack)?,
            Err(err) => eprintln!("error: {err:?}"),
        }
    }
    Ok(())
}
""",
    """//! A fixed-capacity ring buffer.

pub struct RingBuffer<T> {
    items: Vec<Option<T>>,
    head: usize,
    len: usize,
}

impl<T> RingBuffer<T> {
    pub fn with_capacity(capacity: usize) -> Self {
        assert!(capacity > 0, "capacity must be positive");
        let mut items = Vec::with_capacity(capacity);
        items.resize_with(capacity, || None);
        Self { items, head: 0, len: 0 }
    }

    pub fn push(&mut self, item: T) -> Option<T> {
        let capacity = self.items.len();
        let tail = (self.head + self.len) % capacity;
        let evicted = self.items[tail].replace(item);
        if self.len == capacity {
            self.head = (self.head + 1) % capacity;
        } else {
            self.len += 1;
        }
        evicted
    }

    pub fn pop(&mut self) -> Option<T> {
        if self.len == 0 {
            return None;
        }
        let item = self.items[self.head].take();
        self.head = (self.head + 1) % self.items.len();
        self.len -= 1;
        item
    }

    pub fn len(&self) -> usize {
        self.len
    }

    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    pub fn iter(&self) -> impl Iterator<Item = &T> + '_ {
        (0..self.len).filter_map(move |i| self.items[(self.head + i) % self.items.len()].as_ref())
    }
}
""",
    """use std::sync::mpsc;
use std::thread;
use std::time::Duration;

/// Fan work out to `workers` threads and collect the results in submission order.
pub fn parallel_map<T, R, F>(items: Vec<T>, workers: usize, f: F) -> Vec<R>
where
    T: Send + 'static,
    R: Send + 'static,
    F: Fn(T) -> R + Send + Sync + Clone + 'static,
{
    let (tx, rx) = mpsc::channel();
    let chunks: Vec<Vec<(usize, T)>> = {
        let mut chunks: Vec<Vec<(usize, T)>> = (0..workers).map(|_| Vec::new()).collect();
        for (index, item) in items.into_iter().enumerate() {
            chunks[index % workers].push((index, item));
        }
        chunks
    };
    let handles: Vec<_> = chunks
        .into_iter()
        .map(|chunk| {
            let tx = tx.clone();
            let f = f.clone();
            thread::spawn(move || {
                for (index, item) in chunk {
                    tx.send((index, f(item))).expect("receiver alive");
                }
            })
        })
        .collect();
    drop(tx);
    let mut results: Vec<(usize, R)> = rx.iter().collect();
    for handle in handles {
        handle.join().expect("worker panicked");
    }
    results.sort_by_key(|(index, _)| *index);
    results.into_iter().map(|(_, r)| r).collect()
}

fn main() {
    let squares = parallel_map((1..=8).collect(), 3, |x: u64| {
        thread::sleep(Duration::from_millis(10));
        x * x
    });
    println!("{squares:?}");
}
""",
]

DOC_SAMPLES = [
    """# Packing token shards

Packing turns curated documents into fixed-width token arrays. Each document is encoded with
the trained tokenizer and followed by an end-of-document token, so a model can tell where one
file stops and the next begins.

## Why a mixture

A pretraining run rarely wants its data in the proportions it happens to have. The mixture
sets the share of tokens each source contributes; scarce sources may be repeated a few times,
abundant ones are subsampled.

```bash
tritter pack --input runs/demo/curated --tokenizer runs/demo/tokenizer \\
    --output runs/demo/tokens --seq-len 2048 --mix python=0.4,rust=0.25,docs=0.1
```

| Source | Weight |
|--------|--------|
| Python | 40 %   |
| Rust   | 25 %   |
""",
    """Ternary weights
===============

BitNet b1.58 stores every weight as -1, 0 or +1 times a per-tensor scale. During training the
latent weights stay in bf16; the forward pass quantizes them on the fly:

.. code-block:: python

    scale = 1.0 / weight.abs().mean().clamp(min=1e-5)
    quantized = (weight * scale).round().clamp(-1, 1) / scale

Activations are quantized per token to 8 bits. The straight-through estimator passes gradients
through both roundings unchanged.
""",
    """# Reading a stack trace

When a Python program fails it prints a traceback: the innermost frame is last. Read it from
the bottom up:

1. The exception type and message say *what* went wrong.
2. The last frame says *where*.
3. Earlier frames say *how the program got there*.

> Tip: `python -X dev` enables extra runtime checks and shows resource warnings.

Common exceptions are `KeyError` (a missing dictionary key), `AttributeError` (a missing
attribute, often on `None`) and `TypeError` (wrong argument types).
""",
]

CONVERSATION_SAMPLES = [
    """User: My Rust build fails with "borrowed value does not live long enough". What does it mean?
Assistant: A reference outlives the value it points to. Usually a reference to a local is
returned or stored in a struct that lives longer. Return an owned value (`String` instead of
`&str`) or move the value into the longer-lived place. If you paste the function, I can show
the exact change.
""",
    """User: Is it fine to use `pickle` to load data my users upload?
Assistant: No. Unpickling runs code chosen by whoever wrote the file, so an upload becomes
remote code execution. Use a data-only format such as JSON, or Parquet for tables, and
validate it after parsing.
""",
]


def document(
    text: str,
    language: str,
    subset: str,
    path: str,
    *,
    negative: bool = False,
    explanation: str | None = None,
    license: str = "mit",
    source: str = "tests",
) -> dict:
    """One curated row (CURATED_SCHEMA fields)."""
    digest = hashlib.sha256(text.encode()).hexdigest()
    return {
        "id": hashlib.sha256(f"{source}:{path}".encode()).hexdigest(),
        "text": text,
        "language": language,
        "subset": subset,
        "quality_score": 0.2 if negative else 0.8,
        "quality_label": "negative" if negative else "positive",
        "explanation": explanation,
        "source": source,
        "license": license,
        "stars": None,
        "sha256": digest,
        "repo": None,
        "path": path,
        "bytes": len(text.encode()),
    }


def stdlib_python(max_bytes: int, max_file_bytes: int = 60_000, skip: int = 0) -> list[dict]:
    """Real Python documents: standard-library files in name order, up to `max_bytes` in all."""
    root = Path(sysconfig.get_paths()["stdlib"])
    docs, total, seen = [], 0, 0
    for path in sorted(root.rglob("*.py")):
        if "site-packages" in path.parts or "test" in path.parts or "tests" in path.parts:
            continue
        try:
            text = path.read_text(encoding="utf-8")
        except (UnicodeDecodeError, OSError):
            continue
        size = len(text.encode())
        if not text.strip() or size > max_file_bytes:
            continue
        seen += 1
        if seen <= skip:
            continue
        if total + size > max_bytes:
            break
        docs.append(
            document(text, "python", "python", str(path.relative_to(root)), license="psf-2.0")
        )
        total += size
    return docs


def sample_corpus(python_bytes: int = 400_000, copies: int = 1) -> list[dict]:
    """Python (stdlib), Rust, docs and conversations, with one negative example."""
    docs = stdlib_python(python_bytes)
    for copy in range(copies):
        suffix = f"-{copy}" if copies > 1 else ""
        tag = f"\n// variant {copy}\n" if copies > 1 else ""
        comment = f"\n<!-- variant {copy} -->\n" if copies > 1 else ""
        docs += [
            document(text + tag, "rust", "rust", f"src/sample{i}{suffix}.rs")
            for i, text in enumerate(RUST_SAMPLES)
        ]
        docs += [
            document(text + comment, "markdown", "docs", f"docs/page{i}{suffix}.md")
            for i, text in enumerate(DOC_SAMPLES)
        ]
        docs += [
            document(text + comment, "text", "conversations", f"chat/{i}{suffix}.txt")
            for i, text in enumerate(CONVERSATION_SAMPLES)
        ]
    docs.append(unsafe_pickle_document())
    return docs


def write_curated(folder: str, documents: Iterable[dict], shards: int = 2) -> str:
    """Write `documents` as `shards` Parquet shards plus a curate `_manifest.json`."""
    rows = list(documents)
    files = []
    for index in range(shards):
        part = rows[index::shards]
        table = pa.Table.from_pylist(part, schema=CURATED_SCHEMA)
        buffer = io.BytesIO()
        pq.write_table(table, buffer, compression="zstd", row_group_size=64)
        uri = storage.join(folder, f"part-{index:05d}.parquet")
        storage.write_bytes(uri, buffer.getvalue())
        files.append(manifest.file_entry(folder, uri))
    content = hashlib.sha256("".join(f.sha256 for f in files).encode()).hexdigest()
    manifest.write_manifest(
        folder,
        manifest.Manifest(
            stage=CURATE_MANIFEST.stage,
            fingerprint=content,
            inputs=CurateInputs(source="tests.support.curated", listing_sha256=content),
            config={},
            counts=curate_counts(rows, shards),
            files=files,
            extra=curate_extra(),
        ),
    )
    return folder


def curate_counts(rows: list[dict], shards: int) -> CurateCounts:
    """The counts curation would record for keeping exactly `rows` (nothing dropped)."""

    def tally(key: str) -> dict[str, int]:
        return dict(Counter(row[key] for row in rows))

    kept_bytes = sum(row["bytes"] for row in rows)
    return CurateCounts(
        input_documents=len(rows), input_bytes=kept_bytes, read_bytes=kept_bytes,
        kept_documents=len(rows), kept_bytes=kept_bytes, dropped_documents=0, dropped={},
        labels=tally("quality_label"), languages=tally("language"), subsets=tally("subset"),
        licenses=tally("license"),
        negatives=dict(Counter("unsafe_deserialization" for r in rows if r["explanation"])),
        dedup=DedupCounts(
            exact_groups=0, exact_removed=0, largest_exact_group=0, near_clusters=0,
            near_removed=0, largest_near_cluster=0, candidate_pairs=0, verified_pairs=0,
            threshold=0.8, num_perm=128, bands=16, rows=8,
        ),
        shards=shards,
    )  # fmt: skip


def curate_extra() -> CurateExtra:
    return CurateExtra(
        source={"kind": "records", "label": "tests.support.curated"},
        license_policy=LicensePolicyRecord(
            allowed=["mit"], allow_unknown=False, assume_license=None, source_declaration=None
        ),
        format="parquet",
        schema="tritter.schema.CURATED_SCHEMA",
        throughput=CurateThroughput(seconds=0.0, read_mb_per_second=0.0, process_seconds=0.0),
        input_files=None,
        listing_sha256=None,
    )


def unsafe_pickle_document() -> dict:
    """A negative example as curation labels one: the flaw and its fix in `explanation`."""
    return document(
        "import pickle\n\n\ndef load(path):\n    with open(path, 'rb') as f:\n"
        "        return pickle.load(f)\n",
        "python",
        "python",
        "bad/load.py",
        negative=True,
        explanation="pickle.load on an untrusted file runs arbitrary code.\n"
        "Fix: store data as JSON and parse it with json.load.",
    )
