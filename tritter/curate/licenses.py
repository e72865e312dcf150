"""License resolution: which SPDX license a document is distributed under, and may we train on it.

Order (BigCode's practice), first answer wins:

1. the document's own header: an `SPDX-License-Identifier:` line, or a standard license notice
   (GPL "This program is free software…", Apache "Licensed under the Apache License…", MIT
   "Permission is hereby granted…") in its first lines;
2. the nearest LICENSE / LICENCE / COPYING / UNLICENSE file, walking up to the input root;
3. package metadata: a `*.dist-info/METADATA` whose RECORD owns the file, `Cargo.toml`,
   `package.json`, `pyproject.toml`, `PKG-INFO` (nearest first); for document-set records, the
   record's own `license` fields;
4. the input-level declaration (`--assume-license`, or the source's own, e.g. `python-stdlib`).

Ids are SPDX, lower-cased. Expressions are evaluated: `A OR B` is usable when either side is
(the first usable side is recorded), `A AND B` only when both are, `A WITH exception` as `A`.
"""

from __future__ import annotations

import json
import re
import tomllib
from collections.abc import Callable
from dataclasses import dataclass

# The permissive allowlist: licenses that let us train on and redistribute the code without
# passing obligations on to the model's users (no copyleft).
PERMISSIVE = ("mit", "apache-2.0", "bsd-2-clause", "bsd-3-clause", "isc", "unlicense", "cc0-1.0")
COPYLEFT_PREFIXES = ("gpl", "agpl", "lgpl")
UNKNOWN = "unknown"
# What `Policy.verdict` drops a document for, in the order the manifest lists them.
REASONS = ("license_copyleft", "license_other", "license_unknown")

LICENSE_FILE = re.compile(r"^(licen[cs]e|copying|unlicense)([-_.][\w.-]*)?$", re.IGNORECASE)
METADATA_FILES = ("Cargo.toml", "package.json", "pyproject.toml", "PKG-INFO")

# Free-text license names seen in package metadata and classifiers → SPDX.
_NAME_TO_SPDX: tuple[tuple[re.Pattern[str], str], ...] = tuple(
    (re.compile(pattern, re.IGNORECASE), spdx)
    for pattern, spdx in (
        (r"\bAGPL|Affero", "agpl-3.0"),
        (r"(\bLGPL|Lesser General Public License)\s*v?3", "lgpl-3.0"),
        (r"\bLGPL|Lesser General Public|Library General Public", "lgpl-2.1"),
        (r"(\bGPL|General Public License)\s*v?2", "gpl-2.0"),
        (r"\bGPL|General Public License", "gpl-3.0"),
        (r"^(the )?mit( license)?$|OSI Approved :: MIT|\bexpat\b", "mit"),
        (r"apache[- ]?(software )?(license)?[ ,-]*(version )?2(\.0)?|Apache Software License"
         r"|^apache$", "apache-2.0"),
        (r"\bISC\b", "isc"),
        (r"unlicense", "unlicense"),
        (r"\bCC0\b", "cc0-1.0"),
        (r"2[- ]clause|simplified bsd|freebsd", "bsd-2-clause"),
        (r"\bBSD\b", "bsd-3-clause"),  # plain "BSD"/"New BSD"/"3-clause": the stricter reading
        (r"Python Software Foundation|\bPSF\b", "psf-2.0"),
        (r"Mozilla Public License|\bMPL\b", "mpl-2.0"),
        (r"Eclipse Public", "epl-2.0"),
        (r"Boost Software", "bsl-1.0"),
        (r"zlib", "zlib"),
    )
)  # fmt: skip

