"""A run folder for report tests, its manifests built from the stages' own records
(`tritter.run_folder`), so it cannot hold a key a stage never writes. The end-to-end test
(`tests/evaluate/test_end_to_end.py`) reports on a run the real stages produced."""

from __future__ import annotations

import json
import math

import yaml

from tests.support.curated import curate_counts, curate_extra
from tritter import manifest, storage
from tritter.run_folder import (
    CURATE_MANIFEST,
    EVALUATE_MANIFEST,
    PACK_MANIFEST,
    TOKENIZER_MANIFEST,
    Compression,
    CurateInputs,
    DocBytes,
    EvaluateCounts,
    EvaluateInputs,
    Nothing,
    PackCounts,
    PackExtra,
    PackInputs,
    PackMixture,
    ResolvedMixtureRecord,
    RunFolder,
    TokenizerCounts,
    TokenizerExtra,
    TokenizerInputs,
    TokenizerSample,
    TokenizerSeconds,
)


def _manifest(folder: str, contract, inputs, counts, extra, config: dict | None = None):
    manifest.write_manifest(
        folder,
        manifest.Manifest(stage=contract.stage, fingerprint=f"fp-{contract.stage}",
                          inputs=inputs, config=config or {}, counts=counts, extra=extra),
    )  # fmt: skip


