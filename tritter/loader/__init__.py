"""Reading packed token shards for training and evaluation.

`from tritter.loader import TokenLoader, list_subsets, check_tokenizer`. Imported lazily:
`TokenLoader` needs torch, which the CLI must not import just to list its commands.
"""

from __future__ import annotations

from typing import Any

__all__ = ["TokenLoader", "check_tokenizer", "list_subsets"]


def __getattr__(name: str) -> Any:
    if name in __all__:
        from tritter.loader import dataset

        return getattr(dataset, name)
    raise AttributeError(f"module 'tritter.loader' has no attribute {name!r}")
