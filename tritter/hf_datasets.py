"""Opening a Hugging Face dataset split named by an `hf://` URI: a dataset folder written by
`save_to_disk`, a local folder in the Hub's layout, or a Hub dataset (streamed, so nothing is
downloaded whole). Conversation sources and benchmark loaders share it; each parses its own URI
form and defaults."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from tritter.errors import TritterError

# Files `save_to_disk` writes at the top of a dataset (a Dataset / a DatasetDict).
SAVED_MARKERS = ("state.json", "dataset_dict.json")


def open_split(uri: str, name: str, config: str | None, split: str) -> Any:
    """The rows of `split` of dataset `name` (an iterable of dicts); one-line errors name `uri`."""
    try:
        import datasets

        folder = Path(name).expanduser()
        if folder.is_dir() and any((folder / marker).is_file() for marker in SAVED_MARKERS):
            if config is not None:
                raise TritterError(f"{uri}: a dataset saved with save_to_disk has no configs")
            saved = datasets.load_from_disk(str(folder))
            if isinstance(saved, datasets.DatasetDict):
                if split not in saved:
                    raise TritterError(
                        f"{uri}: no split '{split}' (the saved dataset has "
                        f"{', '.join(sorted(saved))})"
                    )
                return saved[split]
            return saved
        source = str(folder) if folder.is_dir() else name
        return datasets.load_dataset(source, config, split=split, streaming=True)
    except TritterError:
        raise
    except Exception as err:  # datasets raises many unrelated types for a bad name/offline hub
        raise TritterError(f"{uri}: cannot open dataset ({type(err).__name__}: {err})") from err
