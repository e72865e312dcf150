"""Grouped-query attention with SubLN, the attention mask and the KV cache.

Attention runs through `F.scaled_dot_product_attention` (flash / memory-efficient kernels on GPU).
Without a cache, padding or document ids it uses `is_causal=True` — the fastest path, and the one
pretraining on plain packed windows takes. Otherwise one boolean mask [B, 1, T, K] is built per
forward (not per layer) from: causality by slot order, key validity (padding), and same-document
membership. A query may always see its own slot, so rows of padding never become all-masked
(which would make SDPA return NaN); their outputs are ignored anyway.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from tritter.errors import TritterError
from tritter.model.bitlinear import BitLinear, norm_then_linears
from tritter.model.config import ModelConfig
from tritter.model.layers import RMSNorm, apply_rope


class KVCache:
    """Keys/values of every layer for `batch` rows and up to `max_len` slots, filled in place.

    Besides keys and values it remembers, per slot, whether the token was real (padding mask) and
    its document id, so later decode steps keep masking left-padding and other documents. The
    model's forward writes the new slots and advances `length` after the last layer.
    """

    def __init__(
        self,
        config: ModelConfig,
        batch: int,
        max_len: int,
        device: torch.device | str | None = None,
        dtype: torch.dtype | None = None,
    ) -> None:
        shape = (
            config.num_hidden_layers,
            batch,
            config.num_key_value_heads,
            max_len,
            config.head_dim,
        )
        self.keys = torch.zeros(shape, device=device, dtype=dtype)
        self.values = torch.zeros(shape, device=device, dtype=dtype)
        self.valid = torch.zeros(batch, max_len, dtype=torch.bool, device=device)
        self.documents = torch.zeros(batch, max_len, dtype=torch.long, device=device)
        self.batch = batch
        self.max_len = max_len
        self.length = 0

    def reserve(self, new_tokens: int) -> None:
        if self.length + new_tokens > self.max_len:
            raise TritterError(
                f"KV cache full: {self.length} + {new_tokens} tokens exceed max_len {self.max_len}"
            )

    def update(
        self, layer: int, keys: torch.Tensor, values: torch.Tensor
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """Store this step's keys/values [B, kv_heads, T, D]; return all slots so far."""
        end = self.length + keys.shape[2]
        self.keys[layer, :, :, self.length : end] = keys
        self.values[layer, :, :, self.length : end] = values
        return self.keys[layer, :, :, :end], self.values[layer, :, :, :end]


def attention_mask(
    query_len: int,
    start: int,
    key_valid: torch.Tensor | None,
    query_documents: torch.Tensor | None,
    key_documents: torch.Tensor | None,
    device: torch.device,
) -> torch.Tensor:
    """Boolean mask [B or 1, 1, T, K] (True = may attend) for queries at slots start..start+T-1.

    key_valid [B, K] marks real tokens; documents [B, T] / [B, K] restrict attention to the
    same document. K = start + T.
    """
    key_len = start + query_len
    query_slots = torch.arange(start, key_len, device=device)[:, None]
    key_slots = torch.arange(key_len, device=device)[None, :]
    mask = (key_slots <= query_slots)[None]  # [1, T, K]
    if key_valid is not None:
        mask = mask & key_valid[:, None, :]
    if query_documents is not None and key_documents is not None:
        mask = mask & (query_documents[:, :, None] == key_documents[:, None, :])
    mask = mask | (key_slots == query_slots)[None]
    return mask[:, None]


class Attention(nn.Module):
    """q/k/v projections, RoPE, SDPA (GQA), then attn_sub_norm before o_proj (BitNet's SubLN)."""

    def __init__(self, config: ModelConfig, layer_index: int) -> None:
        super().__init__()
        quantize = config.quantization == "ternary"
        hidden, head_dim = config.hidden_size, config.head_dim
        self.layer_index = layer_index
        self.heads = config.num_attention_heads
        self.kv_heads = config.num_key_value_heads
        self.head_dim = head_dim
        self.q_proj = BitLinear(hidden, self.heads * head_dim, quantize=quantize)
        self.k_proj = BitLinear(hidden, self.kv_heads * head_dim, quantize=quantize)
        self.v_proj = BitLinear(hidden, self.kv_heads * head_dim, quantize=quantize)
        self.attn_sub_norm = RMSNorm(hidden, config.rms_norm_eps)
        self.o_proj = BitLinear(self.heads * head_dim, hidden, quantize=quantize)

    def forward(
        self,
        x: torch.Tensor,
        norm: RMSNorm,
        cos: torch.Tensor,
        sin: torch.Tensor,
        mask: torch.Tensor | None,
        cache: KVCache | None = None,
    ) -> torch.Tensor:
        """Attention over norm(x). The block's input norm is passed in so that the norm and the
        activation quantization can run fused, once for q, k and v (on the Triton path)."""
        batch, length, _ = x.shape
        q, k, v = norm_then_linears(norm, x, (self.q_proj, self.k_proj, self.v_proj))
        q = q.view(batch, length, self.heads, self.head_dim).transpose(1, 2)
        k = k.view(batch, length, self.kv_heads, self.head_dim).transpose(1, 2)
        v = v.view(batch, length, self.kv_heads, self.head_dim).transpose(1, 2)
        q, k = apply_rope(q, cos, sin), apply_rope(k, cos, sin)
        if cache is not None:
            k, v = cache.update(self.layer_index, k, v)
        out = F.scaled_dot_product_attention(
            q,
            k,
            v,
            attn_mask=mask,
            is_causal=mask is None and length > 1,
            enable_gqa=self.heads != self.kv_heads,
        )
        out = out.transpose(1, 2).reshape(batch, length, self.heads * self.head_dim)
        return norm_then_linears(self.attn_sub_norm, out, (self.o_proj,))[0]
