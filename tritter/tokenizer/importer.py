"""`tritter tokenizer import`: an existing tokenizer becomes the run's `tokenizer/` folder.

Continued pretraining keeps the tokenizer its base model was trained with (BitNet b1.58 2B4T:
a 128,256-token Llama-3 byte-level BPE), so instead of training one, the tokenizer step copies
it into the run with a manifest of its own stage (`tokenizer-import`). Pack, training,
evaluation and the report then treat the folder like a trained one: they load it with
`Tokenizer.load` and check its sha256 against the manifest.

What is copied: `tokenizer.json` plus `tokenizer_config.json` and `special_tokens_map.json`
when present (the config names EOS/BOS/pad); or `tokenizer.model` (+ `tokenizer.vocab`) for a
SentencePiece model. Model weights in the same folder are not copied. With `--curated`, the
tokenizer's compression is measured per language on a seeded sample of curated documents, as
the tokenizer stage does on its held-out text.

A Hugging Face tokenizer without the chat and tool markers post-training needs gets them on its
reserved special tokens (`chat_markers.claim`: same ids and vocabulary, so the copy's sha256
differs from the source's but every text encodes the same); `--no-chat-markers` copies it byte
for byte.
"""

from __future__ import annotations

import json
import logging
import time

import numpy as np

from tritter import config as config_module
from tritter import log, manifest, storage
from tritter.data import curated as curated_input
from tritter.data.render import render
from tritter.data.selection import leading_count, unit_hash
from tritter.data.shardfile import token_dtype
from tritter.errors import TritterError
from tritter.run_folder import (
    TOKENIZER_IMPORT_MANIFEST,
    TOKENIZER_MODEL,
    TOKENIZER_VOCAB,
    Compression,
    TokenizerImportCounts,
    TokenizerImportExtra,
    TokenizerImportInputs,
    TokenizerImportManifest,
)
from tritter.tokenizer import chat_markers, compression
from tritter.tokenizer.config import TokenizerImportConfig
from tritter.tokenizer.hf import TOKENIZER_CONFIG, TOKENIZER_JSON, HFTokenizer, is_hf_tokenizer
from tritter.tokenizer.model import Tokenizer

_log = log.get_logger("tokenizer")

SPECIAL_TOKENS_MAP = "special_tokens_map.json"


def source_files(source: str) -> list[str]:
    """The files to copy, main file first; a one-line error when the source is no tokenizer."""
    source = storage.normalize(source)
    if source.endswith((".json", ".model")):
        main = storage.basename(source)
        folder = source[: -len(main)].rstrip("/")
    else:
        folder = source
        main = TOKENIZER_JSON if is_hf_tokenizer(source) else TOKENIZER_MODEL
    if not storage.exists(storage.join(folder, main)):
        raise TritterError(
            f"{source}: no tokenizer here (expected {TOKENIZER_JSON} or {TOKENIZER_MODEL})"
        )
    companions = (
        (TOKENIZER_CONFIG, SPECIAL_TOKENS_MAP) if main == TOKENIZER_JSON else (TOKENIZER_VOCAB,)
    )
    present = [name for name in companions if storage.exists(storage.join(folder, name))]
    return [storage.join(folder, name) for name in (main, *present)]


def load_as_imported(source: str, chat_markers: bool = True) -> Tokenizer | HFTokenizer:
    """The tokenizer `run` would write for `source`, without writing it (so a run can check,
    before any work, what post-training will get)."""
    files = source_files(source)
    contents = {uri: storage.read_bytes(uri) for uri in files}
    return _as_imported(files, contents, chat_markers)[2]


def fingerprint(config: TokenizerImportConfig, inputs: TokenizerImportInputs) -> str:
    return TOKENIZER_IMPORT_MANIFEST.fingerprint(config, inputs)


