"""The decoder itself: shapes, masks, KV cache, quantization switch, gradients."""

import pytest
import torch

from tritter.errors import TritterError
from tritter.model import PRESETS, ModelConfig, Tritter, build_model, count_parameters
from tritter.train.parallelize import apply_activation_checkpointing

VOCAB = 97


def tiny(**overrides) -> Tritter:
    torch.manual_seed(0)
    fields = {
        "vocab_size": VOCAB,
        "hidden_size": 64,
        "num_hidden_layers": 2,
        "intermediate_size": 96,
    }
    # float64: the int8 activation rounding turns fp32 noise between two equivalent attention
    # paths (causal flag vs explicit mask, cached vs full) into visible jumps; fp64 keeps both
    # paths far from rounding ties, so the comparisons below can be tight.
    return build_model("tiny", **{**fields, **overrides}).double().eval()


def ids(batch: int, length: int, seed: int = 1) -> torch.Tensor:
    return torch.randint(0, VOCAB, (batch, length), generator=torch.Generator().manual_seed(seed))


def test_logits_shape_and_dtype():
    model = tiny()
    logits = model(ids(3, 11))
    assert logits.shape == (3, 11, VOCAB)
    assert logits.dtype == torch.float32  # logits are always float32
    assert torch.isfinite(logits).all()


def test_future_tokens_do_not_change_past_logits():
    model = tiny()
    x = ids(2, 12)
    changed = x.clone()
    changed[:, 7:] = (changed[:, 7:] + 5) % VOCAB
    a, b = model(x), model(changed)
    torch.testing.assert_close(a[:, :7], b[:, :7], rtol=0, atol=1e-5)
    assert not torch.allclose(a[:, 7:], b[:, 7:])


@pytest.mark.parametrize("kv_heads", [1, 2, 4])
def test_kv_cache_decode_equals_full_forward(kv_heads):
    model = tiny(num_key_value_heads=kv_heads)
    x = ids(2, 10)
    full = model(x)
    cache = model.new_kv_cache(2, 10)
    prefix = model(x[:, :6], kv_cache=cache)
    steps = [model(x[:, t : t + 1], kv_cache=cache) for t in range(6, 10)]
    incremental = torch.cat([prefix, *steps], dim=1)
    torch.testing.assert_close(incremental, full, rtol=1e-5, atol=1e-5)
    assert cache.length == 10


def test_kv_cache_overflow_is_a_clear_error():
    model = tiny()
    cache = model.new_kv_cache(1, 4)
    with pytest.raises(TritterError, match="KV cache full"):
        model(ids(1, 5), kv_cache=cache)


def test_document_mask_blocks_cross_document_attention():
    model = tiny()
    first, second = ids(1, 5, seed=2), ids(1, 7, seed=3)
    packed = torch.cat([first, second], dim=1)
    documents = torch.tensor([[0] * 5 + [1] * 7])
    # Positions restart per document, as if each were its own sequence.
    positions = torch.tensor([list(range(5)) + list(range(7))])
    logits = model(packed, positions=positions, document_ids=documents)
    torch.testing.assert_close(logits[:, :5], model(first), rtol=1e-5, atol=1e-5)
    torch.testing.assert_close(logits[:, 5:], model(second), rtol=1e-5, atol=1e-5)
    # Without the mask the second document sees the first one.
    leaky = model(packed, positions=positions)
    assert not torch.allclose(leaky[:, 5:], model(second), atol=1e-3)


def test_left_padding_gives_the_unpadded_logits():
    model = tiny()
    short, long = ids(1, 4, seed=4), ids(1, 9, seed=5)
    batch = torch.zeros(2, 9, dtype=torch.long)
    batch[0, 5:], batch[1] = short[0], long[0]
    mask = torch.zeros(2, 9, dtype=torch.bool)
    mask[0, 5:], mask[1] = True, True
    logits = model(batch, padding_mask=mask)  # positions derived from the mask
    assert torch.isfinite(logits).all()
    torch.testing.assert_close(logits[0, 5:], model(short)[0], rtol=1e-5, atol=1e-5)
    torch.testing.assert_close(logits[1], model(long)[0], rtol=1e-5, atol=1e-5)


