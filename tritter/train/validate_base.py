"""`tritter validate-base`: check a base model before spending a cluster on continuing it.

The training strategy's first phase loads a released base model (BitNet b1.58 2B4T), confirms
Tritter computes what the reference implementation computes, and runs a short continued
pretraining on the curated shards before the long run. Four checks, each recorded in
`<output>/validate-base.json` and printed as a table; the command exits 1 when one fails:

1. **parity** — Tritter (`Tritter.from_hf`) and `transformers`' `BitNetForCausalLM` give the
   same logits on a few code prompts (both fp32; the relative max difference and the argmax
   agreement over every position). transformers wraps its BitNet quantizers in
   `torch.compile`; the reference runs them eagerly (the same functions, no compile time).
2. **gradients** — one backward pass on a training batch: the gradient norm of every layer
   group (embedding, each layer's attention, MLP and norms, final norm, head) is finite and
   non-zero, so every weight is reachable from the loss.
3. **training** — `tritter pretrain --init BASE` for `--steps` steps (`<output>/continued/`):
   the loss of the last quarter of the steps is below the first quarter's, every step's loss
   and gradient norm is finite, and the checkpoints were committed.
4. **tokenizer** — the shards were packed with the given tokenizer (the same sha256 check as
   training), which is the base model's own unless `--tokenizer` says otherwise.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass, field
from typing import Any

from tritter import storage
from tritter.errors import TritterError

# Short, varied code: what continued pretraining will see.
PROMPTS = (
    "def fibonacci(n):\n    if n < 2:\n        return n\n",
    "import numpy as np\n\nx = np.arange(10)\nprint(x.reshape(2, 5).sum(axis=0))\n",
    'fn main() {\n    let v: Vec<i32> = (1..10).collect();\n    println!("{:?}", v);\n}\n',
    "# Binary search over a sorted list\nclass Searcher:\n    def __init__(self, items):\n",
)
PARITY_RELATIVE_TOLERANCE = 1e-3  # max |Δlogit| / max |logit|, fp32 on both sides
PARITY_MIN_ARGMAX_AGREEMENT = 0.99


@dataclass(frozen=True)
class ValidateSettings:
    base: str  # a Hugging Face BitNet directory, local or s3://
    data: str  # token shards packed with `tokenizer`
    output: str
    tokenizer: str | None = None  # default: the base directory's own tokenizer.json
    steps: int = 20
    seq_len: int = 512
    micro_batch_size: int = 1
    lr: float | None = None
    device: str = "auto"
    nproc: int | None = None
    prompts: tuple[str, ...] = PROMPTS
    train_flags: dict[str, Any] = field(default_factory=dict)

    @property
    def tokenizer_uri(self) -> str:
        return self.tokenizer or self.base


def run(settings: ValidateSettings) -> dict[str, Any]:
    """Run the four checks; returns the report (also written to validate-base.json)."""
    import torch

    from tritter.loader import check_tokenizer
    from tritter.tokenizer import Tokenizer

    if settings.steps < 4:
        raise TritterError(
            f"--steps: at least 4 to compare the loss early and late (got {settings.steps})"
        )
    tokenizer = Tokenizer.load(settings.tokenizer_uri)
    check_tokenizer(settings.data, tokenizer)
    from tritter.model import Tritter

    device = _device(settings.device, torch)
    model = Tritter.from_hf(settings.base).to(device)  # read once for parity and gradients
    report: dict[str, Any] = {
        "base": settings.base,
        "data": settings.data,
        "tokenizer": {"uri": settings.tokenizer_uri, "sha256": tokenizer.sha256, "passed": True},
        "parity": parity(settings, tokenizer, model),
        "gradients": gradient_flow(settings, model),
    }
    del model
    report["training"] = continued_pretraining(settings)
    report["passed"] = all(report[k]["passed"] for k in ("tokenizer", "parity", "gradients",
                                                          "training"))  # fmt: skip
    storage.write_text(
        storage.join(settings.output, "validate-base.json"), json.dumps(report, indent=2) + "\n"
    )
    return report


def _device(wanted: str, torch: Any) -> Any:
    if wanted == "auto":
        wanted = "cuda" if torch.cuda.is_available() else "cpu"
    return torch.device(wanted)


def parity(settings: ValidateSettings, tokenizer: Any, ours: Any) -> dict[str, Any]:
    """Logits of Tritter (`ours`, the base loaded in fp32) and transformers on the prompts."""
    import torch
    import torch._dynamo
    from transformers import BitNetForCausalLM

    ours.eval()
    device = next(ours.parameters()).device
    with storage.local_folder(settings.base) as local:
        reference = BitNetForCausalLM.from_pretrained(str(local), dtype=torch.float32)
    reference = reference.eval().to(device)
    worst, agree, positions = 0.0, 0, 0
    with torch.no_grad(), torch._dynamo.config.patch(disable=True):
        for prompt in settings.prompts:
            ids = tokenizer.encode(prompt)[: settings.seq_len]
            if tokenizer.bos_id >= 0:
                ids = [tokenizer.bos_id, *ids]
            batch = torch.tensor([ids], device=device)
            got, expected = ours(batch).float(), reference(batch).logits.float()
            scale = expected.abs().max().clamp_min(1e-6)
            worst = max(worst, float((got - expected).abs().max() / scale))
            agree += int((got.argmax(-1) == expected.argmax(-1)).sum())
            positions += batch.numel()
    del reference
    agreement = agree / max(positions, 1)
    return {
        "prompts": len(settings.prompts),
        "positions": positions,
        "max_relative_diff": worst,
        "argmax_agreement": agreement,
        "passed": worst <= PARITY_RELATIVE_TOLERANCE and agreement >= PARITY_MIN_ARGMAX_AGREEMENT,
    }


def _group(name: str) -> str:
    parts = name.split(".")
    if parts[0] != "layers":
        return {"embed_tokens": "embedding", "norm": "final_norm", "lm_head": "head"}.get(
            parts[0], parts[0]
        )
    kind = "attention" if parts[2] == "self_attn" else "mlp" if parts[2] == "mlp" else "norms"
    return f"layers.{parts[1]}.{kind}"


def gradient_flow(settings: ValidateSettings, model: Any) -> dict[str, Any]:
    """Gradient norm per layer group after one backward pass on a training batch."""
    import torch.nn.functional as F

    from tritter.loader import TokenLoader

    model.train()
    device = next(model.parameters()).device
    loader = TokenLoader(settings.data, split="train", seq_len=settings.seq_len,
                         micro_batch_size=settings.micro_batch_size, loop=False)  # fmt: skip
    inputs, targets = next(iter(loader))[:2]
    logits = model(inputs.to(device))
    loss = F.cross_entropy(logits.flatten(0, 1).float(), targets.to(device).flatten())
    loss.backward()
    squares: dict[str, float] = {}
    for name, parameter in model.named_parameters():
        if parameter.grad is not None:
            group = _group(name)
            squares[group] = squares.get(group, 0.0) + float(parameter.grad.float().pow(2).sum())
        else:
            squares.setdefault(_group(name), 0.0)
    norms = {group: math.sqrt(value) for group, value in squares.items()}
    bad = sorted(g for g, n in norms.items() if not math.isfinite(n) or n == 0.0)
    return {"loss": float(loss), "norms": norms, "bad_groups": bad, "passed": not bad}


def continued_pretraining(settings: ValidateSettings) -> dict[str, Any]:
    """`--steps` steps of `tritter pretrain --init base` into <output>/continued."""
    from tritter.train import stage
    from tritter.train.config import TrainConfig
    from tritter.train.store import CheckpointStore

    output = storage.join(settings.output, "continued")
    every = max(1, settings.steps // 2)
    values: dict[str, Any] = {
        "data": settings.data, "tokenizer": settings.tokenizer_uri, "output": output,
        "init": settings.base, "max_steps": settings.steps, "seq_len": settings.seq_len,
        "micro_batch_size": settings.micro_batch_size, "device": settings.device,
        "nproc": settings.nproc, "metrics_port": 0, "val_every": every,
        "checkpoint": {"every": every},
        **({"optim": {"lr": settings.lr}} if settings.lr is not None else {}),
        **settings.train_flags,
    }  # fmt: skip
    stage.run(TrainConfig.model_validate(values))
    records = [
        json.loads(line)
        for line in storage.read_text(storage.join(output, "metrics.jsonl")).splitlines()
        if line.strip()
    ]
    train = [r for r in records if r.get("kind") == "train"]
    losses = [float(r["loss"]) for r in train]
    quarter = max(1, len(losses) // 4)
    first, last = sum(losses[:quarter]) / quarter, sum(losses[-quarter:]) / quarter
    finite = all(math.isfinite(float(r["loss"])) and math.isfinite(float(r["grad_norm"]))
                 for r in train)  # fmt: skip
    committed = CheckpointStore(output).committed_steps()
    return {
        "steps": len(train),
        "first_quarter_loss": first,
        "last_quarter_loss": last,
        "finite": finite,
        "checkpoints": committed,
        "passed": bool(train) and finite and last < first and bool(committed),
    }


def format_report(report: dict[str, Any]) -> str:
    """One line per check for the terminal."""
    p, g, t = report["parity"], report["gradients"], report["training"]
    mark = {True: "ok  ", False: "FAIL"}
    lines = [
        f"{mark[report['tokenizer']['passed']]} tokenizer  shards packed with "
        f"{report['tokenizer']['sha256'][:12]} ({report['tokenizer']['uri']})",
        f"{mark[p['passed']]} parity     max relative logit diff {p['max_relative_diff']:.2e}, "
        f"argmax agreement {p['argmax_agreement']:.1%} over {p['positions']} positions",
        f"{mark[g['passed']]} gradients  {len(g['norms'])} layer groups, norms "
        f"{min(g['norms'].values()):.2e}…{max(g['norms'].values()):.2e}"
        + (f"; zero or non-finite: {', '.join(g['bad_groups'])}" if g["bad_groups"] else ""),
        f"{mark[t['passed']]} training   {t['steps']} steps, loss {t['first_quarter_loss']:.4f} "
        f"→ {t['last_quarter_loss']:.4f} (first → last quarter), checkpoints at "
        f"{t['checkpoints']}",
    ]
    return "\n".join(lines)
