"""`tritter pack`: curated documents → mixture-weighted token shards."""

from __future__ import annotations

import argparse
from typing import TYPE_CHECKING

from tritter.config import add_arguments
from tritter.data.mixture import add_mix_argument
from tritter.pack.config import PackConfig

if TYPE_CHECKING:
    from tritter.run_folder import PackManifest

STEPS = ("all", "plan", "shard", "finalize")

DESCRIPTION = """\
Tokenize curated documents (each followed by EOS) into uint16/uint32 token shards with document
boundaries, weighted by a mixture over curated subsets, split by document into train and
validation. Writes <split>/<subset>/NNNNN.tokens.npy + NNNNN.docs.npy + NNNNN.documents.parquet
(which curated document each span is: what `tritter takedown` reads) and _manifest.json
(tokenizer sha256, vocab size, seq_len, dtype, tokens per split/subset/language, realized
mixture, every file's size and sha256). Relaunching a finished pack only verifies it (sizes
and sha256); an interrupted one resumes with the shards still missing. The curated input's
sha256 is checked before it is read.
"""

EPILOG = """\
steps (for Kubeflow or manual fan-out; 'all' runs them in a local process pool):
  --step plan                 decide split, mixture and work units (needs the full config)
  --step shard --index I      pack work unit I
  --step finalize             verify all shards and write _manifest.json
  (shard and finalize read the plan from <output>/_work/plan.json and need only --output)

examples:
  tritter pack --input runs/demo/curated --tokenizer runs/demo/tokenizer \\
      --output runs/demo/tokens --seq-len 2048
  tritter pack --input s3://b/run/curated --tokenizer s3://b/run/tokenizer \\
      --output s3://b/run/tokens --seq-len 8192 --mix python=0.6,rust=0.4 \\
      --token-budget 2000000000 --max-repetition 2
"""


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "pack",
        help="tokenize curated data into mixture-weighted token shards",
        description=DESCRIPTION,
        epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--config", metavar="FILE", help="YAML/JSON file of PackConfig fields")
    parser.add_argument(
        "--step", choices=STEPS, default="all", help="run one step only (default: all)"
    )
    parser.add_argument("--index", type=int, default=None, help="work unit for --step shard")
    parser.add_argument(
        "--no-verify",
        dest="verify",
        action="store_false",
        help="when the output is already complete, check only the files' sizes, not their "
        "sha256 (one read of the whole folder)",
    )
    add_arguments(parser, PackConfig, exclude=("mix",))
    add_mix_argument(parser, "token share per curated subset")
    parser.set_defaults(handler=handle)


def handle(args: argparse.Namespace) -> int:
    import json

    from tritter.config import build_config
    from tritter.errors import TritterError
    from tritter.pack import finalize, plan, shard, stage

    if args.step in ("all", "plan"):
        config = build_config(PackConfig, args, args.config)
        if args.step == "plan":
            made, complete = plan.make_plan(config)
            print(json.dumps({"shards": len(made.shards), "complete": complete}))
            return 0
        result = stage.run(config, check_hash=args.verify)
        print(json.dumps(summary(result), sort_keys=True))
        return 0
    output = getattr(args, "output", None)
    if not output:
        raise TritterError(f"--step {args.step} needs --output (the tokens folder)")
    if args.step == "finalize":
        print(json.dumps(summary(finalize.finalize(output)), sort_keys=True))
        return 0
    if args.index is None:
        raise TritterError("--step shard needs --index")
    result = shard.pack_shard(output, args.index)
    keys = ("index", "tokens", "documents")
    print(json.dumps({**{k: result.get(k) for k in keys}, "skipped": bool(result.get("skipped"))}))
    return 0


def summary(result: PackManifest) -> dict[str, object]:
    return {
        "tokens": result.counts.tokens_total,
        "mixture": result.counts.mixture.realized,
        "shards": result.counts.shards,
        "tokenizer_sha256": result.extra.tokenizer_sha256,
    }
