"""Sharded, reshardable training checkpoints with torch.distributed.checkpoint (DCP).

Layout of one step folder (`<output>/step-%08d/`):

* DCP files of `{"model": ..., "optim": ...}` (`__<rank>_<n>.distcp` per rank, `.metadata`),
  saved through `get_state_dict`, so DDP and FSDP2 runs write the same logical tensors and any
  rank count (or sharding) can load them;
* `trainer_state.pt` (rank 0): step, tokens seen, loader position, skip/spike state, every
  rank's RNG states, tokenizer sha256; `model.json` (the ModelConfig); `config.yaml`;
* `_COMMITTED`, written last (see `tritter.train.store`).

Saving: every rank copies its state to CPU memory (the only part that blocks training), then
a background thread writes the DCP files into a local folder (the step folder itself for local
output, a per-rank staging folder for s3://), hashing each file's bytes as they are written
(`tritter.train.hashed_writer`: no read-back), uploads them, gathers every rank's hashes and,
on rank 0, writes the commit marker with them — overlapping the next steps.
Loading downloads the step folder once per node (s3://), the node's first rank checks every
file's sha256 against the marker (`store.verify`), and every rank reads its parts with DCP. A
corrupt checkpoint makes training fall back to the previous committed step (`Checkpointer.
resume_from_newest`) and `load_model` (evaluation) fail with one line naming the file.

`load_model(uri)` is what evaluation imports: a checkpoints root (newest committed step), a step
folder, or a Hugging Face directory, local or s3://.
"""

from __future__ import annotations

import io
import json
import os
import shutil
import tempfile
import threading
import time
import warnings
from collections.abc import Callable
from concurrent.futures import Future
from pathlib import Path
from typing import TYPE_CHECKING, Any

import torch
import torch.distributed as dist
import torch.distributed.checkpoint as dcp
from torch.distributed.checkpoint.state_dict import (
    StateDictOptions,
    get_model_state_dict,
    get_state_dict,
    set_state_dict,
)

from tritter import log, storage
from tritter.errors import TritterError
from tritter.run_folder import FINAL_INFO, MODEL_CONFIG, TRAINER_STATE, step_folder
from tritter.train.distributed import DistContext
from tritter.train.hashed_writer import HashingWriter, write_hashed
from tritter.train.store import (
    Checkpoint,
    CheckpointStore,
    CorruptCheckpoint,
    fall_back,
    is_hf_dir,
    none_intact,
    resolve,
    verify,
    verify_export,
)

if TYPE_CHECKING:
    from tritter.model import ModelConfig, Tritter

_log = log.get_logger("train.checkpoint")


def staging_root(run_key: str) -> Path:
    base = os.environ.get("TRITTER_CACHE_DIR") or tempfile.gettempdir()
    return Path(base) / f"tritter-ckpt-{os.getuid()}" / run_key


