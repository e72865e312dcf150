"""Container entrypoint of the pretraining job: `python -m tritter.jobs.pretrain [flags]`.

Takes exactly the flags of `tritter pretrain` (and `--config FILE`). In a PyTorchJob pod it
reads the operator's environment and starts the node's ranks through torchrun; exits 1 with a
one-line `tritter: error: …` on bad input or when a rank fails (the relaunch resumes).
"""

from __future__ import annotations

import sys
from collections.abc import Sequence

from tritter import cli


def main(argv: Sequence[str] | None = None) -> int:
    return cli.main(["pretrain", *(sys.argv[1:] if argv is None else argv)])


if __name__ == "__main__":
    sys.exit(main())
