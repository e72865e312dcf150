"""Bad input to `tritter pack`: one `tritter: error:` line naming the cause, exit 1, no output."""

from __future__ import annotations

import shutil

from tests.conftest import run_tritter
from tests.support.curated import write_curated
from tests.tokenizer.support import one_line_error, pack_args, run_in_process, widen_model


def _no_output(folder) -> bool:
    return not (folder / "_manifest.json").exists()


def test_missing_tokenizer(artifacts, tmp_path):
    done = run_tritter(*pack_args(artifacts.curated, tmp_path / "no-tokenizer", tmp_path / "out"))
    line = one_line_error(done)
    assert "no-tokenizer/tokenizer.model" in line and "not found" in line
    assert _no_output(tmp_path / "out")


def test_bad_mix_field(artifacts, tmp_path):
    for mix, expected in (
        ("python=x", "weight for 'python' is not a number"),
        ("python=0,rust=0", "sum to zero"),
        ("Python=1", "subset name"),
        ("python=inf", "finite"),
    ):
        args = pack_args(artifacts.curated, artifacts.tokenizer, tmp_path / "out", "--mix", mix)
        line = one_line_error(run_in_process(*args))
        assert "'mix' (--mix)" in line and expected in line, (mix, line)
    assert _no_output(tmp_path / "out")


def test_empty_curated_input(artifacts, tmp_path):
    write_curated(str(tmp_path / "curated"), [], shards=1)
    done = run_in_process(*pack_args(tmp_path / "curated", artifacts.tokenizer, tmp_path / "out"))
    assert "empty curated input" in one_line_error(done)


def test_unfinished_curated_input(artifacts, tmp_path):
    (tmp_path / "curated").mkdir()
    done = run_in_process(*pack_args(tmp_path / "curated", artifacts.tokenizer, tmp_path / "out"))
    assert "no _manifest.json" in one_line_error(done)


def test_truncated_curated_shard(artifacts, tmp_path):
    curated = tmp_path / "curated"
    shutil.copytree(artifacts.curated, curated)
    part = curated / "part-00001.parquet"
    part.write_bytes(part.read_bytes()[:-100])
    line = one_line_error(
        run_in_process(*pack_args(curated, artifacts.tokenizer, tmp_path / "out"))
    )
    assert "part-00001.parquet" in line and "truncated" in line


def test_seq_len_larger_than_the_stream(artifacts, tmp_path):
    args = pack_args(artifacts.curated, artifacts.tokenizer, tmp_path / "out")
    args[args.index("--seq-len") + 1] = "1000000"
    line = one_line_error(run_in_process(*args))
    assert "seq_len 1000000 is larger than the training token stream" in line


def test_tokenizer_replaced_behind_its_manifest(artifacts, tmp_path):
    tokenizer = tmp_path / "tokenizer"
    shutil.copytree(artifacts.tokenizer, tokenizer)
    model = tokenizer / "tokenizer.model"
    model.write_bytes(widen_model(model.read_bytes(), 3000))
    line = one_line_error(
        run_in_process(*pack_args(artifacts.curated, tokenizer, tmp_path / "out"))
    )
    assert "differs from its manifest" in line


def test_tokenizer_changed_between_plan_and_shard(artifacts, tmp_path):
    """A work unit refuses to pack with another tokenizer than the plan's (shard mismatch)."""
    model = tmp_path / "tokenizer.model"
    shutil.copy(artifacts.tokenizer / "tokenizer.model", model)
    output = tmp_path / "out"
    planned = run_in_process(*pack_args(artifacts.curated, model, output), "--step", "plan")
    assert planned.returncode == 0, planned.stderr
    model.write_bytes(widen_model(model.read_bytes(), 3000))
    done = run_in_process("pack", "--step", "shard", "--index", "0", "--output", str(output))
    line = one_line_error(done)
    assert "differs from the one this pack was planned with" in line
    assert not list(output.glob("train/*/*.npy"))


def test_output_equal_to_input(artifacts):
    done = run_in_process(*pack_args(artifacts.curated, artifacts.tokenizer, artifacts.curated))
    assert "output must differ from input" in one_line_error(done)


def test_step_shard_without_index_or_plan(tmp_path):
    assert "needs --index" in one_line_error(
        run_in_process("pack", "--step", "shard", "--output", str(tmp_path))
    )
    assert "no pack plan" in one_line_error(
        run_in_process("pack", "--step", "shard", "--index", "0", "--output", str(tmp_path))
    )