class Checkpointer:
    """Save and restore for one run; at most one background commit in flight."""

    def __init__(
        self,
        store: CheckpointStore,
        ctx: DistContext,
        keep_last: int,
        run_key: str,
        fault: Callable[[str, int], None] | None = None,
    ) -> None:
        self.store, self.ctx, self.keep_last = store, ctx, keep_last
        self.remote = storage.is_s3(store.root)
        self.staging = staging_root(run_key) / f"rank{ctx.rank}"
        self.fault = fault or (lambda phase, step: None)
        self._thread: threading.Thread | None = None
        self._error: BaseException | None = None
        self.last_seconds = 0.0

    # -- saving ----------------------------------------------------------------------------------

    def _local_dir(self, step: int) -> Path:
        if self.remote:
            return self.staging / step_folder(step)
        return storage.local_path(self.store.step_uri(step))

    def save(
        self,
        step: int,
        model: torch.nn.Module,
        optimizer: torch.optim.Optimizer,
        trainer_state: dict[str, Any],
        side_files: dict[str, bytes],
        on_done: Callable[[dict[str, Any]], None] | None = None,
    ) -> float:
        """Write the checkpoint of `step`; returns the seconds training was blocked."""
        started = time.perf_counter()
        self.wait()
        local = self._local_dir(step)
        # A folder left by an interrupted save of this same step must not mix with this one.
        if self.ctx.is_main:
            self.store.remove(step)
        if local.exists() and (self.remote or self.ctx.is_main):
            shutil.rmtree(local)
        self.ctx.barrier()
        local.mkdir(parents=True, exist_ok=True)
        model_sd, optim_sd = get_state_dict(model, optimizer)
        # async_save copies the state to CPU memory here (blocking) and writes the files in a
        # background thread, so the next steps cannot change what is being saved.
        writer = HashingWriter(str(local), thread_count=2)
        writing = dcp.async_save(
            {"model": model_sd, "optim": optim_sd},
            storage_writer=writer,
            process_group=self.ctx.save_group,
        )
        written: dict[str, str] = {}  # rank 0's other files: name → sha256
        if self.ctx.is_main:
            buffer = io.BytesIO()
            torch.save(trainer_state, buffer)
            written[TRAINER_STATE] = write_hashed(local / TRAINER_STATE, buffer.getvalue())
            for name, data in side_files.items():
                written[name] = write_hashed(local / name, data)
        blocking = time.perf_counter() - started
        self._thread = threading.Thread(
            target=self._finish, args=(step, local, writing, writer, written, started, blocking,
                                       on_done),
            name=f"tritter-commit-{step}", daemon=True,
        )  # fmt: skip
        self._thread.start()
        return blocking

    def _finish(
        self,
        step: int,
        local: Path,
        writing: Future,
        writer: HashingWriter,
        written: dict[str, str],
        started: float,
        blocking: float,
        on_done: Callable[[dict[str, Any]], None] | None,
    ) -> None:
        try:
            writing.result()  # the DCP files are complete on local disk
            # Every file this rank wrote, hashed on the way to disk; the commit refuses a file
            # in the folder that no rank hashed.
            digests = {**writer.digests(), **written}
            if self.remote:
                target = self.store.step_uri(step)
                for relative in sorted(digests):
                    storage.upload_file(local / relative, storage.join(target, relative))
            self.fault("commit", step)
            # Also the barrier: every rank has uploaded its files once it has sent its hashes.
            gathered: list[Any] = [digests]
            if self.ctx.world_size > 1:
                gathered = [None] * self.ctx.world_size
                dist.all_gather_object(gathered, digests, group=self.ctx.side_group)
            if self.ctx.is_main:
                merged = {name: digest for part in gathered for name, digest in part.items()}
                self.store.commit(step, self.ctx.world_size, merged)
                removed = self.store.prune(self.keep_last)
                seconds = time.perf_counter() - started
                self.last_seconds = seconds
                info = {
                    "step": step,
                    "save_seconds": round(seconds, 4),
                    "blocking_seconds": round(blocking, 4),
                    "uri": self.store.step_uri(step),
                    "pruned": removed,
                }
                log.event(_log, "checkpoint committed", **info)
                if on_done:
                    on_done(info)
            if self.remote:
                shutil.rmtree(local, ignore_errors=True)
        except BaseException as err:  # surfaced on the main thread by wait()
            self._error = err

    def wait(self) -> None:
        """Block until the background commit is done; re-raise its failure."""
        if self._thread is not None:
            self._thread.join()
            self._thread = None
        if self._error is not None:
            error, self._error = self._error, None
            if isinstance(error, TritterError):
                raise error
            raise TritterError(f"checkpoint commit failed: {error}") from error

    # -- restoring -------------------------------------------------------------------------------

    def restore(
        self, checkpoint: Checkpoint, model: torch.nn.Module, optimizer: torch.optim.Optimizer
    ) -> dict[str, Any]:
        """Load model + optimizer (resharded to this run) and return the trainer state.

        For s3:// the node's local rank 0 downloads the step folder once into a folder the
        node's ranks share; every rank then reads the parts it needs with DCP."""
        shared = self.staging.parent / f"restore-{step_folder(checkpoint.step)}"
        folder = shared
        problem = None
        if not self.remote or self.ctx.is_node_main:
            folder = fetch(checkpoint, shared)
        if self.ctx.is_node_main:
            try:
                verify(checkpoint, folder)  # one read of the files, from the page cache
            except CorruptCheckpoint as err:
                problem = str(err)
        # Every rank learns of a corrupt file on any node, so all fall back together.
        found = [p for p in self.ctx.all_gather_object(problem) if p]
        if found:
            if self.remote and self.ctx.is_node_main:
                shutil.rmtree(folder, ignore_errors=True)  # never reuse the damaged download
            raise CorruptCheckpoint(found[0])
        model_sd, optim_sd = get_state_dict(model, optimizer)
        state = {"model": model_sd, "optim": optim_sd}
        try:
            dcp.load(state, storage_reader=dcp.FileSystemReader(str(folder)))
        except Exception as err:
            raise TritterError(f"{checkpoint.uri}: corrupt checkpoint ({err})") from err
        set_state_dict(
            model, optimizer, model_state_dict=state["model"], optim_state_dict=state["optim"]
        )
        trainer_state = read_trainer_state(folder, checkpoint.uri)
        self.ctx.barrier()
        if self.remote and self.ctx.is_node_main:
            shutil.rmtree(folder, ignore_errors=True)
        return trainer_state

    def resume_from_newest(
        self, model: torch.nn.Module, optimizer: torch.optim.Optimizer
    ) -> tuple[Checkpoint, dict[str, Any]] | None:
        """Restore the newest intact committed checkpoint: (it, its trainer state), or None
        when there is none. A corrupt one is skipped with a warning; when every committed
        checkpoint is corrupt, a one-line error (starting over would discard them silently)."""
        problems: list[CorruptCheckpoint] = []
        for checkpoint in self.store.resumable(problems.append):
            try:
                return checkpoint, self.restore(checkpoint, model, optimizer)
            except CorruptCheckpoint as err:
                fall_back(err)
                problems.append(err)
        if problems:
            raise none_intact(self.store.root, problems[0])
        return None


