"""The process group of a training run and the few collectives the trainer needs.

Every run has a process group, even a single in-process rank (a one-member gloo group on a
local store), so DDP/FSDP, checkpoint saves and metric reductions follow one code path. On GPU
the group is `cuda:nccl,cpu:gloo`: tensors reduce over NCCL, CPU objects over gloo. Checkpoint
commits run in a background thread and synchronise over their own gloo group so they never
interleave with the training collectives; background DCP writes (async_save) have a third.
"""

from __future__ import annotations

import datetime
import os
from dataclasses import dataclass, field
from typing import Any

import torch
import torch.distributed as dist

from tritter.errors import TritterError


@dataclass
class DistContext:
    rank: int
    world_size: int
    local_rank: int
    local_world_size: int
    node_rank: int
    device: torch.device
    side_group: Any = field(default=None, repr=False)  # gloo group for background commits
    save_group: Any = field(default=None, repr=False)  # gloo group for background DCP writes

    @property
    def is_main(self) -> bool:
        return self.rank == 0

    @property
    def is_node_main(self) -> bool:
        return self.local_rank == 0

    @classmethod
    def init(cls, device_choice: str = "auto", timeout_s: float = 1800) -> DistContext:
        env = os.environ
        launched = "RANK" in env and "WORLD_SIZE" in env and "LOCAL_RANK" in env
        rank = int(env["RANK"]) if launched else 0
        world = int(env["WORLD_SIZE"]) if launched else 1
        local_rank = int(env["LOCAL_RANK"]) if launched else 0
        local_world = int(env.get("LOCAL_WORLD_SIZE", "1")) if launched else 1
        node_rank = int(env.get("GROUP_RANK", "0")) if launched else 0
        use_cuda = device_choice == "cuda" or (
            device_choice == "auto" and torch.cuda.is_available()
        )
        if use_cuda:
            if not torch.cuda.is_available():
                raise TritterError("--device cuda: CUDA is not available on this machine")
            if local_world > torch.cuda.device_count():
                raise TritterError(
                    f"{local_world} ranks per node but {torch.cuda.device_count()} GPU(s): "
                    "NCCL needs one GPU per rank (lower --nproc or use --device cpu)"
                )
            torch.cuda.set_device(local_rank)
            device = torch.device("cuda", torch.cuda.current_device())
            backend = "cuda:nccl,cpu:gloo"
        else:
            device = torch.device("cpu")
            backend = "gloo"
        timeout = datetime.timedelta(seconds=timeout_s)
        if not dist.is_initialized():
            if launched:
                dist.init_process_group(backend, timeout=timeout, device_id=device
                                        if use_cuda else None)  # fmt: skip
            else:  # one in-process rank: a private in-memory store, no ports
                dist.init_process_group(
                    backend, store=dist.HashStore(), rank=0, world_size=1, timeout=timeout
                )
        side = dist.new_group(backend="gloo", timeout=timeout)
        save = dist.new_group(backend="gloo", timeout=timeout)
        return cls(rank, world, local_rank, local_world, node_rank, device, side, save)

    def close(self) -> None:
        if dist.is_initialized():
            dist.destroy_process_group()

    # -- collectives ---------------------------------------------------------------------------

    def all_reduce(self, values: list[float], op: str = "sum") -> list[float]:
        """Reduce a few float64 numbers across ranks (on the training device's backend)."""
        tensor = torch.tensor(values, dtype=torch.float64, device=self.device)
        if self.world_size > 1:
            reduce_op = {"sum": dist.ReduceOp.SUM, "max": dist.ReduceOp.MAX,
                         "min": dist.ReduceOp.MIN}[op]  # fmt: skip
            dist.all_reduce(tensor, op=reduce_op)
        return tensor.tolist()

    def barrier(self) -> None:
        if self.world_size > 1:
            dist.barrier()

    def all_gather_object(self, value: Any) -> list[Any]:
        if self.world_size == 1:
            return [value]
        out: list[Any] = [None] * self.world_size
        dist.all_gather_object(out, value)
        return out

    def broadcast_object(self, value: Any) -> Any:
        if self.world_size == 1:
            return value
        box = [value]
        dist.broadcast_object_list(box, src=0)
        return box[0]
