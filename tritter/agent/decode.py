"""Decoding one sequence token by token with a KV cache, for a conversation.

The evaluation `Generator` decodes whole batches and returns finished completions; a chat turn
is shown while it is produced and must stop the moment the model closes a code part (to run it)
— so this decoder yields token ids one at a time, for one sequence, and stops on ids.
"""

from __future__ import annotations

from collections.abc import Collection, Iterator

import torch

from tritter.evaluate.generation import sample_next


@torch.inference_mode()
def stream(
    model: torch.nn.Module,
    prompt: list[int],
    stop: Collection[int],
    *,
    max_new_tokens: int,
    max_positions: int,
    temperature: float = 0.0,
    top_p: float = 1.0,
    generator: torch.Generator | None = None,
) -> Iterator[int]:
    """The new tokens, up to and including the first stop id (or the budget)."""
    device = next(model.parameters()).device
    budget = min(max_new_tokens, max_positions - len(prompt))
    if budget <= 0:
        return
    ids = torch.tensor([prompt], dtype=torch.long, device=device)
    positions = torch.arange(len(prompt), device=device).unsqueeze(0)
    every = torch.ones((1, len(prompt)), dtype=torch.bool, device=device)
    cache = model.new_kv_cache(1, len(prompt) + budget, device=device)
    logits = model(ids, positions=positions, padding_mask=every, kv_cache=cache)
    position = len(prompt)
    one = torch.ones((1, 1), dtype=torch.bool, device=device)
    for _ in range(budget):
        token = sample_next(logits[:, -1, :], temperature, top_p, generator)
        value = int(token.item())
        yield value
        if value in stop:
            return
        step = torch.tensor([[position]], device=device)
        logits = model(token.view(1, 1), positions=step, padding_mask=one, kv_cache=cache)
        position += 1