def fetch(checkpoint: Checkpoint, destination: Path) -> Path:
    """A local folder holding the committed files of `checkpoint` (downloads for s3://)."""
    if not storage.is_s3(checkpoint.uri):
        return storage.local_path(checkpoint.uri)
    sizes = checkpoint.marker.get("sizes", {})
    for name in checkpoint.marker["files"]:
        path = destination / name
        if path.exists() and path.stat().st_size == sizes.get(name, -1):
            continue
        storage.download_file(storage.join(checkpoint.uri, name), path)
    return destination


def read_trainer_state(folder: Path, uri: str) -> dict[str, Any]:
    try:
        state = torch.load(folder / TRAINER_STATE, weights_only=True)
    except FileNotFoundError as err:
        raise CorruptCheckpoint(f"{uri}: corrupt checkpoint: {TRAINER_STATE} is missing") from err
    except Exception as err:
        raise CorruptCheckpoint(
            f"{uri}: corrupt checkpoint: unreadable {TRAINER_STATE} ({err})"
        ) from err
    if not isinstance(state, dict) or "step" not in state:
        raise CorruptCheckpoint(f"{uri}: corrupt checkpoint: {TRAINER_STATE} has no step")
    return state


def check_readable(checkpoint: Checkpoint) -> dict[str, Any]:
    """Cheap pre-flight check of the checkpoint a run will resume from: its DCP metadata and
    trainer state parse. Returns the trainer state."""
    with tempfile.TemporaryDirectory(prefix="tritter-check-") as tmp:
        folder = Path(tmp)
        names = (".metadata", TRAINER_STATE)
        for name in names:
            if name not in checkpoint.marker["files"]:
                raise CorruptCheckpoint(
                    f"{checkpoint.uri}: corrupt checkpoint: {name} is not committed"
                )
            if storage.is_s3(checkpoint.uri):
                storage.download_file(storage.join(checkpoint.uri, name), folder / name)
            else:
                shutil.copyfile(storage.local_path(checkpoint.uri) / name, folder / name)
        verify(checkpoint, folder, names)
        try:
            dcp.FileSystemReader(str(folder)).read_metadata()
        except Exception as err:
            raise CorruptCheckpoint(
                f"{checkpoint.uri}: corrupt checkpoint: unreadable .metadata ({err})"
            ) from err
        return read_trainer_state(folder, checkpoint.uri)


