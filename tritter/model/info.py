"""Sizes of a model shape: parameters, FLOPs per token and memory, without building the model."""

from __future__ import annotations

from typing import Any

from tritter.model.config import ModelConfig
from tritter.model.transformer import count_parameters, flops_per_token

# Bytes per parameter of mixed-precision AdamW training: fp32 master weight, fp32 gradient and
# the two fp32 Adam moments (the ZeRO paper's 16 B/param; bf16 compute copies are transient).
TRAINING_BYTES_PER_PARAMETER = 16


def model_info(config: ModelConfig, seq_len: int | None = None) -> dict[str, Any]:
    """Parameter counts, training FLOPs per token at `seq_len` and memory estimates in bytes."""
    seq_len = seq_len or config.max_position_embeddings
    counts = count_parameters(config)
    total, ternary = counts["total"], counts["ternary"]
    projections = 7 * config.num_hidden_layers if ternary else 0
    training_flops = flops_per_token(config, seq_len)
    return {
        "config": config.model_dump(),
        "head_dim": config.head_dim,
        "parameters": {
            **counts,
            "non_embedding": total - counts["embedding"] - counts["head"],
            "other": total - ternary - counts["embedding"] - counts["head"],
        },
        "seq_len": seq_len,
        "flops_per_token": {"training": training_flops, "forward": training_flops / 3},
        "memory_bytes": {
            "weights_fp32": 4 * total,
            "weights_bf16": 2 * total,
            # 2 bits per ternary weight + one fp32 scale per projection; the rest stays bf16.
            "weights_packed_ternary": ternary // 4 + 4 * projections + 2 * (total - ternary),
            "training_state": TRAINING_BYTES_PER_PARAMETER * total,
        },
    }


def _count(value: float) -> str:
    for unit, size in (("B", 1e9), ("M", 1e6), ("K", 1e3)):
        if value >= size:
            return f"{value / size:.2f}{unit}"
    return str(int(value))


def _bytes(value: float) -> str:
    for unit, size in (("GiB", 2**30), ("MiB", 2**20), ("KiB", 2**10)):
        if value >= size:
            return f"{value / size:.2f} {unit}"
    return f"{int(value)} B"


def format_info(name: str, info: dict[str, Any]) -> str:
    """Human-readable lines for `tritter model info`."""
    c, p = info["config"], info["parameters"]
    memory, flops = info["memory_bytes"], info["flops_per_token"]
    kv = c["num_key_value_heads"]
    other = "norms" if p["ternary"] else "norms and dense projections"
    lines = [
        f"model {name}",
        f"  shape          {c['num_hidden_layers']} layers × {c['hidden_size']} hidden, "
        f"{c['num_attention_heads']} heads / {kv} KV heads (head dim {info['head_dim']}), "
        f"FFN {c['intermediate_size']}, vocab {c['vocab_size']}, "
        f"context {c['max_position_embeddings']}",
        f"  head           {'tied to the embedding' if c['tie_word_embeddings'] else 'untied'}; "
        f"quantization {c['quantization']}; RoPE θ {c['rope_theta']:g}",
        f"  parameters     {p['total']:,} total ({_count(p['total'])})",
        f"    ternary      {p['ternary']:,}",
        f"    embedding    {p['embedding']:,}",
        f"    output head  {p['head']:,}",
        f"    other        {p['other']:,} ({other})",
        f"  FLOPs/token    {flops['training']:.4g} training (6N + attention at seq_len "
        f"{info['seq_len']}), {flops['forward']:.4g} forward",
        "  memory",
        f"    weights fp32 {_bytes(memory['weights_fp32'])}",
        f"    weights bf16 {_bytes(memory['weights_bf16'])}",
        f"    packed       {_bytes(memory['weights_packed_ternary'])} "
        "(2-bit ternary + bf16 embedding/norms)",
        f"    training     {_bytes(memory['training_state'])} "
        f"(fp32 weights + grads + AdamW moments, {TRAINING_BYTES_PER_PARAMETER} B/param, "
        "before activations)",
    ]
    return "\n".join(lines)


def format_table(infos: dict[str, dict[str, Any]]) -> str:
    """One line per preset: shape, parameter counts, FLOPs/token, training memory."""
    header = (
        f"{'preset':<10}{'layers':>7}{'hidden':>7}{'heads':>9}{'ffn':>7}{'vocab':>8}{'ctx':>6}"
        f"{'params':>16}{'ternary':>16}{'GFLOP/tok':>11}{'train GiB':>10}"
    )
    lines = [header]
    for name, info in infos.items():
        c, p = info["config"], info["parameters"]
        heads = f"{c['num_attention_heads']}/{c['num_key_value_heads']}"
        lines.append(
            f"{name:<10}{c['num_hidden_layers']:>7}{c['hidden_size']:>7}{heads:>9}"
            f"{c['intermediate_size']:>7}{c['vocab_size']:>8}{c['max_position_embeddings']:>6}"
            f"{p['total']:>16,}{p['ternary']:>16,}"
            f"{info['flops_per_token']['training'] / 1e9:>11.2f}"
            f"{info['memory_bytes']['training_state'] / 2**30:>10.1f}"
        )
    return "\n".join(lines)
