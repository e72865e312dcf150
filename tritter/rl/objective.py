"""`PolicyGradient`: the RL objective the trainer runs (`tritter.train.objective.Objective`).

Where rollouts come from: `batches()` yields only each micro batch's place in the step; the
trainer then hands the step's micro batches to `prepare_step(model, micro)`, which — with the
weights of this very step — takes the next prompts, samples K completions of each
(`tritter.rl.rollout`, in eval mode without gradients, under the training's autocast), scores
them (`tritter.rl.runner`), computes the group-normalised advantages and fills the micro batches
with sequences (prompt + completion, right-padded), the learned-token targets and the
advantages. `loss` recomputes the log-probabilities with gradients and returns the clipped
surrogate summed over learned tokens; `count` is those tokens, so the trainer's division makes
the loss a token-level mean over the global step (DAPO). With `--ppo-epochs E` the rollouts of
one sampling serve E steps, trained against the log-probabilities of their first step (= the
sampling policy's).

Order: prompt g of the run (g = 0, 1, …, over all ranks) is prompt perm_e(g mod n), e = g // n its
epoch and perm_e a permutation seeded by (--seed, e); each sampling takes the next ranks × P
prompts (P = accumulation × micro batch / K), rank r the r-th P of them. The sampler of that
share is seeded by (--seed, its first g), so the position g — with the sampling counter and,
mid-epoch of --ppo-epochs, the stored rollouts — is the whole data state in every checkpoint: a
relaunch samples exactly the completions an uninterrupted run would (on the same ranks).

Metrics of every `kind: train` record (all over every rank's completions of the step):
`reward_mean`, `reward_std`, `pass_rate` (share with reward >= --pass-threshold),
`completion_tokens` (mean tokens the policy wrote per completion), `tool_calls` (mean code runs
per completion), `reward_errors` (reward calls of the step that raised, timed out or returned no
number: scored 0), `clip_fraction` (share of learned tokens whose ratio was clipped) and, with
--kl-coef, `kl` (mean k3 per learned token). The trainer divides every metric sum by the step's
tokens; the per-completion ones are handed over multiplied by them.
"""

from __future__ import annotations

import contextlib
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np
import torch

from tritter import log, storage
from tritter.errors import TritterError
from tritter.rl import rollout
from tritter.rl.data import load_rows
from tritter.rl.loss import group_advantages, policy_loss, token_logps
from tritter.rl.runner import ERROR_KINDS, Call, RewardRunner, check_spec
from tritter.run_folder import RL_DATA_MANIFEST
from tritter.train.loss import IGNORE_INDEX
from tritter.train.objective import LossSums, Objective

if TYPE_CHECKING:
    from tritter.rl.config import RlTrainConfig
    from tritter.tokenizer import Tokenizer
    from tritter.train.config import TrainConfig
    from tritter.train.distributed import DistContext

_log = log.get_logger("rl")
STATE_FORMAT = "tritter-rl-prompts-v1"
STEP_METRICS = ("reward_mean", "reward_std", "pass_rate", "completion_tokens", "tool_calls",
                "reward_errors")  # fmt: skip
# Totals over a run (the manifest's counts), kept in the state so a resumed run continues them.
TOTALS = ("prompts", "completions", "completion_tokens", "tool_calls", "passed")


@dataclass
class RolloutBatch:
    """One micro batch of completions, ready for the loss."""

    inputs: torch.Tensor  # [B, L] prompt + completion, right-padded
    targets: torch.Tensor  # [B, L] the next token where the policy wrote it, else IGNORE_INDEX
    advantages: torch.Tensor  # [B] float64
    lengths: torch.Tensor  # [B] real tokens of each row of inputs
    stats: dict[str, float]  # the step's metrics (`STEP_METRICS`)
    old_logps: torch.Tensor | None = None  # [B, L] the first update's, when rollouts are reused
    ref_logps: torch.Tensor | None = None  # [B, L] the --init policy's (with --kl-coef)

    def state(self) -> dict[str, Any]:
        return {name: getattr(self, name) for name in self.__dataclass_fields__}


def sampler_seed(seed: int, position: int) -> int:
    return int(np.random.SeedSequence([seed, position]).generate_state(1, dtype=np.uint64)[0] >> 1)


