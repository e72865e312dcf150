"""Learning rate and weight decay as pure functions of the optimizer step.

Stateless on purpose: a resumed run recomputes exactly the values an uninterrupted one used, and
changing the rank count cannot shift the schedule. The BitNet b1.58 recipe (two stages): linear
warm-up to the peak, cosine decay to `stage1_end_ratio × peak` at the halfway point, then a drop to
a lower peak (`stage2_peak_ratio × peak`) decayed by a second cosine to `min_lr_ratio × peak`;
weight decay is on in stage 1 and off (by default) in stage 2.
"""

from __future__ import annotations

import math

from tritter.train.config import OptimConfig, ScheduleConfig


def warmup_steps(schedule: ScheduleConfig, total: int) -> int:
    # A warm-up longer than a tenth of a short run would leave no room for the decay.
    return min(schedule.warmup_steps, max(total // 10, 0))


def stage2_start(schedule: ScheduleConfig, total: int) -> int:
    return max(1, round(schedule.stage2_start * total))


def _cosine(start: float, end: float, fraction: float) -> float:
    fraction = min(max(fraction, 0.0), 1.0)
    return end + (start - end) * 0.5 * (1.0 + math.cos(math.pi * fraction))


def learning_rate(step: int, total: int, optim: OptimConfig, schedule: ScheduleConfig) -> float:
    """LR for optimizer step `step` (0-based) of a `total`-step run."""
    peak = optim.lr
    warm = warmup_steps(schedule, total)
    if step < warm:
        return peak * (step + 1) / warm
    if schedule.kind == "constant":
        return peak
    if schedule.kind == "cosine":
        return _cosine(peak, peak * schedule.min_lr_ratio, (step - warm) / max(total - warm, 1))
    middle = max(stage2_start(schedule, total), warm)
    if step < middle:
        end = peak * schedule.stage1_end_ratio
        return _cosine(peak, end, (step - warm) / max(middle - warm, 1))
    start = peak * schedule.stage2_peak_ratio
    end = peak * schedule.min_lr_ratio
    return _cosine(start, min(end, start), (step - middle) / max(total - middle, 1))


def weight_decay(step: int, total: int, optim: OptimConfig, schedule: ScheduleConfig) -> float:
    if schedule.kind == "bitnet" and step >= stage2_start(schedule, total):
        return optim.stage2_weight_decay
    return optim.weight_decay
