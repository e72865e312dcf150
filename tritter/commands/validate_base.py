"""`tritter validate-base`: parity, gradient flow and a short continued pretraining of a base
model before the long run."""

from __future__ import annotations

import argparse

EPILOG = """\
checks (tritter/train/validate_base.py; all recorded in <output>/validate-base.json):
  tokenizer  the shards were packed with the tokenizer (the base directory's own by default)
  parity     Tritter and transformers' BitNetForCausalLM agree on the logits of code prompts
  gradients  every layer group gets a finite, non-zero gradient from one training batch
  training   --steps steps of `tritter pretrain --init BASE`: loss goes down, every step
             finite, checkpoints committed (<output>/continued/)

examples (the base folder's tokenizer.json is the run's tokenizer):
  tritter pack --input runs/2b4t/curated --tokenizer bitnet-b1.58-2B-4T-bf16 \\
      --output runs/2b4t/tokens --seq-len 4096
  tritter validate-base bitnet-b1.58-2B-4T-bf16 --data runs/2b4t/tokens \\
      --output runs/2b4t/validate --steps 50 --seq-len 4096 --lr 1e-4
"""


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "validate-base",
        help="check a base model (e.g. BitNet 2B4T) before continuing its pretraining",
        description="Load a Hugging Face BitNet directory, compare its logits with transformers, "
        "check gradient flow, run a short continued pretraining on packed shards and check the "
        "loss goes down. Exits 1 when a check fails.",
        epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("base", help="Hugging Face BitNet directory (local or s3://)")
    parser.add_argument("--data", required=True, help="token shards (tritter pack output)")
    parser.add_argument("--output", required=True, help="folder for the report and the run")
    parser.add_argument(
        "--tokenizer", default=None, help="tokenizer folder (default: the base directory's own)"
    )
    parser.add_argument("--steps", type=int, default=20, help="training steps (default 20)")
    parser.add_argument("--seq-len", type=int, default=512, help="sequence length (default 512)")
    parser.add_argument("--micro-batch-size", type=int, default=1, help="per rank (default 1)")
    parser.add_argument("--lr", type=float, default=None, help="peak learning rate")
    parser.add_argument("--device", choices=("auto", "cpu", "cuda"), default="auto")
    parser.add_argument("--nproc", type=int, default=None, help="ranks for the training check")
    parser.set_defaults(handler=handle)


def handle(args: argparse.Namespace) -> int:
    from tritter.train.validate_base import ValidateSettings, format_report, run

    report = run(
        ValidateSettings(
            base=args.base,
            data=args.data,
            output=args.output,
            tokenizer=args.tokenizer,
            steps=args.steps,
            seq_len=args.seq_len,
            micro_batch_size=args.micro_batch_size,
            lr=args.lr,
            device=args.device,
            nproc=args.nproc,
        )
    )
    print(format_report(report))
    if not report["passed"]:
        failed = [k for k in ("tokenizer", "parity", "gradients", "training")
                  if not report[k]["passed"]]  # fmt: skip
        raise SystemExit(f"tritter: error: validate-base: {', '.join(failed)} failed (see above)")
    return 0
