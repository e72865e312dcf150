"""`tritter synth identity`: generate synthetic post-training data (identity conversations)."""

from __future__ import annotations

import argparse

from tritter.config import add_arguments
from tritter.synth.config import (
    CritiqueConfig,
    DocstringsConfig,
    FilterConfig,
    GenerateConfig,
    IdentityConfig,
    ReviseConfig,
)

IDENTITY_DESCRIPTION = """\
Generate identity conversations from a persona file: seed questions (who are you, who made you,
are you human, what can you do, what are you not good at, ...) in many paraphrases, answered
from the persona, with an optional system turn and some multi-turn conversations. Deterministic
for a seed. Writes conversations.jsonl ({"messages": [...], "id", "source", "license"} per
line) and, last, _manifest.json. Relaunching with the same persona and options is a no-op.
"""

IDENTITY_EPILOG = """\
The generated rows are licensed apache-2.0 by default (they come from the project's own
templates and the persona; --license sets another SPDX id).

examples:
  tritter synth identity --output runs/demo/synth/identity
  tritter synth identity --persona my-persona.yaml --output s3://bucket/run/synth/identity \\
      --count 5000 --seed 1
"""


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "synth",
        help="generate synthetic post-training data (identity, docstrings, constitutional)",
        description="Synthetic post-training data.",
    )
    commands = parser.add_subparsers(dest="synth_command", metavar="COMMAND", required=True)
    identity = commands.add_parser(
        "identity",
        help="identity conversations from a persona file",
        description=IDENTITY_DESCRIPTION,
        epilog=IDENTITY_EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    identity.add_argument("--config", metavar="FILE", help="YAML/JSON file of the options below")
    add_arguments(identity, IdentityConfig)
    identity.set_defaults(handler=handle_identity)
    docstrings = commands.add_parser(
        "docstrings",
        help="instruction conversations from the standard library's docstrings",
        description="Questions about public functions and classes of well-known standard-library "
        "modules, answered with their signature and the first paragraph of their docstring, "
        "read from the running interpreter (no download; licensed psf-2.0 like CPython's "
        "documentation). Deterministic for a seed and interpreter. Writes conversations.jsonl "
        "and, last, _manifest.json; relaunching is a no-op.",
    )
    docstrings.add_argument("--config", metavar="FILE", help="YAML/JSON file of the options")
    add_arguments(docstrings, DocstringsConfig)
    docstrings.set_defaults(handler=handle_docstrings)
    for name, kind, help_text, description in STEPS:
        step = commands.add_parser(
            name, help=help_text, description=description, epilog=STEPS_EPILOG,
            formatter_class=argparse.RawDescriptionHelpFormatter,
        )  # fmt: skip
        step.add_argument("--config", metavar="FILE", help="YAML/JSON file of the options")
        add_arguments(step, kind)
        step.set_defaults(handler=handle_step, step_config=kind, step_name=name)
    check = commands.add_parser(
        "check-base",
        help="check that a model is a base model prompted as plain text (no chat template)",
        description=CHECK_BASE_DESCRIPTION,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    check.add_argument("--model", required=True, help="Tritter checkpoint or HF causal LM dir")
    check.add_argument("--tokenizer", help="tokenizer folder (Tritter checkpoints only)")
    check.add_argument("--device", default="auto", help="auto | cpu | cuda | cuda:N")
    check.add_argument("--max-new-tokens", type=int, default=24,
                       help="tokens per probe continuation (default: 24)")  # fmt: skip
    check.set_defaults(handler=handle_check_base)


def handle_identity(args: argparse.Namespace) -> int:
    import json

    from tritter.config import build_config
    from tritter.synth import identity_stage

    config = build_config(IdentityConfig, args, args.config)
    result = identity_stage.run(config)
    summary = {
        "output": config.output,
        "persona": result.extra.persona_name,
        "conversations": result.counts.conversations,
        "distinct_questions": result.counts.distinct_questions,
        "distinct_answers": result.counts.distinct_answers,
        "license": result.extra.license,
    }
    print(json.dumps(summary, sort_keys=True))
    return 0


def handle_docstrings(args: argparse.Namespace) -> int:
    import json

    from tritter.config import build_config
    from tritter.synth import docstrings_stage

    config = build_config(DocstringsConfig, args, args.config)
    result = docstrings_stage.run(config)
    print(json.dumps({"output": config.output, "conversations": result.counts.conversations,
                      "documented": result.counts.documented}, sort_keys=True))  # fmt: skip
    return 0


STEPS_EPILOG = """\
Each step reads the previous step's folder and is resumable: work units under _work/ carry
markers, so a relaunch skips finished units; the same inputs and options again are a no-op.

examples:
  tritter synth generate --model runs/demo/checkpoints --tokenizer runs/demo/tokenizer \\
      --output runs/demo/synth/generated --count 2000
  tritter synth critique --model runs/demo/checkpoints --tokenizer runs/demo/tokenizer \\
      --input runs/demo/synth/generated --output runs/demo/synth/critiques
  tritter synth revise --model runs/demo/checkpoints --tokenizer runs/demo/tokenizer \\
      --input runs/demo/synth/critiques --output runs/demo/synth/pairs
  tritter synth filter --input runs/demo/synth/pairs --output runs/demo/synth/filtered
"""

STEPS = (
    ("generate", GenerateConfig, "a base model's few-shot answers to seed questions",
     "Few-shot completion prompts (plain-text transcripts of --shots seed conversations, then "
     "the target user turn and 'Assistant:') sampled from a base model; completions are cut at "
     "the next speaker label. Writes conversations.jsonl (tritter.chat rows) and the manifest; "
     "unparsable or empty completions are counted by reason."),
    ("critique", CritiqueConfig, "critique each answer against a sampled constitution principle",
     "For each conversation's last answer, a principle drawn from the constitution (seeded) and "
     "a few-shot critique prompt of the base model. Writes critiques.jsonl "
     "({id, prompt, response, principle, critique, source, license})."),
    ("revise", ReviseConfig, "revise each answer after its critique: preference pairs + SFT rows",
     "A few-shot revision prompt per critique. Writes pairs.jsonl ({id, prompt, chosen: "
     "revision, rejected: original, principle, critique, source, license}: what `tritter dpo` "
     "reads) and conversations.jsonl (the revised conversations); empty, unparsable and "
     "unchanged revisions are counted and dropped."),
    ("filter", FilterConfig, "drop unsafe, duplicate and benchmark-contaminated rows",
     "A rule-based safety filter (violent crime, malware, sexual content involving minors, self "
     "harm, hate/harassment, PII, dangerous chemicals/bio) plus an optional Hugging Face "
     "classifier (--classifier DIR), MinHash near-dedup and HumanEval/MBPP decontamination. "
     "Writes pairs.jsonl and/or conversations.jsonl as read, with counts per reason."),
)  # fmt: skip

CHECK_BASE_DESCRIPTION = """\
Check that a model behaves as a base model when prompted with plain text: whether its tokenizer
has a chat_template (a warning: the synth steps never apply it), whether a plain encode silently
wraps text in a template (fail), whether its name or training phase says instruction-tuned, and
whether it continues a bare request like an assistant (fail when half of the probes do). Prints
a verdict table; exits 2 on fail, 0 on ok or warn.
"""


def handle_step(args: argparse.Namespace) -> int:
    import importlib
    import json

    from tritter.config import build_config

    config = build_config(args.step_config, args, args.config)
    stage = importlib.import_module(f"tritter.synth.{args.step_name}_stage")
    result = stage.run(config)
    summary = {"output": config.output, "stage": result.stage, "rows_in": result.counts.rows_in,
               "rows_out": result.counts.rows_out, "dropped": result.counts.dropped}  # fmt: skip
    print(json.dumps(summary, sort_keys=True))
    return 0


def handle_check_base(args: argparse.Namespace) -> int:
    from tritter.synth import check_base

    checks = check_base.check(args.model, args.tokenizer, args.device, args.max_new_tokens)
    print(check_base.table(checks))
    return 2 if check_base.verdict(checks) == "fail" else 0
