"""The docstrings stage: the standard library's documentation → synth/docstrings/
(`tritter synth docstrings`): conversations.jsonl, then the manifest. The result depends on the
interpreter's documentation (by hash) and the settings; the same pair is a no-op."""

from __future__ import annotations

import json
import sys

from tritter import config as config_module
from tritter import log, manifest, storage
from tritter.run_folder import (
    IDENTITY_CONVERSATIONS,
    SYNTH_DOCSTRINGS_MANIFEST,
    SynthDocstringsCounts,
    SynthDocstringsExtra,
    SynthDocstringsInputs,
    SynthDocstringsManifest,
)
from tritter.synth.config import DocstringsConfig
from tritter.synth.docstrings import LICENSE, SOURCE, api_sha256, documented, generate

_log = log.get_logger("synth.docstrings")


def fingerprint(config: DocstringsConfig, inputs: SynthDocstringsInputs) -> str:
    return SYNTH_DOCSTRINGS_MANIFEST.fingerprint(config, inputs)


def is_done(output: str) -> SynthDocstringsManifest | None:
    return SYNTH_DOCSTRINGS_MANIFEST.read(output)


def run(config: DocstringsConfig) -> SynthDocstringsManifest:
    entries = documented()
    inputs = SynthDocstringsInputs(python_version=sys.version, api_sha256=api_sha256(entries))
    expected = fingerprint(config, inputs)
    existing = SYNTH_DOCSTRINGS_MANIFEST.current(config.output, expected)
    if existing is not None:
        manifest.verify_files(config.output, existing)
        log.event(_log, "docstring conversations already generated: skipping",
                  output=config.output)  # fmt: skip
        return existing
    storage.ensure_writable(config.output)
    storage.delete(manifest.manifest_uri(config.output))
    generated = generate(entries, config.count, config.seed)
    data = "".join(
        json.dumps(c.to_row(), ensure_ascii=False) + "\n" for c in generated.conversations
    )
    uri = storage.join(config.output, IDENTITY_CONVERSATIONS)
    storage.write_text(uri, data)
    result = manifest.Manifest(
        stage=SYNTH_DOCSTRINGS_MANIFEST.stage,
        fingerprint=expected,
        inputs=inputs,
        config=config_module.dump(config),
        counts=SynthDocstringsCounts(
            requested=config.count,
            conversations=len(generated.conversations),
            documented=generated.documented,
            modules=dict(sorted(generated.modules.items())),
        ),
        files=[manifest.file_entry(config.output, uri, storage.sha256_bytes(data.encode()))],
        extra=SynthDocstringsExtra(source=SOURCE, license=LICENSE),
    )
    manifest.write_manifest(config.output, result)
    log.event(_log, "docstring conversations generated", output=config.output,
              conversations=len(generated.conversations))  # fmt: skip
    return result
