"""`tritter chat`: load a checkpoint and talk to it, once (`--prompt`) or in a terminal loop."""

from __future__ import annotations

import json
import sys

from tritter.agent.config import ChatConfig
from tritter.agent.session import ChatSession, Reply
from tritter.chat.conversation import message_row

PROMPT = "you> "
HELP = "commands: /reset (new conversation), /system TEXT (new system turn), /quit"


def open_session(config: ChatConfig) -> ChatSession:
    """The model, tokenizer and sandbox behind a chat (the sandbox is built on first use)."""
    import torch

    from tritter.evaluate import loading
    from tritter.evaluate.sandbox import Sandbox

    device = loading.pick_device(config.device)
    dtype = loading.pick_dtype(config.dtype, device)
    tokenizer = loading.load_tokenizer(config.tokenizer)
    model, info = loading.load_model(config.checkpoint, device, dtype)
    loading.check_vocab(tokenizer, model, config.tokenizer, info)
    torch.manual_seed(config.seed)
    return ChatSession(
        model=model,
        tokenizer=tokenizer,
        config=config,
        max_positions=int(model.config.max_position_embeddings),
        sandbox_factory=lambda: Sandbox(config.sandbox),
    )


def chat(config: ChatConfig) -> int:
    session = open_session(config)
    if config.prompt is not None:
        reply = session.reply(config.prompt)
        if config.json_output:
            print(json.dumps({**message_row(reply.message), "tool_calls": reply.tool_calls,
                              "stopped": reply.stopped}, ensure_ascii=False))  # fmt: skip
        else:
            print(reply.text)
        return 0
    return _loop(session)


def _show(kind: str, text: str) -> None:
    if kind == "output":
        text = f"\n[output]\n{text.rstrip()}\n[/output]\n"
    sys.stdout.write(text)
    sys.stdout.flush()


def _loop(session: ChatSession) -> int:
    print(f"Chatting with {session.config.checkpoint}. {HELP}")
    while True:
        try:
            line = input(PROMPT)
        except EOFError:
            print()
            return 0
        text = line.strip()
        if not text:
            continue
        if text in ("/quit", "/exit"):
            return 0
        if text == "/reset":
            session.reset()
            print("(new conversation)")
            continue
        if text.startswith("/system"):
            session.reset(system=text[len("/system") :].strip())
            print("(new conversation with that system turn)")
            continue
        if text.startswith("/"):
            print(HELP)
            continue
        sys.stdout.write("tritter> ")
        reply: Reply = session.reply(line, show=_show)
        note = {"budget": " [out of tokens]", "tool_limit": " [tool-call limit reached]"}
        print(note.get(reply.stopped, ""))
