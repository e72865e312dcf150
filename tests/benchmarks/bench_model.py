"""Model and kernel speed: prints figures, asserts nothing.

    .venv/bin/python tests/benchmarks/bench_model.py                 # CPU figures (+ GPU if any)
    .venv/bin/python tests/benchmarks/bench_model.py --presets tiny  # quicker

CPU: one training step (forward + backward + AdamW) of `tiny` and `125m`, ternary vs dense, and
the ratio. GPU (when CUDA is available): act-quant kernel bandwidth as a fraction of HBM peak,
ternary linear vs bf16 F.linear at the 2B4T projection shapes, and a `700m` training step in
tokens/s ternary vs dense bf16 with MFU.
"""

from __future__ import annotations

import argparse
import time

import torch

from tritter.model import build_model

# Peak dense bf16 tensor FLOP/s and HBM bandwidth per GPU (vendor figures, SXM parts).
GPU_PEAKS = {"H100": (989e12, 3.35e12), "H200": (989e12, 4.8e12), "A100": (312e12, 2.0e12)}


def train_step_seconds(
    preset: str, quantization: str, batch: int, seq_len: int, steps: int, device: str,
    dtype: torch.dtype | None = None, vocab: int | None = None,
) -> float:  # fmt: skip
    overrides = {"quantization": quantization}
    if vocab:
        overrides["vocab_size"] = vocab
    model = build_model(preset, **overrides).to(device)
    optimizer = torch.optim.AdamW(model.parameters(), lr=1e-4, fused=device == "cuda")
    ids = torch.randint(0, model.config.vocab_size, (batch, seq_len + 1), device=device)
    inputs, targets = ids[:, :-1], ids[:, 1:]

    def step() -> None:
        with torch.autocast(device, dtype=dtype, enabled=dtype is not None):
            logits = model(inputs)
            loss = torch.nn.functional.cross_entropy(logits.flatten(0, 1), targets.flatten())
        loss.backward()
        optimizer.step()
        optimizer.zero_grad(set_to_none=True)

    step()  # warm-up: allocations, kernel compilation and autotuning
    times = []
    for _ in range(steps):
        if device == "cuda":
            torch.cuda.synchronize()
        started = time.perf_counter()
        step()
        if device == "cuda":
            torch.cuda.synchronize()
        times.append(time.perf_counter() - started)
    # The minimum: on a shared machine the slower runs measure the neighbours, not the model.
    return min(times)


def bench_cpu(presets: list[str], steps: int) -> None:
    torch.manual_seed(0)
    shapes = {"tiny": (8, 256), "125m": (2, 256)}
    print(f"CPU training step (fwd+bwd+AdamW, fp32, {torch.get_num_threads()} threads), "
          f"best of {steps}:")  # fmt: skip
    for preset in presets:
        batch, seq_len = shapes.get(preset, (2, 256))
        dense = train_step_seconds(preset, "dense", batch, seq_len, steps, "cpu")
        ternary = train_step_seconds(preset, "ternary", batch, seq_len, steps, "cpu")
        tokens = batch * seq_len
        print(f"  {preset:>5} batch {batch}×{seq_len}: dense {dense * 1000:8.1f} ms "
              f"({tokens / dense:7.0f} tok/s), ternary {ternary * 1000:8.1f} ms "
              f"({tokens / ternary:7.0f} tok/s), ternary/dense time ratio "
              f"{ternary / dense:.2f}")  # fmt: skip


