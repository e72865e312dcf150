"""`tritter takedown`: remove a repository's (or a document's) data from a finished run."""

from __future__ import annotations

import argparse
import getpass

DESCRIPTION = """\
Remove the named documents from a run's curated/ Parquet shards and tokens/ shards (token
shards are compacted: the other documents move up, the shard gets shorter), give the rewritten
files new sha256s in the curate and pack manifests, and append an entry to
takedown/log.jsonl: who, which selectors, when (UTC), every file changed with its old and new
sha256, how many documents and tokens went (never any text). Prints the documents and files
affected and the checkpoints whose training consumed the removed tokens (worked out from each
checkpoint's loader position). Selectors add up: a document goes when any one names it.
A second run of the same takedown finds nothing; an interrupted one finishes when rerun.
"""

EPILOG = """\
examples:
  tritter takedown --run runs/demo --repo acme/secret --dry-run
  tritter takedown --run s3://b/runs/demo --repo acme/secret --requested-by legal@example.com \\
      --reason "DMCA notice 2024-117"
  tritter takedown --run runs/demo --path-glob 'acme/tools/vendor/*' --id 9d55dfec...
"""


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "takedown",
        help="remove documents (by repo, id or path) from a run's curated data and token shards",
        description=DESCRIPTION,
        epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--run", required=True, help="run folder: path or s3:// URI")
    parser.add_argument(
        "--repo", action="append", default=[], metavar="NAME", help="curated `repo` (repeatable)"
    )
    parser.add_argument(
        "--id", action="append", default=[], metavar="ID", help="curated document `id`"
    )
    parser.add_argument(
        "--path-glob",
        action="append",
        default=[],
        metavar="GLOB",
        help="glob matched against the document's path and against repo/path (* spans /)",
    )
    parser.add_argument(
        "--requested-by", default=None, help="who asked (logged; default: the local user)"
    )
    parser.add_argument("--reason", default=None, help="why (logged), e.g. the notice's id")
    parser.add_argument(
        "--dry-run", action="store_true", help="list what would change; change nothing"
    )
    parser.set_defaults(handler=handle)


def handle(args: argparse.Namespace) -> int:
    import json

    from tritter.takedown.run import takedown
    from tritter.takedown.selectors import selectors

    chosen = selectors(args.repo, args.id, args.path_glob)
    outcome = takedown(
        args.run, chosen, args.requested_by or getpass.getuser(), args.reason, args.dry_run
    )
    entry = outcome.entry
    if entry is None:
        print(json.dumps({"changed": False, "reason": "no document matches"}))
        return 0
    shards = sorted({f.path.rsplit(".", 2)[0] for f in entry.files if f.path.startswith("tokens/")})
    print(
        json.dumps(
            {
                "takedown": entry.id,
                "dry_run": outcome.dry_run,
                "resumed": outcome.resumed,
                "documents": outcome.documents,
                "curated_files": [f.path for f in entry.files if f.path.startswith("curated/")],
                "token_shards": shards,
                "curated_documents_removed": entry.curated_documents_removed,
                "token_documents_removed": entry.token_documents_removed,
                "tokens_removed": entry.tokens_removed,
                "checkpoints": entry.checkpoints,
                "checkpoints_basis": entry.checkpoints_basis,
                "notes": entry.notes,
            },
            indent=1,
        )
    )
    return 0
