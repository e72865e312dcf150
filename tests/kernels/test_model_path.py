"""The model on the Triton path (forced on the CPU under the interpreter) equals the reference."""

import torch

from tritter.model import BitLinear, build_model


def set_kernel(model, kernel):
    for module in model.modules():
        if isinstance(module, BitLinear):
            module.kernel = kernel


def test_model_logits_and_gradients_match_on_the_triton_path(device):
    torch.manual_seed(0)
    model = build_model(
        "tiny", vocab_size=64, hidden_size=32, intermediate_size=48, num_hidden_layers=2
    ).to(device)
    ids = torch.randint(0, 64, (2, 9), device=device)

    def run(kernel):
        set_kernel(model, kernel)
        model.zero_grad()
        logits = model(ids)
        torch.nn.functional.cross_entropy(logits.flatten(0, 1), ids.flatten()).backward()
        return logits.detach(), {n: p.grad.clone() for n, p in model.named_parameters()}

    logits_ref, grads_ref = run("reference")
    logits, grads = run("triton")
    torch.testing.assert_close(logits, logits_ref, rtol=1e-3, atol=1e-4)
    for name, grad in grads_ref.items():
        torch.testing.assert_close(grads[name], grad, rtol=1e-3, atol=1e-5, msg=name)


def test_triton_path_under_bf16_autocast_tracks_the_reference(device):
    """Mixed precision as in training: matmul outputs in bf16, loss close to the reference's."""
    torch.manual_seed(1)
    model = build_model(
        "tiny", vocab_size=64, hidden_size=32, intermediate_size=48, num_hidden_layers=2
    ).to(device)
    ids = torch.randint(0, 64, (2, 9), device=device)
    losses = {}
    for kernel in ("reference", "triton"):
        set_kernel(model, kernel)
        model.zero_grad()
        with torch.autocast(device.type, dtype=torch.bfloat16):
            logits = model(ids)
            loss = torch.nn.functional.cross_entropy(logits.flatten(0, 1), ids.flatten())
        loss.backward()
        losses[kernel] = loss.item()
        assert model.layers[0].self_attn.q_proj.weight.grad.dtype == torch.float32
        assert torch.isfinite(model.layers[0].input_layernorm.weight.grad).all()
    assert abs(losses["triton"] - losses["reference"]) < 2e-2 * losses["reference"]


def test_triton_inference_with_cached_weights_matches_training_path(device):
    torch.manual_seed(2)
    model = build_model(
        "tiny", vocab_size=64, hidden_size=32, intermediate_size=48, num_hidden_layers=2
    ).to(device)
    set_kernel(model, "triton")
    ids = torch.randint(0, 64, (2, 7), device=device)
    recorded = model(ids).detach()  # autograd path: weights quantized on every call
    with torch.no_grad():
        first = model(ids)
        second = model(ids)  # from the cached int8 codes
        assert "_inference_cache" in model.layers[1].mlp.down_proj.__dict__
    torch.testing.assert_close(first, recorded, rtol=1e-5, atol=1e-6)
    assert torch.equal(first, second)
