"""Turn a plain `Tritter` into the module one rank trains: `parallelize(model, config, ctx)`.

The model itself knows nothing about distribution (tritter/model/transformer.py); like
torchtitan's `parallelize_llama`, this module applies, always in this order:

1. Activation checkpointing (`--activation-checkpointing`). It is a flag on each block that
   `Block.forward` reads, so it is set before anything traces the block: the compiled graph then
   contains the `torch.utils.checkpoint` region and compile plans the recomputation inside it.
   Flipping the flag after compiling would only force a recompile (dynamo guards on it).
2. `torch.compile` (`--compile`), per decoder block and in place (`Module.compile()`). The blocks
   share one code path, so one compilation serves them all and compile time does not grow with
   depth; compiling in place keeps the parameter names (no `_orig_mod.` prefix), so checkpoints
   and the Hugging Face export do not depend on the flag. It comes before sharding so every
   FSDP unit below is exactly one compiled block: FSDP2's per-block pre/post-forward hooks (its
   all-gather and reshard, marked dynamo-disabled) run eagerly at the compiled graph's boundary
   instead of cutting a larger graph into pieces.
3. Data parallelism. FSDP2 (`--sharding fsdp`): `fully_shard` on each decoder block, then on the
   root (embedding, final norm, head). One unit per block is what overlaps communication with
   compute: while block i runs, the all-gather of block i+1's parameters is in flight, and in
   the backward pass block i's gradient reduce-scatter overlaps block i-1's compute; a single
   root unit would gather the whole model at once. With bf16 compute the parameters are
   gathered in bf16 and gradients reduced in fp32 (`MixedPrecisionPolicy`). DDP (`--sharding
   ddp`) replicates the model and all-reduces the gradients; a single rank needs neither.

FSDP models start on the meta device (`init_model`): shapes only, no storage. `fully_shard`
turns the meta parameters into DTensor shards, and only then does `to_empty` allocate memory —
each rank its own shards — so no rank ever holds the whole fp32 model. That memory is
uninitialised and the meta build initialised nothing, so `init_weights` runs after sharding, on
the shards. It runs after re-seeding with the run's seed so the weights depend on the seed
alone, not on whatever consumed random numbers in between, and so every rank enters the random
ops with the same generator state, which DTensor's random ops rely on to give each shard its own
part of one stream (on CUDA its offset-based RNG tracker keeps the shards distinct).

`parallelize` returns the module to call for the forward and backward pass (a DDP wrapper, or
the model itself); the model object passed in stays usable for parameters, optimizer and export.
"""

from __future__ import annotations

import contextlib

import torch
from torch import nn

from tritter.errors import TritterError
from tritter.model import ModelConfig, Tritter, build_model
from tritter.train.config import TrainConfig
from tritter.train.distributed import DistContext


def bf16_compute(config: TrainConfig, device: torch.device) -> bool:
    """Whether the forward computes in bf16 (`--precision bf16`, or `auto` on CUDA)."""
    precision = config.precision
    if precision == "auto":
        precision = "bf16" if device.type == "cuda" else "fp32"
    return precision == "bf16"


def init_model(model_config: ModelConfig, config: TrainConfig, ctx: DistContext) -> Tritter:
    """The seeded model, identical on every rank: on the meta device when FSDP will shard it
    (`parallelize` materialises it), else initialised on the CPU and moved to the device (CPU
    initialisation makes the starting weights the same on every device type)."""
    torch.manual_seed(config.seed)
    if config.sharding == "fsdp":
        with torch.device("meta"):
            return build_model(model_config)
    return build_model(model_config).to(ctx.device)


def apply_activation_checkpointing(model: Tritter, every: int = 1) -> Tritter:
    """Recompute every `every`-th block in the backward pass (1 = all blocks).

    Implemented as a flag on each block, so parameter names (and therefore checkpoints and HF
    export) stay unchanged — unlike wrapping modules with `checkpoint_wrapper`.
    """
    if every < 1:
        raise TritterError(f"activation checkpointing 'every' must be >= 1, got {every}")
    for index, block in enumerate(model.layers):
        block.checkpointing = index % every == 0
    return model


def apply_compile(model: Tritter) -> Tritter:
    """Compile each decoder block in place (compilation itself happens at the first forward)."""
    for block in model.layers:
        block.compile()
    return model


def apply_fsdp(model: Tritter, config: TrainConfig, ctx: DistContext) -> Tritter:
    """FSDP2 over all ranks: each decoder block, then the root, fully sharded."""
    from torch.distributed.device_mesh import init_device_mesh
    from torch.distributed.fsdp import MixedPrecisionPolicy, fully_shard

    mesh = init_device_mesh(ctx.device.type, (ctx.world_size,))
    policy = (
        MixedPrecisionPolicy(param_dtype=torch.bfloat16, reduce_dtype=torch.float32)
        if bf16_compute(config, ctx.device)
        else MixedPrecisionPolicy()  # fully_shard's default: parameters stay in their dtype
    )
    for block in model.layers:
        fully_shard(block, mesh=mesh, mp_policy=policy)
    fully_shard(model, mesh=mesh, mp_policy=policy)
    return model


def apply_ddp(model: Tritter, ctx: DistContext) -> nn.Module:
    """DDP over all ranks; the model itself on a single rank (nothing to synchronise)."""
    if ctx.world_size == 1:
        return model
    from torch.nn.parallel import DistributedDataParallel

    return DistributedDataParallel(
        model, device_ids=[ctx.device.index] if ctx.device.type == "cuda" else None
    )


def parallelize(model: Tritter, config: TrainConfig, ctx: DistContext) -> nn.Module:
    """Activation checkpointing → compile → FSDP2 or DDP, per `config` (see the module
    docstring for why in this order). A meta-device model (`init_model` with FSDP) is
    materialised and initialised from `config.seed` after sharding. Returns the module to run
    forward/backward through; `model` keeps its parameters (sharded in place under FSDP)."""
    if config.activation_checkpointing:
        apply_activation_checkpointing(model)
    if config.compile:
        apply_compile(model)
    if config.sharding != "fsdp":
        return apply_ddp(model, ctx)
    on_meta = any(p.is_meta for p in model.parameters())
    apply_fsdp(model, config, ctx)
    if on_meta:
        model.to_empty(device=ctx.device)
        torch.manual_seed(config.seed)
        model.init_weights()
    return model


def gradient_sync(model: nn.Module, enabled: bool) -> contextlib.AbstractContextManager[None]:
    """Skip the gradient reduction on all but the last micro batch of a step."""
    if hasattr(model, "set_requires_gradient_sync"):  # FSDP2
        model.set_requires_gradient_sync(enabled)
        return contextlib.nullcontext()
    if not enabled and hasattr(model, "no_sync"):  # DDP
        return model.no_sync()
    return contextlib.nullcontext()


def local_tensor(value: torch.Tensor) -> torch.Tensor:
    """This rank's shard of an FSDP2 (DTensor) parameter; a plain tensor as it is."""
    return value.to_local() if hasattr(value, "to_local") else value


def full_value(value: torch.Tensor) -> float:
    """A scalar that may be a DTensor (e.g. the gradient norm under FSDP2), reduced to a float."""
    return float(value.full_tensor() if hasattr(value, "full_tensor") else value)
