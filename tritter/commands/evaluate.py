"""`tritter evaluate`: held-out perplexity/bits per byte, sandboxed code benchmarks (HumanEval,
MBPP, MultiPL-E Rust, DS-1000), GSM8K, ARC, MMLU and CORE."""

from __future__ import annotations

import argparse

from tritter.config import add_arguments, build_config
from tritter.evaluate.config import TASKS, EvaluateConfig


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "evaluate",
        help="perplexity / bits per byte, code pass@k, GSM8K, ARC, MMLU and CORE for a "
        "checkpoint (chat models: also identity and persona)",
        description="Evaluate a checkpoint (a pretrain checkpoints folder, one step folder or a "
        "Hugging Face BitNet directory): held-out loss, perplexity and tokenizer-independent "
        "bits per byte per subset; HumanEval (164) / MBPP (test split, 500) / MultiPL-E Rust / "
        "DS-1000 pass@k with every program run in a sandbox; GSM8K accuracy; ARC and MMLU "
        "accuracy (log-likelihood for base models, a generated letter for chat models); CORE, "
        "the mean centred accuracy. Writes results.json, samples-<task>.jsonl and "
        f"_manifest.json to --output. Tasks: {', '.join(TASKS)}.",
    )
    parser.add_argument("--config", metavar="FILE", help="YAML file with the options below")
    add_arguments(parser, EvaluateConfig)
    parser.set_defaults(handler=handle)


def handle(args: argparse.Namespace) -> int:
    from tritter.evaluate import stage

    config = build_config(EvaluateConfig, args, args.config)
    results = stage.run(config)
    for task, values in results["tasks"].items():
        if task == "perplexity":
            for subset, numbers in {**values["subsets"], "all": values["overall"]}.items():
                if numbers:
                    print(f"perplexity {subset}: loss {numbers['loss']:.4f} "
                          f"ppl {numbers['perplexity']:.3f} bpb {numbers['bpb']:.4f}")  # fmt: skip
        elif task == "identity":
            print(f"identity: {values['problems']} questions, consistency "
                  f"{values['consistency']:.4f} (names the persona {values['names_persona']:.4f}, "
                  f"claims to be human {values['claims_human']:.4f})")  # fmt: skip
        elif task == "persona":
            rates = ", ".join(
                f"{name} {rate['rate']:.4f} ({rate['count']}/{rate['prompts']})"
                for name, rate in values["rates"].items()
                if rate["rate"] is not None
            )
            print(f"persona: {values['problems']} prompts, {rates}")
        elif task == "core":
            score = values["score"]
            shown = "n/a" if score is None else f"{score:.4f}"
            print(f"core: {shown} (mean centred accuracy of {', '.join(values['components'])})")
        elif "accuracy" in values:
            print(f"{task}: {values['problems']} problems, accuracy {values['accuracy']:.4f}")
        else:
            scores = " ".join(f"{k} {v:.4f}" for k, v in values.items() if k.startswith("pass@"))
            skipped = (values.get("skipped") or {}).get("problems")
            extra = f" ({skipped} skipped: libraries missing)" if skipped else ""
            print(f"{task}: {values['problems']} problems, {scores}{extra}")
    print(f"results: {config.output}")
    return 0
