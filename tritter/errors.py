"""The one exception type users see.

Every expected failure (bad input, unreachable storage, invalid config) is raised as a
`TritterError` whose message is a single line naming the file, field or URI at fault. The CLI
prints it as `tritter: error: …` and exits non-zero; anything else is a bug and keeps its
traceback.
"""


class TritterError(Exception):
    """A user-facing failure with a one-line message."""

    def __init__(self, message: str) -> None:
        # Collapse newlines so the message stays one line even when it embeds a library error.
        super().__init__(" ".join(str(message).split()))
