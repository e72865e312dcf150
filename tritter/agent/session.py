"""A multi-turn chat with a checkpoint, and the tool loop.

Each reply is generated from the rendered conversation (`tritter.chat.render_prompt`). When the
model closes a code part (`<|code_start|>…<|code_end|>`), the code runs in the evaluation
sandbox — its own process with time, memory and file-system limits, no network — and what it
printed goes back into the assistant turn as an output part (`<|output_start|>…
<|output_end|>`, written by the harness, never learned); generation then continues the same
turn. After `max_tool_calls` runs a code part is no longer executed: the model must answer.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

import torch

from tritter.agent.config import ChatConfig
from tritter.agent.decode import stream
from tritter.chat.conversation import Message, Part
from tritter.chat.template import marker_ids, render_prompt

if TYPE_CHECKING:
    from tritter.evaluate.sandbox import Sandbox
    from tritter.tokenizer import Tokenizer

# Called with each piece of the reply as it is produced: ("text" | "code" | "output", text).
Show = Callable[[str, str], None]


@dataclass
class Reply:
    """One assistant turn: its parts and how many code runs it took."""

    message: Message
    tool_calls: int = 0
    stopped: str = "end"  # end (assistant_end / EOS), budget, or tool_limit

    @property
    def text(self) -> str:
        """The reply as a person reads it: prose, code in fences, outputs in fences."""
        out = []
        for part in self.message.parts:
            if part.type == "text":
                out.append(part.text)
            else:
                out.append(f"\n```{'python' if part.type == 'code' else 'output'}\n"
                           f"{part.text.rstrip()}\n```\n")  # fmt: skip
        return "".join(out).strip()


@dataclass
class ChatSession:
    model: torch.nn.Module
    tokenizer: Tokenizer
    config: ChatConfig
    max_positions: int
    sandbox_factory: Callable[[], Sandbox]
    history: list[Message] = field(default_factory=list)
    _sandbox: Sandbox | None = None

    def __post_init__(self) -> None:
        self.reset()
        self._generator = None
        if self.config.temperature > 0:
            device = next(self.model.parameters()).device
            self._generator = torch.Generator(device=device).manual_seed(self.config.seed)

    def reset(self, system: str | None = None) -> None:
        """Forget the conversation (keeping the system turn, or replacing it)."""
        if system is not None:
            self.config = self.config.model_copy(update={"system": system or None})
        self.history = [Message("system", self.config.system)] if self.config.system else []

    def reply(self, user: str, show: Show | None = None) -> Reply:
        """The assistant's answer to `user`, running its code parts in the sandbox."""
        self.history.append(Message("user", user))
        parts: list[Part] = []
        calls, stopped = 0, "end"
        while True:
            may_run = calls < self.config.max_tool_calls
            new, ended = self._generate(parts, may_run, show)
            parts.extend(new)
            if ended != "code":
                stopped = ended
                break
            calls += 1
            output = self._run(parts[-1].text)
            parts.append(Part("output", output))
            if show:
                show("output", output)
        if not any(p.text.strip() for p in parts):
            self.history.pop()  # nothing said: the turn is not kept, the user may ask again
            return Reply(Message("assistant", ""), calls, stopped)
        message = Message("assistant", tuple(parts))
        self.history.append(message)
        return Reply(message, calls, stopped)

    # -- internals -----------------------------------------------------------------------------

    def _generate(self, parts: list[Part], may_run: bool, show: Show | None) -> tuple[list, str]:
        """Continue the assistant turn: (new parts, why it stopped: end | code | budget)."""
        messages = [*self.history, Message("assistant", tuple(parts))] if parts else self.history
        prompt = render_prompt(messages, self.tokenizer)
        ids = marker_ids(self.tokenizer)
        end = {ids["assistant_end"], ids["output_start"], self.tokenizer.eos_id}
        stop = end | ({ids["code_end"]} if may_run else set())
        text: list[int] = []
        code: list[int] | None = None
        shown = ""
        last = None
        for token in stream(
            self.model, prompt, stop, max_new_tokens=self.config.max_new_tokens,
            max_positions=self.max_positions, temperature=self.config.temperature,
            top_p=self.config.top_p, generator=self._generator,
        ):  # fmt: skip
            last = token
            if token in stop:
                break
            if token == ids["code_start"] and code is None:
                code = []
                shown = ""
                continue
            target = text if code is None else code
            target.append(token)
            if show:
                decoded = self.tokenizer.decode(target)
                show("text" if code is None else "code", decoded[len(shown) :])
                shown = decoded
        # Parts with no content are dropped: the template refuses empty text and code.
        new = []
        prose = self.tokenizer.decode(text)
        if prose.strip():
            new.append(Part("text", prose))
        program = self.tokenizer.decode(code or [])
        if program.strip():
            # An unfinished code part (budget, or the tool limit) stays code; it is not run.
            new.append(Part("code", program))
        if last == ids["code_end"] and program.strip():
            return new, "code"
        return new, "end" if last in end else ("tool_limit" if not may_run else "budget")

    def _run(self, code: str) -> str:
        """What the program printed (and, when it failed, why), cut to `output_chars`."""
        if self._sandbox is None:
            self._sandbox = self.sandbox_factory()
        result = self._sandbox.run(code, capture_bytes=self.config.output_chars * 4)
        output = result.output
        if not result.passed:
            output += ("\n" if output and not output.endswith("\n") else "") + result.reason
        return output[: self.config.output_chars]
