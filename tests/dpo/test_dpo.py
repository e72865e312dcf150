"""`tritter dpo` on CPU with the tiny model: the rendered pairs and their mask, ln 2 at the
start, rewards that rise, exact resume after SIGKILL, skipped rows and one-line errors."""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import pytest

from tests.conftest import run_tritter
from tests.dpo.conftest import MALFORMED, PAIRS, TRAINED, dpo_args, preference_rows, write_pairs
from tests.train.test_pretrain import losses, records
from tritter.dpo.data import load_split, render_pair
from tritter.dpo.pairs import read_pairs
from tritter.run_folder import DPO_DATA, DPO_DATA_MANIFEST, DPO_MANIFEST
from tritter.tokenizer import Tokenizer

pytestmark = pytest.mark.slow


def train_records(output: str) -> list[dict]:
    return records(output, "train")


def test_data_manifest_counts_skipped_rows_and_the_model_trains(trained, base, pairs):
    data = DPO_DATA_MANIFEST.require(f"{trained}/{DPO_DATA}")
    skipped = dict(data.counts.skipped["pairs"])
    # Identity conversations with a long system turn do not fit 128 tokens: skipped, counted.
    too_long = skipped.pop("too_long") - 1
    assert 0 < too_long < PAIRS // 2
    assert skipped == dict.fromkeys(sorted(set(MALFORMED) - {"too_long"}), 1)
    kept = data.counts.pairs
    assert sum(kept["train"].values()) + sum(kept["val"].values()) == PAIRS - too_long
    assert kept["val"]["pairs"] > 0
    assert data.inputs.init == base["checkpoints"] and data.extra.seq_len == 128
    done = DPO_MANIFEST.require(trained)
    assert done.counts.steps == 12 and done.extra.phase == "dpo"
    assert done.inputs.data_fingerprint == data.fingerprint
    assert done.config["beta"] == 0.1 and done.config["optim"]["weight_decay"] == 0.0
    info = json.loads((Path(trained) / "final" / "tritter.json").read_text())
    assert info["phase"] == "dpo"


def test_only_the_reply_is_learned(trained, base, pairs):
    """Stored sequences are the template's rendering of prompt + reply, led by EOS, with the
    mask on the reply alone (never the prompt, not even an earlier assistant turn)."""
    tokenizer = Tokenizer.load(base["tokenizer"])
    train = load_split(f"{trained}/{DPO_DATA}", "train")
    stored = {tuple(train.sequence(2 * i)[0].tolist()): 2 * i for i in range(train.pairs)}
    checked = 0
    for pair in read_pairs(pairs).pairs:
        (ids, mask), _ = render_pair(pair, tokenizer)
        index = stored.get(tuple(ids))
        if index is None:
            continue  # held out or too long
        assert train.sequence(index)[1].tolist() == mask
        assert ids[0] == tokenizer.eos_id and mask[0] == 0
        reply = tokenizer.decode([i for i, m in zip(ids, mask, strict=True) if m])
        text = pair.chosen[-1].parts[-1].text
        assert text in reply
        assert pair.prompt[-1].parts[0].text not in reply
        checked += 1
    assert checked > 20


def test_the_first_step_loss_is_ln2(trained):
    first = train_records(trained)[0]
    assert first["step"] == 1
    assert first["loss"] == pytest.approx(math.log(2), abs=1e-4)
    assert abs(first["reward_margin"]) < 1e-3
    for name in ("reward_chosen", "reward_rejected", "reward_accuracy", "reward_margin"):
        assert all(name in r for r in train_records(trained))


def test_rewards_rise(trained):
    found = train_records(trained)
    early, late = found[:3], found[-3:]

    def mean(rows, key):
        return sum(r[key] for r in rows) / len(rows)

    assert mean(late, "reward_margin") > mean(early, "reward_margin") + 1.0
    assert mean(late, "reward_accuracy") > 0.9 > mean(early, "reward_accuracy")
    assert mean(late, "loss") < 0.4 < math.log(2) - 0.1 < found[0]["loss"]
    assert all(r["reward_chosen"] - r["reward_rejected"] == pytest.approx(r["reward_margin"])
               for r in found)  # fmt: skip
    val = records(trained, "val")
    assert [r["step"] for r in val] == [6, 12]
    assert val[-1]["val_reward_accuracy"] > 0.8 and val[-1]["val_reward_margin"] > 0


