"""PNG plots of a run's metrics.jsonl (matplotlib, headless)."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from matplotlib.figure import Figure

PLOTS = {
    "loss.png": "Training and validation loss",
    "lr.png": "Learning rate",
    "throughput.png": "Throughput and model FLOPs utilization",
    "val_bpb.png": "Validation bits per byte",
}


def _series(records: Sequence[dict[str, Any]], key: str) -> tuple[list[float], list[float]]:
    steps, values = [], []
    for record in records:
        value = record.get(key)
        if isinstance(value, (int, float)) and value == value:  # skip NaN
            steps.append(record["step"])
            values.append(float(value))
    return steps, values


def _ema(values: list[float], weight: float) -> list[float]:
    out, current = [], None
    for value in values:
        current = value if current is None else weight * current + (1 - weight) * value
        out.append(current)
    return out


def make_plots(metrics: Sequence[dict[str, Any]], folder: Path) -> dict[str, str]:
    """Write the plots the metrics support into `folder`; returns {file name: caption}."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    train = [r for r in metrics if r.get("kind") == "train"]
    val = [r for r in metrics if r.get("kind") == "val"]
    written: dict[str, str] = {}

    def save(fig: Figure, name: str) -> None:
        fig.tight_layout()
        fig.savefig(folder / name, dpi=100)
        plt.close(fig)
        written[name] = PLOTS[name]

    steps, loss = _series(train, "loss")
    val_steps, val_loss = _series(val, "val_loss")
    if loss or val_loss:
        fig, ax = plt.subplots(figsize=(10.5, 3.8))
        if loss:
            ax.plot(steps, loss, color="#9ecae1", linewidth=0.8, label="train (per step)")
            if len(loss) > 20:
                ax.plot(steps, _ema(loss, 0.9), color="#08519c", linewidth=1.6,
                        label="train (EMA 0.9)")  # fmt: skip
        if val_loss:
            ax.plot(val_steps, val_loss, "o-", color="#d94801", markersize=4, label="validation")
        ax.set_xlabel("step")
        ax.set_ylabel("loss (nats/token)")
        ax.grid(alpha=0.3)
        ax.legend()
        save(fig, "loss.png")

    steps, lr = _series(train, "lr")
    if lr:
        fig, ax = plt.subplots(figsize=(10.5, 2.8))
        ax.plot(steps, lr, color="#31a354", linewidth=1.4)
        ax.set_xlabel("step")
        ax.set_ylabel("learning rate")
        ax.ticklabel_format(axis="y", style="sci", scilimits=(-3, 3))
        ax.grid(alpha=0.3)
        save(fig, "lr.png")

    steps, rate = _series(train, "tokens_per_second")
    mfu_steps, mfu = _series(train, "mfu")
    if rate:
        fig, ax = plt.subplots(figsize=(10.5, 3.2))
        smooth = len(rate) > 20  # per-step rates are noisy: a light raw line, a smoothed one
        ax.plot(steps, rate, color="#cbc9e2" if smooth else "#6a51a3", linewidth=0.8,
                label="tokens/s" if not smooth else "tokens/s (per step)")  # fmt: skip
        if smooth:
            ax.plot(steps, _ema(rate, 0.9), color="#6a51a3", linewidth=1.6,
                    label="tokens/s (EMA 0.9)")  # fmt: skip
        ax.set_xlabel("step")
        ax.set_ylabel("tokens / second")
        ax.grid(alpha=0.3)
        if mfu:
            twin = ax.twinx()
            shown = _ema(mfu, 0.9) if smooth else mfu
            twin.plot(mfu_steps, [100 * m for m in shown], color="#e6550d", linewidth=1.4,
                      label="MFU (EMA 0.9)" if smooth else "MFU")  # fmt: skip
            twin.set_ylabel("MFU (%)")
            lines = ax.get_lines() + twin.get_lines()
            ax.legend(lines, [line.get_label() for line in lines], loc="lower right")
        save(fig, "throughput.png")

    val_steps, bpb = _series(val, "val_bpb")
    subsets = sorted({name for r in val for name in (r.get("per_subset") or {})})
    if bpb or subsets:
        fig, ax = plt.subplots(figsize=(10.5, 3.4))
        if bpb:
            ax.plot(val_steps, bpb, "o-", color="black", markersize=4, label="all")
        for name in subsets:
            points = [
                (r["step"], r["per_subset"][name].get("bpb"))
                for r in val
                if isinstance((r.get("per_subset") or {}).get(name), dict)
            ]
            points = [(s, v) for s, v in points if isinstance(v, (int, float))]
            if points:
                ax.plot(*zip(*points, strict=True), "o--", markersize=3, label=name)
        ax.set_xlabel("step")
        ax.set_ylabel("bits per byte")
        ax.grid(alpha=0.3)
        ax.legend(fontsize="small", ncol=min(4, len(subsets) + 1))
        save(fig, "val_bpb.png")
    return written
