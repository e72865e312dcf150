"""The tokenizer stage: curated/ → tokenizer/ (`tritter tokenizer train`).

Draw a sample across the curated subsets in mixture proportion, train SentencePiece on it
(`tritter.tokenizer.train`), measure held-out compression, write tokenizer.model and
tokenizer.vocab, then the manifest. The result depends on the curated documents (their
manifest's fingerprint) and the settings; the same pair finds the finished folder and only
verifies it.
"""

from __future__ import annotations

import resource
import tempfile
import time
from pathlib import Path

from tritter import config as config_module
from tritter import log, manifest, storage
from tritter.data import curated as curated_input
from tritter.run_folder import (
    TOKENIZER_MANIFEST,
    TOKENIZER_MODEL,
    TOKENIZER_VOCAB,
    DocBytes,
    ResolvedMixtureRecord,
    SpecialTokenRecord,
    TokenizerCounts,
    TokenizerExtra,
    TokenizerInputs,
    TokenizerManifest,
    TokenizerSample,
    TokenizerSeconds,
)
from tritter.tokenizer import compression
from tritter.tokenizer.config import TokenizerConfig
from tritter.tokenizer.model import Tokenizer
from tritter.tokenizer.sample import Sample, draw
from tritter.tokenizer.special import FIRST_BYTE_ID, SPECIAL_TOKENS
from tritter.tokenizer.train import (
    check_layout,
    run_sentencepiece,
    sentencepiece_version,
    trainer_options,
    vocab_text,
)

_log = log.get_logger("tokenizer")


def fingerprint(config: TokenizerConfig, inputs: TokenizerInputs) -> str:
    return TOKENIZER_MANIFEST.fingerprint(config, inputs)


def is_done(output: str) -> TokenizerManifest | None:
    return TOKENIZER_MANIFEST.read(output)


def run(config: TokenizerConfig) -> TokenizerManifest:
    """Draw the sample, train, measure, write the folder and (last) its manifest."""
    source = curated_input.open_input(config.input)
    inputs = TokenizerInputs(curated=source.uri, curated_fingerprint=source.fingerprint)
    expected = fingerprint(config, inputs)
    existing = TOKENIZER_MANIFEST.current(config.output, expected)
    if existing is not None:
        manifest.verify_files(config.output, existing)
        log.event(_log, "tokenizer already trained: skipping", output=config.output)
        return existing
    storage.ensure_writable(config.output)
    started = time.time()
    curated_input.verify(source)  # one streaming pass: a corrupt shard is one line, here
    verify_seconds = time.time() - started
    # Another config or input: the old folder must not look finished while it is replaced.
    storage.delete(manifest.manifest_uri(config.output))
    with tempfile.TemporaryDirectory(prefix="tritter-tokenizer-") as workdir:
        sample = draw(config, source, Path(workdir))
        sample_seconds = time.time() - started
        log.event(_log, "training SentencePiece unigram", vocab_size=config.vocab_size,
                  threads=config.threads)  # fmt: skip
        train_started = time.time()
        proto = run_sentencepiece(sample, config, config.threads)
        train_seconds = time.time() - train_started
    model_uri = storage.join(config.output, TOKENIZER_MODEL)
    vocab_uri = storage.join(config.output, TOKENIZER_VOCAB)
    tokenizer = Tokenizer(proto, model_uri)
    check_layout(tokenizer, config.vocab_size)
    measured = compression.measure(tokenizer.encode_batch, sample.heldout)
    storage.write_bytes(model_uri, proto)
    storage.write_text(vocab_uri, vocab_text(proto))
    seconds = TokenizerSeconds(
        sample=round(sample_seconds, 2),
        train=round(train_seconds, 2),
        total=round(time.time() - started, 2),
    )
    result = manifest.Manifest(
        stage=TOKENIZER_MANIFEST.stage,
        fingerprint=expected,
        inputs=inputs,
        config=config_module.dump(config),
        counts=TokenizerCounts(
            vocab_size=tokenizer.vocab_size,
            sample=_sample_record(sample),
            heldout={k: DocBytes(**v) for k, v in sample.heldout_stats.items()},
            compression=measured,
            seconds=seconds,
            peak_rss_bytes=resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024,
            threads=config.threads,
        ),
        files=[
            manifest.file_entry(config.output, model_uri, tokenizer.sha256),
            manifest.file_entry(config.output, vocab_uri),
        ],
        extra=_extra(tokenizer, sample, config),
    )
    manifest.write_manifest(config.output, result)
    log.event(
        _log,
        "tokenizer trained",
        input_verify_seconds=round(verify_seconds, 2),
        output=config.output,
        vocab_size=tokenizer.vocab_size,
        sha256=tokenizer.sha256[:12],
        chars_per_token=measured.get("all", {}).get("chars_per_token"),
        seconds=seconds.total,
    )
    return result


def _sample_record(sample: Sample) -> TokenizerSample:
    train_bytes = sum(v["bytes"] for v in sample.train.values())
    return TokenizerSample(
        documents=sum(v["documents"] for v in sample.train.values()),
        bytes=train_bytes,
        sentences=sample.sentences,
        subsets={k: DocBytes(**v) for k, v in sample.train.items()},
        languages_bytes=sample.train_languages,
        mixture_realized={
            k: round(v["bytes"] / max(train_bytes, 1), 6) for k, v in sample.train.items()
        },
    )


def _extra(tokenizer: Tokenizer, sample: Sample, config: TokenizerConfig) -> TokenizerExtra:
    if sample.mixture is None:  # `draw` always resolves the mixture before sampling
        raise RuntimeError("tokenizer sample has no mixture")
    return TokenizerExtra(
        sha256=tokenizer.sha256,
        vocab_size=tokenizer.vocab_size,
        special_ids=tokenizer.special_ids,
        special_tokens=[
            SpecialTokenRecord(name=t.name, piece=t.piece, id=t.id, purpose=t.purpose)
            for t in SPECIAL_TOKENS
        ],
        byte_fallback_ids=[FIRST_BYTE_ID, FIRST_BYTE_ID + 255],
        mixture=ResolvedMixtureRecord(**sample.mixture.to_json()),
        sentencepiece={**trainer_options(config), "version": sentencepiece_version()},
    )
