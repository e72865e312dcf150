"""Batched decoding with a KV cache: greedy or temperature + nucleus (top-p) sampling, stop
sequences and stop ids, left padding.

Prompts are sorted by length and decoded `batch_size` at a time, left-padded so every row's
last prompt token sits in the same column; `padding_mask` tells the model which positions are
real, and each row's positions start at 0 on its first real token. One prefill forward fills the
cache, then every step feeds one token per row. A row finishes at EOS, at a stop id, at a stop
sequence or at `max_new_tokens`; the batch ends when every row has.

A prompt is text (encoded here, after BOS when the tokenizer has one) or ready token ids — a
chat prompt from `tritter.chat.render_prompt`, which has no BOS. A text prompt's completion is
the text the new tokens add after it; an id prompt's is the reply with its control markers
written as their pieces (`decode_reply`), so code parts stay visible.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import torch

from tritter import log
from tritter.tokenizer.special import META_NAMES

if TYPE_CHECKING:
    from tritter.tokenizer import Tokenizer

_log = log.get_logger("evaluate.generation")


# Text, or token ids used as they are (a rendered chat prompt).
Prompt = str | Sequence[int]


@dataclass(frozen=True)
class Decoding:
    temperature: float = 0.0  # 0 = greedy
    top_p: float = 1.0
    max_new_tokens: int = 512
    batch_size: int = 8
    seed: int = 0
    stop: tuple[str, ...] = ()
    stop_ids: tuple[int, ...] = ()  # a row also ends on these ids (not part of its completion)


@dataclass
class GenerationStats:
    sequences: int = 0
    new_tokens: int = 0
    prompt_tokens: int = 0
    seconds: float = 0.0

    @property
    def tokens_per_second(self) -> float:
        return self.new_tokens / self.seconds if self.seconds > 0 else 0.0

    def to_dict(self) -> dict[str, Any]:
        return {
            "sequences": self.sequences,
            "new_tokens": self.new_tokens,
            "prompt_tokens": self.prompt_tokens,
            "seconds": round(self.seconds, 3),
            "tokens_per_second": round(self.tokens_per_second, 2),
        }


def truncate_at_stop(text: str, stop: Sequence[str]) -> tuple[str, bool]:
    """Cut `text` at the earliest stop sequence; also says whether one was found."""
    cut = min((i for i in (text.find(s) for s in stop if s) if i >= 0), default=-1)
    return (text[:cut], True) if cut >= 0 else (text, False)


def decode_reply(tokenizer: Tokenizer, ids: Sequence[int]) -> str:
    """Text of `ids` with every control marker written as its piece (`<|code_start|>`), where
    `tokenizer.decode` renders them as nothing. The text between two markers is decoded on its
    own, as the chat template encodes it."""
    markers = {i: f"<|{name}|>" for name, i in tokenizer.special_ids.items()
               if name not in META_NAMES}  # fmt: skip
    out: list[str] = []
    run: list[int] = []
    for token in ids:
        piece = markers.get(token)
        if piece is None:
            run.append(token)
            continue
        out += [tokenizer.decode(run), piece]
        run = []
    out.append(tokenizer.decode(run))
    return "".join(out)


def sample_next(
    logits: torch.Tensor, temperature: float, top_p: float, generator: torch.Generator | None
) -> torch.Tensor:
    """Next token per row from last-position logits [B, V]: argmax when temperature is 0, else
    nucleus sampling (the smallest set of tokens whose probability reaches top_p)."""
    if temperature == 0:
        return logits.argmax(dim=-1)
    probs = torch.softmax(logits.float() / temperature, dim=-1)
    if top_p < 1.0:
        sorted_probs, order = probs.sort(dim=-1, descending=True)
        before = sorted_probs.cumsum(dim=-1) - sorted_probs  # mass of strictly better tokens
        sorted_probs = sorted_probs.masked_fill(before >= top_p, 0.0)
        probs = torch.zeros_like(probs).scatter_(-1, order, sorted_probs)
    choice = torch.multinomial(probs, 1, generator=generator)
    return choice.squeeze(-1)


class Generator:
    """Decodes completions for text prompts with a Tritter model and its tokenizer."""

    def __init__(
        self, model: torch.nn.Module, tokenizer: Tokenizer, device: torch.device, max_positions: int
    ) -> None:
        self.model = model
        self.tokenizer = tokenizer
        self.device = device
        self.max_positions = max_positions

    def _encode(self, prompt: Prompt) -> list[int]:
        if not isinstance(prompt, str):
            return list(prompt)
        ids = list(self.tokenizer.encode(prompt))
        bos = getattr(self.tokenizer, "bos_id", -1)
        return [bos, *ids] if bos is not None and bos >= 0 else ids

    @torch.inference_mode()
    def generate(
        self, prompts: Sequence[Prompt], decoding: Decoding, samples: int = 1
    ) -> tuple[list[list[str]], GenerationStats]:
        """`samples` completions per prompt (cut at stop sequences), and throughput stats."""
        encoded = [self._encode(p) for p in prompts]
        is_text = [isinstance(p, str) for p in prompts]
        requests = [(index, sample) for index in range(len(prompts)) for sample in range(samples)]
        # Similar lengths together: less padding, fewer wasted positions.
        requests.sort(key=lambda r: (len(encoded[r[0]]), r[0], r[1]))
        outputs: list[list[str]] = [[""] * samples for _ in prompts]
        stats = GenerationStats()
        generator = None
        if decoding.temperature > 0:
            generator = torch.Generator(device=self.device).manual_seed(decoding.seed)
        started = time.perf_counter()
        for start in range(0, len(requests), decoding.batch_size):
            batch = requests[start : start + decoding.batch_size]
            texts = self._generate_batch(
                [encoded[index] for index, _ in batch], [is_text[index] for index, _ in batch],
                decoding, generator, stats,
            )  # fmt: skip
            for (index, sample), text in zip(batch, texts, strict=True):
                outputs[index][sample] = text
        stats.seconds = time.perf_counter() - started
        stats.sequences = len(requests)
        return outputs, stats

    def _generate_batch(
        self,
        prompts: list[list[int]],
        is_text: list[bool],
        decoding: Decoding,
        generator: torch.Generator | None,
        stats: GenerationStats,
    ) -> list[str]:
        rows = len(prompts)
        longest = max(len(p) for p in prompts)
        budget = min(decoding.max_new_tokens, self.max_positions - longest)
        if budget <= 0:
            # The prompt alone fills the context: nothing can be generated.
            return [""] * rows
        pad = self.tokenizer.pad_id if getattr(self.tokenizer, "pad_id", -1) >= 0 else 0
        ids = torch.full((rows, longest), pad, dtype=torch.long)
        mask = torch.zeros((rows, longest), dtype=torch.bool)
        for row, prompt in enumerate(prompts):
            ids[row, longest - len(prompt) :] = torch.tensor(prompt, dtype=torch.long)
            mask[row, longest - len(prompt) :] = True
        ids, mask = ids.to(self.device), mask.to(self.device)
        positions = (mask.long().cumsum(dim=1) - 1).clamp(min=0)
        stats.prompt_tokens += int(mask.sum())

        cache = self.model.new_kv_cache(rows, longest + budget, device=self.device)
        logits = self.model(ids, positions=positions, padding_mask=mask, kv_cache=cache)
        next_positions = positions[:, -1:] + 1
        ends = {getattr(self.tokenizer, "eos_id", -1), *decoding.stop_ids}
        generated: list[list[int]] = [[] for _ in range(rows)]
        finished = [False] * rows
        prompt_texts = [
            self.tokenizer.decode(p) if text else ""
            for p, text in zip(prompts, is_text, strict=True)
        ]
        completions = [""] * rows
        for _ in range(budget):
            tokens = sample_next(logits[:, -1, :], decoding.temperature, decoding.top_p, generator)
            for row, token in enumerate(tokens.tolist()):
                if finished[row]:
                    continue
                if token in ends:
                    finished[row] = True
                    continue
                generated[row].append(token)
                text = (
                    self._completion(prompts[row], prompt_texts[row], generated[row])
                    if is_text[row]
                    else decode_reply(self.tokenizer, generated[row])
                )
                completions[row], stopped = truncate_at_stop(text, decoding.stop)
                finished[row] = stopped
            if all(finished):
                break
            step_mask = torch.ones((rows, 1), dtype=torch.bool, device=self.device)
            logits = self.model(
                tokens.unsqueeze(1), positions=next_positions, padding_mask=step_mask,
                kv_cache=cache,
            )  # fmt: skip
            next_positions = next_positions + 1
        stats.new_tokens += sum(len(g) for g in generated)
        return completions

    def _completion(self, prompt: list[int], prompt_text: str, generated: list[int]) -> str:
        """The text the new tokens add after the prompt. Decoding them together with the prompt
        keeps word-boundary markers (SentencePiece's leading space) right."""
        full = self.tokenizer.decode([*prompt, *generated])
        if full.startswith(prompt_text):
            return full[len(prompt_text) :]
        return self.tokenizer.decode(generated)
