"""The Tritter model: a BitNet b1.58 decoder matching Hugging Face's `BitNetForCausalLM`.

from tritter.model import Tritter, ModelConfig, PRESETS, build_model
model = build_model("tiny", vocab_size=tokenizer.vocab_size)
logits = model(input_ids)                       # [B, T, vocab], float
model = Tritter.from_hf("bitnet-b1.58-2B-4T-bf16")
"""

from tritter.model.attention import KVCache
from tritter.model.bitlinear import BitLinear, act_quant_reference, weight_quant_reference
from tritter.model.config import PRESETS, ModelConfig, resolve_config
from tritter.model.layers import RMSNorm
from tritter.model.transformer import Tritter, build_model, count_parameters, flops_per_token

__all__ = [
    "PRESETS",
    "BitLinear",
    "KVCache",
    "ModelConfig",
    "RMSNorm",
    "Tritter",
    "act_quant_reference",
    "build_model",
    "count_parameters",
    "flops_per_token",
    "resolve_config",
    "weight_quant_reference",
]
