"""Training checks the token shards it reads against the pack manifest's sha256.

The loader reads token files at random (memory maps, byte ranges), so it cannot hash what it
reads; instead each launch makes one streaming pass over every token file the run reads (both
splits: training and validation), split across ranks — rank r hashes the files at positions
i ≡ r (mod world size) of the manifest — in a background thread that overlaps the first steps.
`confirm()` is the bounded point where the ranks agree (one all-gather): the trainer calls it
before its first checkpoint (so no checkpoint is ever committed from corrupt data) and before
the final export. A mismatch on any rank stops every rank with the same one-line error naming
the shard and the manifest. A single process hashes every file. `verify_shards: false` turns it
off (sizes, headers and the id range are still checked by `tritter.loader.stream`).
"""

from __future__ import annotations

import threading
import time

from tritter import log, storage
from tritter.errors import TritterError
from tritter.loader.stream import read_token_shards
from tritter.manifest import manifest_uri
from tritter.train.distributed import DistContext

_log = log.get_logger("train.shards")


class ShardCheck:
    """This rank's share of the sha256 pass over a tokens folder's token files."""

    def __init__(self, data_uri: str, ctx: DistContext) -> None:
        self.ctx = ctx
        data = storage.normalize(data_uri)
        self.manifest_uri = manifest_uri(data)
        found = read_token_shards(data)
        recorded = {entry.path: entry for entry in found.files}
        paths = list(dict.fromkeys(row.tokens for row in found.extra.shards))
        for path in paths:
            if path not in recorded:
                raise TritterError(f"{self.manifest_uri}: lists no file entry for {path}")
        self.mine = [
            (storage.join(data, path), recorded[path].sha256, recorded[path].size)
            for index, path in enumerate(paths)
            if index % ctx.world_size == ctx.rank
        ]
        self.files, self.bytes, self.seconds = 0, 0, 0.0
        self._problem: str | None = None
        self._confirmed = False
        self._thread = threading.Thread(target=self._run, name="tritter-shard-check", daemon=True)

    def start(self) -> ShardCheck:
        self._thread.start()
        return self

    def _run(self) -> None:
        started = time.perf_counter()
        uri = self.manifest_uri
        try:
            for uri, expected, size in self.mine:
                if storage.sha256_uri(uri) != expected:
                    self._problem = (
                        f"{uri}: sha256 differs from {self.manifest_uri} (corrupt token shard; "
                        "re-pack, or set verify_shards: false to train on it anyway)"
                    )
                    return
                self.files += 1
                self.bytes += size
        except Exception as err:  # reported on the main thread by confirm()
            self._problem = f"{uri}: unreadable token shard ({err})"
        finally:
            self.seconds = time.perf_counter() - started

    def confirm(self) -> None:
        """Wait for this rank's share, then agree with every rank (call on all ranks at the
        same point); a one-line `TritterError` naming the first bad shard. Once per run."""
        if self._confirmed:
            return
        waited = time.perf_counter()
        self._thread.join()
        waited = time.perf_counter() - waited
        found = [problem for problem in self.ctx.all_gather_object(self._problem) if problem]
        self._confirmed = True
        if found:
            raise TritterError(found[0])
        log.event(
            _log, "token shards match their manifest", files=self.files,
            mib=round(self.bytes / 2**20, 1), hash_seconds=round(self.seconds, 3),
            waited_seconds=round(waited, 3), rank=self.ctx.rank,
        )  # fmt: skip
