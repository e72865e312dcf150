"""`tritter tokenizer train`: train the SentencePiece unigram tokenizer on curated data."""

from __future__ import annotations

import argparse

from tritter.config import add_arguments
from tritter.data.mixture import add_mix_argument
from tritter.tokenizer.config import TokenizerConfig, TokenizerImportConfig

DESCRIPTION = """\
Train a lossless SentencePiece unigram tokenizer on a sample of a curated folder drawn across
subsets in mixture proportion (deterministic for a seed). Writes tokenizer.model (plain
SentencePiece), tokenizer.vocab (piece<TAB>score per id) and _manifest.json (sample statistics,
special token ids, sha256, held-out compression per language). Relaunching with the same input
and options is a no-op.
"""

EPILOG = """\
special token ids (fixed): 0 <unk>, 1 <s>, 2 </s>, 3 <pad>, 4-13 chat and tool markers
(<|system_start|> ... <|output_end|>), 14-31 reserved, 32-287 byte fallback <0x00>..<0xFF>.

examples:
  tritter tokenizer train --input runs/demo/curated --output runs/demo/tokenizer
  tritter tokenizer train --input s3://bucket/run/curated --output s3://bucket/run/tokenizer \\
      --vocab-size 32768 --sample-bytes 50000000 --mix python=0.6,rust=0.4
"""


IMPORT_DESCRIPTION = """\
Copy an existing tokenizer into a run's tokenizer folder with a manifest, so that pack, training,
evaluation and the report use it exactly like a trained one (continued pretraining must keep the
base model's tokenizer). A Hugging Face folder gives tokenizer.json (+ tokenizer_config.json,
special_tokens_map.json); a SentencePiece folder gives tokenizer.model. Model weights are not
copied. With --curated, compression per language is measured on curated documents. Relaunching
with the same source and options is a no-op.
"""

IMPORT_EPILOG = """\
examples:
  tritter tokenizer import models/bitnet-b1.58-2B-4T-bf16 --output runs/cpt/tokenizer \\
      --curated runs/cpt/curated
  tritter tokenizer import s3://bucket/models/bitnet-2b4t --output s3://bucket/run/tokenizer
"""


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "tokenizer", help="train or import the tokenizer", description="Tokenizer commands."
    )
    commands = parser.add_subparsers(dest="tokenizer_command", metavar="COMMAND", required=True)
    train = commands.add_parser(
        "train",
        help="train a SentencePiece unigram tokenizer on curated data",
        description=DESCRIPTION,
        epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    train.add_argument("--config", metavar="FILE", help="YAML/JSON file of TokenizerConfig fields")
    add_arguments(train, TokenizerConfig, exclude=("mix",))
    add_mix_argument(train, "sampling weights per curated subset")
    train.set_defaults(handler=handle_train)
    imported = commands.add_parser(
        "import",
        help="use an existing tokenizer (e.g. BitNet 2B4T's tokenizer.json) as the run's",
        description=IMPORT_DESCRIPTION,
        epilog=IMPORT_EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    imported.add_argument("source", help="tokenizer folder or file: path or s3:// URI")
    imported.add_argument(
        "--config", metavar="FILE", help="YAML/JSON file of TokenizerImportConfig fields"
    )
    add_arguments(imported, TokenizerImportConfig, exclude=("source",))
    imported.set_defaults(handler=handle_import)


def handle_train(args: argparse.Namespace) -> int:
    import json

    from tritter.config import build_config
    from tritter.tokenizer import stage

    config = build_config(TokenizerConfig, args, args.config)
    result = stage.run(config)
    summary = {
        "output": config.output,
        "sha256": result.extra.sha256,
        "vocab_size": result.extra.vocab_size,
        "compression": {
            name: row.chars_per_token for name, row in result.counts.compression.items()
        },
    }
    print(json.dumps(summary, sort_keys=True))
    return 0


def handle_import(args: argparse.Namespace) -> int:
    import json

    from tritter.config import build_config
    from tritter.tokenizer import importer

    config = build_config(TokenizerImportConfig, args, args.config)
    result = importer.run(config)
    summary = {
        "output": config.output,
        "sha256": result.extra.sha256,
        "vocab_size": result.extra.vocab_size,
        "token_dtype": result.extra.token_dtype,
        "bytes_per_token": {
            name: row.bytes_per_token for name, row in result.counts.compression.items()
        },
    }
    print(json.dumps(summary, sort_keys=True))
    return 0
