"""The trainer's objective: where micro batches come from and what loss they give.

`Trainer` (tritter/train/trainer.py) owns everything an objective does not: ranks, wrapping,
AdamW, clipping, the NaN/spike policy, the schedule, checkpoints, metrics and the final export.
An `Objective` owns the data side and the loss:

* `data_fingerprint` / `check_data` — preflight (before any rank starts, and again per rank):
  the content identity of the data (the training manifest's `inputs.data_fingerprint`) and
  one-line errors for data that does not fit the tokenizer or settings;
* `open` — this rank's data source(s) and validation, once per run;
* `batches` — the infinite iterator of this rank's micro batches, from the restored position;
* `prepare_step(model, micro)` — called once per optimizer step with the step's micro batches,
  before they are counted; returns the batches to train on. The default returns them as they
  are; an on-policy objective (`tritter.rl`) turns prompt batches into rollouts sampled with the
  current weights here (reading the next batch is data loading; this is the step's own work);
* `count(batch)` — how many units the loss averages over (scored tokens for language
  modelling, pairs for DPO); the trainer all-reduces the step's total first and scales each
  micro batch's summed loss by world_size / total, so the update is the gradient of the mean
  over every unit of the global batch whatever the split into ranks and micro batches;
* `tokens(batch)` — tokens the model processed (throughput, MFU, the `tokens` counter);
* `loss(model, batch, device, autocast)` → `LossSums`: the summed loss (a 0-d tensor that
  backpropagates) and sums of extra metrics (`metric_names`), which the trainer reduces over
  micro batches and ranks, divides by the step's count, and writes into every `kind: train`
  record of metrics.jsonl and into a `tritter_train_<name>` gauge;
* `state_dict` / `load_state_dict` — the data position, saved in every checkpoint's trainer
  state (key `loader`) so a relaunch continues with exactly the next batch;
* `validate(model)` — a `kind: val` record's fields (or None: no validation);
* `manifest_counts()` — extra `counts` of the stage manifest, beside steps, tokens and skipped
  steps (the phase's contract in `tritter.run_folder` declares them; default: none).

`LanguageModeling` is pretraining's and SFT's objective (next-token loss over the
`tritter.loader` shards); `tritter dpo` plugs in its own (`tritter.dpo.objective`), and any new
post-training stage does the same: build one per rank and pass it to
`tritter.train.stage.run(config, objective, worker_argv)` / `trainer.train(config, objective)`.
"""

from __future__ import annotations

import contextlib
from abc import ABC, abstractmethod
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import torch

from tritter import storage
from tritter.train.loss import scored_tokens, token_loss_sum

if TYPE_CHECKING:
    from tritter.tokenizer import Tokenizer
    from tritter.train.config import TrainConfig
    from tritter.train.distributed import DistContext

Autocast = Callable[[], contextlib.AbstractContextManager[None]]


@dataclass
class LossSums:
    """One micro batch's summed loss and the sums of the objective's extra metrics."""

    loss: torch.Tensor  # 0-d, backpropagates; summed over the batch's `count` units
    metrics: dict[str, torch.Tensor] = field(default_factory=dict)  # name → 0-d sum, detached


