"""What a training run costs: wall time, GPU-hours, money and memory per GPU for a model shape on a
cluster shape (`tritter model info PRESET --tokens N --gpus G --nodes K --gpu KIND`).

Time is `tokens × training FLOPs per token / (GPUs × peak bf16 FLOP/s × MFU)`. The FLOPs per
token are the model's (6N plus attention at the sequence length, `tritter.model.info`); the peak
is the GPU's dense bf16 tensor throughput from its datasheet; MFU (model FLOPs utilisation) is an
assumption the caller can change — 0.40 by default, in the range published for well-tuned dense
bf16 pretraining at this scale (BitLinear runs its matmuls in bf16 on the same tensor cores, with
quantisation as extra elementwise work, so ternary training does not reach a higher MFU).

Memory per GPU counts the training state (fp32 master weights, fp32 gradients and the two AdamW
moments: 16 bytes per parameter) — whole on every GPU under DDP, sharded over all GPUs under
FSDP2, which also holds one layer's gathered bf16 weights at a time — plus activations of one
micro batch and the logits (bf16 plus the fp32 copy the loss takes, large for a 128K
vocabulary). Activations per layer are `34·s·b·h` bytes in bf16 (Korthikanti et al. 2022 without
the `5·a·s²·b` attention scores, which SDPA's flash kernels never store); with activation
checkpointing on every layer only each layer's input (`2·s·b·h`) stays, plus one layer's
activations while it is recomputed (which costs about a third more compute, not counted here).
It is an estimate to size a cluster, not a promise: allocator fragmentation, NCCL buffers and
the CUDA context add a few GiB.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from tritter.errors import TritterError
from tritter.model.config import ModelConfig
from tritter.model.info import TRAINING_BYTES_PER_PARAMETER, model_info


@dataclass(frozen=True)
class Gpu:
    name: str
    bf16_flops: float  # dense (no sparsity) bf16 tensor-core peak, FLOP/s
    memory_bytes: float


# Datasheet figures (SXM parts; dense bf16, not the 2:4-sparsity numbers).
GPUS = {
    "a100": Gpu("NVIDIA A100 80GB SXM", 312e12, 80e9),
    "h100": Gpu("NVIDIA H100 SXM", 989e12, 80e9),
    "h200": Gpu("NVIDIA H200 SXM", 989e12, 141e9),
    "b200": Gpu("NVIDIA B200", 2250e12, 180e9),
}
DEFAULT_MFU = 0.40


def plan(
    config: ModelConfig,
    *,
    tokens: float,
    gpus_per_node: int,
    nodes: int = 1,
    gpu: str = "h100",
    mfu: float = DEFAULT_MFU,
    seq_len: int | None = None,
    micro_batch_size: int = 1,
    activation_checkpointing: bool = False,
    price_per_gpu_hour: float | None = None,
) -> dict[str, Any]:
    """Time, GPU-hours, cost and memory per GPU of training `config` on `tokens` tokens."""
    if gpu not in GPUS:
        raise TritterError(f"--gpu: unknown GPU '{gpu}' (known: {', '.join(GPUS)})")
    if not 0 < mfu <= 1:
        raise TritterError(f"--mfu: must be in (0, 1], got {mfu}")
    for flag, value in (("--tokens", tokens), ("--gpus", gpus_per_node), ("--nodes", nodes),
                        ("--micro-batch-size", micro_batch_size)):  # fmt: skip
        if value <= 0:
            raise TritterError(f"{flag}: must be positive, got {value:g}")
    if price_per_gpu_hour is not None and price_per_gpu_hour < 0:
        raise TritterError(f"--price-per-gpu-hour: must be >= 0, got {price_per_gpu_hour:g}")
    info = model_info(config, seq_len)
    spec, world = GPUS[gpu], gpus_per_node * nodes
    flops = tokens * info["flops_per_token"]["training"]
    seconds = flops / (world * spec.bf16_flops * mfu)
    gpu_hours = seconds / 3600 * world
    memory = _memory(config, info, world, micro_batch_size, activation_checkpointing)
    return {
        "gpu": gpu,
        "gpu_name": spec.name,
        "gpus": world,
        "nodes": nodes,
        "tokens": tokens,
        "mfu": mfu,
        "seq_len": info["seq_len"],
        "micro_batch_size": micro_batch_size,
        "activation_checkpointing": activation_checkpointing,
        "training_flops": flops,
        "tokens_per_second": tokens / seconds,
        "wall_seconds": seconds,
        "gpu_hours": gpu_hours,
        "cost": None if price_per_gpu_hour is None else gpu_hours * price_per_gpu_hour,
        "price_per_gpu_hour": price_per_gpu_hour,
        "memory_per_gpu_bytes": memory,
        "gpu_memory_bytes": spec.memory_bytes,
        "fits": {name: total <= spec.memory_bytes for name, total in memory.items()},
    }


def _memory(
    config: ModelConfig, info: dict[str, Any], world: int, micro_batch: int, checkpointing: bool
) -> dict[str, float]:
    total = info["parameters"]["total"]
    s, b, h = info["seq_len"], micro_batch, config.hidden_size
    layers = config.num_hidden_layers
    layer = 34 * s * b * h
    activations = layers * 2 * s * b * h + layer if checkpointing else layers * layer
    logits = s * b * config.vocab_size * (2 + 4)
    state = TRAINING_BYTES_PER_PARAMETER * total
    per_layer_bf16 = 2 * (total - info["parameters"]["embedding"]) / max(layers, 1)
    return {
        "ddp": state + activations + logits,
        "fsdp2": state / world + per_layer_bf16 + activations + logits,
    }


def format_plan(name: str, found: dict[str, Any]) -> str:
    """Human-readable lines for `tritter model info ... --tokens N`."""
    hours = found["wall_seconds"] / 3600
    cost = (
        f"${found['cost']:,.0f} at ${found['price_per_gpu_hour']:g}/GPU-hour"
        if found["cost"] is not None
        else "(give --price-per-gpu-hour for the bill)"
    )
    memory = found["memory_per_gpu_bytes"]
    capacity = found["gpu_memory_bytes"] / 1e9
    lines = [
        f"training plan for {name}: {found['tokens']:.3g} tokens on {found['nodes']} node(s) × "
        f"{found['gpus'] // found['nodes']} {found['gpu_name']} ({found['gpus']} GPUs)",
        f"  assumed MFU    {found['mfu']:.0%} (--mfu) of {found['gpu']} dense bf16 peak",
        f"  compute        {found['training_flops']:.3g} FLOPs, "
        f"{found['tokens_per_second']:,.0f} tokens/s",
        f"  wall time      {hours:,.1f} h ({hours / 24:,.2f} days)",
        f"  GPU-hours      {found['gpu_hours']:,.0f}",
        f"  cost           {cost}",
        f"  memory/GPU     (seq_len {found['seq_len']}, micro batch {found['micro_batch_size']}, "
        f"activation checkpointing {'on' if found['activation_checkpointing'] else 'off'}; "
        f"{capacity:.0f} GB per GPU)",
    ]
    for mode, label in (("ddp", "DDP"), ("fsdp2", "FSDP2")):
        verdict = "fits" if found["fits"][mode] else "does NOT fit"
        lines.append(f"    {label:<12} {memory[mode] / 1e9:,.1f} GB — {verdict}")
    return "\n".join(lines)
