"""Reading conversations from JSONL, Parquet, folders, S3 and `datasets`; bad rows counted."""

from __future__ import annotations

import gzip
import json

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from tests.chat.samples import BAD_ROWS, PLAIN_ROWS, TOOL_ROW
from tritter import storage
from tritter.chat import from_row, read_conversations
from tritter.errors import TritterError


def jsonl(rows) -> str:
    return "".join((r if isinstance(r, str) else json.dumps(r)) + "\n" for r in rows)


def test_malformed_rows_are_counted_and_skipped(tmp_path):
    lines = [TOOL_ROW, *(row for _, row in BAD_ROWS), PLAIN_ROWS[0]]
    path = tmp_path / "mixed.jsonl"
    path.write_text(jsonl(lines) + "\n\n")  # blank lines are not rows
    result = read_conversations(str(path))
    expected: dict[str, int] = {}
    for reason, _ in BAD_ROWS:
        expected[reason] = expected.get(reason, 0) + 1
    assert dict(result.skipped) == expected
    assert result.rows == len(lines) and result.skipped_rows == len(BAD_ROWS)
    assert [c.id for c in result.conversations] == ["tool-1", "plain-0"]
    assert result.conversations[0].origin == "mixed.jsonl:1"
    # The first row of each reason is named by file and line.
    assert result.examples["invalid_json"].startswith("mixed.jsonl:2: not JSON")
    assert result.examples["bad_role"].startswith("mixed.jsonl:7: messages[0].role is 'bot'")
    assert "messages[1].content[1]" in result.examples["output_without_code"]


def test_jsonl_gz_and_limit(tmp_path):
    path = tmp_path / "chats.jsonl.gz"
    path.write_bytes(gzip.compress(jsonl(["{broken", *PLAIN_ROWS]).encode()))
    result = read_conversations(str(path), limit=2)
    assert [c.id for c in result.conversations] == ["plain-0", "plain-1"]
    assert result.rows == 3 and dict(result.skipped) == {"invalid_json": 1}


def _parquet(path, rows) -> None:
    pq.write_table(pa.Table.from_pylist(rows), path, row_group_size=2)


def test_parquet_file(tmp_path):
    # A Parquet column has one type, so these rows use string content throughout; a missing
    # provenance column entry reads back as null and counts as absent.
    rows = [*PLAIN_ROWS, {"messages": [{"role": "user", "content": "hi"}]}]
    _parquet(tmp_path / "chats.parquet", rows)
    result = read_conversations(str(tmp_path / "chats.parquet"))
    assert [c.id for c in result.conversations] == ["plain-0", "plain-1", "plain-2"]
    assert result.conversations[0].source is None
    assert dict(result.skipped) == {"last_not_assistant": 1}
    assert result.examples["last_not_assistant"].startswith("chats.parquet#3:")
    assert result.conversations == [from_row(r) for r in PLAIN_ROWS]


def test_corrupt_parquet_is_one_error(tmp_path):
    (tmp_path / "bad.parquet").write_bytes(b"PAR1 not really")
    with pytest.raises(TritterError, match=r"bad.parquet: not a readable Parquet file"):
        read_conversations(str(tmp_path / "bad.parquet"))


def test_folder_reads_data_files_in_order(tmp_path):
    (tmp_path / "b").mkdir()
    (tmp_path / "a.jsonl").write_text(jsonl([TOOL_ROW]))
    _parquet(tmp_path / "b" / "c.parquet", PLAIN_ROWS)
    (tmp_path / "_manifest.json").write_text("{}")  # not data
    (tmp_path / "README.md").write_text("# not data\n")
    (tmp_path / "_work").mkdir()
    (tmp_path / "_work" / "scratch.jsonl").write_text("not json\n")
    result = read_conversations(str(tmp_path))
    assert [c.id for c in result.conversations] == ["tool-1", "plain-0", "plain-1", "plain-2"]
    assert [c.origin for c in result.conversations][:2] == ["a.jsonl:1", "b/c.parquet#0"]
    assert result.files == [str(tmp_path / "a.jsonl"), str(tmp_path / "b" / "c.parquet")]
    assert result.skipped_rows == 0


