"""`tritter report --run URI`: the run report (HTML, Markdown, JSON, PNG plots)."""

from __future__ import annotations

import argparse

from tritter.config import add_arguments, build_config
from tritter.report.config import ReportConfig


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "report",
        help="write the run report (HTML, Markdown, JSON and plots) into <run>/report",
        description="Collect a run folder (data manifests, tokenizer, metrics.jsonl, "
        "checkpoints, eval/results.json) and write report.html (self-contained), report.md, "
        "report.json and PNG plots. Works on a run that is still training.",
    )
    parser.add_argument("--config", metavar="FILE", help="YAML file with the options below")
    add_arguments(parser, ReportConfig)
    parser.set_defaults(handler=handle)


def handle(args: argparse.Namespace) -> int:
    from tritter.report import stage

    config = build_config(ReportConfig, args, args.config)
    _, warnings = stage.run(config)
    print(f"report: {stage.output_of(config)}/report.html")
    for warning in warnings:
        print(f"warning: {warning}")
    return 0
