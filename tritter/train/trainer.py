"""The training loop of one rank (run under torchrun, or in-process for a single rank).

What is optimised is an `Objective` (tritter/train/objective.py): language modelling over token
shards by default, DPO (`tritter.dpo`), RL (`tritter.rl`) or another post-training loss when a
stage passes one. Per optimizer step: read `accumulation` micro batches (an on-policy objective
then samples its rollouts for them with the current weights: `Objective.prepare_step`), count
the objective's units (real, non-ignored target tokens for language modelling) over all ranks,
and backpropagate each micro batch's summed loss scaled by world_size / units. DDP/FSDP
average gradients over ranks, so the update is exactly the gradient of the mean loss over every
unit of the global batch, whatever the split into ranks and micro batches. Then clip, check
(non-finite/spike policy), set the scheduled LR and weight decay, and step AdamW. Everything a
step depends on (weights, AdamW moments, data position, step counter, RNG) is in the
checkpoint, which is why a relaunch reproduces the losses of an uninterrupted run bit for bit
on CPU.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import math
import signal
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from types import FrameType
from typing import Any

import torch
import yaml

from tritter import config as config_io
from tritter import log, storage
from tritter.errors import TritterError
from tritter.metrics import run_label
from tritter.model import ModelConfig, Tritter
from tritter.run_folder import (
    FINAL,
    FINAL_INFO,
    MODEL_CONFIG,
    TRAIN_CONFIG,
    TRAIN_MANIFESTS,
    TrainExtra,
)
from tritter.tokenizer.hf import HFTokenizer
from tritter.train import schedule
from tritter.train.checkpoint import Checkpointer, staging_root
from tritter.train.config import TrainConfig
from tritter.train.distributed import DistContext
from tritter.train.faults import FaultInjector
from tritter.train.metrics import MetricsLog, TrainGauges
from tritter.train.objective import LanguageModeling, Objective
from tritter.train.optim import build_optimizer, set_hyperparameters
from tritter.train.parallelize import (
    bf16_compute,
    full_value,
    gradient_sync,
    init_model,
    local_tensor,
    parallelize,
)
from tritter.train.preflight import check
from tritter.train.shard_check import ShardCheck
from tritter.train.store import CheckpointStore

_log = log.get_logger("train")

# Dense bf16 peak FLOP/s by GPU name (the figure MFU is quoted against).
GPU_PEAK_FLOPS = {
    "H200": 989e12,
    "H100": 989e12,
    "A100": 312e12,
    "L40S": 362e12,
    "L4": 121e12,
    "A10": 125e12,
}
# Nominal fp32 FLOP/s per CPU thread (AVX2/AVX-512 FMA at ~2-3 GHz): a rough MFU denominator.
CPU_PEAK_FLOPS_PER_THREAD = 50e9


def peak_flops(config: TrainConfig, device: torch.device) -> float:
    if config.peak_flops:
        return config.peak_flops
    if device.type == "cuda":
        name = torch.cuda.get_device_name(device)
        for key, value in GPU_PEAK_FLOPS.items():
            if key in name:
                return value
        return 100e12
    return CPU_PEAK_FLOPS_PER_THREAD * torch.get_num_threads()


def run_name(config: TrainConfig) -> str:
    if config.run_name:
        return config.run_name
    return run_label(config.output)


def autocast_factory(
    config: TrainConfig, device: torch.device
) -> Callable[[], contextlib.AbstractContextManager[None]]:
    """A fresh autocast context per forward: bf16 compute (see `bf16_compute`) or none."""
    if not bf16_compute(config, device):
        return contextlib.nullcontext
    return lambda: torch.autocast(device.type, dtype=torch.bfloat16)


class Trainer:
    def __init__(
        self, config: TrainConfig, ctx: DistContext, objective: Objective | None = None
    ) -> None:
        self.config, self.ctx = config, ctx
        self.objective = objective if objective is not None else LanguageModeling(config)
        self.fault = FaultInjector(ctx.rank)
        self.stop_requested = False
        self.shard_check: ShardCheck | None = None  # started by fit (verify_shards)

    # -- setup ---------------------------------------------------------------------------------

    def prepare_model(self, model_config: ModelConfig, accumulation: int, total: int) -> None:
        """Model (seeded, identical on every rank), wrapping, optimizer, precision and the
        step counters: everything `train_step` needs (the benchmark uses just this)."""
        config, ctx = self.config, self.ctx
        self.model_config = model_config
        self.accumulation, self.total = accumulation, total
        self.global_tokens = (
            accumulation * ctx.world_size * config.micro_batch_size * config.seq_len
        )
        # `model` holds the parameters (optimizer, clipping, export); `wrapped` runs them.
        self.model = init_model(model_config, config, ctx)
        self.wrapped = parallelize(self.model, config, ctx)
        self.optimizer = build_optimizer(self.model, config.optim, ctx.device)
        self.autocast = autocast_factory(config, ctx.device)
        self.run = run_name(config)
        self.gauges = TrainGauges(self.run, ctx.rank, config.phase)
        self.metric_gauges = {
            name: self.gauges.add_gauge(f"tritter_train_{name}", f"{name} of the last step")
            for name in self.objective.metric_names
        }
        self.step_tokens = self.global_tokens
        self.flops_per_token = float(self.model.flops_per_token(config.seq_len))
        self.peak = peak_flops(config, ctx.device)
        self.step, self.tokens = 0, 0
        self.loss_ema: float | None = None
        self.consecutive_skips, self.skipped_total = 0, 0

    def setup(self) -> None:
        config, ctx = self.config, self.ctx
        pre = check(config, ctx.world_size, write_probe=ctx.is_main, objective=self.objective)
        self.pre = pre
        self.prepare_model(pre.model_config, pre.accumulation, pre.total_steps)
        self.objective.open(config, ctx, pre.tokenizer, self.autocast)
        self.store = CheckpointStore(config.output)
        run_key = hashlib.sha256(self.store.root.encode()).hexdigest()[:16]
        self.checkpointer = Checkpointer(
            self.store, ctx, config.checkpoint.keep_last, run_key, fault=self.fault
        )
        self.metrics_log = (
            MetricsLog(config.output, staging_root(run_key) / "metrics") if ctx.is_main else None
        )

    def resume(self) -> None:
        """Continue from the newest checkpoint under --output; a run that has none starts from
        --init's weights when given (so a relaunch never goes back to --init)."""
        # The newest checkpoint whose files match their marker's sha256 (a corrupt one is
        # skipped with a warning: training falls back to the previous committed step).
        restored = self.checkpointer.resume_from_newest(self.wrapped, self.optimizer)
        if restored is None:
            if self.config.init:
                self.load_init(self.config.init)
            return
        latest, state = restored
        self.objective.load_state_dict(state["loader"])
        self.step, self.tokens = int(state["step"]), int(state["tokens"])
        self.loss_ema = state.get("loss_ema")
        self.consecutive_skips = int(state.get("consecutive_skips", 0))
        self.skipped_total = int(state.get("skipped_total", 0))
        rng = state.get("rng") or []
        if self.ctx.rank < len(rng):
            torch.set_rng_state(rng[self.ctx.rank])
        cuda_rng = state.get("cuda_rng") or []
        if self.ctx.device.type == "cuda" and self.ctx.rank < len(cuda_rng):
            torch.cuda.set_rng_state(cuda_rng[self.ctx.rank], self.ctx.device)
        log.event(
            _log, "resumed from checkpoint", step=self.step, uri=latest.uri,
            saved_world_size=latest.world_size, world_size=self.ctx.world_size,
        )  # fmt: skip

    def load_init(self, uri: str) -> None:
        """Start from the weights at `uri`; the optimizer state starts empty. Under FSDP2 each
        rank reads only its shards (`tritter.train.initial_weights`); otherwise rank 0 reads
        them once and broadcasts them into every rank's parameters."""
        from torch.distributed.checkpoint.state_dict import (
            StateDictOptions,
            set_model_state_dict,
        )

        from tritter.train import initial_weights
        from tritter.train.checkpoint import load_model

        if initial_weights.is_sharded(self.model):
            read = initial_weights.load_sharded(self.model, uri, self.ctx)
            log.event(_log, "starting from --init weights", uri=uri, per_rank=True, **read)
            return
        full = load_model(uri)[0].state_dict() if self.ctx.is_main else {}
        set_model_state_dict(
            self.wrapped,
            full,
            options=StateDictOptions(full_state_dict=True, broadcast_from_rank0=True),
        )
        log.event(_log, "starting from --init weights", uri=uri)

    # -- one step --------------------------------------------------------------------------------

    def _next_batches(self, batches: Iterator) -> tuple[list[tuple[torch.Tensor, ...]], float]:
        started = time.perf_counter()
        out = [next(batches) for _ in range(self.accumulation)]
        return out, time.perf_counter() - started

    def train_step(self, batches: Iterator) -> dict[str, Any]:
        ctx, config = self.ctx, self.config
        started = time.perf_counter()
        objective, names = self.objective, self.objective.metric_names
        micro, waited = self._next_batches(batches)
        micro = objective.prepare_step(self.wrapped, micro)  # on-policy rollouts (tritter.rl)
        local_units = sum(objective.count(b) for b in micro)
        local_tokens = sum(objective.tokens(b) for b in micro)
        units, step_tokens = ctx.all_reduce([float(local_units), float(local_tokens)])
        scale = ctx.world_size / max(units, 1.0)
        loss_sum = torch.zeros((), dtype=torch.float64, device=ctx.device)
        metric_sums = torch.zeros(len(names), dtype=torch.float64, device=ctx.device)
        for index, batch in enumerate(micro):
            with gradient_sync(self.wrapped, index == len(micro) - 1):
                sums = objective.loss(self.wrapped, batch, ctx.device, self.autocast)
                (sums.loss * scale).backward()
            loss_sum += sums.loss.detach().double()
            for position, name in enumerate(names):
                metric_sums[position] += sums.metrics[name].detach().double()
        max_norm = config.optim.clip_grad_norm or math.inf
        grad_norm = full_value(
            torch.nn.utils.clip_grad_norm_(self.model.parameters(), max_norm, foreach=True)
        )
        loss_total, *metric_totals = ctx.all_reduce([float(loss_sum), *metric_sums.tolist()])
        loss = loss_total / max(units, 1.0)
        self.step_tokens = int(step_tokens)
        lr = schedule.learning_rate(self.step, self.total, config.optim, config.schedule)
        decay = schedule.weight_decay(self.step, self.total, config.optim, config.schedule)
        skipped = self._policy(loss, grad_norm)
        if not skipped:
            set_hyperparameters(self.optimizer, lr, decay)
            self.optimizer.step()
            self.loss_ema = loss if self.loss_ema is None else 0.95 * self.loss_ema + 0.05 * loss
        self.optimizer.zero_grad(set_to_none=True)
        if ctx.device.type == "cuda":
            torch.cuda.synchronize(ctx.device)
        self.step += 1
        self.tokens += self.step_tokens
        seconds = time.perf_counter() - started
        tokens_per_second = self.step_tokens / max(seconds, 1e-9)
        extra = {n: total / max(units, 1.0) for n, total in zip(names, metric_totals, strict=True)}
        return {
            "kind": "train",
            "step": self.step,
            "time": time.time(),
            "loss": loss,
            "lr": lr,
            "tokens": self.tokens,
            "tokens_per_second": tokens_per_second,
            "mfu": self.flops_per_token * tokens_per_second / (self.peak * ctx.world_size),
            "grad_norm": grad_norm,
            "step_seconds": seconds,
            "data_wait_ratio": min(waited / max(seconds, 1e-9), 1.0),
            "world_size": ctx.world_size,
            "skipped": skipped,
            **extra,
        }

    def _request_stop(self, signum: int, _frame: FrameType | None) -> None:
        # Pod deletion/preemption: finish the step, checkpoint, exit (the relaunch resumes).
        self.stop_requested = True

    def _stop_agreed(self) -> bool:
        """True on every rank once any rank got SIGTERM (all ranks stop at the same step)."""
        (flag,) = self.ctx.all_reduce([1.0 if self.stop_requested else 0.0], "max")
        return flag > 0

    def _policy(self, loss: float, grad_norm: float) -> bool:
        """True when this update must be skipped; raises when the run must stop."""
        config = self.config
        problem = None
        if not math.isfinite(loss) or not math.isfinite(grad_norm):
            problem = f"non-finite loss {loss} or gradient norm {grad_norm}"
        elif (
            config.spike_factor > 0
            and self.loss_ema is not None
            and self.step >= 20
            and loss > config.spike_factor * self.loss_ema
        ):
            problem = f"loss spike {loss:.4f} > {config.spike_factor:g} × running mean " \
                      f"{self.loss_ema:.4f}"  # fmt: skip
        if problem is None:
            self.consecutive_skips = 0
            return False
        if config.nan_policy == "stop":
            raise TritterError(
                f"step {self.step + 1}: {problem}; stopping (--nan-policy stop). The newest "
                "checkpoint holds the last good weights"
            )
        self.consecutive_skips += 1
        self.skipped_total += 1
        self.gauges.skipped.inc()
        log.event(_log, "update skipped", level=30, step=self.step + 1, reason=problem)
        if self.consecutive_skips > config.max_skipped_steps:
            raise TritterError(
                f"step {self.step + 1}: {self.consecutive_skips} consecutive updates skipped "
                f"({problem}); stopping (--max-skipped-steps {config.max_skipped_steps})"
            )
        return True

    # -- records ------------------------------------------------------------------------------

    def record_train(self, record: dict[str, Any], started: float, first_step: int) -> None:
        gauges = self.gauges
        gauges.loss.set(record["loss"])
        gauges.tokens_per_second.set(record["tokens_per_second"])
        gauges.mfu.set(record["mfu"])
        gauges.grad_norm.set(record["grad_norm"])
        gauges.learning_rate.set(record["lr"])
        gauges.step.set(record["step"])
        gauges.step_seconds.set(record["step_seconds"])
        gauges.data_wait.set(record["data_wait_ratio"])
        gauges.tokens.inc(self.step_tokens)
        for name, gauge in self.metric_gauges.items():
            gauge.set(record[name])
        if self.ctx.device.type == "cuda":
            gauges.gpu_allocated.set(torch.cuda.max_memory_allocated(self.ctx.device))
            gauges.gpu_reserved.set(torch.cuda.memory_reserved(self.ctx.device))
        if self.metrics_log is not None:
            self.metrics_log.write(record)
        step = record["step"]
        if self.ctx.is_main and (step % self.config.log_every == 0 or step == self.total):
            done = step - first_step
            elapsed = time.perf_counter() - started
            eta = (self.total - step) * elapsed / max(done, 1)
            log.event(
                _log,
                f"step {step}/{self.total} loss {record['loss']:.4f} lr {record['lr']:.2e} "
                f"{record['tokens_per_second']:,.0f} tok/s mfu {record['mfu']:.1%} "
                f"eta {_duration(eta)}",
                step=step, loss=round(record["loss"], 6), grad_norm=round(record["grad_norm"], 4),
                tokens=record["tokens"], eta_s=round(eta, 1),
            )  # fmt: skip

    def validate(self) -> None:
        result = self.objective.validate(self.wrapped)
        if result is None:
            return
        record = {"kind": "val", "step": self.step, "time": time.time(), **result}
        if result.get("val_loss") is not None:
            self.gauges.val_loss.set(result["val_loss"])
        if result.get("val_bpb") is not None:
            self.gauges.val_bpb.set(result["val_bpb"])
        if self.metrics_log is not None:
            self.metrics_log.write(record)
        if self.ctx.is_main:
            shown = {k: v for k, v in result.items() if isinstance(v, int | float | None)}
            log.event(_log, "validation", step=self.step, **shown)

    def _trainer_state(self) -> dict[str, Any]:
        rng = self.ctx.all_gather_object(torch.get_rng_state())
        cuda_rng = (
            self.ctx.all_gather_object(torch.cuda.get_rng_state(self.ctx.device).cpu())
            if self.ctx.device.type == "cuda"
            else []
        )
        return {
            "step": self.step,
            "tokens": self.tokens,
            "loader": self.objective.state_dict(),
            "loss_ema": self.loss_ema,
            "consecutive_skips": self.consecutive_skips,
            "skipped_total": self.skipped_total,
            "rng": rng,
            "cuda_rng": cuda_rng,
            "world_size": self.ctx.world_size,
            "tokenizer_sha256": self.pre.tokenizer.sha256,
            "vocab_size": self.model_config.vocab_size,
            "seed": self.config.seed,
        }

    def save_checkpoint(self) -> None:
        self._confirm_shards()  # never commit a checkpoint trained on a corrupt shard
        finite = all(
            bool(torch.isfinite(local_tensor(p.detach())).all()) for p in self.model.parameters()
        )
        (bad,) = self.ctx.all_reduce([0.0 if finite else 1.0], "max")
        if bad:
            raise TritterError(
                f"step {self.step}: the weights hold NaN/inf; refusing to save a checkpoint "
                f"(the newest one under {self.config.output} is the last good state)"
            )
        state = self._trainer_state()
        side = {
            MODEL_CONFIG: json.dumps(self.model_config.model_dump(mode="json"), indent=1).encode(),
            TRAIN_CONFIG: yaml.safe_dump(config_io.dump(self.config), sort_keys=False).encode(),
        }
        self.checkpointer.save(
            self.step, self.wrapped, self.optimizer, state, side, on_done=self._checkpoint_done
        )

    def _confirm_shards(self) -> None:
        """Every rank agrees the token shards match their manifest (see `ShardCheck`)."""
        if self.shard_check is not None:
            self.shard_check.confirm()

    def _checkpoint_done(self, info: dict[str, Any]) -> None:
        """Runs on rank 0's commit thread once the marker is written."""
        self.gauges.checkpoint_seconds.set(info["save_seconds"])
        self.gauges.checkpoint_blocking.set(info["blocking_seconds"])
        if self.metrics_log is not None:
            self.metrics_log.write({
                "kind": "checkpoint", "step": info["step"], "time": time.time(),
                "save_seconds": info["save_seconds"],
                "blocking_seconds": info["blocking_seconds"], "uri": info["uri"],
            })  # fmt: skip
            self.metrics_log.upload(force=True)

    def export_final(self) -> None:
        """final/: the Hugging Face directory (save_hf, with the tokenizer's files when it is
        a Hugging Face one) and tritter.json (written last)."""
        import tempfile

        from torch.distributed.checkpoint.state_dict import (
            StateDictOptions,
            get_model_state_dict,
        )

        full = get_model_state_dict(
            self.wrapped, options=StateDictOptions(full_state_dict=True, cpu_offload=True)
        )
        if self.ctx.is_main:
            with torch.device("meta"):  # no second copy of the weights in memory
                export = Tritter(self.model_config)
            export.load_state_dict(full, assign=True)
            target = storage.join(self.config.output, FINAL)
            with tempfile.TemporaryDirectory(prefix="tritter-final-") as tmp:
                export.save_hf(tmp)
                if isinstance(self.pre.tokenizer, HFTokenizer):  # loads beside the weights
                    for name, data in self.pre.tokenizer.hf_files().items():
                        (Path(tmp) / name).write_bytes(data)
                storage.upload_folder(tmp, target)
            info = {
                "step": self.step,
                "tokens": self.tokens,
                "tokenizer_sha256": self.pre.tokenizer.sha256,
                "tokenizer": self.config.tokenizer,
                "model": self.config.model or self.config.init or "tiny",
                "run": self.run,
                "phase": self.config.phase,  # evaluation prompts mid/sft models as chat models
            }
            storage.write_text(storage.join(target, FINAL_INFO), json.dumps(info, indent=1) + "\n")
            self._write_manifest(target)
            log.event(_log, "final model written", uri=target, step=self.step)
        self.ctx.barrier()

    def _write_manifest(self, final: str) -> None:
        """The stage manifest of the checkpoints folder (last): what went in, the final files."""
        from tritter import manifest

        contract = TRAIN_MANIFESTS[self.config.phase]

        files = [
            manifest.file_entry(self.config.output, item.uri)
            for item in storage.list_objects(final)
        ]
        manifest.write_manifest(
            self.config.output,
            manifest.Manifest(
                stage=contract.stage,
                fingerprint=contract.fingerprint(self.config, self.pre.inputs),
                inputs=self.pre.inputs,
                config=config_io.dump(self.config),
                counts=contract.counts(
                    steps=self.step,
                    tokens=self.tokens,
                    skipped_steps=self.skipped_total,
                    **self.objective.manifest_counts(),
                ),
                files=files,
                extra=TrainExtra(
                    model=self.model_config.model_dump(mode="json"),
                    world_size=self.ctx.world_size,
                    phase=self.config.phase,
                ),
            ),
        )

    # -- the run -------------------------------------------------------------------------------

    def fit(self) -> dict[str, Any]:
        config, ctx = self.config, self.ctx
        self.setup()
        if config.verify_shards and isinstance(self.objective, LanguageModeling):
            # Hashes this rank's share of the token shards while the first steps run.
            self.shard_check = ShardCheck(config.data, ctx).start()
        if ctx.is_node_main and config.metrics_port:
            self.gauges.serve(config.metrics_port)
        self.resume()
        if self.tokens:
            self.gauges.tokens.inc(self.tokens)
        self.gauges.step.set(self.step)
        if ctx.is_main:
            assert self.metrics_log is not None
            config_io.save(config, storage.join(config.output, TRAIN_CONFIG))
            self.metrics_log.start(self.step)
            log.event(
                _log, "training", run=self.run, model=config.model or config.init or "tiny",
                parameters=sum(p.numel() for p in self.model.parameters()),
                world_size=ctx.world_size, accumulation=self.accumulation,
                global_batch_tokens=self.global_tokens, steps=self.total, start_step=self.step,
                device=str(ctx.device), sharding=config.sharding,
            )  # fmt: skip
        batches = self.objective.batches(config.num_workers)
        first_step, started = self.step, time.perf_counter()
        last: dict[str, Any] = {}
        previous = signal.signal(signal.SIGTERM, self._request_stop)
        try:
            while self.step < self.total:
                last = self.train_step(batches)
                self.record_train(last, started, first_step)
                self.fault("step", self.step)
                at_end = self.step == self.total
                if (config.val_every and self.step % config.val_every == 0) or at_end:
                    self.validate()
                stopping = self._stop_agreed()
                if self.step % config.checkpoint.every == 0 or at_end or stopping:
                    self.save_checkpoint()
                if stopping and not at_end:
                    self.checkpointer.wait()
                    raise TritterError(
                        f"stopped by SIGTERM at step {self.step}/{self.total}: checkpoint saved; "
                        "relaunch the same command to resume"
                    )
            self.checkpointer.wait()
            self._confirm_shards()
            self.export_final()
        finally:
            signal.signal(signal.SIGTERM, previous)
            if self.metrics_log is not None:
                self.metrics_log.close()
        if ctx.is_node_main and config.metrics_port and config.hold_metrics_seconds:
            log.event(_log, "holding the metrics endpoint", seconds=config.hold_metrics_seconds)
            time.sleep(config.hold_metrics_seconds)
        return {"step": self.step, "tokens": self.tokens, "last": last}


def _duration(seconds: float) -> str:
    seconds = int(max(seconds, 0))
    hours, rest = divmod(seconds, 3600)
    return f"{hours}:{rest // 60:02d}:{rest % 60:02d}"


def train(config: TrainConfig, objective: Objective | None = None) -> dict[str, Any]:
    """Train as this process's rank (initialises and tears down the process group); the
    objective defaults to language modelling on `config.data`'s token shards."""
    ctx = DistContext.init(config.device)
    try:
        return Trainer(config, ctx, objective).fit()
    finally:
        ctx.close()
