"""`tritter model info`: parameter counts, FLOPs per token and memory of a preset or checkpoint."""

from __future__ import annotations

import argparse

DESCRIPTION = """\
Print the shape of a model preset (or of a Hugging Face BitNet directory's config.json):
parameter counts (total, ternary, embedding, head), training FLOPs per token (6N + attention)
and memory for the weights (fp32, bf16, packed 2-bit) and for AdamW training state.
With --tokens, also what training on that many tokens costs on --nodes × --gpus GPUs of
--gpu kind: wall time at an assumed MFU, GPU-hours, the bill at --price-per-gpu-hour, and
memory per GPU under DDP and FSDP2 (tritter/model/capacity.py says how each is estimated).
"""

EPILOG = """\
presets: tiny, 125m, 700m, 1.3b, 3b, 7b, 2b4t, blueprint

examples:
  tritter model info 2b4t
  tritter model info all
  tritter model info 700m --seq-len 4096 --json
  tritter model info tiny --vocab-size 32768 --quantization dense
  tritter model info runs/demo/checkpoints/final
  tritter model info 2b4t --tokens 100e9 --nodes 4 --gpus 8 --gpu h100 \
      --price-per-gpu-hour 2.5 --seq-len 4096
"""


CONVERT_DESCRIPTION = """\
Read a BitNet checkpoint directory (latent "online" weights, packed "offline" 2-bit weights, or
dense) and write it in the other format. packed → latent gives weights whose online
quantization reproduces the packed model exactly, so it can be trained further; latent →
packed stores each ternary projection as 2-bit codes plus its absmean scale (the layout of
microsoft/bitnet-b1.58-2B-4T, loadable by transformers). config.json is written last.

examples:
  tritter model convert runs/demo/checkpoints/final runs/demo/packed --format packed
  tritter model convert bitnet-b1.58-2B-4T bitnet-2b4t-latent --format latent
"""


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "model", help="inspect presets, convert checkpoints", description="Model commands."
    )
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
    plan = info.add_argument_group("training plan (with --tokens)")
    plan.add_argument("--tokens", type=float, default=None, help="training tokens, e.g. 100e9")
    plan.add_argument("--gpus", type=int, default=8, help="GPUs per node (default 8)")
    plan.add_argument("--nodes", type=int, default=1, help="nodes (default 1)")
    plan.add_argument("--gpu", default="h100", help="a100, h100, h200 or b200 (default h100)")
    plan.add_argument("--mfu", type=float, default=None, help="assumed model FLOPs utilisation "
                      "(default 0.40)")  # fmt: skip
    plan.add_argument("--micro-batch-size", type=int, default=1, help="sequences per GPU step")
    plan.add_argument("--activation-checkpointing", action="store_true",
                      help="memory with activation checkpointing on every layer")  # fmt: skip
    plan.add_argument("--price-per-gpu-hour", type=float, default=None, help="e.g. 2.5 (USD)")
    info.set_defaults(handler=handle_info)

    convert = commands.add_parser(
        "convert",
        help="rewrite a BitNet checkpoint directory: packed 2-bit <-> latent weights",
        description=CONVERT_DESCRIPTION,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    convert.add_argument("source", help="Hugging Face BitNet directory (local or s3://)")
    convert.add_argument("output", help="output directory (local or s3://)")
    convert.add_argument(
        "--format",
        choices=("packed", "latent"),
        required=True,
        help="packed: 2 bits per ternary weight + one scale per projection (inference); "
        "latent: weights Tritter and transformers train from (online quantization)",
    )
    convert.add_argument(
        "--dtype", choices=("float32", "bfloat16"), default="bfloat16",
        help="dtype of the non-ternary tensors (default: bfloat16)",
    )  # fmt: skip
    convert.set_defaults(handler=handle_convert)


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
    if args.tokens is not None:
        from tritter.model.capacity import DEFAULT_MFU, format_plan, plan

        info["plan"] = plan(
            config,
            tokens=args.tokens,
            gpus_per_node=args.gpus,
            nodes=args.nodes,
            gpu=args.gpu,
            mfu=DEFAULT_MFU if args.mfu is None else args.mfu,
            seq_len=args.seq_len,
            micro_batch_size=args.micro_batch_size,
            activation_checkpointing=args.activation_checkpointing,
            price_per_gpu_hour=args.price_per_gpu_hour,
        )
    if args.json:
        print(json.dumps({"model": args.model, **info}, sort_keys=True))
    else:
        print(format_info(args.model, info))
        if "plan" in info:
            print(format_plan(args.model, info["plan"]))
    return 0


def handle_convert(args: argparse.Namespace) -> int:
    import json

    import torch

    from tritter import storage
    from tritter.errors import TritterError
    from tritter.model import Tritter

    dtype = {"float32": torch.float32, "bfloat16": torch.bfloat16}[args.dtype]
    # Always read in fp32 so that ternarization sees the full-precision weights.
    model = Tritter.from_hf(args.source)
    if args.format == "packed" and model.config.quantization != "ternary":
        raise TritterError(f"{args.source}: a dense checkpoint has no ternary weights to pack")
    model.save_hf(args.output, packed=args.format == "packed", dtype=dtype)
    size = sum(item.size for item in storage.list_objects(args.output.rstrip("/") + "/"))
    print(json.dumps({"output": args.output, "format": args.format, "bytes": size}))
    return 0
