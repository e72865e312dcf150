"""`tritter curate`: curate source code into deduplicated, license-clean Parquet shards."""

from __future__ import annotations

import argparse
import json
import sys
from dataclasses import asdict
from typing import TYPE_CHECKING

from tritter.config import add_arguments
from tritter.curate.config import CurateConfig

if TYPE_CHECKING:
    from tritter.curate.stage import Outcome

STEPS = ("all", "plan", "process-shard", "dedup-index", "apply-shard", "finalize")

DESCRIPTION = """\
Curate source code: ingest (directory, JSONL/Parquet documents, s3:// prefix, hf:// dataset or
'python-stdlib') -> license resolution -> filters -> secret rejection -> benchmark
decontamination -> security/quality labels -> exact + MinHash near-dedup (+ embedding
semantic dedup with --semantic-dedup ENCODER) -> Parquet shards
(part-XXXXX.parquet, tritter.schema.CURATED_SCHEMA) and _manifest.json, which counts every input
document as kept or under exactly one drop reason. Relaunching on a complete output is a no-op;
an interrupted run resumes where it stopped.
"""

EPILOG = """\
steps (for Kubeflow or manual fan-out; 'all' runs them in a local process pool):
  --step plan                     enumerate the input into work units (needs the full config)
  --step process-shard --index I  filter, label and MinHash work unit I
  --step dedup-index --index K    dedup unit K of the plan's dedup_units: drives every dedup
                                  fan-out and round with the other units (run them at once)
  --step apply-shard --index I    drop duplicates, write part-I
  --step finalize                 write _manifest.json
  (steps after plan read the config from <output>/_work/plan.json and need only --output)

examples:
  tritter curate --input python-stdlib --output runs/demo/curated
  tritter curate --input ~/src/repos --output s3://bucket/run/curated --subset curated_repos
  tritter curate --input data/stack.jsonl --output out --languages python,rust --positive-only
  tritter curate --input ~/src/repos --output out --semantic-dedup s3://bucket/models/code-encoder
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
    parser.add_argument("--index", type=int, default=None, help="work unit / dedup unit for --step")
    add_arguments(parser, CurateConfig)
    parser.set_defaults(handler=handle)


def handle(args: argparse.Namespace) -> int:
    from tritter.config import build_config
    from tritter.curate import apply, finalize, index, plan, process, stage
    from tritter.errors import TritterError

    if args.step in ("all", "plan"):
        config = build_config(CurateConfig, args, args.config)
        if args.step == "plan":
            print(json.dumps(asdict(plan.plan(config)), sort_keys=True))
            return 0
        print(summary_table(stage.execute(config), config))
        return 0
    output = getattr(args, "output", None)
    if not output:
        raise TritterError(f"--step {args.step} needs --output (the run folder)")
    if args.step == "finalize":
        result = finalize.finalize(output).to_dict()["counts"]
    else:
        if args.index is None:
            raise TritterError(f"--step {args.step} needs --index")
        function = {
            "process-shard": process.process_shard,
            "dedup-index": index.dedup_index,
            "apply-shard": apply.apply_shard,
        }[args.step]
        result = function(output, args.index).model_dump(mode="json")
    json.dump(result, sys.stdout, sort_keys=True, default=str)
    print()
    return 0


def _row(label: str, value: object, note: str = "", indent: int = 2) -> str:
    shown = f"{value:,}" if isinstance(value, int) else str(value)
    return f"{' ' * indent}{label:<{30 - indent}}{shown:>12}  {note}".rstrip()


def summary_table(outcome: Outcome, config: CurateConfig) -> str:
    """The human-readable end-of-run report (kept, drops per reason, negatives, dedup, speed)."""
    counts = outcome.manifest.counts
    dedup = counts.dedup
    mb = 1e6
    lines = [
        f"tritter curate: {config.input} -> {config.output} ({config.format}, "
        f"{counts.shards} shards)"
        + ("  [already complete: nothing to do]" if outcome.up_to_date else ""),
        _row(
            "input documents",
            counts.input_documents,
            f"{counts.input_bytes / mb:.1f} MB listed, {counts.read_bytes / mb:.1f} MB read",
        ),
        _row(
            "kept",
            counts.kept_documents,
            f"{counts.kept_bytes / mb:.1f} MB  "
            + "  ".join(f"{k} {v:,}" for k, v in sorted(counts.labels.items())),
        ),
        _row("dropped", counts.dropped_documents),
    ]
    for reason, value in counts.dropped.items():
        lines.append(_row(reason, value, indent=4))
    lines.append(
        _row("negative documents", counts.labels.get("negative", 0),
             "per flaw (a document can have several):")
    )  # fmt: skip
    for flaw, value in sorted(counts.negatives.items(), key=lambda kv: -kv[1]):
        lines.append(_row(flaw, value, indent=4))
    lines += [
        _row(
            "exact-duplicate groups",
            dedup.exact_groups,
            f"{dedup.exact_removed:,} removed, largest {dedup.largest_exact_group}",
        ),
        _row(
            "near-duplicate clusters",
            dedup.near_clusters,
            f"{dedup.near_removed:,} removed, largest {dedup.largest_near_cluster} (Jaccard >= "
            f"{dedup.threshold}, {dedup.bands}x{dedup.rows} LSH, "
            f"{dedup.candidate_pairs:,} candidates, {dedup.verified_pairs:,} verified)",
        ),
    ]
    if dedup.semantic is not None:
        semantic = dedup.semantic
        lines.append(
            _row("semantic-duplicate groups", semantic.groups,
                 f"{semantic.removed:,} removed, largest {semantic.largest_group} (cosine > "
                 f"{semantic.threshold}, {semantic.embedded:,} embedded in "
                 f"{semantic.clusters:,} clusters, {semantic.pairs:,} pairs)")
        )  # fmt: skip
    if outcome.up_to_date:
        throughput = outcome.manifest.extra.throughput
        lines.append(
            _row(
                "time (original run)",
                f"{throughput.seconds} s",
                f"{throughput.read_mb_per_second} MB/s read",
            )
        )
    else:
        rate = counts.read_bytes / mb / max(outcome.seconds, 1e-9)
        lines.append(
            _row(
                "time",
                f"{outcome.seconds:.1f} s",
                f"{rate:.2f} MB/s read, {rate / outcome.workers:.2f} MB/s per "
                f"worker ({outcome.workers} workers)",
            )
        )
    return "\n".join(lines)