# License texts (LICENSE files, long metadata fields) → SPDX, by their distinctive sentences.
# Checked in order: the more specific texts first, and copyleft titles in their exact casing so
# a permissive text that merely mentions the GPL (Python's LICENSE does) is not misread.
_TEXT_MARKERS: tuple[tuple[str, tuple[str, ...]], ...] = (
    ("psf-2.0", ("PYTHON SOFTWARE FOUNDATION LICENSE VERSION 2",)),
    ("agpl-3.0", ("GNU AFFERO GENERAL PUBLIC LICENSE",)),
    ("lgpl-3.0", ("GNU LESSER GENERAL PUBLIC LICENSE", "Version 3")),
    ("lgpl-2.1", ("GNU LESSER GENERAL PUBLIC LICENSE",)),
    ("lgpl-2.0", ("GNU LIBRARY GENERAL PUBLIC LICENSE",)),
    ("gpl-3.0", ("GNU GENERAL PUBLIC LICENSE", "Version 3")),
    ("gpl-2.0", ("GNU GENERAL PUBLIC LICENSE", "Version 2")),
    ("mpl-2.0", ("Mozilla Public License Version 2.0",)),
    ("apache-2.0", ("Apache License", "Version 2.0")),
    ("unlicense", ("This is free and unencumbered software released into the public domain",)),
    ("cc0-1.0", ("CC0 1.0 Universal",)),
    ("isc", ("Permission to use, copy, modify, and/or distribute this software for any purpose",)),
    ("mit", ("Permission is hereby granted, free of charge",)),
    ("bsd-3-clause", ("Redistribution and use in source and binary forms", "endorse or promote")),
    ("bsd-2-clause", ("Redistribution and use in source and binary forms",)),
    ("bsl-1.0", ("Boost Software License",)),
)

# Notices found in a source file's header comment.
_HEADER_MARKERS: tuple[tuple[re.Pattern[str], str], ...] = tuple(
    (re.compile(pattern, re.IGNORECASE), spdx)
    for pattern, spdx in (
        (r"GNU\s+Affero\s+General\s+Public\s+License", "agpl-3.0"),
        (r"GNU\s+(Lesser|Library)\s+General\s+Public\s+License", "lgpl-2.1"),
        (r"GNU\s+General\s+Public\s+License[^\n]*\n?[^\n]*version\s+3", "gpl-3.0"),
        (r"GNU\s+General\s+Public\s+License", "gpl-2.0"),
        (r"Licensed\s+under\s+the\s+Apache\s+License,?\s+Version\s+2\.0", "apache-2.0"),
        (r"Permission\s+is\s+hereby\s+granted,\s+free\s+of\s+charge", "mit"),
        (r"Mozilla\s+Public\s+License,?\s+v(ersion)?\.?\s*2\.0", "mpl-2.0"),
    )
)  # fmt: skip

_SPDX_LINE = re.compile(r"SPDX-License-Identifier:\s*([^\n*]+?)\s*(?:\*/|-->|\n|$)")
_HEADER_CHARS = 4096


@dataclass(frozen=True)
class Policy:
    """Which licenses a run accepts."""

    allowed: frozenset[str]
    allow_unknown: bool = False

    def verdict(self, spdx: str) -> str | None:
        """None when the license is acceptable, else the drop reason."""
        if spdx == UNKNOWN:
            return None if self.allow_unknown else "license_unknown"
        if expression_allowed(spdx, self.allowed):
            return None
        if any(part.startswith(COPYLEFT_PREFIXES) for part in _ids(spdx)):
            return "license_copyleft"
        return "license_other"

    def rank(self, spdx: str) -> int:
        """Preference when collapsing duplicates: a known permissive copy beats an unknown one."""
        return 0 if spdx == UNKNOWN else 1


# --------------------------------------------------------------------------------------------
# SPDX expressions


def _ids(expression: str) -> list[str]:
    return [t for t in re.split(r"[\s()]+", expression.lower()) if t and t not in ("and", "or")]


def normalize_id(token: str) -> str:
    """One SPDX id, lower-case, with the deprecated `+` / `-only` spellings folded."""
    token = token.strip().lower()
    if token.endswith("+"):
        token = token[:-1] + "-or-later"
    return token.removesuffix("-only")


def _tokenize(expression: str) -> list[str]:
    return re.findall(r"\(|\)|[^\s()]+", expression)


