"""The one exception type users see.

Every expected failure (bad input, unreachable storage, invalid config) is raised as a
`TritterError` whose message is a single line naming the file, field or URI at fault. The CLI
prints it as `tritter: error: …` and exits non-zero (`exit_code`); anything else is a bug and
keeps its traceback.
"""

from __future__ import annotations

import sys
from collections.abc import Callable


class TritterError(Exception):
    """A user-facing failure with a one-line message."""

    def __init__(self, message: str) -> None:
        # Collapse newlines so the message stays one line even when it embeds a library error.
        super().__init__(" ".join(str(message).split()))


def exit_code(body: Callable[[], int | None]) -> int:
    """Run a command's body and turn the expected failures into one stderr line and exit code 1
    (130 for Ctrl-C). Anything else is a bug and keeps its traceback."""
    try:
        return int(body() or 0)
    except TritterError as err:
        print(f"tritter: error: {err}", file=sys.stderr)
    except FileNotFoundError as err:
        print(f"tritter: error: {err.filename or err}: not found", file=sys.stderr)
    except PermissionError as err:
        print(f"tritter: error: {err.filename or err}: permission denied", file=sys.stderr)
    except KeyboardInterrupt:
        print("tritter: interrupted", file=sys.stderr)
        return 130
    return 1
