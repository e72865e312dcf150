"""`tritter curate`: curate source code into deduplicated, license-clean Parquet shards."""

from __future__ import annotations

import argparse
import json
import sys

from tritter.config import add_arguments
from tritter.curate.config import CurateConfig

STEPS = ("all", "plan", "process-shard", "dedup-index", "apply-shard", "finalize")

DESCRIPTION = """\
Curate source code: ingest (directory, JSONL/Parquet documents, s3:// prefix, hf:// dataset or
'python-stdlib') -> license resolution -> filters -> secret rejection -> benchmark
decontamination -> security/quality labels -> exact + MinHash near-dedup -> Parquet shards
(part-XXXXX.parquet, tritter.schema.CURATED_SCHEMA) and _manifest.json, which counts every input
document as kept or under exactly one drop reason. Relaunching on a complete output is a no-op;
an interrupted run resumes where it stopped.
"""

EPILOG = """\
steps (for Kubeflow or manual fan-out; 'all' runs them in a local process pool):
  --step plan                     enumerate the input into work units (needs the full config)
  --step process-shard --index I  filter, label and MinHash work unit I
  --step dedup-index --index G    join band group G across all shards
  --step apply-shard --index I    drop duplicates, write part-I
  --step finalize                 write _manifest.json
  (steps after plan read the config from <output>/_work/plan.json and need only --output)

examples:
  tritter curate --input python-stdlib --output runs/demo/curated
  tritter curate --input ~/src/repos --output s3://bucket/run/curated --subset curated_repos
  tritter curate --input data/stack.jsonl --output out --languages python,rust --positive-only
"""


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "curate",
        help="curate source code into deduplicated, labelled Parquet shards",
        description=DESCRIPTION,
        epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--config", metavar="FILE", help="YAML/JSON file of CurateConfig fields")
    parser.add_argument(
        "--step", choices=STEPS, default="all", help="run one step only (default: all)"
    )
    parser.add_argument("--index", type=int, default=None, help="work unit / band group for --step")
    add_arguments(parser, CurateConfig)
    parser.set_defaults(handler=handle)


def handle(args: argparse.Namespace) -> int:
    from tritter.config import build_config
    from tritter.curate import runner, steps
    from tritter.errors import TritterError

    if args.step in ("all", "plan"):
        config = build_config(CurateConfig, args, args.config)
        if args.step == "plan":
            print(json.dumps(steps.plan(config), sort_keys=True))
            return 0
        summary = runner.run(config)
        print(runner.summary_table(summary, config))
        return 0
    output = getattr(args, "output", None)
    if not output:
        raise TritterError(f"--step {args.step} needs --output (the run folder)")
    if args.step == "finalize":
        result = steps.finalize(output)
    else:
        if args.index is None:
            raise TritterError(f"--step {args.step} needs --index")
        function = {
            "process-shard": steps.process_shard,
            "dedup-index": steps.dedup_index,
            "apply-shard": steps.apply_shard,
        }[args.step]
        result = function(output, args.index)
    json.dump(result.get("counts", result), sys.stdout, sort_keys=True, default=str)
    print()
    return 0
