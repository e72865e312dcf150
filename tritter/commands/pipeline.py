"""`tritter pipeline compile|upload`: the Kubeflow pipeline packages (`tritter-pretrain`,
`tritter-posttrain`)."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from tritter.errors import TritterError

KINDS = ("pretrain", "posttrain")


def _defaults(items: list[str]) -> dict[str, str]:
    result = {}
    for item in items:
        name, sep, value = item.partition("=")
        if not sep or not name.strip():
            raise TritterError(f"--set {item!r}: expected NAME=VALUE")
        result[name.strip()] = value
    return result


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "pipeline",
        help="compile or upload the tritter-pretrain and tritter-posttrain Kubeflow pipelines",
        description="Compile a KFP v2 pipeline (tritter-pretrain or tritter-posttrain) to IR "
        "YAML, or upload it to a Kubeflow Pipelines API (a new version when the pipeline "
        "exists).",
    )
    actions = parser.add_subparsers(dest="action", metavar="ACTION", required=True)

    build = actions.add_parser(
        "compile",
        help="write the pipeline IR YAML",
        epilog="examples:\n"
        "  tritter pipeline compile --output pipelines/tritter_pretrain.yaml\n"
        "  tritter pipeline compile --pipeline all --output pipelines/   # both committed files",
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    build.add_argument(
        "--pipeline",
        choices=(*KINDS, "all"),
        default="pretrain",
        help="which pipeline (default: pretrain); all: both, into the folder --output as "
        "tritter_pretrain.yaml and tritter_posttrain.yaml",
    )
    build.add_argument(
        "--output", required=True, metavar="PATH", help="YAML file to write (all: a folder)"
    )
    _add_custom(build)
    build.set_defaults(handler=handle_compile)

    send = actions.add_parser("upload", help="upload a pipeline to Kubeflow Pipelines")
    send.add_argument(
        "--host",
        required=True,
        metavar="URL",
        help="KFP API endpoint, e.g. http://ml-pipeline.kubeflow:8888",
    )
    send.add_argument(
        "--pipeline",
        choices=KINDS,
        default="pretrain",
        help="which shipped pipeline to upload when --package is not given (default: pretrain)",
    )
    send.add_argument(
        "--package",
        metavar="FILE",
        help="compiled pipeline to upload (default: the one shipped with tritter)",
    )
    send.add_argument(
        "--name", help="pipeline name in KFP (default: the package's, e.g. tritter-pretrain)"
    )
    send.add_argument("--namespace", help="KFP namespace (multi-user installs)")
    _add_custom(send)
    send.set_defaults(handler=handle_upload)


def _add_custom(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--registry", help="image registry replacing the default one")
    parser.add_argument(
        "--sizing",
        metavar="FILE",
        help="YAML sizing of this cluster: profile gpu|cpu, per-step resources, node selector, "
        "tolerations, training pods' CPU/memory/priority class (tritter.deploy.sizing)",
    )
    parser.add_argument(
        "--pull-secret",
        dest="pull_secrets",
        action="append",
        default=[],
        metavar="SECRET",
        help="image pull Secret for every step's and training pod (repeatable; a private registry)",
    )
    parser.add_argument(
        "--set",
        dest="defaults",
        action="append",
        default=[],
        metavar="NAME=VALUE",
        help="new default for a pipeline parameter (repeatable), e.g. run_root=s3://b/runs/x",
    )


def _sizing(args: argparse.Namespace) -> Any:
    from tritter.deploy import sizing

    return sizing.load(args.sizing) if args.sizing else None


def handle_compile(args: argparse.Namespace) -> int:
    from tritter.pipelines import package

    defaults = _defaults(args.defaults)
    sizing = _sizing(args)
    if args.pipeline == "all":
        folder = Path(args.output)
        if folder.exists() and not folder.is_dir():
            raise TritterError(f"--output {folder}: --pipeline all writes a folder, not a file")
        written = [
            package.compile_package(
                folder / package.file_name(kind),
                args.registry,
                defaults,
                kind,
                args.pull_secrets,
                sizing,
            )
            for kind in KINDS
        ]
    else:
        written = [
            package.compile_package(
                args.output, args.registry, defaults, args.pipeline, args.pull_secrets, sizing
            )
        ]
    for path in written:
        print(f"pipeline: {path}")
    return 0


def handle_upload(args: argparse.Namespace) -> int:
    import tempfile

    from tritter.pipelines import package

    source = Path(args.package) if args.package else package.committed_package(args.pipeline)
    if not source.exists():
        raise TritterError(f"{source}: pipeline package not found")
    with tempfile.TemporaryDirectory(prefix="tritter-upload-") as tmp:
        sizing = _sizing(args)
        if args.registry or args.defaults or args.pull_secrets or sizing:
            custom = Path(tmp) / source.name
            custom.write_text(
                package.customize(
                    source.read_text(encoding="utf-8"),
                    args.registry,
                    _defaults(args.defaults),
                    args.pull_secrets,
                    sizing,
                ),
                encoding="utf-8",
            )
            source = custom
        result = package.upload(source, args.host, args.name, args.namespace)
    print(f"pipeline {result['name']}: {result['action']} (version {result['version']})")
    return 0
