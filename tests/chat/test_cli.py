"""`tritter chat render`: the learned tokens marked, skipped rows counted, errors one line."""

from __future__ import annotations

import json

from tests.chat.samples import BAD_ROWS, PLAIN_ROWS, TOOL_ROW
from tests.tokenizer.support import one_line_error, run_in_process


def _write(path, rows) -> str:
    path.write_text("".join((r if isinstance(r, str) else json.dumps(r)) + "\n" for r in rows))
    return str(path)


def test_render_marks_learned_tokens_and_counts_skips(artifacts, tmp_path, tritter_cli):
    data = _write(tmp_path / "chats.jsonl", [TOOL_ROW, BAD_ROWS[0][1], BAD_ROWS[5][1], *PLAIN_ROWS])
    done = tritter_cli("chat", "render", "--input", data, "--tokenizer", str(artifacts.tokenizer))
    assert done.returncode == 0, done.stderr
    out = done.stdout
    assert "\x1b[" not in out  # not a terminal: the plain form
    first = out.split("── conversation 2")[0]
    assert first.splitlines()[0].startswith("── conversation 1  id=tool-1  source=hand-written")
    assert first.splitlines()[1:9] == [
        "<|system_start|>You are terse.<|system_end|>",
        "<|user_start|>What is 2**10?<|user_end|>",
        "<|assistant_start|>{+Let me check.",
        "<|code_start|>print(2 ** 10)",
        "<|code_end|>+}<|output_start|>1024",
        "<|output_end|>{+It is 1024.<|assistant_end|>+}",
        "<|user_start|>And 2**0?<|user_end|>",
        "<|assistant_start|>{+1.<|assistant_end|>+}",
    ]
    assert out.count("── conversation ") == 4
    assert "rows: 6  conversations: 4  skipped: 2" in out
    assert "skipped invalid_json: 1  (first: chats.jsonl:2: not JSON" in out
    assert "skipped bad_role: 1  (first: chats.jsonl:3: messages[0].role is 'bot'" in out


def test_limit_and_colour(artifacts, tmp_path):
    data = _write(tmp_path / "chats.jsonl", [*PLAIN_ROWS, TOOL_ROW])
    done = run_in_process(
        "chat", "render", "--input", data, "--tokenizer", artifacts.tokenizer, "--limit", "2",
        "--color",
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    assert done.stdout.count("── conversation ") == 2
    assert "\x1b[32mThe number of items (0).\x1b[0m" in done.stdout
    assert "{+" not in done.stdout
    assert "rows: 2  conversations: 2  skipped: 0" in done.stdout
    plain = run_in_process(
        "chat", "render", "--input", data, "--tokenizer", artifacts.tokenizer, "--limit", "1",
        "--no-color",
    )  # fmt: skip
    assert "{+The number of items (0).<|assistant_end|>+}" in plain.stdout


def test_no_valid_conversation_is_an_error_after_the_counts(artifacts, tmp_path):
    data = _write(tmp_path / "bad.jsonl", [row for _, row in BAD_ROWS[:3]])
    done = run_in_process("chat", "render", "--input", data, "--tokenizer", artifacts.tokenizer)
    assert "rows: 3  conversations: 0  skipped: 3" in done.stdout
    assert "no valid conversation in 3 rows" in one_line_error(done)


def test_bad_inputs_are_one_line_errors(artifacts, tmp_path):
    data = _write(tmp_path / "chats.jsonl", PLAIN_ROWS)
    line = one_line_error(
        run_in_process("chat", "render", "--input", tmp_path / "none.jsonl",
                       "--tokenizer", artifacts.tokenizer)
    )  # fmt: skip
    assert "none.jsonl: not found" in line
    line = one_line_error(
        run_in_process("chat", "render", "--input", data, "--tokenizer", tmp_path / "tok")
    )
    assert "tokenizer model not found" in line
    line = one_line_error(
        run_in_process("chat", "render", "--input", data, "--tokenizer", artifacts.tokenizer,
                       "--limit", "0")
    )  # fmt: skip
    assert "limit" in line


def test_chat_without_a_subcommand_prints_help(tritter_cli):
    done = tritter_cli("chat")
    assert done.returncode == 2
    assert "render" in done.stderr and "usage: tritter chat" in done.stderr
