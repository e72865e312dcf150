"""A base model shaped like a BitNet b1.58 2B4T release, built here: a random `transformers`
BitNetForCausalLM saved with its own byte-level BPE tokenizer.json in the same folder (as
microsoft/bitnet-b1.58-2B-4T-bf16 ships), latent weights quantized online."""

from __future__ import annotations

from pathlib import Path

from tests.tokenizer.hf_support import build_hf_tokenizer

RESERVED = 16  # reserved special tokens, as 2B4T's Llama-3 tokenizer has (over 240 there)
ONLINE = {"quant_method": "bitnet", "linear_class": "autobitlinear", "quantization_mode": "online"}


def build_hf_base(folder: Path, vocab_size: int = 600, seed: int = 0) -> Path:
    """config.json, model.safetensors, tokenizer.json and tokenizer_config.json in `folder`."""
    import torch
    from tokenizers import Tokenizer as RustTokenizer
    from transformers import BitNetConfig, BitNetForCausalLM

    build_hf_tokenizer(folder, vocab_size=vocab_size, reserved=RESERVED)
    tokenizer = RustTokenizer.from_file(str(folder / "tokenizer.json"))
    config = BitNetConfig(
        vocab_size=tokenizer.get_vocab_size(with_added_tokens=True),  # reserved ones included
        hidden_size=64, intermediate_size=128, num_hidden_layers=2, num_attention_heads=4,
        num_key_value_heads=2, max_position_embeddings=256, tie_word_embeddings=True,
        bos_token_id=None, eos_token_id=None,
    )  # fmt: skip
    torch.manual_seed(seed)
    model = BitNetForCausalLM(config)
    model.config.quantization_config = dict(ONLINE)
    model.save_pretrained(folder)
    return folder
