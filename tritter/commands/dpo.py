"""`tritter dpo`: direct preference optimisation of an SFT model on preference pairs."""

from __future__ import annotations

import argparse

from tritter.config import build_config
from tritter.train.config import add_training_arguments

EPILOG = """\
Every `tritter pretrain` option applies (--seq-len, --micro-batch-size (pairs), --max-steps,
--checkpoint.every, --optim.lr, --schedule.*, --seed, --nproc, ...). Defaults for the options
you leave out (see tritter/dpo/config.py): beta 0.1, sigmoid loss, lr 2e-5, no weight decay,
cosine schedule with 10 warm-up steps, one epoch.

rows: {"prompt": "text" | [messages], "chosen": reply, "rejected": reply}, a reply being text,
a list of parts or a list of messages (+ optional id, source, license; other fields ignored).

examples:
  tritter dpo --init runs/demo/sft --tokenizer runs/demo/tokenizer \\
      --data runs/demo/synth/filtered/pairs.jsonl --output runs/demo/dpo
  tritter dpo --init runs/demo/sft/final --tokenizer runs/demo/tokenizer \\
      --data prefs=hf://org/prefs:default:train --output runs/demo/dpo --beta 0.05 \\
      --loss-type ipo --max-steps 500
"""


def register(subparsers: argparse._SubParsersAction) -> None:
    from tritter.dpo.config import DpoConfig

    parser = subparsers.add_parser(
        "dpo",
        help="preference optimisation (DPO / cDPO / IPO) of an SFT model on chosen/rejected pairs",
        description="Render {prompt, chosen, rejected} pairs with the chat template (loss only "
        "on the reply), score them once with the frozen reference (= --init), and train the "
        "policy from --init with the pretraining trainer. Writes <output>/data/ (rendered pairs "
        "and reference log-probabilities), then config.yaml, metrics.jsonl (loss, "
        "reward_chosen, reward_rejected, reward_accuracy, reward_margin), step-NNNNNNNN/ "
        "checkpoints, final/ and _manifest.json like `tritter pretrain`; resumes from its "
        "newest checkpoint.",
        epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    add_training_arguments(parser, DpoConfig, ("phase",))
    parser.set_defaults(handler=handle)


def handle(args: argparse.Namespace) -> int:
    from tritter.dpo import stage
    from tritter.dpo.config import DpoConfig

    config = build_config(DpoConfig, args, args.config)
    result = stage.run_in_this_process(config)
    if result is not None:
        steps, tokens = result.counts.steps, result.counts.tokens
        print(f"dpo: trained {steps} steps ({tokens:,} tokens): {config.output}")
    return 0