class Objective(ABC):
    """What the trainer optimises (see the module docstring)."""

    # Extra per-step metrics: means over the step's `count` units (metrics.jsonl, gauges).
    metric_names: tuple[str, ...] = ()

    @abstractmethod
    def data_fingerprint(self, config: TrainConfig) -> str:
        """The content identity of `config.data` (a one-line error when it is not there)."""

    @abstractmethod
    def check_data(self, config: TrainConfig, tokenizer: Tokenizer) -> None:
        """A one-line `TritterError` when the data does not fit the tokenizer or config."""

    @abstractmethod
    def open(self, config: TrainConfig, ctx: DistContext, tokenizer: Tokenizer,
             autocast: Autocast) -> None:  # fmt: skip
        """Open this rank's data (training and validation); called once, before `resume`."""

    @abstractmethod
    def batches(self, num_workers: int = 0) -> Iterator[Any]:
        """This rank's micro batches from the current position, without end."""

    def prepare_step(self, model: torch.nn.Module, micro: list[Any]) -> list[Any]:
        """The step's micro batches as they will be counted and trained on (see the module
        docstring); every rank calls it at the same point of every step."""
        return micro

    @abstractmethod
    def count(self, batch: Any) -> float:
        """The units the loss averages over in `batch` (tokens, pairs)."""

    @abstractmethod
    def tokens(self, batch: Any) -> int:
        """Tokens the model processes for `batch`."""

    @abstractmethod
    def loss(
        self, model: torch.nn.Module, batch: Any, device: torch.device, autocast: Autocast
    ) -> LossSums:
        """Forward `batch` through `model` and return the summed loss (and metric sums)."""

    @abstractmethod
    def state_dict(self) -> dict[str, Any]:
        """The data position (everything the next batch depends on)."""

    @abstractmethod
    def load_state_dict(self, state: dict[str, Any]) -> None: ...

    def validate(self, model: torch.nn.Module) -> dict[str, Any] | None:
        """Fields of a `kind: val` record, or None when there is nothing to validate on."""
        return None

    def manifest_counts(self) -> dict[str, Any]:
        """Extra fields of the stage manifest's `counts` (rank 0's, at the end of the run)."""
        return {}


class LanguageModeling(Objective):
    """Next-token cross-entropy over token shards (`tritter.loader`): pretraining, mid, sft.

    Batches are `(inputs, targets[, document_ids])`; the loss averages over scored targets
    (not `IGNORE_INDEX`); validation reports loss and bits per byte per subset."""

    def __init__(self, config: TrainConfig) -> None:
        self.document_masking = config.document_masking
        self.loader: Any = None
        self.validator: Any = None

    def data_fingerprint(self, config: TrainConfig) -> str:
        from tritter.loader.stream import read_token_shards

        return read_token_shards(storage.normalize(config.data)).fingerprint

    def check_data(self, config: TrainConfig, tokenizer: Tokenizer) -> None:
        from tritter.loader import check_tokenizer

        check_tokenizer(config.data, tokenizer)

    def open(self, config: TrainConfig, ctx: DistContext, tokenizer: Tokenizer,
             autocast: Autocast) -> None:  # fmt: skip
        from tritter.loader import TokenLoader, list_subsets

        self.loader = TokenLoader(
            config.data, split="train", seq_len=config.seq_len,
            micro_batch_size=config.micro_batch_size, rank=ctx.rank,
            world_size=ctx.world_size, seed=config.seed,
            with_document_ids=config.document_masking,
        )  # fmt: skip
        subsets = list_subsets(config.data, "val")
        if subsets:
            from tritter.train.validation import Validator

            token_bytes = torch.as_tensor(tokenizer.token_byte_lengths(), dtype=torch.long)
            self.validator = Validator(
                config.data, subsets, ctx, config.seq_len, config.micro_batch_size, config.seed,
                config.val_batches, token_bytes, autocast,
            )  # fmt: skip

    def batches(self, num_workers: int = 0) -> Iterator[Any]:
        return iter(self.loader.data_loader(num_workers=num_workers) if num_workers
                    else self.loader)  # fmt: skip

    def count(self, batch: Any) -> float:
        return float(scored_tokens(batch[1]))

    def tokens(self, batch: Any) -> int:
        return int(batch[0].numel())

    def loss(
        self, model: torch.nn.Module, batch: Any, device: torch.device, autocast: Autocast
    ) -> LossSums:
        inputs = batch[0].to(device, non_blocking=True)
        targets = batch[1].to(device, non_blocking=True)
        documents = batch[2].to(device) if self.document_masking else None
        with autocast():
            logits = model(inputs, document_ids=documents)
        return LossSums(token_loss_sum(logits, targets))

    def state_dict(self) -> dict[str, Any]:
        return self.loader.state_dict()

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.loader.load_state_dict(state)

    def validate(self, model: torch.nn.Module) -> dict[str, Any] | None:
        return None if self.validator is None else dict(self.validator.run(model))
