"""Training metrics: Prometheus gauges (one endpoint per node) and the run's metrics.jsonl.

Local rank 0 of every node serves `/metrics` on `--metrics-port` (labels `run`, `rank`); the
values are global (losses and throughput are reduced over all ranks before they are set).
Global rank 0 writes `metrics.jsonl` in the checkpoints folder: one JSON object per step
(`kind: train`), per validation (`kind: val`) and per committed checkpoint (`kind: checkpoint`).
On a resume, records after the restored step are dropped, so the file reads like one
uninterrupted run. Local output is appended line by line; for s3:// a local copy is uploaded
whole at most every `upload_every` seconds, at every checkpoint and at the end.
"""

from __future__ import annotations

import json
import os
import threading
import time
from pathlib import Path
from typing import Any

from prometheus_client import CollectorRegistry, Counter, Gauge

from tritter import log, metrics, storage

_log = log.get_logger("train.metrics")

METRICS_FILE = "metrics.jsonl"


class TrainGauges:
    """The Prometheus side."""

    def __init__(self, run: str, rank: int, phase: str = "pretrain") -> None:
        self.registry = CollectorRegistry()
        self.labels = {"run": run, "rank": str(rank)}
        # Post-training series carry their phase (mid, sft); pretraining's keep the label set
        # they always had, so existing queries, dashboards and alerts match them unchanged.
        if phase != "pretrain":
            self.labels["phase"] = phase
        gauge = self.add_gauge

        self.loss = gauge("tritter_train_loss", "training loss (nats/token) of the last step")
        self.tokens_per_second = gauge(
            "tritter_train_tokens_per_second", "training tokens per second, all ranks"
        )
        self.mfu = gauge("tritter_train_mfu_ratio", "model FLOPs utilisation (0-1)")
        self.grad_norm = gauge("tritter_train_grad_norm", "global gradient norm before clipping")
        self.learning_rate = gauge("tritter_train_learning_rate", "learning rate of the last step")
        self.step = gauge("tritter_train_step", "optimizer steps done")
        self.step_seconds = gauge(
            "tritter_train_step_duration_seconds", "wall time of the last optimizer step"
        )
        self.data_wait = gauge(
            "tritter_train_data_wait_ratio", "share of the last step spent waiting for data"
        )
        self.val_loss = gauge("tritter_train_val_loss", "validation loss (nats/token)")
        self.val_bpb = gauge("tritter_train_val_bits_per_byte", "validation bits per byte")
        self.checkpoint_seconds = gauge(
            "tritter_checkpoint_save_seconds", "wall time of the last checkpoint save"
        )
        self.checkpoint_blocking = gauge(
            "tritter_checkpoint_blocking_seconds", "part of the last save that blocked training"
        )
        self.skipped = Counter(
            "tritter_train_skipped_steps", "updates skipped (non-finite or spiking loss)",
            tuple(self.labels),
            registry=self.registry,
        ).labels(**self.labels)  # fmt: skip
        self.tokens = Counter(
            "tritter_train_tokens",
            "training tokens consumed",
            tuple(self.labels),
            registry=self.registry,
        ).labels(**self.labels)
        self.gpu_allocated = gauge(
            "tritter_train_gpu_memory_allocated_bytes", "GPU memory held by tensors (peak)"
        )
        self.gpu_reserved = gauge(
            "tritter_train_gpu_memory_reserved_bytes", "GPU memory reserved by the allocator"
        )

    def add_gauge(self, name: str, doc: str) -> Any:
        """A gauge with this run's labels (an objective's extra metrics come this way)."""
        return Gauge(name, doc, tuple(self.labels), registry=self.registry).labels(**self.labels)

    def serve(self, port: int) -> bool:
        """Serve on `port`; a busy port is logged, never fatal (monitoring must not stop
        training)."""
        try:
            metrics.serve(port, self.registry)
        except OSError as err:
            log.event(_log, "cannot serve Prometheus metrics", level=30, port=port, error=str(err))
            return False
        return True


class MetricsLog:
    """metrics.jsonl of the run (global rank 0 only)."""

    def __init__(self, output: str, staging: Path, upload_every: float = 30.0) -> None:
        self.uri = storage.join(output, METRICS_FILE)
        self.remote = storage.is_s3(output)
        self.path = staging / METRICS_FILE if self.remote else storage.local_path(self.uri)
        self.upload_every = upload_every
        self._last_upload = 0.0
        self._lock = threading.Lock()  # checkpoint records come from the commit thread
        self._handle: Any = None

    def start(self, resume_step: int) -> None:
        """Keep the records of steps ≤ resume_step (all records for a fresh run: step 0)."""
        try:
            text = storage.read_text(self.uri)
        except FileNotFoundError:
            text = ""
        kept = []
        for line in text.splitlines():
            try:
                record = json.loads(line)
            except ValueError:
                continue  # a torn last line of a killed writer
            if isinstance(record, dict) and int(record.get("step", 0)) <= resume_step:
                kept.append(line)
        body = "".join(f"{line}\n" for line in kept)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        tmp = self.path.with_name(f"{storage.TEMP_PREFIX}{os.getpid()}-{METRICS_FILE}")
        tmp.write_text(body)
        os.replace(tmp, self.path)
        self._handle = open(self.path, "a", encoding="utf-8")  # noqa: SIM115 - lives with the run
        if self.remote:
            self.upload(force=True)

    def write(self, record: dict[str, Any]) -> None:
        line = json.dumps(record, separators=(",", ":"), default=float)
        with self._lock:
            self._handle.write(line + "\n")
            self._handle.flush()
        if self.remote:
            self.upload()

    def upload(self, force: bool = False) -> None:
        if not self.remote:
            return
        now = time.monotonic()
        if not force and now - self._last_upload < self.upload_every:
            return
        with self._lock:
            if self._handle is not None:
                self._handle.flush()
            storage.upload_file(self.path, self.uri)
            self._last_upload = now

    def close(self) -> None:
        if self._handle is not None:
            self.upload(force=True)
            self._handle.close()
            self._handle = None
