"""Where and how big the pipeline's pods are on a given cluster.

The compiled pipelines request what a GPU cluster needs (evaluation on one GPU, the tokenizer on
8 CPUs and 32 GiB, …). A cluster without GPUs, or with smaller nodes, would leave those steps
Pending forever, so the install chooses a sizing that `tritter pipeline upload --sizing FILE`
bakes into the uploaded pipeline:

* `profile`: `gpu` (the compiled requests) or `cpu` (no GPU anywhere, smaller requests);
* `steps`: per-step overrides by step name (`evaluate`, `tokenizer-train`, …);
* `node_selector`, `tolerations`: added to every step's pod and every training pod;
* `priority_class`, `train_cpu`, `train_memory`, `gang_scheduling`, `scheduling_queue`: the
  training jobs' (pipeline parameter defaults, because the training step builds its PyTorchJob
  at run time); `gpus_per_node` becomes 0 under the `cpu` profile.

Kubeflow Pipelines fixes a step's resources, node selector and tolerations when the pipeline is
compiled, which is why these are written into the package rather than passed per run.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import Field, field_validator

from tritter.config import Config, validate
from tritter.errors import TritterError

_CPU = re.compile(r"^(\d+(\.\d+)?)(m?)$")
_MEMORY = re.compile(r"^(\d+(\.\d+)?)(Ki|Mi|Gi|Ti|K|M|G|T)?$")
_UNITS = {None: 1, "K": 1e3, "M": 1e6, "G": 1e9, "T": 1e12,
          "Ki": 2**10, "Mi": 2**20, "Gi": 2**30, "Ti": 2**40}  # fmt: skip


def cpu_cores(value: str) -> float:
    """Kubernetes CPU quantity → cores ("500m" → 0.5)."""
    found = _CPU.match(value)
    if not found:
        raise ValueError(f"not a CPU quantity like 2 or 500m: {value!r}")
    return float(found.group(1)) / (1000 if found.group(3) else 1)


def memory_bytes(value: str) -> float:
    """Kubernetes memory quantity → bytes ("4Gi" → 4294967296)."""
    found = _MEMORY.match(value)
    if not found:
        raise ValueError(f"not a memory quantity like 4Gi or 512M: {value!r}")
    return float(found.group(1)) * _UNITS[found.group(3)]


class StepSize(Config):
    """One step's pod: CPU and memory (request = limit) and GPUs."""

    cpu: str = Field(description="CPU cores, e.g. 2 or 500m")
    memory: str = Field(description="memory, e.g. 8Gi")
    gpus: int = Field(0, ge=0, le=16, description="NVIDIA GPUs")

    @field_validator("cpu")
    @classmethod
    def _cpu(cls, value: str) -> str:
        cpu_cores(value)
        return value

    @field_validator("memory")
    @classmethod
    def _memory(cls, value: str) -> str:
        memory_bytes(value)
        return value


class Toleration(Config):
    key: str = ""
    operator: Literal["Equal", "Exists"] = "Equal"
    value: str = ""
    effect: Literal["", "NoSchedule", "PreferNoSchedule", "NoExecute"] = ""


# The `cpu` profile: what differs from the compiled (GPU cluster) requests.
CPU_PROFILE = {
    "evaluate": StepSize(cpu="4", memory="16Gi"),
    "evaluate-sft": StepSize(cpu="4", memory="16Gi"),
    "tokenizer-train": StepSize(cpu="4", memory="16Gi"),
    "curate-index": StepSize(cpu="2", memory="8Gi"),
}


class Sizing(Config):
    """A cluster's sizing (the Helm chart writes it from `pipeline.sizing`)."""

    profile: Literal["gpu", "cpu"] = Field("gpu", description="gpu: as compiled; cpu: no GPUs")
    steps: dict[str, StepSize] = Field(
        default_factory=dict, description="per-step overrides, by step name"
    )
    node_selector: dict[str, str] = Field(
        default_factory=dict, description="node labels every pod must match"
    )
    tolerations: list[Toleration] = Field(
        default_factory=list, description="taints every pod tolerates"
    )
    priority_class: str = Field("", description="PriorityClass of the training pods")
    train_cpu: str = Field("", description="CPU of each training pod (empty: the default)")
    train_memory: str = Field("", description="memory of each training pod (empty: the default)")
    gang_scheduling: bool = Field(
        False, description="the cluster's Training Operator runs a gang scheduler (Volcano, …)"
    )
    scheduling_queue: str = Field("", description="gang scheduler queue of the training jobs")

    def step_sizes(self) -> dict[str, StepSize]:
        """Step name → its size where it differs from the compiled one."""
        base = dict(CPU_PROFILE) if self.profile == "cpu" else {}
        return {**base, **self.steps}

    def parameter_defaults(self) -> dict[str, Any]:
        """Defaults of the pipeline parameters the training step reads at run time."""
        import json

        values: dict[str, Any] = {}
        if self.profile == "cpu":
            values["gpus_per_node"] = 0
        if self.train_cpu:
            values["train_cpu"] = self.train_cpu
        if self.train_memory:
            values["train_memory"] = self.train_memory
        if self.priority_class:
            values["priority_class"] = self.priority_class
        if self.gang_scheduling:
            values["gang_scheduling"] = True
        if self.scheduling_queue:
            values["scheduling_queue"] = self.scheduling_queue
        if self.node_selector:
            values["node_selector"] = json.dumps(self.node_selector, sort_keys=True)
        if self.tolerations:
            values["tolerations"] = json.dumps([t.model_dump() for t in self.tolerations])
        return values


def load(path: str | Path) -> Sizing:
    """A sizing file (YAML); errors name the file and the field."""
    try:
        loaded = yaml.safe_load(Path(path).read_text(encoding="utf-8")) or {}
    except OSError as err:
        raise TritterError(f"{path}: cannot read the sizing file ({err.strerror})") from err
    except yaml.YAMLError as err:
        raise TritterError(f"{path}: invalid YAML ({' '.join(str(err).split())})") from err
    if not isinstance(loaded, dict):
        raise TritterError(f"{path}: expected a mapping of sizing settings")
    return validate(Sizing, loaded, source=str(path))


def resources_ir(size: StepSize) -> dict[str, Any]:
    """A step's `resources` in KFP's pipeline IR (what `set_cpu_limit` & co. compile to)."""
    cores = cpu_cores(size.cpu)
    gigabytes = memory_bytes(size.memory) / 1e9
    out: dict[str, Any] = {
        "cpuLimit": cores, "cpuRequest": cores,
        "memoryLimit": gigabytes, "memoryRequest": gigabytes,
        "resourceCpuLimit": size.cpu, "resourceCpuRequest": size.cpu,
        "resourceMemoryLimit": size.memory, "resourceMemoryRequest": size.memory,
    }  # fmt: skip
    if size.gpus:
        count = str(size.gpus)
        out["accelerator"] = {
            "count": count, "resourceCount": count,
            "resourceType": "nvidia.com/gpu", "type": "nvidia.com/gpu",
        }  # fmt: skip
    return out
