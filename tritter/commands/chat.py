"""`tritter chat`: talk to a checkpoint (with code execution), or `tritter chat render` to see
how conversations are tokenized and which tokens are learned.

Without a sub-command `tritter chat --checkpoint C --tokenizer T` chats: interactively (the reply
streams; `/reset` forgets the conversation, `/system TEXT` replaces the system turn, `/quit` or
Ctrl-D ends), or once with `--prompt TEXT`, printing only the reply. Bare `tritter chat` prints
its help and exits 2.
"""

from __future__ import annotations

import argparse
import sys

from tritter.chat.config import RenderConfig
from tritter.config import add_arguments

RENDER_DESCRIPTION = """\
Read conversations (JSONL/Parquet rows {"messages": [{"role", "content"}, ...]}), render each
with the chat template and print it with the tokens the model learns marked: green on a
terminal, wrapped in {+ +} otherwise (or with --no-color). Markers show as their pieces
(<|user_start|> ...). Rows that are not valid conversations are skipped and counted by reason.
"""

RENDER_EPILOG = """\
learned (mask 1): assistant text, code parts with <|code_start|>/<|code_end|>, and the
<|assistant_end|> closing each assistant turn. Not learned: system and user turns,
<|assistant_start|>, output parts with <|output_start|>/<|output_end|>.

examples:
  tritter chat render --input data/chat.jsonl --tokenizer runs/demo/tokenizer --limit 3
  tritter chat render --input hf:///data/saved_chats:train --tokenizer runs/demo/tokenizer
"""


CHAT_DESCRIPTION = """\
Chat with a checkpoint: a checkpoints folder (its newest committed step), one step folder or a
Hugging Face BitNet directory. When the model writes a code part (<|code_start|> ...
<|code_end|>), the code runs in the evaluation sandbox and what it printed is fed back as an
output part before the model continues (at most --max-tool-calls runs per reply). Interactive
commands: /reset, /system TEXT, /quit.
"""

CHAT_EPILOG = """\
examples:
  tritter chat --checkpoint runs/demo/sft --tokenizer runs/demo/tokenizer
  tritter chat --checkpoint runs/demo/sft --tokenizer runs/demo/tokenizer \\
      --prompt "Who are you?" --temperature 0
  tritter chat render --input data/chat.jsonl --tokenizer runs/demo/tokenizer
"""


def register(subparsers: argparse._SubParsersAction) -> None:
    from tritter.agent.config import ChatConfig

    parser = subparsers.add_parser(
        "chat",
        help="chat with a checkpoint (runs its code in the sandbox); `chat render` shows how "
        "conversations are tokenized",
        description=CHAT_DESCRIPTION,
        epilog=CHAT_EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--config", metavar="FILE", help="YAML/JSON file of ChatConfig fields")
    add_arguments(parser, ChatConfig)
    commands = parser.add_subparsers(dest="chat_command", metavar="COMMAND", required=False)
    render = commands.add_parser(
        "render",
        help="show how conversations render and which tokens are learned",
        description=RENDER_DESCRIPTION,
        epilog=RENDER_EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    render.add_argument(
        "--config", dest="render_config", metavar="FILE",
        help="YAML/JSON file of RenderConfig fields",
    )  # fmt: skip
    add_arguments(render, RenderConfig)
    render.set_defaults(handler=handle_render)
    parser.set_defaults(handler=lambda args: handle_chat(args, parser))


def handle_chat(args: argparse.Namespace, parser: argparse.ArgumentParser) -> int:
    from tritter.agent import cli
    from tritter.agent.config import ChatConfig
    from tritter.config import build_config

    if not any(hasattr(args, name) for name in ("checkpoint", "tokenizer", "prompt")) and not (
        args.config
    ):
        parser.print_help(sys.stderr)
        return 2
    return cli.chat(build_config(ChatConfig, args, args.config))


def handle_render(args: argparse.Namespace) -> int:
    from tritter.chat import display, template
    from tritter.chat.reader import read_conversations
    from tritter.config import build_config
    from tritter.errors import TritterError
    from tritter.tokenizer.model import Tokenizer

    config = build_config(RenderConfig, args, args.render_config)
    color = sys.stdout.isatty() if config.color is None else config.color
    tokenizer = Tokenizer.load(config.tokenizer)
    result = read_conversations(config.input, limit=config.limit)
    for number, conversation in enumerate(result.conversations, 1):
        ids, mask = template.render(conversation, tokenizer)
        print(display.header(number, conversation, len(ids), sum(mask), color))
        print(display.format_rendered(ids, mask, tokenizer, color))
        print()
    print(
        f"rows: {result.rows}  conversations: {len(result.conversations)}  "
        f"skipped: {result.skipped_rows}"
    )
    for reason, count in sorted(result.skipped.items()):
        print(f"skipped {reason}: {count}  (first: {result.examples[reason]})")
    if not result.conversations:
        raise TritterError(f"{config.input}: no valid conversation in {result.rows} rows")
    return 0