class PolicyGradient(Objective):
    def __init__(self, config: RlTrainConfig) -> None:
        self.config = config
        self.metric_names = (*STEP_METRICS, "clip_fraction", *(("kl",) if config.kl_coef else ()))
        self.position = 0  # prompts consumed over all ranks
        self.samplings = 0  # optimizer steps prepared (a sampling every --ppo-epochs of them)
        self.rollouts: list[RolloutBatch] | None = None
        self.totals: Counter[str] = Counter()
        self.errors: Counter[str] = Counter()  # kind → reward calls, over the run
        self.runner: RewardRunner | None = None
        self.reference: torch.nn.Module | None = None

    # -- preflight -----------------------------------------------------------------------------

    def data_fingerprint(self, config: TrainConfig) -> str:
        return RL_DATA_MANIFEST.require(storage.normalize(config.data)).fingerprint

    def check_data(self, config: TrainConfig, tokenizer: Tokenizer) -> None:
        data = storage.normalize(config.data)
        found = RL_DATA_MANIFEST.require(data).extra
        if found.tokenizer_sha256 != tokenizer.sha256:
            raise TritterError(
                f"{data}: prompts checked with tokenizer {found.tokenizer_sha256[:12]}, "
                f"--tokenizer is {tokenizer.sha256[:12]}"
            )
        if found.seq_len != config.seq_len:
            raise TritterError(
                f"{data}: prompts checked for --seq-len {found.seq_len}, this run's is "
                f"{config.seq_len}"
            )
        if found.reward != self.config.reward:
            raise TritterError(
                f"{data}: prompts checked for --reward {found.reward}, this run's is "
                f"{self.config.reward}"
            )
        check_spec(self.config.reward)

    # -- data ----------------------------------------------------------------------------------

    def open(self, config: TrainConfig, ctx: DistContext, tokenizer: Tokenizer,
             autocast: Callable[[], contextlib.AbstractContextManager[None]]) -> None:  # fmt: skip
        from tritter.chat.template import render_prompt
        from tritter.train.config import accumulation_steps

        self.rows = load_rows(storage.normalize(config.data))
        if not self.rows:
            raise TritterError(f"{config.data}: no prompt rows")
        self.prompt_ids = [render_prompt(row.messages, tokenizer) for row in self.rows]
        self.tokenizer, self.ctx, self.autocast = tokenizer, ctx, autocast
        self.rank, self.world_size, self.device = ctx.rank, ctx.world_size, ctx.device
        self.accumulation = accumulation_steps(config, ctx.world_size)
        self.prompts_per_step = check_group_split(
            self.accumulation, config.micro_batch_size, self.config.samples_per_prompt
        )
        self.pad_id = tokenizer.pad_id if tokenizer.pad_id >= 0 else tokenizer.eos_id
        self._orders: dict[int, np.ndarray] = {}
        c = self.config
        self.sampling = rollout.Sampling(
            max_new_tokens=c.max_new_tokens, max_len=c.seq_len, temperature=c.temperature,
            top_p=c.top_p, max_tool_calls=c.max_tool_calls, output_chars=c.tool_output_chars,
        )  # fmt: skip
        self.runner = RewardRunner(c.reward, c.reward_timeout, c.reward_workers,
                                   c.sandbox.model_dump(mode="json"))  # fmt: skip
        self._sandbox: Any = None
        if c.kl_coef > 0:
            from tritter.train.checkpoint import load_model

            if not config.init:
                raise TritterError("--kl-coef needs --init (the reference policy)")
            self.reference = load_model(config.init)[0].to(ctx.device).eval()
            self.reference.requires_grad_(False)

    def _order(self, epoch: int) -> np.ndarray:
        if epoch not in self._orders:
            generator = np.random.default_rng([self.config.seed, epoch])
            self._orders = {epoch: generator.permutation(len(self.rows))}
        return self._orders[epoch]

    def _prompt(self, position: int) -> int:
        n = len(self.rows)
        return int(self._order(position // n)[position % n])

    def batches(self, num_workers: int = 0) -> Iterator[Any]:
        while True:  # each micro batch's place in its step; prepare_step samples the step
            yield from range(self.accumulation)

    def count(self, batch: Any) -> float:
        return float((batch.targets != IGNORE_INDEX).sum())

    def tokens(self, batch: Any) -> int:
        return int(batch.lengths.sum())

    # -- rollouts ------------------------------------------------------------------------------

    def prepare_step(self, model: torch.nn.Module, micro: list[Any]) -> list[Any]:
        if self.rollouts is None or self.samplings % self.config.ppo_epochs == 0:
            self.rollouts = self._sample(model, len(micro))
        self.samplings += 1
        return self.rollouts

    def _sandbox_factory(self) -> Any:
        if self._sandbox is None:
            from tritter.evaluate.sandbox import Sandbox

            self._sandbox = Sandbox(self.config.sandbox)
        return self._sandbox

    def _sample(self, model: torch.nn.Module, accumulation: int) -> list[RolloutBatch]:
        c, k = self.config, self.config.samples_per_prompt
        first = self.position + self.rank * self.prompts_per_step
        prompts = [self._prompt(g) for g in range(first, first + self.prompts_per_step)]
        self.position += self.world_size * self.prompts_per_step
        generator = torch.Generator(device=self.device)
        generator.manual_seed(sampler_seed(c.seed, first))
        module = getattr(model, "module", model)  # DDP's replica: generation is local
        was_training = module.training
        module.eval()
        try:
            with self.autocast():
                completions = rollout.sample(
                    module, self.tokenizer, [self.prompt_ids[p] for p in prompts for _ in range(k)],
                    self.sampling, generator, self._sandbox_factory,
                )  # fmt: skip
        finally:
            module.train(was_training)
        calls = [
            Call(self.rows[p].text, completions[i * k + j].text, self.rows[p].row)
            for i, p in enumerate(prompts)
            for j in range(k)
        ]
        assert self.runner is not None
        before = Counter(self.runner.errors)
        scored = self.runner.score(calls)
        rewards = torch.tensor([s.value for s in scored], dtype=torch.float64)
        advantages = group_advantages(rewards.view(len(prompts), k), c.scale_advantages).flatten()
        new_errors = self.runner.errors - before
        for kind in sorted(new_errors):
            example = next(s.detail for s in scored if s.error == kind)
            log.event(_log, "reward calls scored 0", level=30, kind=kind, calls=new_errors[kind],
                      example=example, rank=self.rank)  # fmt: skip
        stats = self._step_stats(len(prompts), rewards, completions, new_errors)
        batches = []
        size = len(completions) // accumulation
        for start in range(0, len(completions), size):
            chosen = range(start, start + size)
            batches.append(self._batch(
                [self.prompt_ids[prompts[i // k]] for i in chosen],
                [completions[i] for i in chosen], advantages[start : start + size], stats,
            ))  # fmt: skip
        return batches

    def _step_stats(
        self,
        groups: int,
        rewards: torch.Tensor,
        completions: list[rollout.Completion],
        errors: Counter[str],
    ) -> dict[str, float]:
        """The step's metrics over every rank's completions (all-reduced), and the run's
        totals."""
        passed = float((rewards >= self.config.pass_threshold).sum())
        local = [
            float(groups), float(len(completions)), float(rewards.sum()),
            float((rewards**2).sum()), passed, float(sum(c.sampled for c in completions)),
            float(sum(c.tool_calls for c in completions)), *(float(errors[k]) for k in ERROR_KINDS),
        ]  # fmt: skip
        total = self.ctx.all_reduce(local)
        prompts, n, reward_sum, square_sum, passed, sampled, calls, *failed = total
        mean = reward_sum / n
        for name, value in zip(TOTALS, (prompts, n, sampled, calls, passed), strict=True):
            self.totals[name] += round(value)
        for kind, value in zip(ERROR_KINDS, failed, strict=True):
            self.errors[kind] += round(value)
        return {
            "reward_mean": mean,
            "reward_std": max(square_sum / n - mean * mean, 0.0) ** 0.5,
            "pass_rate": passed / n,
            "completion_tokens": sampled / n,
            "tool_calls": calls / n,
            "reward_errors": float(sum(failed)),
        }

    def _batch(
        self,
        prompts: list[list[int]],
        completions: list[rollout.Completion],
        advantages: torch.Tensor,
        stats: dict[str, float],
    ) -> RolloutBatch:
        sequences = [[*p, *c.ids] for p, c in zip(prompts, completions, strict=True)]
        width = max(len(s) for s in sequences) - 1
        inputs = torch.full((len(sequences), width), self.pad_id, dtype=torch.long)
        targets = torch.full((len(sequences), width), IGNORE_INDEX, dtype=torch.long)
        for row, (prompt, completion, sequence) in enumerate(
            zip(prompts, completions, sequences, strict=True)
        ):
            inputs[row, : len(sequence) - 1] = torch.tensor(sequence[:-1], dtype=torch.long)
            for offset, (token, learned) in enumerate(
                zip(completion.ids, completion.learned, strict=True)
            ):
                if learned:
                    targets[row, len(prompt) + offset - 1] = token
        lengths = torch.tensor([len(s) - 1 for s in sequences], dtype=torch.long)
        batch = RolloutBatch(inputs, targets, advantages.clone(), lengths, stats)
        if self.reference is not None:
            with torch.no_grad(), self.autocast():
                logits = self.reference(inputs.to(self.device))
            batch.ref_logps = token_logps(logits, targets.to(self.device)).cpu()
        return batch

    # -- loss ----------------------------------------------------------------------------------

    def loss(
        self,
        model: torch.nn.Module,
        batch: Any,
        device: torch.device,
        autocast: Callable[[], contextlib.AbstractContextManager[None]],
    ) -> LossSums:
        c = self.config
        inputs = batch.inputs.to(device, non_blocking=True)
        targets = batch.targets.to(device, non_blocking=True)
        with autocast():
            logits = model(inputs)
        logps = token_logps(logits, targets)
        if batch.old_logps is None:
            old = logps.detach()
            if c.ppo_epochs > 1:  # later steps on these rollouts are measured against this one
                batch.old_logps = old.cpu()
        else:
            old = batch.old_logps.to(device)
        ref = batch.ref_logps.to(device) if batch.ref_logps is not None else None
        learned = targets != IGNORE_INDEX
        result = policy_loss(logps, old, batch.advantages.to(device), learned, c.clip_low,
                             c.clip_high, c.kl_coef, ref)  # fmt: skip
        units = float(learned.sum())
        metrics = {
            name: torch.tensor(batch.stats[name] * units, dtype=torch.float64)
            for name in STEP_METRICS
        }
        metrics["clip_fraction"] = result.clipped.double().cpu()
        if c.kl_coef:
            metrics["kl"] = result.kl.double().cpu()
        return LossSums(result.loss, metrics)

    # -- state ---------------------------------------------------------------------------------

    def state_dict(self) -> dict[str, Any]:
        reusing = self.rollouts is not None and self.samplings % self.config.ppo_epochs != 0
        return {
            "format": STATE_FORMAT, "position": self.position, "samplings": self.samplings,
            "seed": self.config.seed, "prompts": len(self.rows),
            "samples_per_prompt": self.config.samples_per_prompt,
            "totals": dict(self.totals), "reward_errors": dict(self.errors),
            "rollouts": [b.state() for b in self.rollouts] if reusing else None,  # type: ignore[union-attr]
        }  # fmt: skip

    def load_state_dict(self, state: dict[str, Any]) -> None:
        if not isinstance(state, dict) or state.get("format") != STATE_FORMAT:
            raise TritterError(f"loader state: not a {STATE_FORMAT} state")
        mine = self.state_dict()
        for key in ("seed", "prompts", "samples_per_prompt"):
            if state.get(key) != mine[key]:
                raise TritterError(
                    f"loader state: {key} {state.get(key)!r} differs from this run's "
                    f"{mine[key]!r} (resuming would change the prompt order)"
                )
        self.position, self.samplings = int(state["position"]), int(state["samplings"])
        self.totals = Counter(state.get("totals") or {})
        self.errors = Counter(state.get("reward_errors") or {})
        stored = state.get("rollouts")
        self.rollouts = [RolloutBatch(**b) for b in stored] if stored else None

    def manifest_counts(self) -> dict[str, Any]:
        return {
            **{name: int(self.totals[name]) for name in TOTALS},
            "reward_errors": {kind: int(self.errors[kind]) for kind in ERROR_KINDS},
        }


def check_group_split(accumulation: int, micro_batch_size: int, samples: int) -> int:
    """Prompts per rank and step: accumulation × micro batch completions, K per prompt."""
    completions = accumulation * micro_batch_size
    if completions % samples:
        raise TritterError(
            f"each rank's step holds {accumulation} × {micro_batch_size} completions "
            f"(accumulation × --micro-batch-size), not a multiple of --samples-per-prompt "
            f"{samples}"
        )
    return completions // samples
