"""`tritter synth identity`: generate synthetic post-training data (identity conversations)."""

from __future__ import annotations

import argparse

from tritter.config import add_arguments
from tritter.synth.config import DocstringsConfig, IdentityConfig

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
        help="generate synthetic post-training data (identity, docstrings)",
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
