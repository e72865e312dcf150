"""Mixture allocation (water-filling under repetition caps) and how documents become text."""

from __future__ import annotations

import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st

from tests.pack.helpers import documents, manifest
from tests.tokenizer.support import pack_args, run_in_process
from tritter.data.mixture import allocate, parse_mixture, resolve
from tritter.data.render import render
from tritter.errors import TritterError
from tritter.tokenizer import Tokenizer

NAMES = ["python", "rust", "docs", "conversations", "curated_repos"]


@settings(max_examples=200, deadline=None)
@given(
    weights=st.lists(st.floats(0.0, 10.0), min_size=5, max_size=5),
    caps=st.lists(st.floats(0.0, 1e6), min_size=5, max_size=5),
    budget=st.floats(1.0, 2e6),
)
# Found by CI: a subnormal weight once made remaining * w / total exceed the whole remainder.
@example(weights=[5e-324, 0.0, 0.0, 0.0, 0.0], caps=[2.0, 0.0, 0.0, 0.0, 0.0], budget=1.5)
def test_allocation_respects_caps_and_weights(weights, caps, budget):
    weights = dict(zip(NAMES, weights, strict=True))
    caps = dict(zip(NAMES, caps, strict=True))
    amounts = allocate(weights, caps, budget)
    live = [n for n in NAMES if weights[n] > 0 and caps[n] > 0]
    assert all(0 <= amounts[n] <= caps[n] * (1 + 1e-9) + 1e-6 for n in NAMES)
    assert all(amounts[n] == 0 for n in NAMES if n not in live)
    total = sum(amounts.values())
    if total < budget * (1 - 1e-6):  # short of the budget only when every source is capped
        assert all(amounts[n] >= caps[n] * (1 - 1e-6) for n in live)
    else:
        assert total == pytest.approx(budget, rel=1e-6)
    # uncapped sources share in proportion to their weights
    free = [n for n in live if amounts[n] < caps[n] * (1 - 1e-6)]
    for a in free:
        for b in free:
            assert amounts[a] * weights[b] == pytest.approx(amounts[b] * weights[a], rel=1e-6)


def test_resolve_renormalizes_and_reports():
    mixture = resolve(
        parse_mixture("python=0.4,rust=0.25,curated_repos=0.2,go=0"), {"python", "rust", "docs"}
    )
    assert mixture.weights == pytest.approx({"python": 0.4 / 0.65, "rust": 0.25 / 0.65})
    assert mixture.missing == ["curated_repos"] and mixture.renormalized
    assert mixture.unweighted == ["docs"]
    with pytest.raises(TritterError, match="none of the weighted subsets"):
        resolve({"go": 1.0}, {"python"})


def test_render_modes():
    bad = "def f(x):\n    return eval(x)"
    note = "eval runs arbitrary code.\nFix: use ast.literal_eval."
    explained = render(bad, "python", True, note, "explain")
    assert explained.startswith(bad + "\n\n# Review: this is a negative example.\n")
    assert explained.endswith("# eval runs arbitrary code.\n# Fix: use ast.literal_eval.\n")
    assert (
        render(bad, "rust", True, note, "explain").splitlines()[-1]
        == "// Fix: use ast.literal_eval."
    )
    assert render(bad, "python", True, note, "keep") == bad
    assert render(bad, "python", True, note, "drop") is None
    assert render(bad, "python", False, note, "drop") == bad  # positives are always verbatim
    assert render(bad, "python", True, None, "explain") == bad  # nothing to explain


def test_pack_drops_negatives_on_request(artifacts, tmp_path):
    output = tmp_path / "tokens"
    args = pack_args(artifacts.curated, artifacts.tokenizer, output, "--workers", "1")
    done = run_in_process(
        *args, "--mix", "python=1", "--negatives", "drop", "--token-budget", "40000"
    )
    assert done.returncode == 0, done.stderr
    assert manifest(output)["config"]["negatives"] == "drop"
    tokenizer = Tokenizer.load(artifacts.tokenizer)
    texts = [
        t
        for split in ("train", "val")
        for c in documents(output, tokenizer, split).values()
        for t in c
    ]
    assert texts and not any("import pickle" in t for t in texts)
