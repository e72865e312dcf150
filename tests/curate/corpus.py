"""A small, realistic source tree with one planted case per curation rule.

`build_corpus(root)` copies the hand-written projects under `samples/` (an MIT Python package
with tests, docs and a few flawed modules, a GPL C tool, a dual-licensed Rust crate, an ISC
JavaScript package, an unlicensed script) and adds the cases that are easier to generate than
to store: freshly random secrets of several kinds, binaries, undecodable and empty files, a
broken symlink, benchmark copies, exact and near duplicates. It returns the expected outcome
of every file: `"kept"`, `"kept:negative"`, or the drop reason.
"""

from __future__ import annotations

import base64
import os
import secrets as pysecrets
import shutil
import string
from dataclasses import dataclass, field
from pathlib import Path

from tritter.benchmarks import load_humaneval, load_mbpp

SAMPLES = Path(__file__).parent / "samples"
MAX_BYTES = 20_000  # the tests run with --max-bytes 20000 so "too large" stays small

EXPECTED_SAMPLES = {
    "mit_project/LICENSE": "boilerplate",
    "mit_project/CHANGELOG.md": "boilerplate",
    "mit_project/geometry/vectors.py": "kept",
    "mit_project/geometry/shapes.py": "kept",
    "mit_project/geometry/spdx_apache.py": "kept",
    "mit_project/geometry/gpl_header.py": "license_copyleft",
    "mit_project/tests/test_vectors.py": "kept",
    "mit_project/docs/guide.md": "kept",
    "mit_project/webapp/views.py": "kept:negative",
    "mit_project/tools/deploy.py": "kept:negative",
    "mit_project/legacy/cache.py": "kept:negative",
    "mit_project/scripts/messy.py": "kept:negative",
    "mit_project/proto/api_pb2.py": "generated",
    "mit_project/node_modules/leftpad/index.js": "vendored",
    "mit_project/config/settings.yaml": "config",
    "gpl_tool/COPYING": "boilerplate",
    "gpl_tool/main.c": "license_copyleft",
    "rust_crate/Cargo.toml": "config",
    "rust_crate/src/lib.rs": "kept",
    "js_pkg/package.json": "config",
    "js_pkg/index.js": "kept",
    "unlicensed/notes.py": "license_unknown",
}


@dataclass
class Corpus:
    root: Path
    expected: dict[str, str]  # relative path -> "kept" / "kept:negative" / drop reason
    secrets: dict[str, tuple[str, str]] = field(default_factory=dict)  # path -> (detector, value)
    duplicate_pairs: list[tuple[str, str, str]] = field(default_factory=list)  # (a, b, reason)


def _random(alphabet: str, length: int) -> str:
    return "".join(pysecrets.choice(alphabet) for _ in range(length))


def _write(root: Path, rel: str, content: str | bytes) -> None:
    path = root / rel
    path.parent.mkdir(parents=True, exist_ok=True)
    if isinstance(content, bytes):
        path.write_bytes(content)
    else:
        path.write_text(content, encoding="utf-8")