def bench_gpu(steps: int) -> None:
    import triton.testing

    from tritter.kernels.bitlinear import bitlinear
    from tritter.kernels.matmul import int8_ternary_matmul
    from tritter.kernels.quant import act_quant, rmsnorm_act_quant, weight_ternary

    name = torch.cuda.get_device_name()
    peak_flops, peak_bandwidth = next(
        (v for k, v in GPU_PEAKS.items() if k in name), GPU_PEAKS["H100"]
    )
    print(f"GPU: {name} (peaks used: {peak_flops / 1e12:.0f} TFLOP/s bf16, "
          f"{peak_bandwidth / 1e12:.2f} TB/s)")  # fmt: skip

    print("act-quant kernel bandwidth (bf16 in, int8 + fp32 scale out):")
    for tokens, hidden in ((16384, 2560), (16384, 6912), (65536, 2560)):
        x = torch.randn(tokens, hidden, device="cuda", dtype=torch.bfloat16)
        weight = torch.ones(hidden, device="cuda", dtype=torch.bfloat16)
        moved = tokens * hidden * 3 + tokens * 4
        ms = triton.testing.do_bench(lambda x=x: act_quant(x))
        fused_ms = triton.testing.do_bench(lambda x=x, w=weight: rmsnorm_act_quant(x, w, 1e-5))
        fused_moved = moved + tokens * hidden * 2  # also writes the normalised bf16 output
        print(f"  {tokens}×{hidden}: act_quant {ms * 1000:7.1f} us = "
              f"{moved / ms / 1e9 / peak_bandwidth * 100:5.1f} % of HBM peak; fused RMSNorm+quant "
              f"{fused_ms * 1000:7.1f} us = "
              f"{fused_moved / fused_ms / 1e9 / peak_bandwidth * 100:5.1f} %")  # fmt: skip

    print("ternary linear forward vs bf16 F.linear at the 2B4T shapes:")
    shapes = {"q/o": (2560, 2560), "k/v": (640, 2560), "gate/up": (6912, 2560),
              "down": (2560, 6912)}  # fmt: skip
    for tokens in (2048, 16384, 65536):
        for label, (out_features, in_features) in shapes.items():
            x = torch.randn(tokens, in_features, device="cuda", dtype=torch.bfloat16)
            w = torch.randn(out_features, in_features, device="cuda", dtype=torch.bfloat16) * 0.02
            dense = triton.testing.do_bench(lambda x=x, w=w: torch.nn.functional.linear(x, w))
            train = triton.testing.do_bench(lambda x=x, w=w: bitlinear(x, w))
            wq, ws = weight_ternary(w)
            infer = triton.testing.do_bench(
                lambda x=x, wq=wq, ws=ws: int8_ternary_matmul(*act_quant(x), wq, ws, x.dtype)
            )
            print(f"  tokens {tokens:>6} {label:>7}: F.linear {dense * 1000:7.1f} us, ternary "
                  f"(quantize W + x + matmul) {train * 1000:7.1f} us = {dense / train:4.2f}×, "
                  f"pre-quantized W {infer * 1000:7.1f} us = {dense / infer:4.2f}×")  # fmt: skip

    print(f"700m training step (bf16 autocast, fused AdamW), best of {steps}:")
    batch, seq_len = 8, 2048
    from tritter.model import PRESETS, flops_per_token

    flops = flops_per_token(PRESETS["700m"], seq_len)
    for quantization in ("dense", "ternary"):
        seconds = train_step_seconds(
            "700m", quantization, batch, seq_len, steps, "cuda", dtype=torch.bfloat16
        )
        tokens_per_second = batch * seq_len / seconds
        mfu = tokens_per_second * flops / peak_flops
        print(f"  {quantization:>7}: {seconds * 1000:7.1f} ms/step, "
              f"{tokens_per_second:9.0f} tok/s, "
              f"MFU {mfu * 100:4.1f} %")  # fmt: skip


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--presets", default="tiny,125m", help="CPU presets (comma-separated)")
    parser.add_argument("--steps", type=int, default=3, help="timed steps per measurement")
    parser.add_argument("--cpu-only", action="store_true", help="skip the GPU section")
    args = parser.parse_args()
    bench_cpu([p for p in args.presets.split(",") if p], args.steps)
    if torch.cuda.is_available() and not args.cpu_only:
        bench_gpu(args.steps)
    else:
        print("GPU section skipped (no CUDA device)")


if __name__ == "__main__":
    main()
