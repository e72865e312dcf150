"""Packed ternary weights: 2 bits per weight plus one fp32 scale per projection.

Layout is Hugging Face's offline BitNet format (`BitLinear`, `quantization_mode: offline`), so a
packed export is also what `transformers` and bitnet.cpp converters read: codes q+1 ∈ {0, 1, 2};
a weight [out, in] becomes uint8 [ceil(out/4), in] where bits 2i..2i+1 of packed row r hold
original row i·ceil(out/4) + r. `weight_scale` is the multiplier s = 1/mean(|W|), so the
dequantized weight is q / s — computed exactly as the online quantizer computes it, which makes
unpack(pack(W)) bit-identical to `weight_quant_reference(W)`.
"""

from __future__ import annotations

import torch
from torch import nn

from tritter.errors import TritterError
from tritter.model.bitlinear import BitLinear

VALUES_PER_BYTE = 4


def ternarize(weight: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """(q int8 in {-1, 0, 1}, s fp32 scalar) with W ≈ q / s, as the online quantizer does it."""
    w = weight.float()
    scale = 1.0 / w.abs().mean().clamp(min=1e-5)
    return (w * scale).round().clamp(-1, 1).to(torch.int8), scale


def pack_ternary(weight: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Latent weight [out, in] → (packed uint8 [ceil(out/4), in], scale fp32 [1])."""
    if weight.dim() != 2:
        raise TritterError(f"pack_ternary needs a 2-D weight, got shape {tuple(weight.shape)}")
    q, scale = ternarize(weight)
    out_features = q.shape[0]
    rows = -(-out_features // VALUES_PER_BYTE)
    codes = torch.ones(rows * VALUES_PER_BYTE, q.shape[1], dtype=torch.uint8, device=q.device)
    codes[:out_features] = (q + 1).to(torch.uint8)
    packed = torch.zeros(rows, q.shape[1], dtype=torch.uint8, device=q.device)
    for i in range(VALUES_PER_BYTE):
        packed |= codes[i * rows : (i + 1) * rows] << (2 * i)
    return packed, scale.reshape(1)


def unpack_ternary(
    packed: torch.Tensor, scale: torch.Tensor, out_features: int, dtype: torch.dtype
) -> torch.Tensor:
    """(packed, scale) → dequantized weight [out_features, in] in `dtype`."""
    rows = packed.shape[0]
    if not (rows - 1) * VALUES_PER_BYTE < out_features <= rows * VALUES_PER_BYTE:
        raise TritterError(f"packed weight with {rows} rows cannot hold {out_features} outputs")
    codes = torch.cat([(packed >> (2 * i)) & 3 for i in range(VALUES_PER_BYTE)])[:out_features]
    q = codes.to(torch.float32) - 1
    return (q / scale.float().reshape(())).to(dtype)


def latent_from_packed(
    packed: torch.Tensor, scale: torch.Tensor, out_features: int
) -> torch.Tensor:
    """fp32 latent weights whose *online* quantization reproduces a packed projection.

    Online quantization of a latent W' yields q'/s' with s' = 1/mean|W'|. Taking
    W' = q / (s · mean|q|) gives mean|W'| = 1/s, hence s' = s, round(W'·s') = round(q / mean|q|)
    = q (|q / mean|q|| ≥ 1 for every nonzero code, and the clamp brings it back to ±1), so a model
    loaded from a packed checkpoint computes what the packed (offline) model computes, and it
    can be trained further.
    """
    rows = packed.shape[0]
    if not (rows - 1) * VALUES_PER_BYTE < out_features <= rows * VALUES_PER_BYTE:
        raise TritterError(f"packed weight with {rows} rows cannot hold {out_features} outputs")
    codes = torch.cat([(packed >> (2 * i)) & 3 for i in range(VALUES_PER_BYTE)])[:out_features]
    q = codes.to(torch.float32) - 1
    density = q.abs().mean()
    if density == 0:
        return q  # all zero: the online quantizer also gives zeros
    return q / (scale.float().reshape(()) * density)


def pack_model(model: nn.Module) -> dict[str, torch.Tensor]:
    """`{module}.weight` (uint8, packed) and `{module}.weight_scale` for every ternary BitLinear;
    other parameters (embedding, norms, head) as they are."""
    packed: dict[str, torch.Tensor] = {}
    ternary = {n for n, m in model.named_modules() if isinstance(m, BitLinear) and m.quantize}
    for name, tensor in model.state_dict().items():
        module = name.rsplit(".", 1)[0]
        if module in ternary and name.endswith(".weight"):
            packed[name], packed[f"{module}.weight_scale"] = pack_ternary(tensor)
        else:
            packed[name] = tensor
    return packed


def unpack_into(model: nn.Module, packed: dict[str, torch.Tensor]) -> nn.Module:
    """Load a `pack_model` dict: latent weights become the dequantized ternary weights."""
    state: dict[str, torch.Tensor] = {}
    ternary = {n: m for n, m in model.named_modules() if isinstance(m, BitLinear) and m.quantize}
    for name, tensor in model.state_dict().items():
        module = name.rsplit(".", 1)[0]
        if name not in packed:
            raise TritterError(f"packed weights: missing tensor '{name}'")
        if module in ternary and name.endswith(".weight"):
            scale_name = f"{module}.weight_scale"
            if scale_name not in packed:
                raise TritterError(f"packed weights: missing tensor '{scale_name}'")
            state[name] = unpack_ternary(
                packed[name], packed[scale_name], ternary[module].out_features, tensor.dtype
            )
        else:
            state[name] = packed[name]
    model.load_state_dict(state, strict=True)
    return model
