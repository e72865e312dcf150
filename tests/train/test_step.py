"""One rank in-process: the loss covers real tokens only, the NaN/spike policy, and no NaN
weights are ever checkpointed."""

from __future__ import annotations

import math

import pytest
import torch
import torch.nn.functional as F

from tritter.errors import TritterError
from tritter.model import resolve_config
from tritter.train.config import TrainConfig
from tritter.train.distributed import DistContext
from tritter.train.trainer import Trainer


@pytest.fixture(scope="module")
def ctx():
    context = DistContext.init("cpu")
    yield context
    context.close()


def make_trainer(ctx, tmp_path, accumulation=1, **fields) -> Trainer:
    config = TrainConfig(
        data="d", tokenizer="t", output=str(tmp_path / "out"), max_steps=10, seq_len=16,
        micro_batch_size=2, **fields,
    )  # fmt: skip
    trainer = Trainer(config, ctx)
    trainer.prepare_model(resolve_config("tiny", vocab_size=64), accumulation, 10)
    return trainer


def test_loss_is_the_mean_over_real_target_tokens_across_micro_batches(ctx, tmp_path):
    trainer = make_trainer(ctx, tmp_path, accumulation=2)
    generator = torch.Generator().manual_seed(0)
    batches = []
    for ignored in (3, 20):  # micro batches with different numbers of real tokens
        inputs = torch.randint(0, 64, (2, 16), generator=generator)
        targets = torch.randint(0, 64, (2, 16), generator=generator)
        targets.view(-1)[:ignored] = -100
        batches.append((inputs, targets))
    with torch.no_grad():
        logits = torch.cat([trainer.model(i) for i, _ in batches])
        targets = torch.cat([t for _, t in batches])
        expected = F.cross_entropy(logits.flatten(0, 1), targets.flatten(), ignore_index=-100)
    before = trainer.model.norm.weight.detach().clone()
    record = trainer.train_step(iter(batches))
    assert record["loss"] == pytest.approx(float(expected), rel=1e-6)
    assert record["step"] == 1 and record["tokens"] == 2 * 2 * 16
    assert not torch.equal(before, trainer.model.norm.weight)  # the update happened
    assert record["grad_norm"] > 0 and record["lr"] == pytest.approx(1.5e-3)


def test_nan_and_spike_policy(ctx, tmp_path):
    trainer = make_trainer(ctx, tmp_path, spike_factor=3.0, max_skipped_steps=1)
    assert trainer._policy(math.nan, 1.0) is True  # skipped
    assert trainer._policy(2.0, 1.0) is False  # a good step resets the streak
    assert trainer._policy(2.0, math.inf) is True
    with pytest.raises(TritterError, match="2 consecutive updates skipped"):
        trainer._policy(math.nan, 1.0)
    trainer.consecutive_skips, trainer.loss_ema, trainer.step = 0, 1.0, 30
    assert trainer._policy(5.0, 1.0) is True  # 5 > 3 × running mean 1.0
    assert trainer._policy(2.5, 1.0) is False
    stopper = make_trainer(ctx, tmp_path, nan_policy="stop")
    with pytest.raises(TritterError, match=r"non-finite loss nan .*stopping \(--nan-policy stop\)"):
        stopper._policy(math.nan, 1.0)


def test_a_skipped_step_leaves_the_weights_alone(ctx, tmp_path):
    trainer = make_trainer(ctx, tmp_path)
    inputs = torch.randint(0, 64, (2, 16))
    targets = torch.full((2, 16), -100)
    targets[0, 0] = 5
    with torch.no_grad():
        trainer.model.embed_tokens.weight[inputs[0, 0]] = math.nan  # poisons the loss
    before = [p.detach().clone() for p in trainer.model.parameters()]
    record = trainer.train_step(iter([(inputs, targets)]))
    assert record["skipped"] is True and math.isnan(record["loss"])
    after = [p.detach() for p in trainer.model.parameters()]
    assert all(
        torch.equal(torch.nan_to_num(a), torch.nan_to_num(b))
        for a, b in zip(before, after, strict=True)
    )
    assert trainer.optimizer.state == {} or all(
        int(s["step"]) == 0 for s in trainer.optimizer.state.values()
    )


def test_nan_weights_are_never_saved(ctx, tmp_path):
    trainer = make_trainer(ctx, tmp_path)
    with torch.no_grad():
        trainer.model.norm.weight[0] = math.nan
    with pytest.raises(TritterError, match="weights hold NaN/inf; refusing to save"):
        trainer.save_checkpoint()
    assert not (tmp_path / "out").exists()


def test_activation_checkpointing_and_document_masking_steps(ctx, tmp_path):
    generator = torch.Generator().manual_seed(1)
    inputs = torch.randint(0, 64, (2, 16), generator=generator)
    targets = torch.randint(0, 64, (2, 16), generator=generator)
    plain = make_trainer(ctx, tmp_path).train_step(iter([(inputs, targets)]))
    recomputed = make_trainer(ctx, tmp_path, activation_checkpointing=True)
    assert all(block.checkpointing for block in recomputed.model.layers)
    again = recomputed.train_step(iter([(inputs, targets)]))
    assert again["loss"] == pytest.approx(plain["loss"], rel=1e-6)
    assert again["grad_norm"] == pytest.approx(plain["grad_norm"], rel=1e-5)
    # Document ids (third batch element) restrict attention: a different loss than plain.
    documents = (torch.arange(16) >= 8).long().expand(2, 16)
    masked = make_trainer(ctx, tmp_path, document_masking=True)
    record = masked.train_step(iter([(inputs, targets, documents)]))
    assert math.isfinite(record["loss"]) and record["loss"] != pytest.approx(plain["loss"])
