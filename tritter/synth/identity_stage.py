"""The identity stage: a persona → synth/identity/ (`tritter synth identity`).

Generate identity conversations (`tritter.synth.identity`), write them as one
`conversations.jsonl` (rows in the `tritter.chat` format), then the manifest. The result depends
on the persona's text, the question/answer bank and the settings; the same three find the
finished folder and only verify it.
"""

from __future__ import annotations

import json

from tritter import config as config_module
from tritter import log, manifest, storage
from tritter.chat import persona as persona_module
from tritter.run_folder import (
    IDENTITY_CONVERSATIONS,
    SYNTH_IDENTITY_MANIFEST,
    SynthIdentityCounts,
    SynthIdentityExtra,
    SynthIdentityInputs,
    SynthIdentityManifest,
)
from tritter.synth.config import IdentityConfig
from tritter.synth.identity import SOURCE, generate, templates_sha256

_log = log.get_logger("synth.identity")
DEFAULT_PERSONA_LABEL = "default"


def fingerprint(config: IdentityConfig, inputs: SynthIdentityInputs) -> str:
    return SYNTH_IDENTITY_MANIFEST.fingerprint(config, inputs)


def is_done(output: str) -> SynthIdentityManifest | None:
    return SYNTH_IDENTITY_MANIFEST.read(output)


def run(config: IdentityConfig) -> SynthIdentityManifest:
    """Generate, write conversations.jsonl and (last) the manifest; skip when already done."""
    location, text = persona_module.read_text(config.persona)
    persona = persona_module.parse(text, location)
    inputs = SynthIdentityInputs(
        persona=config.persona or DEFAULT_PERSONA_LABEL,
        persona_sha256=storage.sha256_bytes(text.encode()),
        templates_sha256=templates_sha256(),
    )
    expected = fingerprint(config, inputs)
    existing = SYNTH_IDENTITY_MANIFEST.current(config.output, expected)
    if existing is not None:
        manifest.verify_files(config.output, existing)
        log.event(_log, "identity data already generated: skipping", output=config.output)
        return existing
    storage.ensure_writable(config.output)
    # Another persona or config: the old folder must not look finished while it is replaced.
    storage.delete(manifest.manifest_uri(config.output))
    generated = generate(
        persona,
        count=config.count,
        seed=config.seed,
        system_fraction=config.system_fraction,
        multi_turn_fraction=config.multi_turn_fraction,
        license=config.license,
    )
    conversations = generated.conversations
    if len(conversations) < config.count:
        log.event(_log, "the templates gave fewer distinct conversations than requested",
                  requested=config.count, generated=len(conversations))  # fmt: skip
    data = "".join(json.dumps(c.to_row(), ensure_ascii=False) + "\n" for c in conversations)
    uri = storage.join(config.output, IDENTITY_CONVERSATIONS)
    storage.write_text(uri, data)
    users = [m.content for c in conversations for m in c.messages if m.role == "user"]
    answers = [m.content for c in conversations for m in c.messages if m.role == "assistant"]
    result = manifest.Manifest(
        stage=SYNTH_IDENTITY_MANIFEST.stage,
        fingerprint=expected,
        inputs=inputs,
        config=config_module.dump(config),
        counts=SynthIdentityCounts(
            requested=config.count,
            conversations=len(conversations),
            duplicates_skipped=generated.duplicates_skipped,
            messages=sum(len(c.messages) for c in conversations),
            with_system=sum(c.messages[0].role == "system" for c in conversations),
            multi_turn=sum(sum(m.role == "user" for m in c.messages) > 1 for c in conversations),
            topics=dict(sorted(generated.topics.items())),
            distinct_questions=len(set(users)),
            distinct_answers=len(set(answers)),
        ),
        files=[manifest.file_entry(config.output, uri, storage.sha256_bytes(data.encode()))],
        extra=SynthIdentityExtra(persona_name=persona.name, source=SOURCE, license=config.license),
    )
    manifest.write_manifest(config.output, result)
    log.event(_log, "identity data generated", output=config.output,
              conversations=len(conversations), persona=persona.name)  # fmt: skip
    return result
