"""Hugging Face BitNet interop: logits parity with transformers, round trips, bad directories."""

import json

import accelerate  # noqa: F401 - transformers' quantized loading needs it; a dependency, not a skip
import pytest
import torch
from safetensors.torch import load_file, save_file

from tritter.errors import TritterError
from tritter.model import Tritter, build_model, weight_quant_reference
from tritter.model.packing import pack_model, pack_ternary, unpack_into, unpack_ternary

ONLINE = {"quant_method": "bitnet", "linear_class": "autobitlinear", "quantization_mode": "online"}

SHAPES = [
    # GQA 2:1, untied head
    dict(vocab_size=50, hidden_size=32, intermediate_size=48, num_hidden_layers=2,
         num_attention_heads=4, num_key_value_heads=2, tie_word_embeddings=False),
    # multi-query (1 KV head), tied head, odd vocab and FFN width, head dim 8
    dict(vocab_size=37, hidden_size=24, intermediate_size=41, num_hidden_layers=2,
         num_attention_heads=3, num_key_value_heads=1, tie_word_embeddings=True),
    # plain MHA, three layers, another RoPE base
    dict(vocab_size=61, hidden_size=48, intermediate_size=72, num_hidden_layers=3,
         num_attention_heads=6, num_key_value_heads=6, tie_word_embeddings=False,
         rope_theta=10000.0),
]  # fmt: skip


@pytest.fixture(autouse=True)
def eager_reference():
    """transformers' BitNet quantizers are wrapped in torch.compile; compiling them on the CPU
    costs ~40 s per shape. Running the same functions eagerly keeps the reference numerics."""
    import torch._dynamo

    with torch._dynamo.config.patch(disable=True):
        yield


def hf_model(shape: dict, directory, quantized: bool = True, seed: int = 0):
    """A random BitNetForCausalLM saved to `directory`, reloaded as transformers runs it."""
    from transformers import BitNetConfig, BitNetForCausalLM

    fields = dict(shape)
    theta = fields.pop("rope_theta", 500000.0)
    config = BitNetConfig(
        **fields, max_position_embeddings=64, bos_token_id=None, eos_token_id=None,
        rope_parameters={"rope_type": "default", "rope_theta": theta},
    )  # fmt: skip
    torch.manual_seed(seed)
    model = BitNetForCausalLM(config)
    with torch.no_grad():  # norms away from 1 so their weights are exercised too
        for name, parameter in model.named_parameters():
            if "norm" in name:
                parameter.uniform_(0.5, 1.5)
    if quantized:
        model.config.quantization_config = dict(ONLINE)
    model.save_pretrained(directory)
    return BitNetForCausalLM.from_pretrained(directory).eval()


def random_ids(vocab: int, batch: int = 2, length: int = 13) -> torch.Tensor:
    return torch.randint(0, vocab, (batch, length), generator=torch.Generator().manual_seed(3))


@pytest.mark.parametrize("shape", SHAPES, ids=["gqa-untied", "mqa-tied-odd", "mha-3layers"])
def test_logits_match_transformers(shape, tmp_path):
    reference = hf_model(shape, tmp_path)
    assert type(reference.model.layers[0].self_attn.q_proj).__name__ == "AutoBitLinear"
    ours = Tritter.from_hf(str(tmp_path)).eval()
    assert ours.config.quantization == "ternary"
    assert ours.config.tie_word_embeddings == shape["tie_word_embeddings"]
    ids = random_ids(shape["vocab_size"])
    with torch.no_grad():
        expected = reference(ids).logits
        got = ours(ids)
    torch.testing.assert_close(got, expected, rtol=0, atol=1e-4)


def test_dense_checkpoint_loads_as_a_dense_model(tmp_path):
    reference = hf_model(SHAPES[0], tmp_path, quantized=False)
    ours = Tritter.from_hf(str(tmp_path)).eval()
    assert ours.config.quantization == "dense"
    ids = random_ids(SHAPES[0]["vocab_size"])
    with torch.no_grad():
        torch.testing.assert_close(ours(ids), reference(ids).logits, rtol=0, atol=1e-4)