def test_relaunching_a_finished_run_does_nothing(trained, base, pairs):
    again = run_tritter(*dpo_args(base["checkpoints"], base, pairs, trained, *TRAINED))
    assert again.returncode == 0, again.stderr[-3000:]
    assert "training already finished" in again.stderr


def test_sigkill_then_relaunch_gives_identical_losses(base, sources, tmp_path):
    data = write_pairs(tmp_path / "pairs.jsonl", preference_rows(sources, 24), malformed=False)
    # 6 steps of 4 pairs: past the end of the first epoch (about 21 training pairs).
    args = ("--max-steps", "6", "--checkpoint-every", "3", "--optim.lr", "3e-3")
    init = base["checkpoints"]
    whole = str(tmp_path / "whole")
    done = run_tritter(*dpo_args(init, base, data, whole, *args))
    assert done.returncode == 0, done.stderr[-3000:]
    crashy = str(tmp_path / "crashy")
    # Killed while saving the last step: that save first waits for step 3's commit,
    # so the relaunch resumes from step 3 however slow the machine is.
    first = run_tritter(*dpo_args(init, base, data, crashy, *args),
                        env={"TRITTER_FAULT": "kill:rank=0:step=6:phase=commit"})  # fmt: skip
    assert first.returncode != 0
    second = run_tritter(*dpo_args(init, base, data, crashy, *args))
    assert second.returncode == 0, second.stderr[-3000:]
    assert "resumed from checkpoint step=3" in second.stderr
    assert losses(crashy) == losses(whole)
    keys = ("reward_margin", "reward_accuracy")
    assert [[r[k] for k in keys] for r in train_records(crashy)] == [
        [r[k] for k in keys] for r in train_records(whole)
    ]
    # The reference log-probabilities are the same whichever run computed them.
    assert np.array_equal(load_split(f"{crashy}/{DPO_DATA}", "train").reference,
                          load_split(f"{whole}/{DPO_DATA}", "train").reference)  # fmt: skip


def test_bad_inputs_are_one_line_errors(base, pairs, tmp_path):
    cases = {
        "missing init": (str(tmp_path / "nothing"), pairs, "no complete checkpoint"),
        "missing data": (base["checkpoints"], str(tmp_path / "none.jsonl"), "not found"),
    }
    for init, data, message in cases.values():
        done = run_tritter(*dpo_args(init, base, data, str(tmp_path / "out"), "--max-steps", "1"))
        assert done.returncode == 1
        lines = done.stderr.strip().splitlines()
        assert len(lines) == 1 and lines[0].startswith("tritter: error: "), done.stderr
        assert message in lines[0]
    only_bad = tmp_path / "bad.jsonl"
    only_bad.write_text("".join(f"{line}\n" for line in list(MALFORMED.values())[:6]))
    done = run_tritter(*dpo_args(base["checkpoints"], base, str(only_bad), str(tmp_path / "o2"),
                                 "--max-steps", "1"))  # fmt: skip
    assert done.returncode == 1
    (line,) = done.stderr.strip().splitlines()
    assert "no valid preference pair" in line and "invalid_json 1" in line


def test_the_report_shows_the_dpo_phase(trained, tmp_path):
    run = tmp_path / "run"
    run.mkdir()
    (run / "dpo").symlink_to(trained, target_is_directory=True)
    done = run_tritter("report", "--run", str(run))
    assert done.returncode == 0, done.stderr[-3000:]
    report = json.loads((run / "report" / "report.json").read_text())
    (phase,) = report["post_training"]
    assert phase["phase"] == "dpo" and phase["training"]["steps"] == 12
    assert phase["reward_accuracy"] > 0.8 and phase["reward_margin"] > 0
    assert phase["conversations"] == sum(
        DPO_DATA_MANIFEST.require(f"{trained}/{DPO_DATA}").counts.pairs["train"].values()
    )
    markdown = (run / "report" / "report.md").read_text()
    assert "| dpo | 12 | " in markdown and "reward accuracy" in markdown
