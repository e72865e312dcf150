"""Mixture weights: parsing, renormalization and allocation of a budget across sources.

The phase-1 pretraining mixture is the default: Python 40 %, Rust 25 %, curated repositories 20 %,
technical docs 10 %, persona conversations 5 %. Keys are curated `subset` names (the mixture
component each curated document counts towards).

Allocation is water-filling: every source is offered `weight × budget`, but cannot give more than
`cap` (its available amount times the maximum repetition). What a capped source cannot supply is
re-offered to the uncapped ones in proportion to their weights, until the budget is met or every
source is capped. The result is the closest mixture to the target that respects the caps.
"""

from __future__ import annotations

import argparse
import math
import re
from collections.abc import Mapping
from dataclasses import dataclass

from tritter.errors import TritterError

DEFAULT_MIXTURE: dict[str, float] = {
    "python": 0.40,
    "rust": 0.25,
    "curated_repos": 0.20,
    "docs": 0.10,
    "conversations": 0.05,
}

# Subset names become folder names in the tokens output, so they are kept to a safe alphabet
# (the same one the curate stage enforces).
SUBSET_PATTERN = re.compile(r"^[a-z0-9_][a-z0-9_.+-]*$")


def parse_mixture(value: str | Mapping[str, float]) -> dict[str, float]:
    """`python=0.4,rust=0.25` (or a mapping) → validated weights; raises `ValueError`.

    Weights are relative (they need not sum to 1) but must be finite, non-negative and not all
    zero.
    """
    if isinstance(value, str):
        pairs: dict[str, float] = {}
        for item in filter(None, (part.strip() for part in value.split(","))):
            name, sep, text = item.partition("=")
            if not sep or not name.strip():
                raise ValueError(f"expected subset=weight, got '{item}'")
            try:
                pairs[name.strip()] = float(text)
            except ValueError:
                raise ValueError(f"weight for '{name.strip()}' is not a number: '{text}'") from None
        value = pairs
    if not isinstance(value, Mapping):
        raise ValueError("expected subset=weight pairs")
    weights: dict[str, float] = {}
    for name, weight in value.items():
        name = str(name).strip()
        if not SUBSET_PATTERN.match(name):
            raise ValueError(f"subset name '{name}' must match {SUBSET_PATTERN.pattern}")
        if isinstance(weight, bool) or not isinstance(weight, int | float):
            raise ValueError(f"weight for '{name}' is not a number: {weight!r}")
        if not math.isfinite(weight) or weight < 0:
            raise ValueError(f"weight for '{name}' must be finite and >= 0, got {weight}")
        weights[name] = float(weight)
    if not weights:
        raise ValueError("no weights given")
    if sum(weights.values()) <= 0:
        raise ValueError("weights sum to zero")
    return weights


@dataclass(frozen=True)
class ResolvedMixture:
    """Target weights restricted to the subsets present in the data, renormalized to sum 1."""

    weights: dict[str, float]  # present and weighted, sum 1
    requested: dict[str, float]  # as given
    missing: list[str]  # weighted but absent from the data
    unweighted: list[str]  # present in the data but not in the mixture (left out)

    @property
    def renormalized(self) -> bool:
        return bool(self.missing)

    def to_json(self) -> dict[str, object]:
        return {
            "target": {k: round(v, 6) for k, v in sorted(self.weights.items())},
            "requested": dict(sorted(self.requested.items())),
            "renormalized": self.renormalized,
            "missing_subsets": self.missing,
            "excluded_subsets": self.unweighted,
        }


def resolve(requested: Mapping[str, float], present: set[str] | list[str]) -> ResolvedMixture:
    """Keep the weighted subsets that exist; renormalize their weights to sum to 1."""
    present_set = set(present)
    kept = {k: w for k, w in requested.items() if k in present_set and w > 0}
    total = sum(kept.values())
    if total <= 0:
        raise TritterError(
            "mixture: none of the weighted subsets ("
            + ",".join(sorted(k for k, w in requested.items() if w > 0))
            + ") is present in the input (found: "
            + (",".join(sorted(present_set)) or "none")
            + ")"
        )
    return ResolvedMixture(
        weights={k: w / total for k, w in sorted(kept.items())},
        requested=dict(requested),
        missing=sorted(k for k, w in requested.items() if w > 0 and k not in present_set),
        unweighted=sorted(present_set - set(kept)),
    )


def allocate(weights: Mapping[str, float], caps: Mapping[str, float], budget: float) -> dict:
    """Water-fill `budget` over sources by `weights`, never exceeding a source's cap.

    Returns the amount per source. The sum equals `budget` unless every source hit its cap.
    """
    amounts = {name: 0.0 for name in weights}
    open_sources = {name for name, w in weights.items() if w > 0 and caps.get(name, 0) > 0}
    remaining = float(budget)
    # Each pass caps at least one source or places the whole remainder, so this terminates in at
    # most len(weights) + 1 passes.
    while remaining > 1e-9 * max(budget, 1.0) and open_sources:
        total_weight = sum(weights[name] for name in open_sources)
        # Share first, then scale: remaining * w underflows for tiny (subnormal) weights and
        # the division would then hand a source more than the whole remainder.
        offers = {name: remaining * (weights[name] / total_weight) for name in open_sources}
        capped = {n for n in open_sources if amounts[n] + offers[n] >= caps[n]}
        if not capped:
            for name, offer in offers.items():
                amounts[name] += offer
            remaining = 0.0
            break
        for name in capped:
            remaining -= caps[name] - amounts[name]
            amounts[name] = float(caps[name])
        open_sources -= capped
    return amounts


def add_mix_argument(parser: argparse.ArgumentParser, what: str) -> None:
    """`--mix` as plain text: parsed by the config validator so a bad value is a one-line
    `tritter: error:` naming the field, not an argparse usage dump."""
    parser.add_argument(
        "--mix",
        dest="mix",
        metavar="SUBSET=W,...",
        default=argparse.SUPPRESS,
        help=f"{what} (default: " + ",".join(f"{k}={v}" for k, v in DEFAULT_MIXTURE.items()) + ")",
    )
