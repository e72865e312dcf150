"""CORE: one number for the suites a run scored — the mean of their centred accuracies.

After the DCLM paper (Li et al. 2024, "DataComp-LM") and nanochat's CORE/ChatCORE: a suite's
accuracy is centred on what guessing scores, `(accuracy − baseline) / (1 − baseline)`, so 0 is
chance and 1 is every answer right whatever the number of choices; CORE is the plain mean over
the suites. Baselines: a multiple-choice suite's `random_baseline` (the mean over its questions
of 1 / number of choices: 0.25 for MMLU's four), 0 for generative suites (GSM8K's final number,
the code tasks' pass@1).

Components: whichever of these the same evaluation scored — `--tasks core` runs the ARC sets,
MMLU and GSM8K; code tasks asked for alongside count too (a code model is judged on them). Each
component's accuracy, baseline and centred value are listed in results.json, so a CORE figure
always says what it averages.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

# suite → the metric that is its accuracy
SUITES = {
    "arc-easy": "accuracy",
    "arc-challenge": "accuracy",
    "mmlu": "accuracy",
    "gsm8k": "accuracy",
    "humaneval": "pass@1",
    "mbpp": "pass@1",
    "multipl-e-rust": "pass@1",
    "ds1000": "pass@1",
}


def centered(accuracy: float, baseline: float) -> float:
    """(accuracy − baseline) / (1 − baseline): 0 at chance, 1 when every answer is right."""
    return (accuracy - baseline) / (1.0 - baseline) if baseline < 1 else 0.0


def core(tasks: Mapping[str, Mapping[str, Any]]) -> dict[str, Any]:
    """CORE over the suites in `tasks` (results.json's `tasks`)."""
    components = {}
    for name, metric in SUITES.items():
        values = tasks.get(name) or {}
        accuracy = values.get(metric)
        if not isinstance(accuracy, (int, float)):
            continue
        baseline = float(values.get("random_baseline", 0.0) or 0.0)
        components[name] = {
            "accuracy": round(float(accuracy), 6),
            "random_baseline": round(baseline, 6),
            "centered": round(centered(float(accuracy), baseline), 6),
        }
    score = (
        sum(c["centered"] for c in components.values()) / len(components) if components else None
    )
    return {
        "score": None if score is None else round(score, 6),
        "suites": len(components),
        "components": components,
    }