def test_missing_and_unusable_inputs(tmp_path):
    with pytest.raises(TritterError, match="nowhere: not found"):
        read_conversations(str(tmp_path / "nowhere"))
    (tmp_path / "empty").mkdir()
    with pytest.raises(TritterError, match=r"empty: no .jsonl"):
        read_conversations(str(tmp_path / "empty"))
    (tmp_path / "data.json").write_text("{}")
    with pytest.raises(TritterError, match=r"data.json: expected a .jsonl"):
        read_conversations(str(tmp_path / "data.json"))


def test_s3_prefix_and_object(s3_bucket):
    prefix = f"{s3_bucket}/chats"
    storage.write_text(f"{prefix}/one.jsonl", jsonl([TOOL_ROW, "nope"]))
    buffer = pa.BufferOutputStream()
    pq.write_table(pa.Table.from_pylist(PLAIN_ROWS), buffer)
    storage.write_bytes(f"{prefix}/two.parquet", buffer.getvalue().to_pybytes())
    storage.write_text(f"{prefix}/_manifest.json", "{}")
    result = read_conversations(prefix + "/")
    assert [c.id for c in result.conversations] == ["tool-1", "plain-0", "plain-1", "plain-2"]
    assert dict(result.skipped) == {"invalid_json": 1}
    assert result.examples["invalid_json"].startswith("one.jsonl:2:")
    single = read_conversations(f"{prefix}/two.parquet")
    assert [c.id for c in single.conversations] == ["plain-0", "plain-1", "plain-2"]
    with pytest.raises(TritterError, match=r"missing.jsonl: not found"):
        read_conversations(f"{prefix}/missing.jsonl")


def test_hf_saved_dataset(tmp_path):
    import datasets

    rows = [*PLAIN_ROWS, {"id": "bad", "messages": [{"role": "user", "content": "hi"}]}]
    datasets.Dataset.from_list(rows).save_to_disk(str(tmp_path / "saved"))
    result = read_conversations(f"hf://{tmp_path / 'saved'}")
    assert [c.id for c in result.conversations] == ["plain-0", "plain-1", "plain-2"]
    assert dict(result.skipped) == {"last_not_assistant": 1}
    assert result.examples["last_not_assistant"].startswith(f"hf://{tmp_path / 'saved'}#3:")

    splits = datasets.DatasetDict(
        train=datasets.Dataset.from_list(PLAIN_ROWS[:1]),
        test=datasets.Dataset.from_list(PLAIN_ROWS[1:]),
    )
    splits.save_to_disk(str(tmp_path / "splits"))
    test = read_conversations(f"hf://{tmp_path / 'splits'}::test")
    assert [c.id for c in test.conversations] == ["plain-1", "plain-2"]
    train = read_conversations(f"hf://{tmp_path / 'splits'}")
    assert [c.id for c in train.conversations] == ["plain-0"]
    with pytest.raises(TritterError, match="no split 'valid'"):
        read_conversations(f"hf://{tmp_path / 'splits'}::valid")


def test_hf_local_data_folder(tmp_path):
    """`load_dataset` on a local folder of data files (streamed, no network)."""
    (tmp_path / "ds").mkdir()
    (tmp_path / "ds" / "train.jsonl").write_text(jsonl(PLAIN_ROWS))
    result = read_conversations(f"hf://{tmp_path / 'ds'}")
    assert [c.id for c in result.conversations] == ["plain-0", "plain-1", "plain-2"]


def test_hf_bad_name_is_one_error(tmp_path):
    with pytest.raises(TritterError, match="expected hf://DATASET"):
        read_conversations("hf://")
    with pytest.raises(TritterError, match="cannot open dataset"):
        read_conversations(f"hf://{tmp_path / 'no-such-dataset'}")
