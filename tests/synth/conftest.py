"""Fixtures of the constitutional-data tests: tiny random `transformers` models with tokenizers
trained here."""

from __future__ import annotations

from pathlib import Path

import pytest


@pytest.fixture(scope="session")
def hf_base(tmp_path_factory) -> str:
    """A tiny random Llama whose tokenizer has a chat_template (never applied by synth)."""
    return tiny_hf(tmp_path_factory.mktemp("hf-base") / "model")


def tiny_hf(
    folder: Path,
    *,
    template: bool = True,
    wrap: bool = False,
    classifier: bool = False,
    labels: tuple[str, ...] = ("safe", "unsafe"),
) -> str:
    """A tiny random Llama (causal LM or sequence classifier) and a WordLevel tokenizer trained
    on a few lines; `template`: with a chat_template; `wrap`: its post-processor wraps every
    encoded text in role markers (a tokenizer that silently applies a template)."""
    import torch
    from tokenizers import Tokenizer, models, pre_tokenizers, processors, trainers
    from transformers import LlamaConfig, PreTrainedTokenizerFast

    lines = [
        "Write a Python function that reverses a string.", "What is a linked list?",
        "Explain what recursion is.", "User: how do I sort a list? Assistant: use sorted",
        "Critique request: Revision request: Critique: Revision:", "def f(x): return x",
    ]  # fmt: skip
    specials = ["<unk>", "<s>", "</s>", "<pad>", "<|user|>", "<|assistant|>"]
    tokenizer = Tokenizer(models.WordLevel(unk_token="<unk>"))
    tokenizer.pre_tokenizer = pre_tokenizers.Whitespace()
    tokenizer.train_from_iterator(lines, trainers.WordLevelTrainer(special_tokens=specials))
    if wrap:
        user, assistant = tokenizer.token_to_id("<|user|>"), tokenizer.token_to_id("<|assistant|>")
        tokenizer.post_processor = processors.TemplateProcessing(
            single="<|user|> $A <|assistant|>", special_tokens=[("<|user|>", user),
                                                                ("<|assistant|>", assistant)],
        )  # fmt: skip
    fast = PreTrainedTokenizerFast(
        tokenizer_object=tokenizer, unk_token="<unk>", bos_token="<s>", eos_token="</s>",
        pad_token="<pad>",
    )  # fmt: skip
    if template:
        fast.chat_template = (
            "{% for m in messages %}<|{{ m['role'] }}|> {{ m['content'] }}\n{% endfor %}"
            "{% if add_generation_prompt %}<|assistant|>{% endif %}"
        )
    torch.manual_seed(0)
    config = LlamaConfig(
        vocab_size=len(fast), hidden_size=32, intermediate_size=64, num_hidden_layers=2,
        num_attention_heads=2, num_key_value_heads=2, max_position_embeddings=512,
        bos_token_id=1, eos_token_id=2, pad_token_id=3,
    )  # fmt: skip
    if classifier:
        from transformers import LlamaForSequenceClassification

        config.num_labels = len(labels)
        config.id2label = dict(enumerate(labels))
        config.label2id = {label: i for i, label in enumerate(labels)}
        model = LlamaForSequenceClassification(config)
    else:
        from transformers import LlamaForCausalLM

        model = LlamaForCausalLM(config)
    model.save_pretrained(folder)
    fast.save_pretrained(folder)
    return str(folder)
