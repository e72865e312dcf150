"""Which documents a takedown names: `--repo`, `--id` and `--path-glob`, any of them."""

from __future__ import annotations

import fnmatch
import re
from collections.abc import Sequence

import numpy as np

from tritter.errors import TritterError
from tritter.run_folder import TakedownSelectors


def selectors(
    repos: Sequence[str] = (), ids: Sequence[str] = (), path_globs: Sequence[str] = ()
) -> TakedownSelectors:
    """Checked selectors (sorted, deduplicated): at least one, none blank."""
    for flag, values in (("--repo", repos), ("--id", ids), ("--path-glob", path_globs)):
        for value in values:
            if not value.strip():
                raise TritterError(f"{flag}: empty value (name a repository, id or path glob)")
    if not (repos or ids or path_globs):
        raise TritterError("name what to take down: --repo NAME, --id ID or --path-glob GLOB")
    return TakedownSelectors(
        repos=sorted(set(repos)), ids=sorted(set(ids)), path_globs=sorted(set(path_globs))
    )


def describe(chosen: TakedownSelectors) -> str:
    parts = [f"repo={r}" for r in chosen.repos] + [f"id={i}" for i in chosen.ids]
    return ", ".join(parts + [f"path-glob={g}" for g in chosen.path_globs])


def matches(
    chosen: TakedownSelectors,
    ids: Sequence[str | None],
    repos: Sequence[str | None],
    paths: Sequence[str | None],
) -> np.ndarray:
    """Per document, whether a selector names it. A glob is tried on the path and on
    `repo/path`, so `--path-glob 'org/name/src/*'` names files of one repository."""
    repo_set, id_set = set(chosen.repos), set(chosen.ids)
    globs = [re.compile(fnmatch.translate(g)) for g in chosen.path_globs]
    out = np.zeros(len(ids), dtype=bool)
    for index, (doc_id, repo, path) in enumerate(zip(ids, repos, paths, strict=True)):
        if doc_id in id_set or (repo is not None and repo in repo_set):
            out[index] = True
            continue
        if globs and path is not None:
            names = (path, f"{repo}/{path}") if repo else (path,)
            out[index] = any(g.match(name) for g in globs for name in names)
    return out
