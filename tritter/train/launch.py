"""Where this process sits in a training job, and how to start the ranks of one node.

One entrypoint serves four situations:

* a torchrun worker (torchrun set `LOCAL_RANK`, `RANK`, `WORLD_SIZE`, `TORCHELASTIC_RUN_ID`):
  train as that rank;
* a Kubeflow PyTorchJob pod (training operator v1): the operator sets `PET_NNODES`,
  `PET_NPROC_PER_NODE`, `PET_NODE_RANK`, `PET_MASTER_ADDR`, `PET_MASTER_PORT` when
  `nprocPerNode` is given, and always `MASTER_ADDR`, `MASTER_PORT`, `WORLD_SIZE` (all processes)
  and `RANK` (this pod's index = node rank);
* a Kubeflow Trainer v2 `TrainJob` on the `torch-distributed` runtime: the same `PET_*`
  variables (node rank from `PET_NODE_RANK`, or the Job's `JOB_COMPLETION_INDEX`);
* a laptop or workstation: `--nproc N` local ranks on loopback.

In every case except the first, the node's ranks are started by `torch.distributed.run`
(torchrun) with a static rendezvous on the master address; a one-process job runs in-process.
"""

from __future__ import annotations

import os
import socket
import sys
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Literal

from tritter.errors import TritterError

DEFAULT_MASTER_PORT = 29500


@dataclass(frozen=True)
class LaunchPlan:
    """How to run this node: as a worker already, in-process, or through torchrun."""

    mode: Literal["worker", "single", "torchrun"]
    source: str  # local, pytorchjob, torch-distributed runtime, torchrun
    nnodes: int = 1
    nproc_per_node: int = 1
    node_rank: int = 0
    master_addr: str = "127.0.0.1"
    master_port: int = DEFAULT_MASTER_PORT

    @property
    def world_size(self) -> int:
        return self.nnodes * self.nproc_per_node


def _int(env: Mapping[str, str], name: str, text: str | None = None) -> int:
    value = env.get(name, "") if text is None else text
    try:
        return int(value)
    except ValueError as err:
        raise TritterError(f"environment variable {name}={value!r} is not an integer") from err


def _gpu_count() -> int:
    try:
        import torch

        return torch.cuda.device_count() if torch.cuda.is_available() else 0
    except ImportError:  # pragma: no cover - torch is a dependency
        return 0


def _nproc_from_env(env: Mapping[str, str], name: str) -> int:
    """`PET_NPROC_PER_NODE` may be a number or torchrun's `auto`/`gpu`/`cpu`."""
    value = env[name].strip().lower()
    if value in ("auto", "gpu"):
        return max(_gpu_count(), 1)
    if value == "cpu":
        return 1  # one CPU rank per pod: torch intra-op threads use the pod's cores
    return _int(env, name)