def evaluate_expression(expression: str, allowed: frozenset[str]) -> tuple[bool, str]:
    """(usable, the license recorded) for an SPDX expression."""
    tokens = _tokenize(expression)
    position = 0

    def parse_or() -> tuple[bool, str]:
        nonlocal position
        options = [parse_and()]
        while position < len(tokens) and tokens[position].upper() == "OR":
            position += 1
            options.append(parse_and())
        for ok, text in options:
            if ok:
                return True, text
        return False, options[0][1] if len(options) == 1 else " or ".join(t for _, t in options)

    def parse_and() -> tuple[bool, str]:
        nonlocal position
        parts = [parse_atom()]
        while position < len(tokens) and tokens[position].upper() == "AND":
            position += 1
            parts.append(parse_atom())
        texts = list(dict.fromkeys(text for _, text in parts))
        return all(ok for ok, _ in parts), " and ".join(texts)

    def parse_atom() -> tuple[bool, str]:
        nonlocal position
        if position >= len(tokens):
            return False, UNKNOWN
        token = tokens[position]
        position += 1
        if token == "(":
            result = parse_or()
            if position < len(tokens) and tokens[position] == ")":
                position += 1
            return result
        spdx = normalize_id(token)
        if position < len(tokens) and tokens[position].upper() == "WITH":
            position += 2  # an exception only adds permissions to the base license
        return spdx in allowed, spdx

    return parse_or()


def expression_allowed(expression: str, allowed: frozenset[str]) -> bool:
    return evaluate_expression(expression, allowed)[0]


def choose(expression: str, allowed: frozenset[str]) -> str:
    """The license to record for an expression (the usable alternative of an OR)."""
    return evaluate_expression(expression, allowed)[1]


# --------------------------------------------------------------------------------------------
# Classifiers


def from_header(text: str, allowed: frozenset[str]) -> str | None:
    """License declared in a document's first lines (SPDX tag or a standard notice)."""
    head = text[:_HEADER_CHARS]
    match = _SPDX_LINE.search(head)
    if match:
        return choose(match.group(1), allowed)
    lowered = head.lower()
    if "license" not in lowered and "licence" not in lowered and "permission" not in lowered:
        return None
    for pattern, spdx in _HEADER_MARKERS:
        if pattern.search(head):
            return spdx
    return None


def from_license_text(text: str) -> str | None:
    """Classify a LICENSE/COPYING file by its distinctive sentences.

    Files often bundle several licenses (the project's own first, then those of vendored
    parts), so the license whose marker appears earliest wins; at equal positions the more
    specific entry of `_TEXT_MARKERS` does.
    """
    flat = " ".join(text.split())
    best: tuple[int, int, str] | None = None
    for order, (spdx, markers) in enumerate(_TEXT_MARKERS):
        positions = [flat.find(marker) for marker in markers]
        if min(positions) < 0:
            continue
        candidate = (positions[0], order, spdx)
        if best is None or candidate < best:
            best = candidate
    return best[2] if best else None


def from_name(name: str, allowed: frozenset[str]) -> str | None:
    """A license name or SPDX expression from metadata (`MIT`, `Apache 2.0`, `MIT OR X`)."""
    name = name.strip().strip('"').strip()
    if not name or name.upper() in ("UNKNOWN", "NONE", "UNLICENSED", "PROPRIETARY"):
        return None
    if len(name) > 200:  # a whole license text pasted into the field
        return from_license_text(name)
    tokens = _ids(name)
    if (
        tokens
        and all(re.fullmatch(r"[a-z0-9.+-]+", t) for t in tokens)
        and (" or " in name.lower() or " and " in name.lower() or any("-" in t for t in tokens))
    ):
        return choose(name, allowed)
    for pattern, spdx in _NAME_TO_SPDX:
        if pattern.search(name):
            return spdx
    return None


