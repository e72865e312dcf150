"""`Preference`: the DPO objective the trainer runs (`tritter.train.objective.Objective`).

A micro batch is `--micro-batch-size` pairs of this rank: their 2·m sequences (the m chosen
first, then the m rejected) right-padded to the longest, the targets (`IGNORE_INDEX` off the
replies), and the stored reference sums [m, 2]. One forward gives the policy's Σ log p per
sequence; the loss (`tritter.dpo.loss`) is summed over pairs and the trainer averages it over
every pair of the global batch. Extra metrics per step (means over pairs): `reward_chosen`,
`reward_rejected`, `reward_accuracy`, `reward_margin`.

Order: pair g of the run (g = 0, 1, …, over all ranks) is pair `perm_e(g mod n)` of the training
split, e = g // n its epoch and perm_e a permutation seeded by (--seed, e); each global micro
batch takes the next ranks × m pairs, rank r the r-th m of them. The position g is the loader
state in every checkpoint, so a relaunch continues with exactly the next pairs (on any number
of ranks). Validation scores every held-out pair (at most --val-batches batches per rank).
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator
from typing import TYPE_CHECKING, Any

import numpy as np
import torch

from tritter import storage
from tritter.dpo.data import PairSplit, collate, load_split
from tritter.dpo.loss import PairLosses, preference_loss, sequence_logps
from tritter.errors import TritterError
from tritter.run_folder import DPO_DATA_MANIFEST
from tritter.train.objective import LossSums, Objective

if TYPE_CHECKING:
    from tritter.dpo.config import DpoTrainConfig
    from tritter.tokenizer import Tokenizer
    from tritter.train.config import TrainConfig
    from tritter.train.distributed import DistContext

STATE_FORMAT = "tritter-dpo-pairs-v1"
METRICS = ("reward_chosen", "reward_rejected", "reward_accuracy", "reward_margin")


class Preference(Objective):
    metric_names = METRICS

    def __init__(self, config: DpoTrainConfig) -> None:
        self.beta, self.loss_type = config.beta, config.loss_type
        self.label_smoothing = config.label_smoothing
        self.position = 0  # pairs consumed over all ranks
        self.train: PairSplit | None = None
        self.val: PairSplit | None = None

    # -- preflight -----------------------------------------------------------------------------

    def data_fingerprint(self, config: TrainConfig) -> str:
        return DPO_DATA_MANIFEST.require(storage.normalize(config.data)).fingerprint

    def check_data(self, config: TrainConfig, tokenizer: Tokenizer) -> None:
        found = DPO_DATA_MANIFEST.require(storage.normalize(config.data)).extra
        if found.tokenizer_sha256 != tokenizer.sha256:
            raise TritterError(
                f"{config.data}: pairs rendered with tokenizer {found.tokenizer_sha256[:12]}, "
                f"--tokenizer is {tokenizer.sha256[:12]}"
            )
        if found.seq_len != config.seq_len:
            raise TritterError(
                f"{config.data}: pairs rendered for --seq-len {found.seq_len}, this run's is "
                f"{config.seq_len}"
            )

    # -- data ----------------------------------------------------------------------------------

    def open(self, config: TrainConfig, ctx: DistContext, tokenizer: Tokenizer,
             autocast: Callable[[], contextlib.AbstractContextManager[None]]) -> None:  # fmt: skip
        data = storage.normalize(config.data)
        self.train = load_split(data, "train")
        if self.train is None or not self.train.pairs:
            raise TritterError(f"{data}: no training pairs")
        self.val = load_split(data, "val")
        extra = DPO_DATA_MANIFEST.require(data).extra
        self.pad_id, self.seed = extra.pad_id, config.seed
        self.rank, self.world_size = ctx.rank, ctx.world_size
        self.micro_batch_size, self.val_batches = config.micro_batch_size, config.val_batches
        self.device, self.autocast = ctx.device, autocast
        self.ctx = ctx
        self._orders: dict[int, np.ndarray] = {}

    def _order(self, epoch: int) -> np.ndarray:
        """The training pairs' order in `epoch` (only the current epoch's is kept)."""
        if epoch not in self._orders:
            generator = np.random.default_rng([self.seed, epoch])
            self._orders = {epoch: generator.permutation(self.train.pairs)}  # type: ignore[union-attr]
        return self._orders[epoch]

    def _pair_indexes(self, first: int, count: int) -> list[int]:
        n = self.train.pairs  # type: ignore[union-attr]
        return [int(self._order(g // n)[g % n]) for g in range(first, first + count)]

    def _batch(self, split: PairSplit, indexes: list[int]) -> tuple[torch.Tensor, ...]:
        chosen = [split.sequence(2 * i) for i in indexes]
        rejected = [split.sequence(2 * i + 1) for i in indexes]
        inputs, targets = collate(chosen + rejected, self.pad_id)
        reference = torch.from_numpy(np.asarray(split.reference[indexes], dtype=np.float64))
        lengths = torch.tensor([len(ids) for ids, _ in chosen + rejected], dtype=torch.long)
        return inputs, targets, reference, lengths

    def batches(self, num_workers: int = 0) -> Iterator[Any]:
        m, world = self.micro_batch_size, self.world_size
        while True:
            first = self.position + self.rank * m
            batch = self._batch(self.train, self._pair_indexes(first, m))  # type: ignore[arg-type]
            self.position += world * m
            yield batch

    def count(self, batch: Any) -> float:
        return float(len(batch[2]))

    def tokens(self, batch: Any) -> int:
        return int(batch[3].sum())  # the sequences' tokens, padding left out

    # -- loss ----------------------------------------------------------------------------------

    def pair_losses(
        self,
        model: torch.nn.Module,
        batch: Any,
        device: torch.device,
        autocast: Callable[[], contextlib.AbstractContextManager[None]],
    ) -> PairLosses:
        inputs, targets, reference = (t.to(device, non_blocking=True) for t in batch[:3])
        with autocast():
            logits = model(inputs)
        logps = sequence_logps(logits, targets)
        m = len(reference)
        return preference_loss(
            logps[:m], logps[m:], reference[:, 0], reference[:, 1], self.beta, self.loss_type,
            self.label_smoothing,
        )  # fmt: skip

    def loss(
        self,
        model: torch.nn.Module,
        batch: Any,
        device: torch.device,
        autocast: Callable[[], contextlib.AbstractContextManager[None]],
    ) -> LossSums:
        result = self.pair_losses(model, batch, device, autocast)
        return LossSums(result.losses.sum(), _metric_sums(result))

    # -- state and validation ------------------------------------------------------------------

    def state_dict(self) -> dict[str, Any]:
        return {"format": STATE_FORMAT, "position": self.position, "seed": self.seed,
                "pairs": self.train.pairs}  # type: ignore[union-attr]  # fmt: skip

    def load_state_dict(self, state: dict[str, Any]) -> None:
        if not isinstance(state, dict) or state.get("format") != STATE_FORMAT:
            raise TritterError(f"loader state: not a {STATE_FORMAT} state")
        for key in ("seed", "pairs"):
            if state.get(key) != self.state_dict()[key]:
                raise TritterError(
                    f"loader state: {key} {state.get(key)!r} differs from this run's "
                    f"{self.state_dict()[key]!r} (resuming would change the pair order)"
                )
        self.position = int(state["position"])

    @torch.no_grad()
    def validate(self, model: torch.nn.Module) -> dict[str, Any] | None:
        if self.val is None or not self.val.pairs:
            return None
        was_training = model.training
        model.eval()
        m, world, n = self.micro_batch_size, self.world_size, self.val.pairs
        batches = min(self.val_batches, -(-n // (m * world)))
        totals = torch.zeros(2 + len(METRICS), dtype=torch.float64)
        for number in range(batches):
            first = (number * world + self.rank) * m
            indexes = list(range(first, min(first + m, n)))
            # Every rank runs the same number of forwards (FSDP needs it); an empty share
            # scores pair 0 and counts nothing.
            result = self.pair_losses(model, self._batch(self.val, indexes or [0]), self.device,
                                      self.autocast)  # fmt: skip
            if not indexes:
                continue
            sums = _metric_sums(result)
            values = [float(result.losses.sum()), len(indexes), *(float(sums[k]) for k in METRICS)]
            totals += torch.tensor(values, dtype=torch.float64)
        model.train(was_training)
        loss, pairs, *metrics = self.ctx.all_reduce(totals.tolist())
        if not pairs:
            return None
        means = {f"val_{k}": v / pairs for k, v in zip(METRICS, metrics, strict=True)}
        return {"val_loss": loss / pairs, "val_pairs": int(pairs), **means}


def _metric_sums(result: PairLosses) -> dict[str, torch.Tensor]:
    chosen, rejected = result.chosen_rewards, result.rejected_rewards
    return {
        "reward_chosen": chosen.sum(),
        "reward_rejected": rejected.sum(),
        "reward_accuracy": (chosen > rejected).float().sum(),
        "reward_margin": (chosen - rejected).sum(),
    }
