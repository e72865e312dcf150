"""Sampling completions for RL: batched KV-cache decoding that keeps the sampled token ids, and
the tool loop of `tritter chat` (`tritter.agent.session`) run for a whole batch.

Training needs the exact ids the policy sampled (re-encoding the decoded text can tokenise it
differently) and which of them the policy wrote: a completion is the ids after the prompt, with
`learned` 1 on every sampled token — the closing `<|assistant_end|>` (or EOS) included, so the
policy learns to stop — and 0 on the tool outputs the harness inserted.

Rounds: every unfinished row is decoded (prompt + its completion so far, one prefill, then one
token per step; left padding, as `tritter.evaluate.generation.Generator` does) until it closes
its turn (`<|assistant_end|>`, `<|output_start|>` or EOS), closes a code part while it may
still run one (`<|code_end|>`, fewer than `max_tool_calls` runs so far), or spends its budget.
The closed code parts of a round run in the sandbox together; each output goes back into its
row as `<|output_start|> output <|output_end|>` (cut to `output_chars` characters, and to the
budget) and the row takes part in the next round. Budget: `max_new_tokens` for the completion,
tool outputs included, and `max_len` for prompt + completion.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

import torch

from tritter.chat.template import marker_ids
from tritter.evaluate.generation import decode_reply, sample_next

if TYPE_CHECKING:
    from tritter.evaluate.sandbox import Execution, Sandbox
    from tritter.tokenizer import Tokenizer


@dataclass(frozen=True)
class Sampling:
    max_new_tokens: int
    max_len: int  # prompt + completion
    temperature: float = 1.0
    top_p: float = 1.0
    max_tool_calls: int = 0
    output_chars: int = 2000


@dataclass
class Completion:
    ids: list[int] = field(default_factory=list)  # everything after the prompt
    learned: list[int] = field(default_factory=list)  # 1: sampled by the policy; 0: tool output
    tool_calls: int = 0
    stopped: str = ""  # end (closed its turn) | budget
    text: str = ""  # `decode_reply` of ids: what the reward reads

    @property
    def sampled(self) -> int:
        return sum(self.learned)


@torch.no_grad()
def decode(
    model: torch.nn.Module,
    prompts: Sequence[Sequence[int]],
    stops: Sequence[set[int]],
    budgets: Sequence[int],
    sampling: Sampling,
    generator: torch.Generator | None,
    pad_id: int,
) -> list[list[int]]:
    """The new ids of each row: up to its budget, ending with its first stop id when it met one."""
    rows = len(prompts)
    out: list[list[int]] = [[] for _ in range(rows)]
    live = [row for row in range(rows) if budgets[row] > 0]
    if not live:
        return out
    device = next(model.parameters()).device
    longest = max(len(prompts[row]) for row in live)
    steps = max(budgets[row] for row in live)
    ids = torch.full((len(live), longest), pad_id, dtype=torch.long)
    mask = torch.zeros((len(live), longest), dtype=torch.bool)
    for slot, row in enumerate(live):
        prompt = prompts[row]
        ids[slot, longest - len(prompt) :] = torch.tensor(list(prompt), dtype=torch.long)
        mask[slot, longest - len(prompt) :] = True
    ids, mask = ids.to(device), mask.to(device)
    positions = (mask.long().cumsum(dim=1) - 1).clamp(min=0)
    # Under the training's bf16 autocast the keys and values are kept in bf16 as well.
    autocast = torch.is_autocast_enabled(device.type)
    dtype = torch.get_autocast_dtype(device.type) if autocast else None
    cache = model.new_kv_cache(len(live), longest + steps, device=device, dtype=dtype)
    logits = model(ids, positions=positions, padding_mask=mask, kv_cache=cache)
    next_positions = positions[:, -1:] + 1
    finished = [False] * len(live)
    one = torch.ones((len(live), 1), dtype=torch.bool, device=device)
    for _ in range(steps):
        tokens = sample_next(logits[:, -1, :], sampling.temperature, sampling.top_p, generator)
        for slot, token in enumerate(tokens.tolist()):
            if finished[slot]:
                continue
            row = live[slot]
            out[row].append(token)
            finished[slot] = token in stops[row] or len(out[row]) >= budgets[row]
        if all(finished):
            break
        logits = model(tokens.unsqueeze(1), positions=next_positions, padding_mask=one,
                       kv_cache=cache)  # fmt: skip
        next_positions = next_positions + 1
    return out


def sample(
    model: torch.nn.Module,
    tokenizer: Tokenizer,
    prompts: Sequence[Sequence[int]],
    sampling: Sampling,
    generator: torch.Generator | None,
    sandbox: Callable[[], Sandbox] | None = None,
) -> list[Completion]:
    """One completion per prompt, code parts run in `sandbox()` (built on first use)."""
    ids = marker_ids(tokenizer)
    end = {ids["assistant_end"], ids["output_start"], tokenizer.eos_id}
    pad = tokenizer.pad_id if tokenizer.pad_id >= 0 else tokenizer.eos_id
    done = [Completion() for _ in prompts]
    active = list(range(len(prompts)))
    while active:
        budgets = [_room(prompts[row], done[row], sampling) for row in active]
        may_run = [done[row].tool_calls < sampling.max_tool_calls for row in active]
        stops = [end | ({ids["code_end"]} if run else set()) for run in may_run]
        new = decode(model, [[*prompts[row], *done[row].ids] for row in active], stops, budgets,
                     sampling, generator, pad)  # fmt: skip
        programs: dict[int, str] = {}
        for row, tokens, run in zip(active, new, may_run, strict=True):
            completion = done[row]
            completion.ids += tokens
            completion.learned += [1] * len(tokens)
            last = tokens[-1] if tokens else None
            if last in end:
                completion.stopped = "end"
            elif last == ids["code_end"] and run:
                program = _last_code(tokenizer, completion.ids)
                if program.strip():
                    programs[row] = program
                else:
                    completion.stopped = "end"  # an empty code part: nothing to run
            else:
                completion.stopped = "budget"
        if programs and sandbox is not None:
            for row, result in zip(programs, _run_all(sandbox(), programs.values(), sampling),
                                   strict=True):  # fmt: skip
                _feed(tokenizer, done[row], result, sampling, prompts[row])
        elif programs:
            for row in programs:
                done[row].stopped = "end"
        active = [row for row in active if not done[row].stopped]
    for completion in done:
        completion.text = decode_reply(tokenizer, completion.ids)
    return done


def _run_all(box: Sandbox, programs: Iterable[str], sampling: Sampling) -> list[Execution]:
    """Run the programs `box.config.workers` at a time, capturing what they print."""
    capture = sampling.output_chars * 4  # bytes: room for any UTF-8 text of output_chars

    def run(program: str) -> Execution:
        return box.run(program, capture_bytes=capture)

    with ThreadPoolExecutor(box.config.workers, thread_name_prefix="rl-tools") as pool:
        return list(pool.map(run, programs))


def _room(prompt: Sequence[int], completion: Completion, sampling: Sampling) -> int:
    return min(
        sampling.max_new_tokens - len(completion.ids),
        sampling.max_len - len(prompt) - len(completion.ids),
    )


def _last_code(tokenizer: Tokenizer, completion: list[int]) -> str:
    """The code of the code part `completion` just closed ("" without a `<|code_start|>`)."""
    start = marker_ids(tokenizer)["code_start"]
    body = completion[:-1]
    if start not in body:
        return ""
    first = len(body) - body[::-1].index(start)
    return tokenizer.decode(body[first:])


def _feed(
    tokenizer: Tokenizer,
    completion: Completion,
    result: Execution,
    sampling: Sampling,
    prompt: Sequence[int],
) -> None:
    """Append a run's output part (as `tritter chat` writes it: what it printed and, when it
    failed, why) when it fits with room for one more sampled token; otherwise the completion
    ends on its budget."""
    completion.tool_calls += 1
    output = result.output
    if not result.passed:
        output += ("\n" if output and not output.endswith("\n") else "") + result.reason
    output = output[: sampling.output_chars]
    ids = marker_ids(tokenizer)
    part = [ids["output_start"], *tokenizer.encode(output), ids["output_end"]]
    if _room(prompt, completion, sampling) - len(part) < 1:
        completion.stopped = "budget"
        return
    completion.ids += part
    completion.learned += [0] * len(part)
