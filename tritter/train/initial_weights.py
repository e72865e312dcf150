"""`--init` under FSDP2: every rank reads only the part of each tensor its shard holds.

With DDP every rank holds the whole model, so rank 0 reads the weights once and broadcasts them
(`Trainer.load_init`). Under FSDP2 the model was built on the meta device and each parameter is
a DTensor sharded along dim 0; gathering a full state dict on rank 0 would need the whole model
in one process's memory (BitNet b1.58 2B4T: ~10 GB in fp32), which is what FSDP is there to
avoid. Instead:

* a Hugging Face directory (bf16/fp32 latent weights, or the packed 2-bit release): each rank
  opens the safetensors files memory-mapped and reads, per parameter, the rows of its own shard
  (`safe_open(...).get_slice`). Packed ternary weights are unpacked one tensor at a time (the
  latent scale depends on the whole tensor's mean code) and then sliced, so a rank's peak is one
  tensor, never the model;
* a Tritter checkpoint (a checkpoints root or a step folder): DCP reads it into the sharded
  state dict directly, each rank fetching only the byte ranges of its shards (DCP reshards
  between any world sizes).

An `s3://` source is downloaded once per node (by the node's first rank, into a folder the
node's ranks share) and removed after loading.
"""

from __future__ import annotations

import hashlib
import json
import math
import shutil
import tempfile
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from pathlib import Path
from typing import Any

import torch
import torch.distributed as dist
from torch import nn

from tritter import storage
from tritter.errors import TritterError
from tritter.train.distributed import DistContext


def is_sharded(model: nn.Module) -> bool:
    """Whether the model's parameters are DTensors (FSDP2)."""
    from torch.distributed.tensor import DTensor

    return any(isinstance(p, DTensor) for p in model.parameters())


def load_sharded(model: nn.Module, uri: str, ctx: DistContext) -> dict[str, int]:
    """Fill the FSDP2-sharded `model` from `uri`, each rank reading its shards only. Returns
    {bytes_read: this rank's, bytes_total: the source's tensors} for the log."""
    from tritter.train.store import is_hf_dir

    base = storage.normalize(uri)
    if is_hf_dir(base):
        with _node_local(base, ctx, whole=True) as folder:
            return _load_hf(model, folder)
    return _load_checkpoint(model, base, ctx)


# -- Hugging Face safetensors --------------------------------------------------------------------


def _load_hf(model: nn.Module, folder: Path) -> dict[str, int]:
    from safetensors import safe_open

    from tritter.model.hf import hf_tensor_name, quantization_format, weight_files
    from tritter.model.packing import latent_from_packed

    config = json.loads((folder / "config.json").read_text())
    packed = quantization_format(config, str(folder / "config.json")) == "packed"
    modules = dict(model.named_modules())
    read, total = 0, 0
    with ExitStack() as stack:
        handles = {}  # tensor name → the open (memory-mapped) file holding it
        for path in weight_files(folder):
            handle = stack.enter_context(safe_open(str(path), framework="pt"))
            handles.update(dict.fromkeys(handle.keys(), handle))

        def open_for(name: str) -> Any:
            if name not in handles:
                raise TritterError(f"{folder}: missing tensor '{name}'")
            return handles[name]

        for name, param in model.state_dict(keep_vars=True).items():
            hf_name = hf_tensor_name(name)
            local, rows = _local_part(param)
            module_name = name.rsplit(".", 1)[0]
            module = modules.get(module_name)
            if packed and name.endswith(".weight") and getattr(module, "quantize", False):
                codes = open_for(hf_name).get_tensor(hf_name)
                scale_name = hf_tensor_name(f"{module_name}.weight_scale")
                scale = open_for(scale_name).get_tensor(scale_name)
                full = latent_from_packed(codes, scale, module.out_features)  # type: ignore[union-attr]
                part = full[rows] if rows is not None else full
                read += codes.numel() * codes.element_size()
                total += codes.numel() * codes.element_size()
            else:
                handle = open_for(hf_name)
                view = handle.get_slice(hf_name)
                shape = tuple(view.get_shape())
                if shape != tuple(param.shape):
                    raise TritterError(
                        f"{folder}: tensor '{hf_name}' has shape {shape}, expected "
                        f"{tuple(param.shape)}"
                    )
                part = view[rows] if rows is not None else handle.get_tensor(hf_name)
                read += part.numel() * part.element_size()
                total += math.prod(shape) * part.element_size()
            with torch.no_grad():
                local.copy_(part.to(local.dtype))
    return {"bytes_read": read, "bytes_total": total}