@pytest.mark.parametrize("tied", [False, True])
def test_export_reimport_is_bit_exact_and_transformers_agrees(tmp_path, tied):
    from transformers import BitNetForCausalLM

    model = build_model(
        "tiny", vocab_size=53, hidden_size=32, intermediate_size=40, num_hidden_layers=2,
        tie_word_embeddings=tied,
    ).eval()  # fmt: skip
    model.save_hf(str(tmp_path))
    again = Tritter.from_hf(str(tmp_path))
    assert again.config == model.config
    original, reloaded = model.state_dict(), again.state_dict()
    assert original.keys() == reloaded.keys()
    for name, tensor in original.items():
        assert torch.equal(tensor, reloaded[name]), name
    assert ("lm_head.weight" in load_file(str(tmp_path / "model.safetensors"))) is not tied
    reference = BitNetForCausalLM.from_pretrained(str(tmp_path)).eval()
    ids = random_ids(53)
    with torch.no_grad():
        torch.testing.assert_close(model(ids), reference(ids).logits, rtol=0, atol=1e-4)


def test_packed_weights_unpack_to_the_ternarized_originals():
    torch.manual_seed(0)
    for shape in [(8, 5), (13, 7), (1, 3), (64, 33)]:
        weight = torch.randn(shape) * 0.05
        packed, scale = pack_ternary(weight)
        assert packed.dtype == torch.uint8
        assert packed.shape == (-(-shape[0] // 4), shape[1])  # 2 bits per weight
        assert scale.numel() == 1
        unpacked = unpack_ternary(packed, scale, shape[0], torch.float32)
        assert torch.equal(unpacked, weight_quant_reference(weight)), shape


def test_model_pack_unpack_round_trip():
    model = build_model("tiny", vocab_size=40, hidden_size=32, intermediate_size=44)
    packed = pack_model(model)
    assert packed["layers.0.self_attn.q_proj.weight"].dtype == torch.uint8
    assert packed["embed_tokens.weight"].dtype == torch.float32
    fresh = unpack_into(build_model(model.config), packed)
    for name, module in model.named_modules():
        if getattr(module, "quantize", False):
            expected = weight_quant_reference(module.weight)
            assert torch.equal(fresh.get_submodule(name).weight, expected), name
    assert torch.equal(fresh.embed_tokens.weight, model.embed_tokens.weight)


def test_packed_export_runs_in_transformers_like_the_trained_model(tmp_path):
    from transformers import BitNetForCausalLM

    model = build_model("tiny", vocab_size=48, hidden_size=32, intermediate_size=40).eval()
    model.save_hf(str(tmp_path), packed=True)
    config = json.loads((tmp_path / "config.json").read_text())
    assert config["quantization_config"]["quantization_mode"] == "offline"
    reference = BitNetForCausalLM.from_pretrained(str(tmp_path)).eval()
    ids = random_ids(48)
    with torch.no_grad():
        torch.testing.assert_close(reference(ids).logits, model(ids), rtol=0, atol=1e-4)


# --- bad directories: one-line errors naming the problem -------------------------------------


@pytest.fixture
def saved(tmp_path):
    model = build_model("tiny", vocab_size=30, hidden_size=32, intermediate_size=40)
    model.save_hf(str(tmp_path))
    return tmp_path


def edit_config(directory, **changes):
    path = directory / "config.json"
    config = json.loads(path.read_text())
    config.update(changes)
    path.write_text(json.dumps(config))


def edit_tensors(directory, edit):
    path = str(directory / "model.safetensors")
    tensors = load_file(path)
    edit(tensors)
    save_file(tensors, path)


def expect_error(directory, pattern):
    with pytest.raises(TritterError, match=pattern) as caught:
        Tritter.from_hf(str(directory))
    assert "\n" not in str(caught.value)


def test_missing_tensor(saved):
    edit_tensors(saved, lambda t: t.pop("model.layers.1.mlp.up_proj.weight"))
    expect_error(saved, "missing tensor 'model.layers.1.mlp.up_proj.weight'")


def test_unexpected_tensor(saved):
    edit_tensors(saved, lambda t: t.update({"model.layers.0.extra.weight": torch.zeros(2)}))
    expect_error(saved, "unexpected tensor 'model.layers.0.extra.weight'")


def test_wrong_shape(saved):
    edit_tensors(saved, lambda t: t.update({"model.norm.weight": torch.ones(31)}))
    expect_error(saved, r"tensor 'model.norm.weight' has shape \(31,\), expected \(32,\)")


def test_unsupported_quantization_mode(saved):
    edit_config(saved, quantization_config={**ONLINE, "quantization_mode": "offline"})
    expect_error(saved, "unsupported quantization_config.quantization_mode 'offline'")


@pytest.mark.parametrize(
    ("changes", "field"),
    [
        ({"sliding_window": 128}, "sliding_window"),
        ({"hidden_act": "silu"}, "hidden_act"),
        ({"attention_bias": True}, "attention_bias"),
        ({"head_dim": 16}, "head_dim"),
        ({"rope_parameters": {"rope_type": "yarn", "rope_theta": 1e4}}, "rope_type"),
        ({"num_key_value_heads": 3}, "num_key_value_heads"),
    ],
)
def test_unsupported_config_field(saved, changes, field):
    edit_config(saved, **changes)
    expect_error(saved, field)


def test_not_a_model_directory(tmp_path):
    expect_error(tmp_path, "config.json: not found")


def test_bf16_checkpoint_loads_in_fp32_with_parity(tmp_path):
    """The 2B4T `-bf16` repo stores bf16 master weights; Tritter loads them into fp32."""
    from transformers import BitNetForCausalLM

    reference = hf_model(SHAPES[1], tmp_path / "fp32")
    reference.to(torch.bfloat16).save_pretrained(tmp_path / "bf16")
    assert json.loads((tmp_path / "bf16" / "config.json").read_text())["dtype"] == "bfloat16"
    ours = Tritter.from_hf(str(tmp_path / "bf16")).eval()
    assert ours.embed_tokens.weight.dtype == torch.float32
    upcast = BitNetForCausalLM.from_pretrained(tmp_path / "bf16", dtype=torch.float32).eval()
    ids = random_ids(SHAPES[1]["vocab_size"])
    with torch.no_grad():
        torch.testing.assert_close(ours(ids), upcast(ids).logits, rtol=0, atol=1e-4)


def test_sharded_checkpoint(tmp_path):
    reference = hf_model(SHAPES[0], tmp_path / "one")
    reference.save_pretrained(tmp_path / "sharded", max_shard_size="20KB")
    assert (tmp_path / "sharded" / "model.safetensors.index.json").exists()
    ours = Tritter.from_hf(str(tmp_path / "sharded")).eval()
    single = Tritter.from_hf(str(tmp_path / "one"))
    for name, tensor in single.state_dict().items():
        assert torch.equal(ours.state_dict()[name], tensor), name


def test_save_and_load_on_s3(s3_bucket, tmp_path):
    model = build_model("tiny", vocab_size=30, hidden_size=32, intermediate_size=40)
    uri = f"{s3_bucket}/run/checkpoints/final"
    model.save_hf(uri)
    again = Tritter.from_hf(uri)
    for name, tensor in model.state_dict().items():
        assert torch.equal(again.state_dict()[name], tensor), name


def test_2b4t_preset_names_and_shapes_match_the_hf_layout():
    """Built on the meta device (no memory): HF tensor names and exact parameter count."""
    from transformers import BitNetConfig

    from tritter.model import PRESETS
    from tritter.model.hf import config_from_hf, config_to_hf, hf_tensor_name

    with torch.device("meta"):
        model = Tritter(PRESETS["2b4t"])
    assert sum(p.numel() for p in model.parameters()) == 2_412_820_480
    names = {hf_tensor_name(n) for n in model.state_dict()}
    assert "lm_head.weight" not in names
    assert "model.layers.29.self_attn.attn_sub_norm.weight" in names
    assert "model.layers.0.mlp.ffn_sub_norm.weight" in names
    exported = config_to_hf(PRESETS["2b4t"], torch.bfloat16)
    assert config_from_hf(exported) == PRESETS["2b4t"]
    hf = BitNetConfig(**{k: v for k, v in exported.items() if k != "quantization_config"})
    assert (hf.hidden_size, hf.num_key_value_heads, hf.tie_word_embeddings) == (2560, 5, True)


def test_config_in_the_published_2b4t_layout():
    """Older transformers layout: top-level rope_theta, torch_dtype, auto_map, rope_scaling."""
    from tritter.model import PRESETS
    from tritter.model.hf import config_from_hf

    published = {
        "architectures": ["BitNetForCausalLM"],
        "auto_map": {"AutoModelForCausalLM": "modeling_bitnet.BitNetForCausalLM"},
        "attention_bias": False, "attention_dropout": 0.0, "bos_token_id": 128000,
        "eos_token_id": 128001, "hidden_act": "relu2", "hidden_size": 2560,
        "initializer_range": 0.02, "intermediate_size": 6912, "max_position_embeddings": 4096,
        "model_type": "bitnet", "rms_norm_eps": 1e-05, "num_attention_heads": 20,
        "num_hidden_layers": 30, "num_key_value_heads": 5, "rope_theta": 500000.0,
        "rope_scaling": None, "tie_word_embeddings": True, "torch_dtype": "bfloat16",
        "use_cache": True, "vocab_size": 128256, "quantization_config": dict(ONLINE),
    }  # fmt: skip
    assert config_from_hf(published) == PRESETS["2b4t"]


def test_packed_checkpoint_loads_into_a_model_that_computes_the_same(tmp_path):
    """The offline 2-bit format (what microsoft/bitnet-b1.58-2B-4T ships): transformers' offline
    BitLinear, the original model and the re-imported model agree; re-packing is lossless."""
    from transformers import BitNetForCausalLM

    model = build_model(
        "tiny", vocab_size=48, hidden_size=32, intermediate_size=40, tie_word_embeddings=True
    ).eval()
    model.save_hf(str(tmp_path / "packed"), packed=True)
    loaded = Tritter.from_hf(str(tmp_path / "packed")).eval()
    assert loaded.config == model.config
    reference = BitNetForCausalLM.from_pretrained(str(tmp_path / "packed")).eval()
    ids = random_ids(48)
    with torch.no_grad():
        torch.testing.assert_close(loaded(ids), model(ids), rtol=1e-5, atol=1e-5)
        torch.testing.assert_close(loaded(ids), reference(ids).logits, rtol=0, atol=1e-4)
    first, second = pack_model(model), pack_model(loaded)
    for name, tensor in first.items():
        if tensor.dtype == torch.uint8:
            assert torch.equal(second[name], tensor), name
        else:
            torch.testing.assert_close(second[name], tensor, rtol=1e-6, atol=0, msg=name)


def test_packed_checkpoint_with_float_weights_is_refused(tmp_path):
    model = build_model("tiny", vocab_size=30, hidden_size=32, intermediate_size=40)
    model.save_hf(str(tmp_path), packed=True)
    name = "model.layers.0.self_attn.k_proj.weight"
    edit_tensors(tmp_path, lambda t: t.update({name: torch.zeros(t[name].shape)}))
    expect_error(tmp_path, f"tensor '{name}' has dtype torch.float32")
    model.save_hf(str(tmp_path), packed=True)
    edit_tensors(tmp_path, lambda t: t.pop("model.layers.1.mlp.down_proj.weight_scale"))
    expect_error(tmp_path, "missing tensor 'model.layers.1.mlp.down_proj.weight_scale'")
