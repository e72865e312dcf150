"""`takedown`: scan, journal, rewrite, publish the manifests, log (see the package docstring)."""

from __future__ import annotations

import datetime as _dt
import tempfile
import uuid
from collections.abc import Callable
from contextlib import ExitStack
from dataclasses import dataclass, field
from pathlib import Path

from tritter import log, manifest, progress, storage
from tritter.errors import TritterError
from tritter.run_folder import (
    CURATE_MANIFEST,
    CURATED,
    TOKENIZER,
    TOKENS,
    WORK,
    RunFolder,
    TakedownEntry,
    TakedownFile,
    TakedownSelectors,
)
from tritter.takedown import checkpoints, journal, manifests, rewrite, scan
from tritter.takedown.selectors import describe

_log = log.get_logger("takedown")
SHARD_FILES = ("tokens", "docs", "documents")  # published in this order (see _token_shard)


@dataclass
class Outcome:
    entry: TakedownEntry | None  # None: nothing named anything
    dry_run: bool = False
    resumed: bool = False
    documents: list[str] = field(default_factory=list)  # curated documents removed (repo/path)


def now() -> str:
    return _dt.datetime.now(_dt.UTC).isoformat(timespec="seconds")


def takedown(
    run: str,
    chosen: TakedownSelectors,
    requested_by: str,
    reason: str | None = None,
    dry_run: bool = False,
) -> Outcome:
    folder = RunFolder(run)
    if CURATE_MANIFEST.read(folder.curated) is None:
        raise TritterError(f"{folder.curated}: no finished curate output (is {run} a run folder?)")
    pending = journal.read_pending(folder.root)
    if pending is not None:
        if pending.entry.selectors != chosen:
            raise TritterError(
                f"{journal.pending_uri(folder.root)}: an unfinished takedown of "
                f"{describe(pending.entry.selectors)}: run that one again first"
            )
        if not dry_run:
            log.event(_log, "resuming an interrupted takedown", id=pending.entry.id)
            _finish(folder, pending)
        return Outcome(pending.entry, dry_run=dry_run, resumed=True)
    pending, documents = _plan(folder, chosen, requested_by, reason)
    if pending is None:
        log.event(_log, "nothing to take down", run=folder.root, selectors=describe(chosen))
        return Outcome(None, dry_run=dry_run)
    if not dry_run:
        journal.start_pending(folder.root, pending)
        _check_still_current(folder, pending)
        _finish(folder, pending)
    return Outcome(pending.entry, dry_run=dry_run, documents=documents)


def _check_still_current(folder: RunFolder, pending: journal.Pending) -> None:
    """A takedown that finished between this one's planning and its journal changed the files
    this one planned from: drop the journal (nothing was rewritten yet) and say so."""
    published: dict[str, str] = {}
    for part in (CURATED, TOKENS):
        found = manifest.read_manifest(storage.join(folder.root, part))
        if found is not None:
            published |= {f"{part}/{e.path}": e.sha256 for e in found.files}
    stale = [f.path for f in pending.entry.files if published.get(f.path) != f.old_sha256]
    if stale:
        storage.delete(journal.pending_uri(folder.root))
        raise TritterError(
            f"{storage.join(folder.root, stale[0])}: changed by another takedown while this one "
            "was planning; nothing was rewritten: run the command again"
        )


def _plan(
    folder: RunFolder, chosen: TakedownSelectors, requested_by: str, reason: str | None
) -> tuple[journal.Pending | None, list[str]]:
    curated_found = CURATE_MANIFEST.require(folder.curated)
    tokens_found = scan.pack_manifest(folder.tokens)
    curated_hits = scan.curated_hits(folder.curated, curated_found, chosen)
    shard_hits = scan.shard_hits(folder.tokens, tokens_found, chosen) if tokens_found else []
    if not curated_hits and not shard_hits:
        return None, []
    files = [
        TakedownFile(
            path=f"{CURATED}/{hit.entry.path}",
            old_sha256=hit.entry.sha256,
            old_size=hit.entry.size,
            documents_removed=hit.rows,
        )
        for hit in curated_hits
    ]
    named = checkpoints.Named([], "no token shard held the documents")
    if tokens_found is not None and shard_hits:
        entries = {e.path: e for e in tokens_found.files}
        for hit in shard_hits:
            for kind in SHARD_FILES:
                entry = entries[getattr(hit.record, kind)]
                files.append(
                    TakedownFile(
                        path=f"{TOKENS}/{entry.path}",
                        old_sha256=entry.sha256,
                        old_size=entry.size,
                        documents_removed=hit.documents,
                        tokens_removed=hit.tokens,
                    )
                )
        earlier = any(
            f.path.startswith(f"{TOKENS}/") for e in journal.read_log(folder.root) for f in e.files
        )
        named = checkpoints.named_checkpoints(folder, tokens_found, shard_hits, earlier)
    entry = TakedownEntry(
        id=uuid.uuid4().hex,
        requested_by=requested_by,
        reason=reason,
        selectors=chosen,
        started=now(),
        curated_documents_removed=sum(h.rows for h in curated_hits),
        token_documents_removed=sum(h.documents for h in shard_hits),
        tokens_removed=sum(h.tokens for h in shard_hits),
        files=files,
        checkpoints=named.checkpoints,
        checkpoints_basis=named.basis,
        notes=_notes(folder),
    )
    parts = {CURATED: manifests.curated(curated_found, curated_hits)}
    if tokens_found is not None and shard_hits:
        parts[TOKENS] = manifests.tokens(tokens_found, shard_hits)
    documents = sorted({path for hit in curated_hits for path in hit.paths})
    return journal.Pending(entry=entry, manifests=parts), documents


