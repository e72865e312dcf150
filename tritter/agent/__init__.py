"""The agent harness: a chat model that writes code, has it run, and reads the result.

`decode` (one sequence, streamed, stopping on token ids), `session` (the multi-turn chat with
the tool loop: `<|code_start|>…<|code_end|>` runs in the evaluation sandbox and its output goes
back as `<|output_start|>…<|output_end|>`), `config` (the options of `tritter chat`).
"""