def plant_secrets(root: Path) -> dict[str, tuple[str, str]]:
    """Realistic files each holding one freshly generated credential of a different kind."""
    upper = string.ascii_uppercase + "234567"
    alnum = string.ascii_letters + string.digits
    aws_key = "AKIA" + _random(upper, 16)
    aws_secret = _random(alnum + "/+", 40)
    github = "ghp_" + _random(alnum, 36)
    password = _random(string.ascii_letters, 6) + _random(string.digits, 3) + "!" + "Qz"
    db_password = _random(alnum, 10) + "9x"
    slack = f"xoxb-{_random(string.digits, 12)}-{_random(string.digits, 12)}-{_random(alnum, 24)}"
    key_body = "\n".join(
        base64.b64encode(os.urandom(48)).decode() for _ in range(6)
    )  # 64-character lines, like a PEM body
    files = {
        "mit_project/deploy/aws_settings.py": (
            "aws_access_key_id",
            aws_key,
            f'''"""Settings for uploading rendered shapes to the asset bucket."""

import boto3

BUCKET = "geometry-assets"
AWS_ACCESS_KEY_ID = "{aws_key}"
AWS_SECRET_ACCESS_KEY = "{aws_secret}"


def client():
    """An S3 client for the asset bucket."""
    return boto3.client(
        "s3",
        aws_access_key_id=AWS_ACCESS_KEY_ID,
        aws_secret_access_key=AWS_SECRET_ACCESS_KEY,
    )
''',
        ),
        "mit_project/ci/release.sh": (
            "github_token",
            github,
            f"""#!/usr/bin/env bash
# Publish a GitHub release for the current tag.
set -euo pipefail

TAG="$(git describe --tags --abbrev=0)"
GITHUB_TOKEN="{github}"

curl -sS -X POST \\
  -H "Authorization: token ${{GITHUB_TOKEN}}" \\
  -H "Accept: application/vnd.github+json" \\
  "https://api.github.com/repos/example/geometry/releases" \\
  -d "{{\\"tag_name\\": \\"${{TAG}}\\", \\"name\\": \\"${{TAG}}\\"}}"
echo "released ${{TAG}}"
""",
        ),
        "mit_project/certs/signing.py": (
            "private_key",
            key_body.splitlines()[2],
            f'''"""Sign exported drawings so that viewers can check where they came from."""

import hashlib

SIGNING_KEY = """-----BEGIN RSA PRIVATE KEY-----
{key_body}
-----END RSA PRIVATE KEY-----"""


def fingerprint(data: bytes) -> str:
    """A short digest of the drawing, shown next to the signature."""
    return hashlib.sha256(data).hexdigest()[:16]
''',
        ),
        "mit_project/db/connect.py": (
            "connection_string_password",
            db_password,
            f'''"""Database connection for the shape catalogue service."""

import sqlalchemy

DATABASE_URL = "postgresql://catalogue:{db_password}@db.internal:5432/shapes"


def engine():
    """A pooled engine for the catalogue database."""
    return sqlalchemy.create_engine(DATABASE_URL, pool_size=5, pool_pre_ping=True)
''',
        ),
        "mit_project/db/admin.py": (
            "password_assignment",
            password,
            f'''"""Administrative commands for the catalogue database."""

import getpass

ADMIN_USER = "catalogue-admin"
ADMIN_PASSWORD = "{password}"


def check_login(user, secret):
    """True when the given credentials are the administrator's."""
    return user == ADMIN_USER and secret == ADMIN_PASSWORD


def prompt_login():
    """Ask for credentials on the terminal."""
    return check_login(input("user: "), getpass.getpass())
''',
        ),
        "js_pkg/notify.js": (
            "slack_token",
            slack,
            f"""'use strict';

const https = require('https');

// Post build notifications to the team channel.
const SLACK_TOKEN = '{slack}';

function notify(text) {{
  const body = JSON.stringify({{ channel: '#builds', text }});
  const request = https.request({{
    hostname: 'slack.com',
    path: '/api/chat.postMessage',
    method: 'POST',
    headers: {{ Authorization: `Bearer ${{SLACK_TOKEN}}`, 'Content-Type': 'application/json' }},
  }});
  request.end(body);
}}

module.exports = {{ notify }};
""",
        ),
    }
    planted = {}
    for rel, (detector, value, content) in files.items():
        _write(root, rel, content)
        planted[rel] = (detector, value)
    # Keep every value, including the ones a detector does not report first.
    planted["mit_project/deploy/aws_settings.py:secret"] = ("aws_access_key_id", aws_secret)
    return planted


def _benchmark_copies(root: Path) -> dict[str, str]:
    humaneval = load_humaneval()[0]
    mbpp = next(p for p in load_mbpp() if p.task_id == "2")
    _write(
        root,
        "mit_project/geometry/closeness.py",
        '"""Numeric helpers for comparing measurements."""\n\n'
        + humaneval.prompt
        + humaneval.solution
        + '\n\ndef mean(values):\n    """Arithmetic mean."""\n'
        "    return sum(values) / len(values)\n",
    )
    # The MBPP reference solution, re-indented and reformatted: still the same words.
    solution = mbpp.solution.replace("\r\n", "\n").replace("  res", "    res")
    _write(
        root,
        "mit_project/utils/overlap.py",
        f'"""{mbpp.prompt}"""\n\n\n{solution}\n\n\ndef union(first, second):\n'
        '    """Elements in either tuple."""\n    return tuple(set(first) | set(second))\n',
    )
    return {
        "mit_project/geometry/closeness.py": "contamination",
        "mit_project/utils/overlap.py": "contamination",
    }


