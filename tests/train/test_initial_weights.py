"""`tritter.train.initial_weights`: two FSDP2 ranks (gloo, CPU) fill their shards from a Hugging
Face folder, latent bf16/fp32 or packed 2-bit, reading only their own rows; gathered, the
weights equal what `Tritter.from_hf` loads in one process."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch
import torch.multiprocessing as mp

from tritter.model import Tritter, build_model
from tritter.train.launch import free_port

pytestmark = pytest.mark.slow
WORLD = 2


def _rank(rank: int, port: int, folder: str, out: str) -> None:
    import torch.distributed as dist
    from torch.distributed.checkpoint.state_dict import StateDictOptions, get_model_state_dict
    from torch.distributed.device_mesh import init_device_mesh
    from torch.distributed.fsdp import fully_shard

    from tritter.model import ModelConfig
    from tritter.train.distributed import DistContext
    from tritter.train.initial_weights import load_sharded

    dist.init_process_group("gloo", init_method=f"tcp://127.0.0.1:{port}", rank=rank,
                            world_size=WORLD)  # fmt: skip
    try:
        config = ModelConfig.model_validate_json(Path(folder, "tritter-config.json").read_text())
        with torch.device("meta"):
            model = Tritter(config)
        mesh = init_device_mesh("cpu", (WORLD,))
        for block in model.layers:
            fully_shard(block, mesh=mesh)
        fully_shard(model, mesh=mesh)
        model.to_empty(device="cpu")
        ctx = DistContext(rank=rank, world_size=WORLD, local_rank=rank, local_world_size=WORLD,
                          node_rank=0, device=torch.device("cpu"))  # fmt: skip
        read = load_sharded(model, folder, ctx)
        full = get_model_state_dict(model, options=StateDictOptions(full_state_dict=True))
        if rank == 0:
            torch.save({"state": full, "read": read}, out)
    finally:
        dist.destroy_process_group()


@pytest.mark.parametrize("packed", [False, True], ids=["latent", "packed-2bit"])
def test_each_rank_reads_its_rows_and_the_model_is_the_one_from_hf(packed, tmp_path):
    torch.manual_seed(0)
    model = build_model("tiny", vocab_size=96, hidden_size=32, intermediate_size=64)
    folder = tmp_path / "hf"
    model.save_hf(str(folder), packed=packed)
    (folder / "tritter-config.json").write_text(model.config.model_dump_json())
    reference = Tritter.from_hf(str(folder)).state_dict()
    out = tmp_path / "gathered.pt"
    mp.start_processes(_rank, args=(free_port(), str(folder), str(out)), nprocs=WORLD,
                       start_method="spawn")  # fmt: skip
    gathered = torch.load(out, weights_only=True)
    assert set(gathered["state"]) == set(reference)
    for name, tensor in reference.items():
        assert torch.equal(gathered["state"][name], tensor), name
    read = gathered["read"]
    assert read["bytes_read"] < 0.75 * read["bytes_total"]  # about half of every sharded tensor
