"""A small real packed dataset for the training tests and benchmark.

Curated shards from tests.support.curated (real standard-library Python plus the Rust, docs and
conversation samples) → a SentencePiece tokenizer of 512 tokens → `tritter pack` shards with a
validation split per subset. Everything goes through the real stage functions.
"""

from __future__ import annotations

from pathlib import Path

from tests.support.curated import sample_corpus, write_curated

VOCAB_SIZE = 512


def build(root: Path, seq_len: int = 64, python_bytes: int = 300_000) -> dict[str, str]:
    """Write curated/, tokenizer/ and tokens/ under `root`; returns their paths."""
    from tritter.pack.config import PackConfig
    from tritter.pack.stage import run as pack
    from tritter.tokenizer.config import TokenizerConfig
    from tritter.tokenizer.stage import run as train_tokenizer

    curated = write_curated(str(root / "curated"), sample_corpus(python_bytes, copies=3))
    tokenizer = str(root / "tokenizer")
    train_tokenizer(
        TokenizerConfig(
            input=curated, output=tokenizer, vocab_size=VOCAB_SIZE, sample_bytes=200_000,
            heldout_bytes=10_000, threads=2,
        )
    )  # fmt: skip
    tokens = str(root / "tokens")
    pack(
        PackConfig(
            input=curated, tokenizer=tokenizer, output=tokens, seq_len=seq_len,
            mix={"python": 0.7, "rust": 0.1, "docs": 0.1, "conversations": 0.1},
            val_fraction=0.05, shard_tokens=20_000, workers=1, estimate_bytes=50_000,
        )
    )  # fmt: skip
    return {"curated": curated, "tokenizer": tokenizer, "tokens": tokens}


if __name__ == "__main__":
    import sys
    import time

    started = time.time()
    print(build(Path(sys.argv[1])), f"{time.time() - started:.1f}s")