# ------------------------------------------------------------------------------------------------
# Loading weights for evaluation and export


def _read_json(uri: str) -> dict[str, Any]:
    try:
        return json.loads(storage.read_text(uri))
    except FileNotFoundError as err:
        raise TritterError(f"{uri}: not found") from err
    except ValueError as err:
        raise TritterError(f"{uri}: invalid JSON ({err})") from err


def source_model_config(uri: str) -> tuple[ModelConfig, str | None]:
    """The shape of the weights at `uri` (a checkpoints root, a step folder or a Hugging Face
    directory) and the sha256 of the tokenizer they were trained with when it is recorded —
    without loading the weights."""
    from tritter.model import ModelConfig
    from tritter.model.hf import config_from_hf

    base = storage.normalize(uri)
    if is_hf_dir(base):
        config_uri = storage.join(base, "config.json")
        config = config_from_hf(_read_json(config_uri), config_uri)
        info_uri = storage.join(base, FINAL_INFO)
        recorded = _read_json(info_uri) if storage.exists(info_uri) else {}
        return config, recorded.get("tokenizer_sha256")
    checkpoint = resolve(base)
    config = ModelConfig.model_validate(_read_json(storage.join(checkpoint.uri, MODEL_CONFIG)))
    return config, check_readable(checkpoint).get("tokenizer_sha256")


def load_model(uri: str) -> tuple[Tritter, dict[str, Any]]:
    """(Tritter in fp32 on CPU, info) for a checkpoints root, a step folder or an HF directory.

    info: kind ("huggingface" | "pretrain"), step, tokenizer_sha256 (when known), uri.
    """
    from tritter.model import ModelConfig, Tritter

    base = storage.normalize(uri)
    if is_hf_dir(base):
        info: dict[str, Any] = {"kind": "huggingface", "uri": base, "step": None}
        if storage.exists(storage.join(base, FINAL_INFO)):
            extra = _read_json(storage.join(base, FINAL_INFO))
            info.update(step=extra.get("step"), tokenizer_sha256=extra.get("tokenizer_sha256"))
        verify_export(base)  # final/ of a run: its files against the run's manifest
        return Tritter.from_hf(base), info  # local or s3:// (downloaded once, in from_hf)
    checkpoint = resolve(base)
    model_config = ModelConfig.model_validate(
        _read_json(storage.join(checkpoint.uri, MODEL_CONFIG))
    )
    model = Tritter(model_config)
    with tempfile.TemporaryDirectory(prefix="tritter-load-") as tmp:
        folder = fetch(checkpoint, Path(tmp))
        verify(checkpoint, folder)  # a corrupt file: one line naming it, before DCP reads it
        state = {"model": get_model_state_dict(model, options=StateDictOptions())}
        try:
            with warnings.catch_warnings():  # "assuming ... a single process": intended here
                warnings.simplefilter("ignore", UserWarning)
                dcp.load(state, storage_reader=dcp.FileSystemReader(str(folder)), no_dist=True)
        except Exception as err:
            raise TritterError(f"{checkpoint.uri}: corrupt checkpoint ({err})") from err
        model.load_state_dict(state["model"])
        trainer_state = read_trainer_state(folder, checkpoint.uri)
    return model, {
        "kind": "pretrain",
        "uri": checkpoint.uri,
        "step": checkpoint.step,
        "tokenizer_sha256": trainer_state.get("tokenizer_sha256"),
    }
