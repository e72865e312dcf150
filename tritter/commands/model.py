"""`tritter model info`: parameter counts, FLOPs per token and memory of a preset or checkpoint."""

from __future__ import annotations

import argparse

DESCRIPTION = """\
Print the shape of a model preset (or of a Hugging Face BitNet directory's config.json):
parameter counts (total, ternary, embedding, head), training FLOPs per token (6N + attention)
and memory for the weights (fp32, bf16, packed 2-bit) and for AdamW training state.
"""

EPILOG = """\
presets: tiny, 125m, 700m, 1.3b, 3b, 7b, 2b4t, blueprint

examples:
  tritter model info 2b4t
  tritter model info all
  tritter model info 700m --seq-len 4096 --json
  tritter model info tiny --vocab-size 32768 --quantization dense
  tritter model info runs/demo/checkpoints/final
"""


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser("model", help="inspect model presets", description="Model.")
    commands = parser.add_subparsers(dest="model_command", metavar="COMMAND", required=True)
    info = commands.add_parser(
        "info",
        help="parameters, FLOPs/token and memory of a preset",
        description=DESCRIPTION,
        epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    info.add_argument(
        "model", help="preset name, 'all' (a table of the presets) or a Hugging Face BitNet dir"
    )
    info.add_argument("--seq-len", type=int, default=None, help="context for FLOPs/token")
    info.add_argument("--vocab-size", type=int, default=None, help="override the vocabulary")
    info.add_argument("--quantization", choices=("ternary", "dense"), default=None, help="override")
    info.add_argument("--json", action="store_true", help="print one JSON object")
    info.set_defaults(handler=handle_info)


def handle_info(args: argparse.Namespace) -> int:
    import json
    from pathlib import Path

    from tritter import storage
    from tritter.errors import TritterError
    from tritter.model.config import PRESETS, resolve_config
    from tritter.model.hf import config_from_hf
    from tritter.model.info import format_info, format_table, model_info

    overrides = {
        key: value
        for key, value in (("vocab_size", args.vocab_size), ("quantization", args.quantization))
        if value is not None
    }
    if args.model == "all":
        infos = {
            name: model_info(resolve_config(name, **overrides), args.seq_len) for name in PRESETS
        }
        print(json.dumps(infos, sort_keys=True) if args.json else format_table(infos))
        return 0
    if args.model in PRESETS:
        config = resolve_config(args.model, **overrides)
    else:
        config_uri = storage.join(args.model, "config.json")
        if not (storage.is_s3(args.model) or Path(args.model).is_dir()):
            raise TritterError(
                f"'{args.model}' is neither a preset ({', '.join(PRESETS)}) nor a model directory"
            )
        try:
            data = json.loads(storage.read_text(config_uri))
        except FileNotFoundError as err:
            raise TritterError(f"{config_uri}: not found") from err
        except ValueError as err:
            raise TritterError(f"{config_uri}: invalid JSON ({err})") from err
        config = resolve_config(config_from_hf(data, config_uri), **overrides)
    if args.seq_len is not None and args.seq_len <= 0:
        raise TritterError(f"--seq-len must be positive, got {args.seq_len}")
    info = model_info(config, args.seq_len)
    if args.json:
        print(json.dumps({"model": args.model, **info}, sort_keys=True))
    else:
        print(format_info(args.model, info))
    return 0
