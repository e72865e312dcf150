"""A Hugging Face tokenizer folder built here: a byte-level BPE (the kind Llama-3 and BitNet
2B4T ship) trained with `tokenizers` on the test corpus, with a tokenizer_config.json naming
BOS and EOS as 2B4T's does."""

from __future__ import annotations

import json
from pathlib import Path

from tests.tokenizer.support import HOSTILE_TEXTS, corpus_documents


def build_hf_tokenizer(
    folder: Path, vocab_size: int = 1024, wide: int = 0, reserved: int = 0
) -> Path:
    """A byte-level BPE trained on the test corpus, saved as an HF tokenizer folder; `reserved`
    (or enough to reach `wide` ids) reserved special tokens after its vocabulary, as Llama-3
    reserves 250 (the import claims ten of them for the chat markers)."""
    from tokenizers import Tokenizer as RustTokenizer
    from tokenizers import decoders, models, pre_tokenizers, trainers

    tokenizer = RustTokenizer(models.BPE())
    tokenizer.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tokenizer.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(
        vocab_size=vocab_size,
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
        special_tokens=["<|begin_of_text|>", "<|end_of_text|>"],
    )
    texts = [doc["text"] for doc in corpus_documents()[:200]] + HOSTILE_TEXTS
    tokenizer.train_from_iterator(texts, trainer)
    count = max(reserved, wide - tokenizer.get_vocab_size())
    if count:
        tokenizer.add_special_tokens([f"<|reserved_special_token_{i}|>" for i in range(count)])
    folder.mkdir(parents=True, exist_ok=True)
    tokenizer.save(str(folder / "tokenizer.json"))
    (folder / "tokenizer_config.json").write_text(
        json.dumps({"bos_token": "<|begin_of_text|>", "eos_token": "<|end_of_text|>"})
    )
    return folder
