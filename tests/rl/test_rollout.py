"""Rollouts with the tool loop, the sequences the loss sees, and the loss itself — with a
scripted policy (greedy over one-hot logits) so every token is known in advance; code parts run
in the real sandbox."""

from __future__ import annotations

import math

import pytest
import torch

from tritter.chat.conversation import Message
from tritter.chat.template import render_prompt
from tritter.evaluate.config import SandboxConfig
from tritter.evaluate.sandbox import Sandbox
from tritter.rl.config import RlTrainConfig
from tritter.rl.loss import group_advantages, policy_loss, token_logps
from tritter.rl.objective import PolicyGradient
from tritter.rl.rewards import numeric
from tritter.rl.rollout import Sampling, sample
from tritter.tokenizer import Tokenizer
from tritter.tokenizer.special import SPECIAL_IDS
from tritter.train.loss import IGNORE_INDEX

IDS = SPECIAL_IDS


class Scripted(torch.nn.Module):
    """A "model" whose next token is `policy(context)`: the KV cache is the context so far."""

    def __init__(self, vocab: int, policy) -> None:
        super().__init__()
        self.anchor = torch.nn.Parameter(torch.zeros(1))  # a device to be on
        self.vocab, self.policy = vocab, policy

    def new_kv_cache(self, batch, max_len, device=None, dtype=None):
        return [[] for _ in range(batch)]

    def forward(self, ids, positions=None, padding_mask=None, kv_cache=None):
        logits = torch.zeros(ids.shape[0], ids.shape[1], self.vocab)
        for row, context in enumerate(kv_cache):
            context.extend(ids[row][padding_mask[row]].tolist())
            logits[row, -1, self.policy(context)] = 100.0
        return logits


@pytest.fixture(scope="module")
def tokenizer(rl_base):
    return Tokenizer.load(rl_base["tokenizer"])


def scripted(tokenizer):
    """Asked to use the tool: a code part, then (after its output) the answer. Asked anything
    else: a short answer."""
    tool = [IDS["code_start"], *tokenizer.encode("print(6 * 7)"), IDS["code_end"]]
    answer = [*tokenizer.encode("It is 42."), IDS["assistant_end"]]
    plain = [*tokenizer.encode("7"), IDS["assistant_end"]]
    tool_prompt = render_prompt([Message("user", "Use the tool.")], tokenizer)
    plain_prompt = render_prompt([Message("user", "Just answer.")], tokenizer)

    def policy(context: list[int]) -> int:
        start = len(context) - context[::-1].index(IDS["assistant_start"])
        after = context[start:]
        if context[:start] == plain_prompt:
            plan, done = plain, after
        elif IDS["output_end"] in after:
            plan, done = answer, after[after.index(IDS["output_end"]) + 1 :]
        else:
            plan, done = tool, after
        return plan[len(done)] if len(done) < len(plan) else IDS["assistant_end"]

    return Scripted(tokenizer.vocab_size, policy), tool_prompt, plain_prompt, tool, answer, plain


def test_code_parts_run_mid_generation_and_their_output_is_not_learned(tokenizer):
    model, tool_prompt, plain_prompt, tool, answer, plain = scripted(tokenizer)
    sandbox = Sandbox(SandboxConfig(workers=2, timeout_seconds=5))
    sampling = Sampling(max_new_tokens=64, max_len=256, temperature=0.0, max_tool_calls=2)
    with_tool, without = sample(model, tokenizer, [tool_prompt, plain_prompt], sampling, None,
                                lambda: sandbox)  # fmt: skip
    output = [IDS["output_start"], *tokenizer.encode("42\n"), IDS["output_end"]]
    assert with_tool.ids == [*tool, *output, *answer]
    assert with_tool.learned == [1] * len(tool) + [0] * len(output) + [1] * len(answer)
    assert with_tool.tool_calls == 1 and with_tool.stopped == "end"
    assert with_tool.text == ("<|code_start|>print(6 * 7)<|code_end|><|output_start|>42\n"
                              "<|output_end|>It is 42.<|assistant_end|>")  # fmt: skip
    assert numeric("Use the tool.", with_tool.text, {"answer": 42}) == 1.0
    assert without.ids == plain and without.tool_calls == 0 and without.stopped == "end"

    # No tool calls allowed: the code part is just text, never run.
    off = sample(model, tokenizer, [tool_prompt], Sampling(64, 256, 0.0), None, lambda: sandbox)
    assert off[0].ids == [*tool, IDS["assistant_end"]] and off[0].tool_calls == 0
    # A budget that ends inside the code part: nothing runs, the completion stops there.
    short = sample(model, tokenizer, [tool_prompt], Sampling(4, 256, 0.0, max_tool_calls=2),
                   None, lambda: sandbox)  # fmt: skip
    assert short[0].ids == tool[:4] and short[0].stopped == "budget"
    # Room for the code but not for its output and one more token: the completion ends.
    tight = len(tool_prompt) + len(tool) + len(output)
    cut = sample(model, tokenizer, [tool_prompt], Sampling(64, tight, 0.0, max_tool_calls=2),
                 None, lambda: sandbox)  # fmt: skip
    assert cut[0].ids == tool and cut[0].tool_calls == 1 and cut[0].stopped == "budget"