def from_python_metadata(text: str, allowed: frozenset[str]) -> str | None:
    """METADATA / PKG-INFO: License-Expression, then License, then the license classifiers."""
    header = text.split("\n\n", 1)[0]
    fields: dict[str, list[str]] = {}
    for line in header.splitlines():
        key, sep, value = line.partition(":")
        if sep and not line.startswith((" ", "\t")):
            fields.setdefault(key.strip().lower(), []).append(value.strip())
    for value in fields.get("license-expression", []):
        return choose(value, allowed)
    for value in fields.get("license", []):
        found = from_name(value, allowed)
        if found:
            return found
    classifiers = [
        c.split("::")[-1] for c in fields.get("classifier", []) if c.startswith("License ::")
    ]
    for value in classifiers:
        found = from_name(value, allowed)
        if found:
            return found
    return None


def from_cargo_toml(text: str, allowed: frozenset[str]) -> str | None:
    try:
        package = tomllib.loads(text).get("package", {})
    except tomllib.TOMLDecodeError:
        return None
    value = package.get("license")
    return from_name(value, allowed) if isinstance(value, str) else None


def from_package_json(text: str, allowed: frozenset[str]) -> str | None:
    try:
        data = json.loads(text)
    except ValueError:
        return None
    if not isinstance(data, dict):
        return None
    value = data.get("license")
    if isinstance(value, dict):
        value = value.get("type")
    if isinstance(value, str):
        return from_name(value, allowed)
    values = data.get("licenses")
    if isinstance(values, list) and values:
        first = values[0]
        name = first.get("type") if isinstance(first, dict) else first
        return from_name(str(name), allowed) if name else None
    return None


def from_pyproject(text: str, allowed: frozenset[str]) -> str | None:
    try:
        project = tomllib.loads(text).get("project", {})
    except tomllib.TOMLDecodeError:
        return None
    value = project.get("license")
    if isinstance(value, dict):
        value = value.get("text")
    if isinstance(value, str):
        return from_name(value, allowed)
    for classifier in project.get("classifiers", []) or []:
        if isinstance(classifier, str) and classifier.startswith("License ::"):
            found = from_name(classifier.split("::")[-1], allowed)
            if found:
                return found
    return None


def from_metadata_file(name: str, text: str, allowed: frozenset[str]) -> str | None:
    """Dispatch on the metadata file's name."""
    if name == "Cargo.toml":
        return from_cargo_toml(text, allowed)
    if name == "package.json":
        return from_package_json(text, allowed)
    if name == "pyproject.toml":
        return from_pyproject(text, allowed)
    return from_python_metadata(text, allowed)  # METADATA, PKG-INFO


def from_record_fields(record: dict, allowed: frozenset[str]) -> str | None:
    """License fields of a document-set record (seed `license`, The Stack's lists, …)."""
    for key in ("license", "licenses", "max_stars_repo_licenses", "detected_licenses", "spdx"):
        value = record.get(key)
        if isinstance(value, str) and value.strip():
            found = from_name(value, allowed)
            if found:
                return found
        elif isinstance(value, list | tuple):
            # A list of licenses found for the repository: usable under any allowed one.
            found = [f for f in (from_name(str(v), allowed) for v in value if v) if f]
            if found:
                return next((f for f in found if expression_allowed(f, allowed)), found[0])
    return None


# --------------------------------------------------------------------------------------------
# The resolver for a source tree