def _duplicates(root: Path) -> list[tuple[str, str, str]]:
    shapes = (SAMPLES / "mit_project/geometry/shapes.py").read_text()
    # Same code with different whitespace: an exact duplicate after normalization.
    _write(root, "mit_project/copies/shapes.py", shapes.replace("    ", "\t") + "\n\n\n")
    text = (SAMPLES / "mit_project/utils/text.py").read_text()
    edited = (
        text.replace("Text helpers used by the report generator.", "Helpers for text output.")
        .replace("def count_words", "def word_frequencies")
        .replace("# Prefer the last space", "# Cut at the last space")
    )
    _write(root, "mit_project/reports/text_helpers.py", edited)
    return [
        ("mit_project/geometry/shapes.py", "mit_project/copies/shapes.py", "exact_duplicate"),
        ("mit_project/utils/text.py", "mit_project/reports/text_helpers.py", "near_duplicate"),
    ]


def _bad_files(root: Path) -> dict[str, str]:
    lookup_lines = [f"ROW_{i} = {list(range(i, i + 5))}" for i in range(24)]
    lookup_lines += [f"WIDE_{i} = {' '.join(['0x1f'] * 120)!r}" for i in range(6)]
    ascii_art = "\n".join(["+------+------+------+", "|  ..  |  ..  |  ..  |"] * 8)
    bad = {
        "mit_project/geometry/__init__.py": "",
        "mit_project/utils/__init__.py": "\n\n   \n",
        "mit_project/geometry/version.py": '__version__ = "1.2.0"\n',
        "mit_project/geometry/compiled_blob.py": b"import marshal\n\x00\x01\x02\x00code\n" * 8,
        "mit_project/legacy/latin1_names.py": (
            "# Noms des formes\nNOMS = {\n    'cercle': 'caf\xe9',\n    'carr\xe9': 'square',\n"
            "}\nprint(NOMS)\n"
        ).encode("latin-1"),
        "mit_project/data/big_table.py": "VALUES = [\n"
        + "".join(f"    {i},  # entry {i}\n" for i in range(MAX_BYTES // 20))
        + "]\n",
        "mit_project/data/lookup.py": "\n".join(lookup_lines) + "\n",
        "mit_project/docs/diagram.md": ascii_art + "\n",
        "mit_project/static/app.min.js": "!function(e){var t={};function n(r){if(t[r])return "
        "t[r].exports;var o=t[r]={i:r,l:!1,exports:{}};return e[r].call(o.exports,o,o.exports,n)"
        ",o.l=!0,o.exports}n.m=e,n.c=t}([function(e,t){e.exports=function(e){return e*2}}]);\n",
        "mit_project/docs/logo.png": b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR" + os.urandom(64),
        "mit_project/config/defaults.json": '{"precision": 6, "units": "mm"}\n',
    }
    expected = {
        "mit_project/geometry/__init__.py": "empty",
        "mit_project/utils/__init__.py": "empty",
        "mit_project/geometry/version.py": "too_few_lines",
        "mit_project/geometry/compiled_blob.py": "binary",
        "mit_project/legacy/latin1_names.py": "undecodable",
        "mit_project/data/big_table.py": "too_large",
        "mit_project/data/lookup.py": "long_lines",
        "mit_project/docs/diagram.md": "low_alnum",
        "mit_project/static/app.min.js": "minified",
        "mit_project/docs/logo.png": "not_source",
        "mit_project/config/defaults.json": "config",
        "mit_project/geometry/dangling.py": "unreadable",
    }
    for rel, content in bad.items():
        _write(root, rel, content)
    os.symlink(root / "mit_project/geometry/missing.py", root / "mit_project/geometry/dangling.py")
    return expected


def build_corpus(root: Path, with_secrets: bool = True) -> Corpus:
    """Write the corpus under `root` and return what curation should do with each file."""
    shutil.copytree(
        SAMPLES,
        root,
        dirs_exist_ok=True,
        ignore=shutil.ignore_patterns("ruff.toml", ".ruff_cache", "*_labelled.yaml"),
    )
    expected = dict(EXPECTED_SAMPLES)
    corpus = Corpus(root=root, expected=expected)
    if with_secrets:
        corpus.secrets = plant_secrets(root)
        expected.update({rel: "secret" for rel in corpus.secrets if ":" not in rel})
    expected.update(_benchmark_copies(root))
    corpus.duplicate_pairs = _duplicates(root)
    for first, second, _ in corpus.duplicate_pairs:
        expected[first] = expected[second] = "kept"  # refined by the test: one of the two
    expected.update(_bad_files(root))
    return corpus