def test_left_padded_generation_with_cache_matches_unpadded():
    """The evaluate helper's pattern: left-padded prompt with a cache, then one token at a time."""
    model = tiny()
    short = ids(1, 3, seed=6)
    batch = torch.zeros(2, 6, dtype=torch.long)
    batch[0, 3:], batch[1] = short[0], ids(1, 6, seed=7)[0]
    mask = torch.zeros(2, 6, dtype=torch.bool)
    mask[0, 3:], mask[1] = True, True
    positions = (mask.long().cumsum(1) - 1).clamp(min=0)
    cache = model.new_kv_cache(2, 9)
    model(batch, positions=positions, padding_mask=mask, kv_cache=cache)
    following = ids(2, 3, seed=8)
    next_positions = positions[:, -1:] + 1
    outputs = []
    for t in range(3):
        step_mask = torch.ones(2, 1, dtype=torch.bool)
        outputs.append(
            model(
                following[:, t : t + 1],
                positions=next_positions,
                padding_mask=step_mask,
                kv_cache=cache,
            )
        )
        next_positions = next_positions + 1
    expected = model(torch.cat([short, following[:1]], dim=1))[0, 3:]
    torch.testing.assert_close(torch.cat(outputs, dim=1)[0], expected, rtol=1e-5, atol=1e-5)


def test_dense_switch_changes_only_quantization():
    ternary = tiny()
    dense = tiny(quantization="dense")
    dense.load_state_dict(ternary.state_dict())
    x = ids(2, 8)
    assert not torch.allclose(ternary(x), dense(x), atol=1e-3)
    assert ternary.num_parameters()["ternary"] > 0
    assert dense.num_parameters()["ternary"] == 0
    # A dense model equals one where quantization is the identity.
    for module in ternary.modules():
        if hasattr(module, "quantize"):
            module.quantize = False
    torch.testing.assert_close(ternary(x), dense(x), rtol=0, atol=0)


def test_ste_gradients_reach_every_latent_weight():
    model = tiny().train()
    x = ids(2, 8)
    loss = torch.nn.functional.cross_entropy(model(x).flatten(0, 1), x.flatten())
    loss.backward()
    for name, parameter in model.named_parameters():
        assert parameter.grad is not None, name
        assert parameter.grad.abs().sum() > 0, name


def test_activation_checkpointing_gives_the_same_gradients():
    model = tiny().train()
    x = ids(2, 8)

    def grads(m):
        m.zero_grad()
        torch.nn.functional.cross_entropy(m(x).flatten(0, 1), x.flatten()).backward()
        return {n: p.grad.clone() for n, p in m.named_parameters()}

    plain = grads(model)
    names_before = [n for n, _ in model.named_parameters()]
    apply_activation_checkpointing(model)
    assert all(block.checkpointing for block in model.layers)
    assert [n for n, _ in model.named_parameters()] == names_before
    checkpointed = grads(model)
    for name, grad in plain.items():
        torch.testing.assert_close(checkpointed[name], grad, rtol=1e-5, atol=1e-6)


def test_tied_head_shares_the_embedding():
    model = tiny(tie_word_embeddings=True)
    assert model.lm_head is None
    assert "lm_head.weight" not in model.state_dict()
    assert model.head_weight is model.embed_tokens.weight


def test_presets_counts():
    assert count_parameters(PRESETS["2b4t"])["total"] == 2_412_820_480
    assert count_parameters(PRESETS["blueprint"])["total"] == 2_919_656_448
    for name in ("tiny", "125m"):
        model = build_model(name)
        assert model.num_parameters() == count_parameters(model.config), name
    assert set(PRESETS) == {"tiny", "125m", "700m", "1.3b", "3b", "7b", "2b4t", "blueprint"}


def test_flops_per_token_is_six_n_plus_attention():
    config = PRESETS["tiny"]
    model = build_model(config)
    matmul = sum(p.numel() for n, p in model.named_parameters() if n.endswith("proj.weight"))
    matmul += config.vocab_size * config.hidden_size
    expected = 6 * matmul + 12 * config.num_hidden_layers * config.hidden_size * 256
    assert model.flops_per_token(256) == expected