def _nnodes_from_env(env: Mapping[str, str], name: str) -> int:
    """`PET_NNODES` is a count or an elastic `min:max` range; a static job uses the maximum."""
    value = env[name].strip()
    return _int(env, name, value.rsplit(":", 1)[-1])


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def detect(env: Mapping[str, str] | None = None, nproc: int | None = None) -> LaunchPlan:
    """Read the launcher/operator environment; `nproc` is the `--nproc` flag (None: not given)."""
    env = os.environ if env is None else env
    if "LOCAL_RANK" in env and "RANK" in env and "WORLD_SIZE" in env:
        local_world = _int(env, "LOCAL_WORLD_SIZE") if "LOCAL_WORLD_SIZE" in env else 1
        return LaunchPlan(
            mode="worker",
            source="torchrun",
            nnodes=max(1, _int(env, "WORLD_SIZE") // max(local_world, 1)),
            nproc_per_node=local_world,
            node_rank=_int(env, "GROUP_RANK") if "GROUP_RANK" in env else 0,
            master_addr=env.get("MASTER_ADDR", "127.0.0.1"),
            master_port=_int(env, "MASTER_PORT") if "MASTER_PORT" in env else DEFAULT_MASTER_PORT,
        )
    if "PET_NNODES" in env:
        nnodes = _nnodes_from_env(env, "PET_NNODES")
        per_node = nproc or (
            _nproc_from_env(env, "PET_NPROC_PER_NODE") if "PET_NPROC_PER_NODE" in env else 1
        )
        rank_var = next(
            (v for v in ("PET_NODE_RANK", "RANK", "JOB_COMPLETION_INDEX") if v in env), None
        )
        if rank_var is None and nnodes > 1:
            raise TritterError(
                "PET_NNODES > 1 but no node rank in PET_NODE_RANK, RANK or JOB_COMPLETION_INDEX"
            )
        addr = env.get("PET_MASTER_ADDR") or env.get("MASTER_ADDR")
        if not addr and nnodes > 1:
            raise TritterError("PET_NNODES > 1 but neither PET_MASTER_ADDR nor MASTER_ADDR is set")
        port_var = "PET_MASTER_PORT" if "PET_MASTER_PORT" in env else "MASTER_PORT"
        plan = LaunchPlan(
            mode="torchrun",
            source="pytorchjob" if "MASTER_ADDR" in env else "torch-distributed runtime",
            nnodes=nnodes,
            nproc_per_node=per_node,
            node_rank=_int(env, rank_var) if rank_var else 0,
            master_addr=addr or "127.0.0.1",
            master_port=_int(env, port_var) if port_var in env else DEFAULT_MASTER_PORT,
        )
    elif "MASTER_ADDR" in env and "WORLD_SIZE" in env and "RANK" in env:
        # PyTorchJob without nprocPerNode: one process per pod, RANK is the pod's index.
        per_node = nproc or 1
        world = _int(env, "WORLD_SIZE")
        plan = LaunchPlan(
            mode="torchrun",
            source="pytorchjob",
            nnodes=max(1, world // per_node),
            nproc_per_node=per_node,
            node_rank=_int(env, "RANK"),
            master_addr=env["MASTER_ADDR"],
            master_port=_int(env, "MASTER_PORT") if "MASTER_PORT" in env else DEFAULT_MASTER_PORT,
        )
    else:
        per_node = nproc or 1
        plan = LaunchPlan(mode="torchrun", source="local", nproc_per_node=per_node, master_port=0)
    if not 0 <= plan.node_rank < plan.nnodes:
        raise TritterError(f"node rank {plan.node_rank} is outside 0..{plan.nnodes - 1}")
    if plan.world_size == 1:
        return LaunchPlan(mode="single", source=plan.source)
    return plan


def check_devices(plan: LaunchPlan, device: str) -> None:
    """One GPU per rank: more local ranks than GPUs would put two NCCL ranks on one GPU."""
    gpus = _gpu_count()
    wants_gpu = device == "cuda" or (device == "auto" and gpus > 0)
    if device == "cuda" and gpus == 0:
        raise TritterError("--device cuda: CUDA is not available on this machine")
    if wants_gpu and plan.nproc_per_node > gpus:
        raise TritterError(
            f"--nproc {plan.nproc_per_node}: this node has {gpus} GPU(s) and NCCL needs one per "
            "rank (lower --nproc or use --device cpu)"
        )


def torchrun_command(plan: LaunchPlan, argv: Sequence[str]) -> list[str]:
    """The torchrun command line that starts this node's ranks running `tritter <argv>`."""
    port = plan.master_port or free_port()
    return [
        sys.executable,
        "-m",
        "torch.distributed.run",
        f"--nnodes={plan.nnodes}",
        f"--nproc-per-node={plan.nproc_per_node}",
        f"--node-rank={plan.node_rank}",
        f"--master-addr={plan.master_addr}",
        f"--master-port={port}",
        "--rdzv-backend=static",
        "--max-restarts=0",  # a failed rank ends the job; the relaunch resumes from a checkpoint
        "--monitor-interval=1",
        "-m",
        "tritter.cli",
        *argv,
    ]


def worker_env(env: Mapping[str, str], plan: LaunchPlan) -> dict[str, str]:
    """The environment for torchrun. The operator's PET_* variables are dropped (the flags say
    the same, and a nested launch must not pick them up); unless set, each rank gets an equal
    share of the node's cores for intra-op threads (torchrun's default is 1)."""
    out = {k: v for k, v in env.items() if not k.startswith("PET_")}
    if "OMP_NUM_THREADS" not in out:
        cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
        out["OMP_NUM_THREADS"] = str(max(1, (cores or 1) // plan.nproc_per_node))
    return out
