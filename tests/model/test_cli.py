"""`tritter model info` through the real CLI."""

import json

from tritter.model import build_model


def test_info_2b4t_text(tritter_cli):
    result = tritter_cli("model", "info", "2b4t")
    assert result.returncode == 0, result.stderr
    assert "2,412,820,480 total" in result.stdout
    assert "ternary      2,084,044,800" in result.stdout
    assert "embedding    328,335,360" in result.stdout
    assert "FLOPs/token" in result.stdout and "training" in result.stdout


def test_info_json_matches_the_built_model(tritter_cli):
    result = tritter_cli(
        "model", "info", "tiny", "--vocab-size", "300", "--seq-len", "128", "--json"
    )
    assert result.returncode == 0, result.stderr
    info = json.loads(result.stdout)
    model = build_model("tiny", vocab_size=300)
    total = sum(p.numel() for p in model.parameters())
    assert info["parameters"]["total"] == total
    assert info["parameters"]["ternary"] == model.num_parameters()["ternary"]
    assert info["flops_per_token"]["training"] == model.flops_per_token(128)
    assert info["memory_bytes"]["weights_bf16"] == 2 * total
    assert info["memory_bytes"]["training_state"] == 16 * total
    assert info["memory_bytes"]["weights_packed_ternary"] < info["memory_bytes"]["weights_bf16"]


def test_info_of_a_hugging_face_directory(tritter_cli, tmp_path):
    build_model("tiny", vocab_size=64, quantization="dense").save_hf(str(tmp_path))
    result = tritter_cli("model", "info", str(tmp_path), "--json")
    assert result.returncode == 0, result.stderr
    info = json.loads(result.stdout)
    assert info["config"]["quantization"] == "dense"
    assert info["parameters"]["ternary"] == 0


def test_info_errors_are_one_line(tritter_cli, tmp_path):
    result = tritter_cli("model", "info", "huge")
    assert result.returncode == 1
    assert result.stderr.strip().startswith("tritter: error: 'huge' is neither a preset")
    result = tritter_cli("model", "info", "tiny", "--vocab-size", "0")
    assert result.returncode == 1
    assert "'vocab_size'" in result.stderr and len(result.stderr.strip().splitlines()) == 1
    result = tritter_cli("model", "info", str(tmp_path))
    assert result.returncode == 1 and "config.json: not found" in result.stderr


def test_info_all_is_a_table_of_every_preset(tritter_cli):
    result = tritter_cli("model", "info", "all")
    assert result.returncode == 0, result.stderr
    lines = result.stdout.strip().splitlines()
    assert lines[0].split()[:3] == ["preset", "layers", "hidden"]
    rows = {line.split()[0]: line for line in lines[1:]}
    assert list(rows) == ["tiny", "125m", "700m", "1.3b", "3b", "7b", "2b4t", "blueprint"]
    assert "2,412,820,480" in rows["2b4t"] and "20/5" in rows["2b4t"]
    assert "2,919,656,448" in rows["blueprint"]


def test_convert_latent_to_packed_and_back(tritter_cli, tmp_path):
    import torch

    from tritter.model import Tritter

    model = build_model("tiny", vocab_size=64, hidden_size=64, intermediate_size=128).eval()
    model.save_hf(str(tmp_path / "latent"))
    packed, back = tmp_path / "packed", tmp_path / "back"
    result = tritter_cli("model", "convert", str(tmp_path / "latent"), str(packed),
                         "--format", "packed", "--dtype", "float32")  # fmt: skip
    assert result.returncode == 0, result.stderr
    summary = json.loads(result.stdout)
    latent_bytes = (tmp_path / "latent" / "model.safetensors").stat().st_size
    assert summary["bytes"] < latent_bytes / 2  # ternary weights at 2 bits instead of 32
    config = json.loads((packed / "config.json").read_text())
    assert config["quantization_config"]["quantization_mode"] == "offline"
    result = tritter_cli("model", "convert", str(packed), str(back), "--format", "latent",
                         "--dtype", "float32")  # fmt: skip
    assert result.returncode == 0, result.stderr
    ids = torch.randint(0, 64, (2, 7))
    with torch.no_grad():
        torch.testing.assert_close(
            Tritter.from_hf(str(back))(ids), model(ids), rtol=1e-5, atol=1e-5
        )


def test_convert_refuses_to_pack_a_dense_model(tritter_cli, tmp_path):
    build_model("tiny", vocab_size=32, quantization="dense").save_hf(str(tmp_path / "dense"))
    result = tritter_cli("model", "convert", str(tmp_path / "dense"), str(tmp_path / "out"),
                         "--format", "packed")  # fmt: skip
    assert result.returncode == 1
    assert "a dense checkpoint has no ternary weights to pack" in result.stderr
    assert not (tmp_path / "out").exists()


def test_training_plan_of_2b4t_on_100b_tokens(tritter_cli):
    """Wall time = tokens × FLOPs/token / (GPUs × peak × MFU); GPU-hours and the bill follow;
    FSDP2 shards the 16 B/param training state that DDP keeps whole on every GPU."""
    args = ("model", "info", "2b4t", "--seq-len", "4096", "--tokens", "100e9", "--nodes", "4",
            "--gpus", "8", "--gpu", "h100", "--price-per-gpu-hour", "2.5")  # fmt: skip
    result = tritter_cli(*args, "--json")
    assert result.returncode == 0, result.stderr
    info = json.loads(result.stdout)
    plan = info["plan"]
    seconds = 100e9 * info["flops_per_token"]["training"] / (32 * 989e12 * 0.40)
    assert abs(plan["wall_seconds"] - seconds) < 1e-6 * seconds
    assert abs(plan["gpu_hours"] - seconds / 3600 * 32) < 1e-6 * plan["gpu_hours"]
    assert abs(plan["cost"] - plan["gpu_hours"] * 2.5) < 1e-6 * plan["cost"]
    assert 30 < seconds / 3600 < 50  # ~40 h: 1.8e21 FLOPs at 12.7 PFLOP/s
    memory = plan["memory_per_gpu_bytes"]
    state = 16 * info["parameters"]["total"]
    assert memory["ddp"] - memory["fsdp2"] > state * (1 - 1 / 32) - 1e9
    assert plan["fits"] == {mode: total <= 80e9 for mode, total in memory.items()}
    text = tritter_cli(*args)
    assert "wall time" in text.stdout and "$3,203 at $2.5/GPU-hour" in text.stdout
    checkpointed = json.loads(tritter_cli(*args, "--activation-checkpointing", "--json").stdout)
    assert checkpointed["plan"]["memory_per_gpu_bytes"]["fsdp2"] < memory["fsdp2"]


def test_training_plan_errors_are_one_line(tritter_cli):
    for extra, message in ((("--gpu", "v100"), "--gpu: unknown GPU 'v100'"),
                           (("--mfu", "1.5"), "--mfu: must be in (0, 1]"),
                           (("--nodes", "0"), "--nodes: must be positive")):  # fmt: skip
        result = tritter_cli("model", "info", "2b4t", "--tokens", "1e9", *extra)
        assert result.returncode == 1
        assert result.stderr.strip() == f"tritter: error: {message}" or message in result.stderr
        assert len(result.stderr.strip().splitlines()) == 1