def run(config: TokenizerImportConfig) -> TokenizerImportManifest:
    """Copy the tokenizer, check it, measure it, then write the manifest (last)."""
    started = time.time()
    files = source_files(config.source)
    contents = {uri: storage.read_bytes(uri) for uri in files}  # each file read once
    main_bytes = contents[files[0]]
    source = curated_input.open_input(config.curated) if config.curated else None
    inputs = TokenizerImportInputs(
        source=storage.normalize(config.source),
        source_sha256=storage.sha256_bytes(main_bytes),
        curated=source.uri if source else None,
        curated_fingerprint=source.fingerprint if source else None,
    )
    expected = fingerprint(config, inputs)
    existing = TOKENIZER_IMPORT_MANIFEST.current(config.output, expected)
    if existing is not None:
        manifest.verify_files(config.output, existing)
        log.event(_log, "tokenizer already imported: skipping", output=config.output)
        return existing
    contents, renamed, tokenizer = _as_imported(files, contents, config.chat_markers)
    if tokenizer.eos_id < 0:
        raise TritterError(f"{files[0]}: the tokenizer has no EOS token (packing ends every "
                           "document with one)")  # fmt: skip
    storage.ensure_writable(config.output)
    # Another source or setting: the old folder must not look finished while it is replaced.
    storage.delete(manifest.manifest_uri(config.output))
    entries, total = [], 0
    for uri in files:
        data = contents[uri]
        name = storage.basename(uri)
        if uri == files[0]:  # the name every loader looks for, whatever the source file's
            name = TOKENIZER_JSON if isinstance(tokenizer, HFTokenizer) else TOKENIZER_MODEL
        target = storage.join(config.output, name)
        storage.write_bytes(target, data)
        entries.append(manifest.file_entry(config.output, target, storage.sha256_bytes(data)))
        total += len(data)
    measured = _measure(tokenizer, source, config) if source else {}
    result = manifest.Manifest(
        stage=TOKENIZER_IMPORT_MANIFEST.stage,
        fingerprint=expected,
        inputs=inputs,
        config=config_module.dump(config),
        counts=TokenizerImportCounts(
            vocab_size=tokenizer.vocab_size,
            files=len(entries),
            bytes=total,
            compression={name: Compression(**row) for name, row in measured.items()},
            seconds=round(time.time() - started, 2),
        ),
        files=entries,
        extra=TokenizerImportExtra(
            sha256=tokenizer.sha256,
            vocab_size=tokenizer.vocab_size,
            kind="huggingface" if isinstance(tokenizer, HFTokenizer) else "sentencepiece",
            special_ids=tokenizer.special_ids,
            token_dtype=token_dtype(tokenizer.vocab_size).name,  # what pack will write
            chat_markers=renamed,
        ),
    )
    manifest.write_manifest(config.output, result)
    log.event(
        _log, "tokenizer imported", source=inputs.source, output=config.output,
        vocab_size=tokenizer.vocab_size, sha256=tokenizer.sha256[:12],
        bytes_per_token=measured.get("all", {}).get("bytes_per_token"),
        chat_markers=len(renamed),
    )  # fmt: skip
    if isinstance(tokenizer, HFTokenizer) and "assistant_start" not in tokenizer.special_ids:
        log.event(
            _log,
            "the imported tokenizer has no chat markers: post-training (mid, SFT, DPO, RL, "
            "chat) will refuse it",
            level=logging.WARNING,
            output=config.output,
        )
    return result


def _as_imported(
    files: list[str], contents: dict[str, bytes], chat_markers: bool
) -> tuple[dict[str, bytes], dict[str, str], Tokenizer | HFTokenizer]:
    """The bytes to write (markers claimed when asked and needed), the markers renamed, and
    the tokenizer those bytes make."""
    renamed: dict[str, str] = {}
    if chat_markers and is_hf_tokenizer(files[0]):
        contents, renamed = _claim_chat_markers(files, contents)
    return contents, renamed, _load(files, contents)


def _claim_chat_markers(
    files: list[str], contents: dict[str, bytes]
) -> tuple[dict[str, bytes], dict[str, str]]:
    """`contents` with the chat markers on reserved special tokens (`chat_markers.claim`)."""
    config_uri = next((uri for uri in files[1:] if uri.endswith(TOKENIZER_CONFIG)), None)
    config = contents[config_uri] if config_uri else None
    claimed = chat_markers.claim(contents[files[0]], config, files[0], config_uri or "")
    if not claimed.renamed:
        return contents, {}
    updated = {**contents, files[0]: claimed.tokenizer_json}
    if config_uri is not None and claimed.tokenizer_config is not None:
        updated[config_uri] = claimed.tokenizer_config
    return updated, claimed.renamed


def _load(files: list[str], contents: dict[str, bytes]) -> Tokenizer | HFTokenizer:
    """The tokenizer from the bytes that are copied (what the run will check is what was
    checked here)."""
    main = files[0]
    if main.endswith(".model"):
        return Tokenizer(contents[main], main)
    config: dict = {}
    for uri in files[1:]:
        if uri.endswith(TOKENIZER_CONFIG):
            try:
                config = json.loads(contents[uri])
            except ValueError as err:
                raise TritterError(f"{uri}: not valid JSON ({err})") from err
    return HFTokenizer(contents[main], main, config)


def _measure(
    tokenizer: Tokenizer | HFTokenizer,
    source: curated_input.CuratedInput,
    config: TokenizerImportConfig,
) -> dict[str, dict]:
    """Compression per language on up to `sample_bytes` of each language's documents, taken in
    a seeded order of their content hash (deterministic, independent of shard order)."""
    docs = curated_input.read_metadata(source)
    hashes = unit_hash(docs.sha256, config.seed, "tokenizer-import")
    chosen: list[np.ndarray] = []
    for language in sorted(set(docs.language.tolist())):
        index = np.flatnonzero(docs.language == language)
        order = index[np.argsort(hashes[index], kind="stable")]
        chosen.append(order[: leading_count(docs.nbytes[order], config.sample_bytes)])
    rows = np.concatenate(chosen) if chosen else np.array([], dtype=np.int64)
    groups: dict[str, list[str]] = {}
    for shard_index in np.unique(docs.shard[rows]):
        in_shard = np.sort(rows[docs.shard[rows] == shard_index])
        in_shard = in_shard[np.argsort(docs.row[in_shard], kind="stable")]
        texts = curated_input.read_rows(source.shards[int(shard_index)], docs.row[in_shard])
        for doc, text, explanation in zip(
            in_shard, texts["text"], texts["explanation"], strict=True
        ):
            language = str(docs.language[doc])
            rendered = render(text, language, bool(docs.negative[doc]), explanation, "explain")
            if rendered is not None:
                groups.setdefault(language, []).append(rendered)
    return compression.measure(tokenizer.encode_batch, groups)
