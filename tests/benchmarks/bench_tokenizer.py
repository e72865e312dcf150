"""Benchmark the tokenizer: training time and peak memory, and compression next to a byte-level
BPE trained by Hugging Face `tokenizers` on the same sample with the same vocabulary size.

    .venv/bin/python tests/benchmarks/bench_tokenizer.py [--mb 20] [--vocab-size 65536]
        [--threads N] [--dir D]

1. Corpus: real Python files (this interpreter's standard library, then site-packages), plus
   the Rust, Markdown and conversation samples of `tests.support.curated`, written as a curated
   folder (`tests.support.curated.write_curated`) of about --mb × 1.1 MB.
2. Trains with the real CLI (`tritter tokenizer train --sample-bytes --mb MB`) in a subprocess;
   training seconds and peak RSS come from the tokenizer manifest.
3. Draws the very same sample in-process (`tritter.tokenizer.sample.draw`: deterministic for
   the seed) and trains a byte-level BPE (`tokenizers`: ByteLevel pre-tokenizer and decoder,
   same 32 special tokens, same vocabulary size) on the same sentences.
4. Both are measured on the same held-out documents per language (chars/token, bytes/token);
   the target is unigram chars/token ≥ 95 % of the BPE's.

Timings depend on what else the machine runs: the load average is printed.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import sysconfig
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(REPO))

from tests.support.curated import (  # noqa: E402
    CONVERSATION_SAMPLES,
    DOC_SAMPLES,
    RUST_SAMPLES,
    document,
    write_curated,
)


def python_files(limit_bytes: int) -> list[dict]:
    """Real Python files (no tests, ≤ 200 KB each, exact duplicates dropped) up to the limit."""
    roots = [Path(sysconfig.get_paths()["stdlib"]), Path(sysconfig.get_paths()["purelib"])]
    docs, seen, total = [], set(), 0
    for root in roots:
        for path in sorted(root.rglob("*.py")):
            if {"test", "tests", "site-packages"} & set(path.relative_to(root).parts[:-1]):
                continue
            try:
                text = path.read_text(encoding="utf-8")
            except (UnicodeDecodeError, OSError):
                continue
            size = len(text.encode())
            if not text.strip() or size > 200_000:
                continue
            row = document(text, "python", "python", f"{root.name}/{path.relative_to(root)}")
            if row["sha256"] in seen:
                continue
            seen.add(row["sha256"])
            docs.append(row)
            total += size
            if total >= limit_bytes:
                return docs
    return docs


def other_documents(copies: int) -> list[dict]:
    docs = []
    for copy in range(copies):
        docs += [document(f"// variant {copy}\n{t}", "rust", "rust", f"r/{i}-{copy}.rs")
                 for i, t in enumerate(RUST_SAMPLES)]  # fmt: skip
        docs += [document(f"{t}\n<!-- {copy} -->\n", "markdown", "docs", f"d/{i}-{copy}.md")
                 for i, t in enumerate(DOC_SAMPLES)]  # fmt: skip
        docs += [document(f"{t}({copy})\n", "text", "conversations", f"c/{i}-{copy}.txt")
                 for i, t in enumerate(CONVERSATION_SAMPLES)]  # fmt: skip
    return docs


def train_bpe(sentences: list[str], vocab_size: int, specials: list[str]):
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers

    tokenizer = Tokenizer(models.BPE())
    tokenizer.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tokenizer.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(
        vocab_size=vocab_size,
        special_tokens=specials,
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
        show_progress=False,
    )
    tokenizer.train_from_iterator(sentences, trainer=trainer)
    return tokenizer


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--mb", type=float, default=20.0, help="training sample size in MB")
    parser.add_argument("--vocab-size", type=int, default=65536)
    parser.add_argument("--threads", type=int, default=os.cpu_count() or 1)
    parser.add_argument("--dir", type=Path, default=None, help="work folder (default: temp)")
    args = parser.parse_args()
    work = args.dir or Path(tempfile.mkdtemp(prefix="bench-tokenizer-"))
    work.mkdir(parents=True, exist_ok=True)
    sample_bytes = int(args.mb * 1e6)
    print(f"load average before: {os.getloadavg()}, cores: {os.cpu_count()}")

    curated = work / "curated"
    if not (curated / "_manifest.json").exists():
        started = time.time()
        docs = python_files(int(sample_bytes * 1.1)) + other_documents(copies=40)
        write_curated(str(curated), docs, shards=max(2, int(args.mb // 10)))
        print(f"curated folder: {len(docs)} documents in {time.time() - started:.1f}s")

    output = work / f"tokenizer-{args.vocab_size}"
    command = [
        sys.executable, "-m", "tritter.cli", "tokenizer", "train", "--input", str(curated),
        "--output", str(output), "--vocab-size", str(args.vocab_size),
        "--sample-bytes", str(sample_bytes), "--threads", str(args.threads),
    ]  # fmt: skip
    subprocess.run(command, check=True, cwd=REPO)
    found = json.loads((output / "_manifest.json").read_text())
    counts = found["counts"]
    print(
        f"unigram training: sample {counts['sample']['bytes'] / 1e6:.1f} MB "
        f"({counts['sample']['sentences']} sentences), vocab {counts['vocab_size']}, "
        f"train {counts['seconds']['train']:.1f}s, total {counts['seconds']['total']:.1f}s, "
        f"peak RSS {counts['peak_rss_bytes'] / 2**30:.2f} GiB, threads {counts['threads']}"
    )

    # The same sample again, in this process, for the BPE.
    from tritter.config import validate
    from tritter.data import curated as curated_input
    from tritter.tokenizer import compression
    from tritter.tokenizer.config import TokenizerConfig
    from tritter.tokenizer.model import Tokenizer
    from tritter.tokenizer.sample import draw
    from tritter.tokenizer.special import SPECIAL_TOKENS

    config = validate(TokenizerConfig, found["config"])
    with tempfile.TemporaryDirectory() as tmp:
        sample = draw(config, curated_input.open_input(str(curated)), Path(tmp))
        sentences = list(sample.iter_sentences())
    rss_before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    started = time.time()
    bpe = train_bpe(sentences, args.vocab_size, [t.piece for t in SPECIAL_TOKENS])
    bpe_seconds = time.time() - started
    rss_after = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    print(
        f"BPE training (tokenizers, byte-level): {bpe_seconds:.1f}s, vocab "
        f"{bpe.get_vocab_size()}, peak RSS {max(rss_before, rss_after) / 2**20:.2f} GiB"
    )
    unigram = Tokenizer.load(output)
    ours = compression.measure(unigram.encode_batch, sample.heldout)
    theirs = compression.measure(
        lambda texts: [e.ids for e in bpe.encode_batch(list(texts), add_special_tokens=False)],
        sample.heldout,
    )
    probe = sample.heldout["python"][:20]
    lossless = all(
        bpe.decode(e.ids, skip_special_tokens=False) == t
        for t, e in zip(probe, bpe.encode_batch(probe), strict=True)
    )
    print(f"\nheld-out compression (chars/token; bytes/token) — BPE round trip ok: {lossless}")
    print(f"{'language':<10} {'docs':>5} {'MB':>7} {'unigram':>16} {'BPE':>16} {'ratio':>7}")
    for language in sorted(ours):
        a, b = ours[language], theirs[language]
        ratio = a["chars_per_token"] / b["chars_per_token"]
        print(
            f"{language:<10} {a['documents']:>5} {a['bytes'] / 1e6:>7.2f} "
            f"{a['chars_per_token']:>7.3f}; {a['bytes_per_token']:>6.3f} "
            f"{b['chars_per_token']:>7.3f}; {b['bytes_per_token']:>6.3f} {ratio:>7.3f}"
        )
    overall = ours["all"]["chars_per_token"] / theirs["all"]["chars_per_token"]
    verdict = "meets" if overall >= 0.95 else "misses"
    print(
        f"\nunigram / BPE chars per token over all held-out text: {overall:.3f} ({verdict} ≥ 0.95)"
    )
    print(f"load average after: {os.getloadavg()}")


if __name__ == "__main__":
    main()
