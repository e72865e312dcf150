"""The curated document schema: the contract between curation and everything downstream.

The training-data fields (text, language, quality_score, quality_label, explanation, source,
license, stars) plus provenance (id, sha256, repo, path, bytes) and
`subset`, the mixture component a document counts towards when packing (`python`, `rust`,
`curated_repos`, `docs`, `conversations`, or another language name).
"""

from __future__ import annotations

import pyarrow as pa

CURATED_SCHEMA = pa.schema(
    [
        pa.field("id", pa.string(), nullable=False),  # stable: sha256 of source + path
        pa.field("text", pa.large_string(), nullable=False),
        pa.field("language", pa.string(), nullable=False),  # python, rust, javascript, …
        pa.field("subset", pa.string(), nullable=False),  # mixture component
        pa.field("quality_score", pa.float64(), nullable=False),  # in [0, 1]
        pa.field("quality_label", pa.string(), nullable=False),  # "positive" | "negative"
        pa.field("explanation", pa.string()),  # why a negative is negative, and the fix
        pa.field("source", pa.string(), nullable=False),  # input URI or dataset the doc came from
        pa.field("license", pa.string(), nullable=False),  # SPDX id, lower-case (e.g. "mit")
        pa.field("stars", pa.int64()),  # repository stars when known
        pa.field("sha256", pa.string(), nullable=False),  # of the UTF-8 text
        pa.field("repo", pa.string()),
        pa.field("path", pa.string(), nullable=False),  # path within the repo / input
        pa.field("bytes", pa.int64(), nullable=False),  # UTF-8 size of text
    ]
)

QUALITY_LABELS = ("positive", "negative")
