"""`tritter rl`: GRPO-style reinforcement learning with verifiable rewards."""

from __future__ import annotations

import argparse

from tritter.config import build_config
from tritter.train.config import add_training_arguments

EPILOG = """\
Every `tritter pretrain` option applies (--seq-len, --micro-batch-size (completions per
forward), --max-steps, --checkpoint.every, --optim.lr, --schedule.*, --seed, --nproc, ...).
Defaults for the options you leave out (see tritter/rl/config.py): 8 samples per prompt,
temperature 1, clip 0.2 / 0.28, no KL (below), one update per rollout batch, lr 2e-5, no weight
decay, constant schedule after 10 warm-up steps, one epoch over the prompts.

Each step samples --samples-per-prompt completions of the next prompts with the current weights
(code parts the policy writes run in the sandbox mid-generation, as in `tritter chat`), scores
them, normalises the rewards within each prompt's group (GRPO) and trains the clipped
policy-gradient loss on the tokens the policy wrote (a token-level mean, as DAPO). KL to the
initial policy is off by default (--kl-coef 0), as in DAPO and nanochat: with a verifiable
reward there is no reward model to over-optimise, the clipping already bounds each update, and
the anchor would cost a second model and forward; --kl-coef B adds B x k3 per token against
--init.

rows: {"prompt": "text" | [messages], ...}: every other field goes to the reward (`test` for
unit_tests, `answer` for numeric). A malformed row is a one-line error; rows that leave no room
for a completion (too_long) or hold a HumanEval / MBPP test-split problem (contaminated) are
dropped and counted in <output>/data/_manifest.json.

rewards: unit_tests (row `test`, + `entry_point`, `test_setup`: the reply's program and the tests
run in the sandbox), numeric (row `answer`: the reply's final number), format_number (the reply
starts with a number), format_code (it holds a code part), or module:function from PYTHONPATH,
called as function(prompt, completion, row) -> float in a worker process. A reward that raises,
exceeds --reward-timeout or returns no number scores 0 and is counted (reward_errors).

examples:
  tritter rl --init runs/demo/sft --tokenizer runs/demo/tokenizer --prompts builtin:arithmetic \\
      --reward numeric --output runs/demo/rl --seq-len 512 --max-steps 200
  PYTHONPATH=. tritter rl --init runs/demo/dpo --tokenizer runs/demo/tokenizer \\
      --prompts tasks.jsonl --reward my_rewards:score --output runs/demo/rl \\
      --samples-per-prompt 16 --micro-batch-size 16 --max-new-tokens 512
"""


def register(subparsers: argparse._SubParsersAction) -> None:
    from tritter.rl.config import RlConfig

    parser = subparsers.add_parser(
        "rl",
        help="reinforcement learning with verifiable rewards (GRPO-style, on-policy, tools)",
        description="Sample completions of prompt rows with the current policy (from --init), "
        "score them with a reward function, and train the group-normalised clipped "
        "policy-gradient loss with the pretraining trainer. Writes <output>/data/ (the checked "
        "prompt rows), then config.yaml, metrics.jsonl (loss, reward_mean, reward_std, "
        "pass_rate, completion_tokens, tool_calls, reward_errors, clip_fraction), "
        "step-NNNNNNNN/ checkpoints, final/ and _manifest.json like `tritter pretrain`; "
        "resumes from its newest checkpoint.",
        epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    add_training_arguments(parser, RlConfig, ("phase", "data"))
    parser.set_defaults(handler=handle)


def handle(args: argparse.Namespace) -> int:
    from tritter.rl import stage
    from tritter.rl.config import RlConfig

    config = build_config(RlConfig, args, args.config)
    result = stage.run_in_this_process(config)
    if result is not None:
        counts = result.counts
        errors = sum(counts.reward_errors.values())
        print(f"rl: trained {counts.steps} steps ({counts.completions:,} completions, "
              f"{errors} reward errors): {config.output}")  # fmt: skip
    return 0