class TreeResolver:
    """Resolves licenses for files of one source tree, caching per folder.

    `license_files` and `metadata_files` are the relative paths (known from the plan's listing)
    of LICENSE-like and package-metadata files; `dist_owner` maps a top-level entry of a
    site-packages-like folder (`pkg` or `mod.py`, relative to the root) to the `*.dist-info`
    folder whose RECORD lists it. `read` fetches a relative path's text (local or S3).
    """

    def __init__(
        self,
        license_files: list[str],
        metadata_files: list[str],
        dist_owner: dict[str, str],
        read: Callable[[str], str | None],
        policy: Policy,
        declared: str | None,
    ) -> None:
        self._licenses: dict[str, list[str]] = {}
        for rel in sorted(license_files):
            self._licenses.setdefault(_parent(rel), []).append(rel)
        self._metadata: dict[str, list[str]] = {}
        for rel in sorted(metadata_files, key=lambda r: METADATA_FILES.index(_name(r))):
            self._metadata.setdefault(_parent(rel), []).append(rel)
        self._dist_owner = dist_owner
        self._read = read
        self._allowed = policy.allowed
        self._declared = declared
        self._folder_license: dict[str, str | None] = {}
        self._folder_metadata: dict[str, str | None] = {}
        self._file_cache: dict[str, str | None] = {}

    def resolve(self, rel: str, text: str) -> tuple[str, str]:
        """(spdx, how) for the file at relative path `rel` with contents `text`."""
        found = from_header(text, self._allowed)
        if found:
            return found, "header"
        folders = _ancestors(rel)
        for folder in folders:
            found = self._license_in(folder)
            if found:
                return found, "license_file"
        found = self._dist_license(rel)
        if found:
            return found, "package_metadata"
        for folder in folders:
            found = self._metadata_in(folder)
            if found:
                return found, "package_metadata"
        if self._declared:
            return choose(self._declared, self._allowed), "declared"
        return UNKNOWN, "none"

    def _text(self, rel: str) -> str | None:
        if rel not in self._file_cache:
            self._file_cache[rel] = self._read(rel)
        return self._file_cache[rel]

    def _license_in(self, folder: str) -> str | None:
        if folder not in self._folder_license:
            result = None
            for rel in self._licenses.get(folder, []):
                text = self._text(rel)
                result = from_license_text(text) if text else None
                if result:
                    break
            self._folder_license[folder] = result
        return self._folder_license[folder]

    def _metadata_in(self, folder: str) -> str | None:
        if folder not in self._folder_metadata:
            result = None
            for rel in self._metadata.get(folder, []):
                text = self._text(rel)
                result = from_metadata_file(_name(rel), text, self._allowed) if text else None
                if result:
                    break
            self._folder_metadata[folder] = result
        return self._folder_metadata[folder]

    def _dist_license(self, rel: str) -> str | None:
        parts = rel.split("/")
        for depth in range(len(parts) - 1, -1, -1):
            owner = self._dist_owner.get("/".join(parts[: depth + 1]))
            if owner:
                text = self._text(f"{owner}/METADATA")
                return from_python_metadata(text, self._allowed) if text else None
        return None


def dist_owner_map(record_texts: dict[str, str]) -> dict[str, str]:
    """`{dist-info rel path: RECORD text}` → `{top-level entry rel path: dist-info rel path}`."""
    owners: dict[str, str] = {}
    for dist_info, record in sorted(record_texts.items()):
        base = _parent(dist_info)
        for line in record.splitlines():
            path = line.split(",", 1)[0].strip()
            if not path or path.startswith(("..", "/")):
                continue
            top = path.split("/", 1)[0]
            if top.endswith((".dist-info", ".data")) or top == "__pycache__":
                continue
            owners.setdefault(f"{base}/{top}" if base else top, dist_info)
    return owners


def is_license_file(rel: str) -> bool:
    return bool(LICENSE_FILE.match(_name(rel)))


def is_metadata_file(rel: str) -> bool:
    name = _name(rel)
    return name in ("Cargo.toml", "package.json", "pyproject.toml", "PKG-INFO")


def is_dist_record(rel: str) -> bool:
    parts = rel.split("/")
    return len(parts) >= 2 and parts[-1] == "RECORD" and parts[-2].endswith(".dist-info")


def _name(rel: str) -> str:
    return rel.rsplit("/", 1)[-1]


def _parent(rel: str) -> str:
    return rel.rsplit("/", 1)[0] if "/" in rel else ""


def _ancestors(rel: str) -> list[str]:
    """Folders from the file's own up to the root (`""`)."""
    folders = []
    folder = _parent(rel)
    while True:
        folders.append(folder)
        if not folder:
            return folders
        folder = _parent(folder)
