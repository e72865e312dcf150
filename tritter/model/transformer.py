"""The Tritter decoder: embedding → N × (attention, gated squared-ReLU MLP) → norm → head.

A plain `nn.Module` in the torchtitan sense: activation checkpointing (the `Block.checkpointing`
flag), `torch.compile` and parallelism (FSDP over `.layers`) are applied from outside, by
tritter/train/parallelize.py. Module and parameter names equal Hugging Face's
`BitNetForCausalLM` minus the `model.` prefix, so import/export (tritter/model/hf.py) is a
rename, not a reshuffle. `from_hf`/`save_hf` delegate to that adapter, which never imports this
module (it is handed the class or the model), so the dependency runs one way.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn
from torch.utils.checkpoint import checkpoint

from tritter.errors import TritterError
from tritter.model.attention import Attention, KVCache, attention_mask
from tritter.model.bitlinear import BitLinear, norm_then_linears
from tritter.model.config import FieldValue, ModelConfig, resolve_config
from tritter.model.layers import RMSNorm, rope_cos_sin


class MLP(nn.Module):
    """down(ffn_sub_norm(relu(gate(x))² · up(x))) — BitNet b1.58's gated squared ReLU."""

    def __init__(self, config: ModelConfig) -> None:
        super().__init__()
        quantize = config.quantization == "ternary"
        hidden, inner = config.hidden_size, config.intermediate_size
        self.gate_proj = BitLinear(hidden, inner, quantize=quantize)
        self.up_proj = BitLinear(hidden, inner, quantize=quantize)
        self.ffn_sub_norm = RMSNorm(inner, config.rms_norm_eps)
        self.down_proj = BitLinear(inner, hidden, quantize=quantize)

    def forward(self, x: torch.Tensor, norm: RMSNorm) -> torch.Tensor:
        """MLP over norm(x) (the norm is passed in so it can fuse with gate/up quantization)."""
        gate, up = norm_then_linears(norm, x, (self.gate_proj, self.up_proj))
        hidden = F.relu(gate).square() * up
        return norm_then_linears(self.ffn_sub_norm, hidden, (self.down_proj,))[0]


class Block(nn.Module):
    """Pre-norm decoder block. `checkpointing` recomputes it in the backward pass."""

    def __init__(self, config: ModelConfig, layer_index: int) -> None:
        super().__init__()
        self.input_layernorm = RMSNorm(config.hidden_size, config.rms_norm_eps)
        self.self_attn = Attention(config, layer_index)
        self.post_attention_layernorm = RMSNorm(config.hidden_size, config.rms_norm_eps)
        self.mlp = MLP(config)
        self.checkpointing = False

    def forward(
        self,
        x: torch.Tensor,
        cos: torch.Tensor,
        sin: torch.Tensor,
        mask: torch.Tensor | None,
        cache: KVCache | None = None,
    ) -> torch.Tensor:
        # Recomputation only makes sense when a backward pass will happen; never with a cache
        # (recomputing would write the cache twice).
        if self.checkpointing and cache is None and torch.is_grad_enabled():
            return checkpoint(self._forward, x, cos, sin, mask, use_reentrant=False)
        return self._forward(x, cos, sin, mask, cache)

    def _forward(
        self,
        x: torch.Tensor,
        cos: torch.Tensor,
        sin: torch.Tensor,
        mask: torch.Tensor | None,
        cache: KVCache | None = None,
    ) -> torch.Tensor:
        x = x + self.self_attn(x, self.input_layernorm, cos, sin, mask, cache)
        return x + self.mlp(x, self.post_attention_layernorm)