def _notes(folder: RunFolder) -> list[str]:
    """Copies a takedown does not rewrite, said in the log."""
    notes = []
    if storage.list_objects(storage.join(folder.curated, WORK)):
        notes.append(f"{CURATED}/{WORK}/ (kept with --keep-work) still holds copies: delete it")
    if storage.exists(storage.join(folder.tokenizer, "_manifest.json")):
        notes.append(f"{TOKENIZER}/ was trained on a sample that may have held the documents")
    return notes


def _finish(folder: RunFolder, pending: journal.Pending) -> None:
    """Rewrite every file not yet rewritten, publish the manifests, log, drop the journal."""
    entry = pending.entry

    def save() -> None:
        journal.write_pending(folder.root, pending)

    groups: dict[str, dict[str, TakedownFile]] = {}
    for item in entry.files:
        if item.path.startswith(f"{CURATED}/"):
            groups[item.path] = {"curated": item}
        else:
            kind = next(k for k in SHARD_FILES if item.path.endswith(_SUFFIX[k]))
            groups.setdefault(item.path[: -len(_SUFFIX[kind])], {})[kind] = item
    for group in progress.track(groups.values(), total=len(groups), desc="takedown", unit="file"):
        if "curated" in group:
            _curated_shard(folder.root, group["curated"], entry.selectors, save)
        else:
            _token_shard(folder.root, group, entry.selectors, save)
    for part, data in pending.manifests.items():
        uri = storage.join(folder.root, part)
        changed = [f for f in entry.files if f.path.startswith(f"{part}/")]
        current = {e.path: e.sha256 for e in manifest.require_manifest(uri).files}
        if all(current.get(f.path[len(part) + 1 :]) == f.new_sha256 for f in changed):
            continue  # published before an interruption
        manifest.write_manifest(uri, manifests.with_files(data, part, changed))
    entry.finished = now()
    journal.append_log(folder.root, entry)
    storage.delete(journal.pending_uri(folder.root))
    log.event(
        _log,
        "takedown finished",
        id=entry.id,
        selectors=describe(entry.selectors),
        curated_documents=entry.curated_documents_removed,
        token_documents=entry.token_documents_removed,
        tokens=entry.tokens_removed,
        files=len(entry.files),
        checkpoints=len(entry.checkpoints),
    )


_SUFFIX = {"tokens": ".tokens.npy", "docs": ".docs.npy", "documents": ".documents.parquet"}


def _status(local: Path, item: TakedownFile, uri: str) -> str:
    """ "old" (still to rewrite) or "new" (rewritten); anything else is someone else's change."""
    sha = storage.sha256_file(local)
    if sha == item.new_sha256:
        return "new"
    if sha == item.old_sha256:
        return "old"
    raise TritterError(
        f"{uri}: sha256 is neither the one before this takedown nor its rewrite (changed by "
        "something else, or corrupt): restore it from the manifest's record before rerunning"
    )


def _stage(item: TakedownFile, made: Path) -> None:
    item.new_sha256, item.new_size = storage.sha256_file(made), made.stat().st_size


def _curated_shard(
    root: str, item: TakedownFile, chosen: TakedownSelectors, save: Callable[[], None]
) -> None:
    uri = storage.join(root, item.path)
    with storage.local_copy(uri) as local, tempfile.TemporaryDirectory(prefix="tritter-") as tmp:
        if _status(local, item, uri) == "new":
            return
        made = Path(tmp) / "part.parquet"
        rewrite.curated_shard(local, uri, chosen, made)
        _stage(item, made)
        save()  # the new sha256 is on record before the new bytes are published
        storage.upload_file(made, uri)


def _token_shard(
    root: str,
    group: dict[str, TakedownFile],
    chosen: TakedownSelectors,
    save: Callable[[], None],
) -> None:
    """Published tokens, docs, then the sidecar: every rewrite needs only the old sidecar (its
    spans) and its own old file, so until the sidecar is rewritten a rerun can redo the rest."""
    uris = {kind: storage.join(root, group[kind].path) for kind in SHARD_FILES}
    with ExitStack() as stack:
        tmp = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="tritter-")))
        local = {k: stack.enter_context(storage.local_copy(uris[k])) for k in SHARD_FILES}
        status = {k: _status(local[k], group[k], uris[k]) for k in SHARD_FILES}
        if status["documents"] == "new":
            if any(s == "old" for s in status.values()):
                raise TritterError(
                    f"{uris['documents']}: rewritten before the rest of its shard (not by this "
                    "takedown): restore the shard and rerun"
                )
            return
        made = rewrite.token_shard(
            local["documents"],
            uris["documents"],
            local["docs"] if status["docs"] == "old" else None,
            local["tokens"] if status["tokens"] == "old" else None,
            uris["tokens"],
            chosen,
            tmp,
        )
        todo = [k for k in SHARD_FILES if status[k] == "old"]
        for kind in todo:
            _stage(group[kind], made[kind])
        save()
        for kind in todo:
            storage.upload_file(made[kind], uris[kind])