@pytest.mark.parametrize(
    ("overrides", "field"),
    [
        ({"num_attention_heads": 5}, "num_attention_heads"),
        ({"num_key_value_heads": 3}, "num_key_value_heads"),
        ({"hidden_size": 0}, "hidden_size"),
        ({"quantization": "int4"}, "quantization"),
        ({"hidden_sise": 64}, "hidden_sise"),
    ],
)
def test_bad_config_names_the_field(overrides, field):
    with pytest.raises(TritterError, match=f"'{field}'"):
        build_model("tiny", **overrides)


def test_unknown_preset():
    with pytest.raises(TritterError, match="unknown model preset 'huge'"):
        build_model("huge")


def test_config_is_the_hf_field_set():
    config = ModelConfig(
        vocab_size=10, hidden_size=8, intermediate_size=16, num_hidden_layers=1,
        num_attention_heads=2, num_key_value_heads=1,
    )  # fmt: skip
    assert config.head_dim == 4
    assert config.quantization == "ternary"


@pytest.mark.parametrize("variant", ["plain", "document-mask", "checkpointed-train"])
def test_forward_traces_without_graph_breaks(variant):
    """torch.compile sees one graph: no data-dependent Python in the blocks or the mask code."""
    import torch._dynamo

    model = build_model(
        "tiny", vocab_size=VOCAB, hidden_size=32, intermediate_size=48, num_hidden_layers=2
    )
    x = ids(2, 9)
    kwargs = {}
    if variant == "document-mask":
        kwargs["document_ids"] = torch.tensor([[0] * 4 + [1] * 5] * 2)
    if variant == "checkpointed-train":
        apply_activation_checkpointing(model).train()
    else:
        model.eval()
    explanation = torch._dynamo.explain(model)(x, **kwargs)
    assert explanation.graph_break_count == 0, explanation.break_reasons
    assert explanation.graph_count == 1


def test_default_positions_with_padding_continue_across_cache_steps():
    """Without explicit positions, a left-padded row counts only its real tokens, also after
    the prompt when decoding from the cache."""
    model = tiny()
    short = ids(1, 2, seed=9)
    batch = torch.zeros(2, 5, dtype=torch.long)
    batch[0, 3:], batch[1] = short[0], ids(1, 5, seed=10)[0]
    mask = torch.zeros(2, 5, dtype=torch.bool)
    mask[0, 3:], mask[1] = True, True
    cache = model.new_kv_cache(2, 7)
    model(batch, padding_mask=mask, kv_cache=cache)
    following = ids(2, 2, seed=11)
    steps = [
        model(following[:, t : t + 1], padding_mask=torch.ones(2, 1, dtype=torch.bool),
              kv_cache=cache)
        for t in range(2)
    ]  # fmt: skip
    expected = model(torch.cat([short, following[:1]], dim=1))[0, 2:]
    torch.testing.assert_close(torch.cat(steps, dim=1)[0], expected, rtol=1e-5, atol=1e-5)


def test_inference_reuses_the_quantized_weight_until_it_changes():
    model = tiny()
    x = ids(2, 6)
    with torch.enable_grad():
        expected = model(x).detach()  # recorded for autograd: no cache involved
    q_proj = model.layers[0].self_attn.q_proj
    assert "_inference_cache" not in q_proj.__dict__
    with torch.no_grad():
        torch.testing.assert_close(model(x), expected, rtol=0, atol=0)
        cached = q_proj.__dict__["_inference_cache"][1]
        model(x)
        assert q_proj.__dict__["_inference_cache"][1] is cached
        # An in-place update (as an optimizer step does) invalidates the cache.
        q_proj.weight.mul_(-1)
        changed = model(x)
        assert q_proj.__dict__["_inference_cache"][1] is not cached
    with torch.enable_grad():
        torch.testing.assert_close(changed, model(x).detach(), rtol=0, atol=0)
    assert "_inference_cache" not in dict(model.state_dict())
    assert not any("_inference_cache" in name for name in model.state_dict())
