"""`tritter sft --phase mid|sft`: midtraining and supervised fine-tuning on conversations."""

from __future__ import annotations

import argparse

from tritter.config import add_arguments, build_config

EPILOG = """\
Every `tritter pretrain` option applies (--seq-len, --micro-batch-size, --max-steps,
--checkpoint.every, --optim.lr, --schedule.*, --seed, --nproc, ...). Each phase has its own
defaults for the options you leave out (see tritter/sft/config.py): mid lr 5e-4, sft lr 1e-4,
no weight decay, cosine schedule, document masking, one epoch.

examples:
  tritter sft --phase mid --init runs/demo/checkpoints --tokenizer runs/demo/tokenizer \\
      --data identity=runs/demo/synth/identity,chats=chats.jsonl --output runs/demo/mid
  tritter sft --phase sft --init runs/demo/mid --tokenizer runs/demo/tokenizer \\
      --data best.jsonl --output runs/demo/sft --max-steps 300
"""


def register(subparsers: argparse._SubParsersAction) -> None:
    from tritter.sft.config import SftConfig

    parser = subparsers.add_parser(
        "sft",
        help="midtraining / supervised fine-tuning on conversations (assistant-only loss)",
        description="Render conversation sources with the chat template (loss only on what the "
        "assistant writes), pack them into --seq-len windows with document masking, and train "
        "from --init with the pretraining trainer. Writes <output>/data/ (the rendered shards), "
        "then config.yaml, metrics.jsonl, step-NNNNNNNN/ checkpoints, final/ and _manifest.json "
        "like `tritter pretrain`; resumes from its newest checkpoint.",
        epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--config", metavar="FILE", help="YAML file with the options below")
    add_arguments(parser, SftConfig)
    parser.set_defaults(handler=handle)


def handle(args: argparse.Namespace) -> int:
    from tritter.sft import stage
    from tritter.sft.config import SftConfig

    config = build_config(SftConfig, args, args.config)
    result = stage.run(config)
    steps, tokens = result.counts.steps, result.counts.tokens
    print(f"{config.phase}: trained {steps} steps ({tokens:,} tokens): {config.output}")
    return 0
