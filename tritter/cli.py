"""The `tritter` command: one subcommand per stage, discovered from `tritter.commands`."""

from __future__ import annotations

import argparse
import importlib
import pkgutil
import sys
from collections.abc import Sequence

from tritter import __version__, log
from tritter.errors import exit_code


def build_parser() -> argparse.ArgumentParser:
    import tritter.commands as commands

    parser = argparse.ArgumentParser(
        prog="tritter",
        description="Curate code, train a tokenizer, pack token shards, pretrain a ternary "
        "(BitNet b1.58) model and evaluate it — locally or on Kubeflow.",
    )
    parser.add_argument("--version", action="version", version=f"tritter {__version__}")
    subparsers = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    for module in sorted(pkgutil.iter_modules(commands.__path__), key=lambda m: m.name):
        importlib.import_module(f"{commands.__name__}.{module.name}").register(subparsers)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    log.configure()
    return exit_code(lambda: args.handler(args))


if __name__ == "__main__":
    sys.exit(main())