def write_sample_run(root: str, steps: int = 400, with_eval: bool = True) -> str:
    run = RunFolder(root)
    counts = curate_counts([], shards=4).model_copy(update={
        "input_documents": 12000, "kept_documents": 9000, "kept_bytes": 48_000_000,
        "dropped_documents": 3000,
        "dropped": {"license": 1400, "near_duplicate": 800, "secret": 35, "too_long": 765},
        "languages": {"python": 5000, "rust": 3000, "markdown": 1000},
        "subsets": {"python": 5000, "rust": 3000, "docs": 1000},
        "licenses": {"mit": 6000, "apache-2.0": 3000},
    })  # fmt: skip
    counts.dedup.exact_removed, counts.dedup.near_removed, counts.dedup.threshold = 300, 500, 0.7
    _manifest(run.curated, CURATE_MANIFEST,
              CurateInputs(source="tests", listing_sha256="ab" * 32), counts, curate_extra(),
              {"dedup_threshold": 0.7})  # fmt: skip
    mixture = ResolvedMixtureRecord(
        target={"docs": 0.133333, "python": 0.533333, "rust": 0.333333},
        requested={"python": 0.4, "rust": 0.25, "docs": 0.1}, renormalized=False,
        missing_subsets=[], excluded_subsets=[],
    )  # fmt: skip
    compression = {
        "python": Compression(documents=50, chars=200_000, bytes=201_000, tokens=54_000,
                              chars_per_token=3.7037, bytes_per_token=3.7222),
        "rust": Compression(documents=30, chars=90_000, bytes=90_500, tokens=26_000,
                            chars_per_token=3.4615, bytes_per_token=3.4808),
        "all": Compression(documents=80, chars=290_000, bytes=291_500, tokens=80_000,
                           chars_per_token=3.625, bytes_per_token=3.6438),
    }  # fmt: skip
    _manifest(
        run.tokenizer, TOKENIZER_MANIFEST,
        TokenizerInputs(curated=run.curated, curated_fingerprint="fp-curate"),
        TokenizerCounts(
            vocab_size=8192,
            sample=TokenizerSample(
                documents=9000, bytes=40_000_000, sentences=90_000,
                subsets={"python": DocBytes(documents=5000, bytes=22_000_000)},
                languages_bytes={"python": 22_000_000},
                mixture_realized={"python": 0.55, "rust": 0.33, "docs": 0.12},
            ),
            heldout={"python": DocBytes(documents=50, bytes=201_000)},
            compression=compression,
            seconds=TokenizerSeconds(sample=1.0, train=12.5, total=14.0),
            peak_rss_bytes=1 << 30, threads=2,
        ),
        TokenizerExtra(
            sha256="ab" * 32, vocab_size=8192, special_ids={"eos": 2}, special_tokens=[],
            byte_fallback_ids=[32, 287], mixture=mixture,
            sentencepiece={"model_type": "unigram", "vocab_size": 8192},
        ),
    )  # fmt: skip
    train = {"python": 6_100_000, "rust": 3_900_000, "docs": 2_000_000}
    _manifest(
        run.tokens, PACK_MANIFEST,
        PackInputs(curated=run.curated, curated_fingerprint="fp-curate",
                   tokenizer=run.tokenizer, tokenizer_sha256="ab" * 32),
        PackCounts(
            tokens={"train": train}, tokens_total={"train": 12_000_000},
            documents={"train": {"python": 5000, "rust": 3000, "docs": 1000}},
            unique_tokens={"train": train}, languages={"train": train},
            mixture=PackMixture(
                target=mixture.target,
                realized={k: round(v / 12_000_000, 6) for k, v in train.items()},
                repetition=dict.fromkeys(train, 1.0), planned_repetition=dict.fromkeys(train, 1.0),
                budget_tokens=12_000_000, planned_tokens=12_000_000, budget_capped=False,
            ),
            text_bytes=48_000_000, shards=6, seconds=30.0, pack_seconds=50.0,
            pack_cpu_seconds=50.0,
        ),
        PackExtra(
            tokenizer_sha256="ab" * 32, vocab_size=8192, seq_len=1024, dtype="uint16", eos_id=2,
            pad_id=3, format={}, shards=[], mixture=mixture, val_too_short=[], val_missing=[],
            plan={},
        ),
        {"mix": {"python": 0.4, "rust": 0.25, "docs": 0.1}, "seq_len": 1024},
    )  # fmt: skip
    checkpoints = storage.join(root, "checkpoints")
    storage.write_text(
        storage.join(checkpoints, "config.yaml"),
        yaml.safe_dump({"model": {"preset": "tiny", "hidden_size": 256, "num_layers": 4},
                        "optim": {"lr": 1.5e-3, "weight_decay": 0.1}, "seq_len": 1024,
                        "global_batch_tokens": 32768}),
    )  # fmt: skip
    lines, start = [], 1_700_000_000.0
    for step in range(1, steps + 1):
        # S-shaped ternary loss curve with noise, warm-up then decay of the LR.
        loss = 2.2 + 6.8 / (1 + math.exp((step - steps * 0.3) / (steps * 0.08)))
        loss += 0.08 * math.sin(step * 1.7)
        lr = 1.5e-3 * min(1.0, step / 40) * (1 - 0.9 * step / steps)
        lines.append({"kind": "train", "step": step, "time": start + step * 2.0, "loss": loss,
                      "lr": lr, "tokens": step * 32768, "tokens_per_second": 16000 + 300 *
                      math.sin(step), "mfu": 0.31 + 0.01 * math.cos(step), "grad_norm": 0.9,
                      "step_seconds": 2.0, "data_wait_ratio": 0.01})  # fmt: skip
        if step % 100 == 0:
            lines.append(
                {
                    "kind": "val",
                    "step": step,
                    "time": start + step * 2.0 + 1,
                    "val_loss": loss + 0.05,
                    "val_bpb": (loss + 0.05) / math.log(2) / 3.7,
                    "per_subset": {
                        "python": {"loss": loss, "bpb": loss / 2.6},
                        "rust": {"loss": loss + 0.2, "bpb": loss / 2.3},
                    },
                }
            )
            lines.append(
                {
                    "kind": "checkpoint",
                    "step": step,
                    "time": start + step * 2.0 + 2,
                    "save_seconds": 3.2,
                    "blocking_seconds": 0.4,
                    "uri": storage.join(checkpoints, f"step-{step:08d}"),
                }
            )
            folder = storage.join(checkpoints, f"step-{step:08d}")
            storage.write_bytes(storage.join(folder, "__0_0.distcp"), b"weights")
            storage.write_text(storage.join(folder, "_COMMITTED"), json.dumps(
                {"step": step, "world_size": 2, "time": start + step * 2.0 + 2,
                 "files": ["__0_0.distcp"]}))  # fmt: skip
    # One step folder without its marker: an interrupted save.
    storage.write_bytes(storage.join(checkpoints, f"step-{steps + 50:08d}", "__0_0.distcp"), b"x")
    storage.write_text(
        storage.join(checkpoints, "metrics.jsonl"),
        "".join(json.dumps(line) + "\n" for line in lines) + '{"kind": "tra',
    )
    storage.write_text(storage.join(checkpoints, "final", "config.json"), "{}")
    if with_eval:
        results = {
            "checkpoint": {"uri": checkpoints, "step": steps, "parameters": 3_400_000},
            "tasks": {
                "perplexity": {"subsets": {
                    "python": {"loss": 1.02, "perplexity": 2.77, "bpb": 0.41, "tokens": 4096,
                               "bytes": 14000},
                    "rust": {"loss": 1.5, "perplexity": 4.48, "bpb": 0.6, "tokens": 4096,
                             "bytes": 13000}},
                    "overall": {"loss": 1.26, "perplexity": 3.5, "bpb": 0.5, "tokens": 8192,
                                "bytes": 27000}},
                "humaneval": {"problems": 164, "samples_per_problem": 1, "pass@1": 0.0244,
                              "decoding": {"temperature": 0.0},
                              "generation": {"tokens_per_second": 812.0}},
                "mbpp": {"problems": 500, "samples_per_problem": 1, "pass@1": 0.61,
                         "decoding": {"temperature": 0.0},
                         "generation": {"tokens_per_second": 790.0}},
            },
            "sandbox": {"isolation": "namespaces", "protections": ["net_namespace", "rlimits"]},
        }  # fmt: skip
        storage.write_text(storage.join(root, "eval", "results.json"), json.dumps(results))
        _manifest(
            run.eval, EVALUATE_MANIFEST,
            EvaluateInputs(
                checkpoint=checkpoints, checkpoint_identity={}, tokenizer_sha256="ab" * 32
            ),
            EvaluateCounts(tasks={"humaneval": {"problems": 164, "pass@1": 0.0244},
                                  "mbpp": {"problems": 500, "pass@1": 0.61}}),
            Nothing(),
        )  # fmt: skip
    return root
