"""The base model that writes completions: a Tritter checkpoint or a `transformers` causal LM.

`--model` is what `tritter evaluate --checkpoint` takes — a checkpoints folder (its newest
step), a step folder, or a Hugging Face BitNet directory (config.json `model_type: bitnet`) —
decoded with `tritter.evaluate.generation.Generator` (batched, KV cache) and the SentencePiece
tokenizer given by `--tokenizer`; or any other Hugging Face causal LM directory (local or
s3://), decoded with `AutoModelForCausalLM.generate` and its own `AutoTokenizer`.

Prompts are always encoded as plain text. A Hugging Face tokenizer with a `chat_template` is
never asked to apply it (`chat_template_ignored` in the manifest says one was there);
`tritter synth check-base` checks that the tokenizer and the model really behave as a base
model.
"""

from __future__ import annotations

import functools
import json
from collections.abc import Sequence
from typing import Any, Protocol

from tritter import storage
from tritter.errors import TritterError
from tritter.evaluate.generation import Decoding, GenerationStats, truncate_at_stop
from tritter.train.store import identity, is_hf_dir

TRITTER = "tritter"
HUGGINGFACE = "huggingface"


class Completer(Protocol):
    kind: str
    chat_template: bool  # the tokenizer carries a chat template (never applied here)
    max_positions: int

    def count_tokens(self, text: str) -> int: ...

    def complete(
        self, prompts: Sequence[str], decoding: Decoding
    ) -> tuple[list[str], GenerationStats]: ...


def model_kind(uri: str) -> str:
    """`tritter` for Tritter checkpoints and BitNet directories, `huggingface` otherwise."""
    if not is_hf_dir(uri):
        return TRITTER
    try:
        config = json.loads(storage.read_text(storage.join(uri, "config.json")))
    except ValueError as err:
        raise TritterError(f"{storage.join(uri, 'config.json')}: not JSON ({err})") from err
    return TRITTER if config.get("model_type", "bitnet") == "bitnet" else HUGGINGFACE


def model_inputs(model: str, tokenizer: str | None) -> dict[str, Any]:
    """What identifies the model (without loading it): the `SynthModelInputs` fields."""
    found = identity(model)  # a missing or incomplete checkpoint: its one-line error first
    sha = None
    if model_kind(model) == TRITTER:
        if not tokenizer:
            raise TritterError(
                f"{model}: a Tritter checkpoint needs --tokenizer (its SentencePiece folder)"
            )
        from tritter.evaluate.loading import load_tokenizer

        sha = load_tokenizer(tokenizer).sha256
    return {
        "model": storage.normalize(model),
        "model_identity": found,
        "tokenizer": tokenizer,
        "tokenizer_sha256": sha,
    }


@functools.lru_cache(maxsize=1)
def open_completer(model: str, tokenizer: str | None, device: str, dtype: str) -> Completer:
    """The model, loaded once per process (consecutive units of one step reuse it)."""
    from tritter.evaluate.loading import pick_device, pick_dtype

    torch_device = pick_device(device)
    torch_dtype = pick_dtype(dtype, torch_device)
    if model_kind(model) == TRITTER:
        return TritterCompleter(model, tokenizer or "", torch_device, torch_dtype)
    return HFCompleter(model, torch_device, torch_dtype)


class TritterCompleter:
    kind = TRITTER
    chat_template = False

    def __init__(self, model: str, tokenizer: str, device: Any, dtype: Any) -> None:
        from tritter.evaluate import loading
        from tritter.evaluate.generation import Generator

        self.tokenizer = loading.load_tokenizer(tokenizer)
        network, info = loading.load_model(model, device, dtype)
        loading.check_vocab(self.tokenizer, network, tokenizer, info)
        self.max_positions = int(getattr(network.config, "max_position_embeddings", 0) or 2048)
        self.generator = Generator(network, self.tokenizer, device, self.max_positions)

    def count_tokens(self, text: str) -> int:
        return len(self.tokenizer.encode(text)) + 1  # BOS

    def complete(
        self, prompts: Sequence[str], decoding: Decoding
    ) -> tuple[list[str], GenerationStats]:
        outputs, stats = self.generator.generate(list(prompts), decoding)
        return [samples[0] for samples in outputs], stats


class HFCompleter:
    kind = HUGGINGFACE

    def __init__(self, model: str, device: Any, dtype: Any) -> None:
        import torch
        from transformers import AutoModelForCausalLM, AutoTokenizer

        with storage.local_folder(model) as path:
            try:
                self.tokenizer = AutoTokenizer.from_pretrained(str(path))
                network = AutoModelForCausalLM.from_pretrained(str(path), dtype=dtype)
            except (OSError, ValueError, KeyError) as err:
                detail = " ".join(str(err).split())[:300]
                raise TritterError(f"{model}: not a loadable causal LM ({detail})") from err
        self.torch = torch
        self.device = device
        self.model = network.to(device).eval()
        self.chat_template = bool(getattr(self.tokenizer, "chat_template", None))
        self.tokenizer.padding_side = "left"
        if self.tokenizer.pad_token_id is None:
            fallback = self.tokenizer.eos_token or self.tokenizer.unk_token
            if fallback is None:
                raise TritterError(f"{model}: the tokenizer has no pad, eos or unk token")
            self.tokenizer.pad_token = fallback
        self.max_positions = int(getattr(network.config, "max_position_embeddings", 0) or 2048)

    def encode(self, text: str) -> list[int]:
        """Plain text encoding (special tokens such as BOS as the tokenizer adds them; never a
        chat template)."""
        return list(self.tokenizer(text)["input_ids"])

    def count_tokens(self, text: str) -> int:
        return len(self.encode(text))

    def complete(
        self, prompts: Sequence[str], decoding: Decoding
    ) -> tuple[list[str], GenerationStats]:
        import time

        torch = self.torch
        stats = GenerationStats()
        started = time.perf_counter()
        torch.manual_seed(decoding.seed)
        outputs: list[str] = []
        for start in range(0, len(prompts), decoding.batch_size):
            batch = list(prompts[start : start + decoding.batch_size])
            encoded = self.tokenizer(batch, return_tensors="pt", padding=True)
            encoded = {key: value.to(self.device) for key, value in encoded.items()}
            longest = int(encoded["input_ids"].shape[1])
            budget = min(decoding.max_new_tokens, self.max_positions - longest)
            if budget <= 0:
                outputs += [""] * len(batch)
                continue
            sampling: dict[str, Any] = {"do_sample": decoding.temperature > 0}
            if decoding.temperature > 0:
                sampling.update(temperature=decoding.temperature, top_p=decoding.top_p)
            with torch.inference_mode():
                generated = self.model.generate(
                    **encoded, max_new_tokens=budget, pad_token_id=self.tokenizer.pad_token_id,
                    **sampling,
                )  # fmt: skip
            new = generated[:, longest:]
            stats.prompt_tokens += int(encoded["attention_mask"].sum())
            stats.new_tokens += int((new != self.tokenizer.pad_token_id).sum())
            for text in self.tokenizer.batch_decode(new, skip_special_tokens=True):
                outputs.append(truncate_at_stop(text, decoding.stop)[0])
        stats.seconds = time.perf_counter() - started
        stats.sequences = len(prompts)
        return outputs, stats
