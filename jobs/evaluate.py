"""Container entrypoint of the evaluation step: `python -m tritter.jobs.evaluate [flags]`.

Takes exactly the flags of `tritter evaluate` (and `--config FILE`), so the pipeline component
and a local run share one interface; exits 1 with a one-line `tritter: error: …` on bad input.
"""

from __future__ import annotations

import sys
from collections.abc import Sequence

from tritter import cli


def main(argv: Sequence[str] | None = None) -> int:
    return cli.main(["evaluate", *(sys.argv[1:] if argv is None else argv)])


if __name__ == "__main__":
    sys.exit(main())