def test_the_loss_sees_the_sampled_tokens_where_the_policy_wrote_them(tokenizer):
    model, tool_prompt, plain_prompt, *_ = scripted(tokenizer)
    sandbox = Sandbox(SandboxConfig(workers=1, timeout_seconds=5))
    sampling = Sampling(max_new_tokens=64, max_len=256, temperature=0.0, max_tool_calls=2)
    completions = sample(model, tokenizer, [tool_prompt, plain_prompt], sampling, None,
                         lambda: sandbox)  # fmt: skip
    config = RlTrainConfig(data="d", tokenizer="t", output="o", reward="numeric", max_steps=1,
                           samples_per_prompt=2, micro_batch_size=2)  # fmt: skip
    objective = PolicyGradient(config)
    objective.pad_id = tokenizer.pad_id
    batch = objective._batch([tool_prompt, plain_prompt], completions, torch.tensor([1.0, -1.0]),
                             {"reward_mean": 0.5})  # fmt: skip
    for row, (prompt, completion) in enumerate(zip([tool_prompt, plain_prompt], completions,
                                                   strict=True)):  # fmt: skip
        sequence = [*prompt, *completion.ids]
        length = len(sequence) - 1
        assert batch.inputs[row, :length].tolist() == sequence[:-1]
        assert int(batch.lengths[row]) == length
        learned = [t != IGNORE_INDEX for t in batch.targets[row].tolist()]
        expected = [False] * (len(prompt) - 1) + [bool(x) for x in completion.learned]
        assert learned == expected + [False] * (batch.targets.shape[1] - len(expected))
        picked = batch.targets[row][batch.targets[row] != IGNORE_INDEX].tolist()
        assert picked == [t for t, x in zip(completion.ids, completion.learned, strict=True) if x]
    assert objective.count(batch) == sum(c.sampled for c in completions)


def test_group_advantages():
    rewards = torch.tensor([[1.0, 0.0, 0.0, 1.0], [1.0, 1.0, 1.0, 1.0], [0.0, 0.0, 0.0, 3.0]])
    found = group_advantages(rewards)
    assert found[0].tolist() == pytest.approx([1.0, -1.0, -1.0, 1.0], abs=1e-5)
    assert found[1].tolist() == [0.0] * 4  # all the same: nothing to learn from the group
    assert found[2].sum().item() == pytest.approx(0.0, abs=1e-9)
    assert group_advantages(rewards, scale=False)[2].tolist() == [-0.75, -0.75, -0.75, 2.25]


def test_the_clipped_surrogate():
    logits = torch.randn(2, 3, 5, requires_grad=True)
    targets = torch.tensor([[1, 2, IGNORE_INDEX], [IGNORE_INDEX, 4, 0]])
    learned = targets != IGNORE_INDEX
    logps = token_logps(logits, targets)
    advantages = torch.tensor([2.0, -1.0])
    # Ratio 1 (one update per rollout batch): the loss is −Σ A over learned tokens, and its
    # gradient the policy gradient −Σ A ∇log π.
    result = policy_loss(logps, logps.detach(), advantages, learned, 0.2, 0.28)
    assert float(result.loss.detach()) == pytest.approx(-(2 * 2.0 + 2 * -1.0))
    assert float(result.clipped) == 0
    result.loss.backward(retain_graph=True)
    expected = torch.autograd.grad(-(logps * advantages[:, None] * learned).sum(), logits)[0]
    assert torch.allclose(logits.grad, expected)
    # A ratio of 1.5 with A > 0 is clipped at 1 + 0.28 (no gradient), with A < 0 it is not.
    old = logps.detach() - math.log(1.5)
    result = policy_loss(logps, old, advantages, learned, 0.2, 0.28)
    assert float(result.clipped) == 4
    assert float(result.loss.detach()) == pytest.approx(-(2 * 2.0 * 1.28 + 2 * -1.0 * 1.5),
                                                        rel=1e-5)  # fmt: skip
    # The KL penalty is 0 at the reference and positive away from it.
    kl = policy_loss(logps, logps.detach(), advantages, learned, 0.2, 0.28, 0.1, logps.detach())
    assert float(kl.kl) == pytest.approx(0.0, abs=1e-7)
    moved = policy_loss(logps, logps.detach(), advantages, learned, 0.2, 0.28, 0.1, old)
    assert float(moved.kl) > 0