def _local_part(param: torch.Tensor) -> tuple[torch.Tensor, slice | None]:
    """This rank's tensor to fill and the rows of the full tensor it holds (None: all of it).

    FSDP2 shards dim 0 only (`Shard(0)` on a 1-D mesh), so the local part is a run of rows."""
    from torch.distributed.tensor import DTensor, Shard
    from torch.distributed.tensor._utils import compute_local_shape_and_global_offset

    if not isinstance(param, DTensor):
        return param, None
    if any(isinstance(p, Shard) and p.dim != 0 for p in param.placements):
        raise TritterError(f"--init: parameter sharded on dim != 0 ({param.placements})")
    shape, offset = compute_local_shape_and_global_offset(
        param.shape, param.device_mesh, param.placements
    )
    local = param.to_local()
    start = offset[0] if len(offset) else 0
    return local, slice(start, start + (shape[0] if len(shape) else 0))


# -- Tritter checkpoints -------------------------------------------------------------------------


def _load_checkpoint(model: nn.Module, base: str, ctx: DistContext) -> dict[str, int]:
    import torch.distributed.checkpoint as dcp
    from torch.distributed.checkpoint.state_dict import get_model_state_dict, set_model_state_dict

    from tritter.train.store import resolve, verify

    checkpoint = resolve(base)
    with _node_local(checkpoint.uri, ctx, whole=False, files=checkpoint.marker["files"]) as folder:
        if ctx.is_node_main:
            verify(checkpoint, folder)  # a corrupt file: one line naming it, before DCP reads
        _barrier(ctx)
        state = {"model": get_model_state_dict(model)}
        reader = dcp.FileSystemReader(str(folder))
        try:
            dcp.load(state, storage_reader=reader)
        except Exception as err:
            raise TritterError(f"{checkpoint.uri}: corrupt checkpoint ({err})") from err
        set_model_state_dict(model, state["model"])
    sizes = checkpoint.marker.get("sizes", {})
    total = int(sum(v for k, v in sizes.items() if k.endswith(".distcp")))
    return {"bytes_read": total // max(ctx.world_size, 1), "bytes_total": total}


# -- a node-local copy of an s3:// source --------------------------------------------------------


@contextmanager
def _node_local(
    uri: str, ctx: DistContext, whole: bool, files: list[str] | None = None
) -> Iterator[Path]:
    """A local folder holding `uri`: the folder itself when local; for s3://, one download per
    node into a folder its ranks share (removed when every rank is done)."""
    if not storage.is_s3(uri):
        yield storage.local_path(uri)
        return
    key = hashlib.sha256(uri.encode()).hexdigest()[:16]
    folder = Path(tempfile.gettempdir()) / f"tritter-init-{key}"
    try:
        if ctx.is_node_main:
            folder.mkdir(parents=True, exist_ok=True)
            names = files
            if whole or names is None:
                prefix = storage.normalize(uri)
                names = [item.uri[len(prefix) + 1 :] for item in storage.list_objects(prefix)]
            for name in names:
                target = folder / name
                if not target.exists():
                    storage.download_file(storage.join(uri, name), target)
        _barrier(ctx)
        yield folder
        _barrier(ctx)  # every rank of the node has read its part (not on failure: no hang)
    finally:
        if ctx.is_node_main:
            shutil.rmtree(folder, ignore_errors=True)


def _barrier(ctx: DistContext) -> None:
    if ctx.world_size > 1 and dist.is_initialized():
        dist.barrier()