class Tritter(nn.Module):
    """BitNet b1.58 decoder. `forward(input_ids)` → float logits [B, T, vocab]."""

    def __init__(self, config: ModelConfig) -> None:
        super().__init__()
        self.config = config
        self.embed_tokens = nn.Embedding(config.vocab_size, config.hidden_size)
        self.layers = nn.ModuleList(Block(config, i) for i in range(config.num_hidden_layers))
        self.norm = RMSNorm(config.hidden_size, config.rms_norm_eps)
        # The output head is never quantized (as in BitNet and transformers' BitNet).
        self.lm_head = (
            None
            if config.tie_word_embeddings
            else nn.Linear(config.hidden_size, config.vocab_size, bias=False)
        )
        self.init_weights()

    def init_weights(self) -> None:
        """Normal(0, initializer_range) for matrices, ones for norms. Callable again after
        FSDP materialises a meta-device model (`to_empty`)."""
        std = self.config.initializer_range
        for module in self.modules():
            if isinstance(module, nn.Linear | nn.Embedding):
                nn.init.normal_(module.weight, mean=0.0, std=std)
            elif isinstance(module, RMSNorm):
                module.reset_parameters()

    @property
    def head_weight(self) -> torch.Tensor:
        return self.embed_tokens.weight if self.lm_head is None else self.lm_head.weight

    def new_kv_cache(
        self,
        batch: int,
        max_len: int,
        device: torch.device | str | None = None,
        dtype: torch.dtype | None = None,
    ) -> KVCache:
        """An empty cache for `batch` rows of up to `max_len` tokens (prompt + generated)."""
        weight = self.embed_tokens.weight
        return KVCache(self.config, batch, max_len, device or weight.device, dtype or weight.dtype)

    def forward(
        self,
        input_ids: torch.Tensor,
        *,
        positions: torch.Tensor | None = None,
        document_ids: torch.Tensor | None = None,
        padding_mask: torch.Tensor | None = None,
        kv_cache: KVCache | None = None,
    ) -> torch.Tensor:
        """Logits for input_ids [B, T].

        positions [B, T]: RoPE positions (default: 0.. per row, counting only real tokens when a
        padding_mask is given, continuing after what the cache holds). document_ids [B, T]:
        tokens attend only within their document. padding_mask [B, T] bool, True = real token.
        kv_cache: from `new_kv_cache`; this call's tokens are appended to it.
        """
        batch, length = input_ids.shape
        device = input_ids.device
        start = 0 if kv_cache is None else kv_cache.length
        if kv_cache is not None:
            if kv_cache.batch != batch:
                raise TritterError(f"KV cache has {kv_cache.batch} rows, input has {batch}")
            kv_cache.reserve(length)
        if positions is None:
            positions = self._default_positions(batch, length, padding_mask, kv_cache, device)

        mask = None
        if kv_cache is not None:
            end = start + length
            kv_cache.valid[:, start:end] = True if padding_mask is None else padding_mask
            if document_ids is not None:
                kv_cache.documents[:, start:end] = document_ids
            mask = attention_mask(
                length,
                start,
                kv_cache.valid[:, :end],
                document_ids if document_ids is not None else kv_cache.documents[:, start:end],
                kv_cache.documents[:, :end],
                device,
            )
        elif padding_mask is not None or document_ids is not None:
            mask = attention_mask(length, 0, padding_mask, document_ids, document_ids, device)

        x = self.embed_tokens(input_ids)
        cos, sin = rope_cos_sin(positions, self.config.head_dim, self.config.rope_theta, x.dtype)
        for block in self.layers:
            x = block(x, cos, sin, mask, kv_cache)
        if kv_cache is not None:
            kv_cache.length += length
        x = self.norm(x)
        return F.linear(x, self.head_weight).float()

    @staticmethod
    def _default_positions(
        batch: int,
        length: int,
        padding_mask: torch.Tensor | None,
        cache: KVCache | None,
        device: torch.device,
    ) -> torch.Tensor:
        if padding_mask is None:
            start = 0 if cache is None else cache.length
            return torch.arange(start, start + length, device=device).expand(batch, length)
        # Left padding: the first real token of each row is position 0.
        seen = 0 if cache is None else cache.valid[:, : cache.length].sum(dim=1, keepdim=True)
        return (seen + padding_mask.long().cumsum(dim=1) - 1).clamp(min=0)

    def num_parameters(self) -> dict[str, int]:
        """Parameter counts: total, ternary (BitLinear weights), embedding, head (if untied)."""
        ternary = sum(
            m.weight.numel() for m in self.modules() if isinstance(m, BitLinear) and m.quantize
        )
        return {
            "total": sum(p.numel() for p in self.parameters()),
            "ternary": ternary,
            "embedding": self.embed_tokens.weight.numel(),
            "head": 0 if self.lm_head is None else self.lm_head.weight.numel(),
        }

    def flops_per_token(self, seq_len: int) -> float:
        return flops_per_token(self.config, seq_len)

    @classmethod
    def from_hf(cls, directory: str, dtype: torch.dtype = torch.float32) -> Tritter:
        """Load a Hugging Face `BitNetForCausalLM` directory (config.json + safetensors, local or
        s3://), weights in `dtype`."""
        from tritter.model.hf import load_hf  # only when called: building a model never needs it

        return load_hf(cls, directory, dtype)

    def save_hf(
        self, directory: str, packed: bool = False, dtype: torch.dtype | None = None
    ) -> None:
        """Write a directory `transformers` loads as `BitNetForCausalLM` (packed: 2-bit weights
        in the offline format; dtype: cast the floating-point tensors written)."""
        from tritter.model.hf import save_hf

        save_hf(self, directory, packed=packed, dtype=dtype)


def count_parameters(config: ModelConfig) -> dict[str, int]:
    """Parameter counts from the shape alone (no model is built; fine for the 7B presets)."""
    hidden, inner, layers = config.hidden_size, config.intermediate_size, config.num_hidden_layers
    kv = config.num_key_value_heads * config.head_dim
    linear = 2 * hidden * hidden + 2 * hidden * kv + 3 * hidden * inner
    norms = 3 * hidden + inner
    embedding = config.vocab_size * hidden
    head = 0 if config.tie_word_embeddings else embedding
    total = layers * (linear + norms) + hidden + embedding + head
    ternary = layers * linear if config.quantization == "ternary" else 0
    return {"total": total, "ternary": ternary, "embedding": embedding, "head": head}


def flops_per_token(config: ModelConfig, seq_len: int) -> float:
    """Training FLOPs per token (forward + backward): 6·N + 12·L·H·T (PaLM's accounting).

    N counts the matmul parameters: all block projections plus the output head (the embedding
    lookup is not a matmul; a tied head still does its matmul). The attention term counts QKᵀ
    and AV over the full window, as PaLM and nanoGPT do, so MFU figures stay comparable.
    """
    counts = count_parameters(config)
    hidden, layers = config.hidden_size, config.num_hidden_layers
    kv = config.num_key_value_heads * config.head_dim
    matmul = layers * (
        2 * hidden * hidden + 2 * hidden * kv + 3 * hidden * config.intermediate_size
    )
    matmul += counts["embedding"]  # the head: vocab × hidden, tied or not
    return float(6 * matmul + 12 * layers * hidden * seq_len)


def build_model(config: ModelConfig | str, **overrides: FieldValue) -> Tritter:
    """A freshly initialised fp32 model from a config or preset name plus field overrides."""
    return Tritter(resolve_config(config, **overrides))
