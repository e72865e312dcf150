"""Secret detection (issue #18): recall on a labelled sample of credential forms, precision on
look-alikes, the false-positive rate on the Python standard library, metadata fields, and a
real `tritter curate` run whose every output is searched for the planted values."""

from __future__ import annotations

import json
import os
import secrets as pysecrets
import shutil
import string
import sysconfig
import time
from dataclasses import dataclass
from pathlib import Path

import pyarrow.parquet as pq
import pytest
import yaml

from tests.conftest import run_tritter
from tritter.curate import rules, secrets, sources

SAMPLES = Path(__file__).parent / "samples"
LABELLED = SAMPLES / "secrets_labelled.yaml"
SECRET_RULES = (rules.DECODE, next(rule for rule in rules.DOCUMENT_RULES if rule.name == "secret"))


def _inspect(raw: sources.RawDoc) -> rules.Drop | rules.Doc:
    """The decode and secret rules, as curation runs them (they need no run context)."""
    return rules.inspect(raw, None, SECRET_RULES)  # type: ignore[arg-type]


def _raw(case: dict) -> sources.RawDoc:
    """A labelled case as the document curation would read: the snippet as the text, or as the
    metadata field it names (with a clean text)."""
    field = case.get("field", "text")
    if field == "text":
        text = case["text"]
        return sources.RawDoc(path="case.txt", size=len(text), text=text,
                              language=case.get("language"))  # fmt: skip
    text = "def area(width, height):\n    return width * height\n"
    record = {"text": text, "path": "src/geometry.py", field: case["text"]}
    return sources.RawDoc(
        path=record["path"], size=len(text), text=text, language="python",
        repo=record.get("repo"), record=record,
    )  # fmt: skip


def test_labelled_sample_recall_and_precision():
    sample = yaml.safe_load(LABELLED.read_text())
    positives, negatives = sample["positives"], sample["negatives"]
    assert len(positives) >= 40 and len(negatives) >= 20
    assert len({case["form"] for case in positives}) == len(positives)  # distinct forms
    missed, misnamed = [], []
    for case in positives:
        verdict = _inspect(_raw(case))
        if not (isinstance(verdict, rules.Drop) and verdict.reason == "secret"):
            missed.append(case["form"])
            continue
        # The value itself is located: redaction removes it and names the detector.
        redacted = secrets.redact(case["text"])
        assert case["secret"] not in redacted and "<SECRET:" in redacted, case["form"]
        if case.get("kind"):
            found = secrets.scan(case["text"], None, case.get("language"))
            if case["kind"] not in {finding.kind for finding in found}:
                misnamed.append((case["form"], case["kind"]))
    false_positives = [
        case["form"] for case in negatives if isinstance(_inspect(_raw(case)), rules.Drop)
    ]
    detected = len(positives) - len(missed)
    recall = detected / len(positives)
    precision = detected / (detected + len(false_positives))
    print(
        f"\nsecret recall {recall:.1%} ({detected}/{len(positives)} forms), precision "
        f"{precision:.1%} ({len(false_positives)}/{len(negatives)} look-alikes flagged); "
        f"missed: {missed or 'none'}; false positives: {false_positives or 'none'}"
    )
    assert recall >= 0.95, missed
    assert not false_positives
    assert not misnamed


def _stdlib_files() -> list[Path]:
    root = Path(sysconfig.get_paths()["stdlib"])
    files = []
    for folder, dirs, names in os.walk(root):
        dirs[:] = [d for d in dirs if d not in ("site-packages", "dist-packages", "__pycache__")]
        files += [Path(folder, name) for name in names if name.endswith(".py")]
    return sorted(files)


def test_standard_library_false_positive_rate_is_below_half_a_percent():
    """Every `.py` file of the running interpreter's standard library (the embedded default
    corpus `python-stdlib`) through the decode and secret rules: < 0.5 % of files flagged."""
    files = _stdlib_files()
    assert len(files) > 1000
    datas = [path.read_bytes() for path in files]
    started = time.perf_counter()
    flagged = {}
    for path, data in zip(files, datas, strict=True):
        verdict = _inspect(sources.RawDoc(path=str(path), size=len(data), data=data,
                                          language="python"))  # fmt: skip
        if isinstance(verdict, rules.Drop) and verdict.reason == "secret":
            flagged[path.name] = verdict.detail
    seconds = time.perf_counter() - started
    rate = len(flagged) / len(files)
    print(
        f"\nstdlib: {len(flagged)}/{len(files)} files flagged ({rate:.2%}) {flagged}; "
        f"{len(files) / seconds:.0f} files/s, {sum(map(len, datas)) / seconds / 1e6:.1f} MB/s"
    )
    assert rate < 0.005


@pytest.mark.parametrize(
    "value", ["Turkey1985x", "MyCompanyDb2024", "hunter2Xq!7", "admin2024", "Db$ecret7"]
)
def test_word_and_digit_passwords_are_not_placeholders(value):
    assert not secrets.is_placeholder(value)
    assert secrets.password_like(value, min_length=6)


@pytest.mark.parametrize(
    "value",
    ["changeme", "xxxxxxxx", "your_password_here", "<password>", "${DB_PASSWORD}", "example",
     "dummy-token", "test123", "P@ssw0rd", "password1", "MY_API_KEY", "abcdefgh12345678"],
)  # fmt: skip
def test_placeholders_are_not_secrets(value):
    assert not secrets.password_like(value, min_length=6)


def test_redact_replaces_every_value_and_keeps_the_rest():
    token = "ghp_" + _random(string.ascii_letters + string.digits, 36)
    text = f"https://x-access-token:{token}@github.com/acme/app and db://u:Turkey1985x@h/d"
    redacted = secrets.redact(text)
    assert token not in redacted and "Turkey1985x" not in redacted
    assert redacted.startswith("https://x-access-token:<SECRET:github_token>")
    assert redacted.endswith(" and db://u:<SECRET:connection_string_password>@h/d")
    assert secrets.redact("src/geometry/vectors.py") == "src/geometry/vectors.py"


def test_a_secret_in_any_record_field_rejects_the_document():
    text = "def area(width, height):\n    return width * height\n"
    record = {"text": text, "meta": {"mirrors": ["https://ci:Lantern4821v@git.example.com/x"]}}
    raw = sources.RawDoc(path="a.py", size=len(text), text=text, language="python", record=record)
    assert _inspect(raw) == rules.Drop("secret", "connection_string_password in meta.mirrors[0]")
    clean = sources.RawDoc(path="a.py", size=len(text), text=text, language="python",
                           record={"text": text, "url": "https://github.com/acme/app"})  # fmt: skip
    assert isinstance(_inspect(clean), rules.Doc)


def test_the_rule_file_is_well_formed():
    rule_set = secrets.rule_set()
    assert len(rule_set.rules) >= 40
    keywords = {k.replace("|", "") for rule in rule_set.rules for k in rule.keywords}
    assert {"AKIA", "ghp_", "glpat-", "xox", "sg.", "npm_", "accountkey=", "://"} <= keywords
    # One pass over the text per distinct first character of the located keywords (mostly
    # rare ones), not one per keyword: fewer than the 19 of the previous scanner.
    located = {k.rpartition("|")[2] for rule in rule_set.rules for k in rule.keywords}
    firsts = {(k[0] if k[0].isupper() else k[0].lower()) for k in located}
    assert len(rule_set.locators) == len(firsts) < 19
    header = (Path(secrets.__file__).parent / secrets.RULES_FILE).read_text()[:1500]
    assert "gitleaks" in header and "MIT" in header
    assert "detect-secrets" in header and "Apache" in header


# --------------------------------------------------------------------------------------------
# A real run: no planted value in any output, work file or log line


def _random(alphabet: str, length: int) -> str:
    return "".join(pysecrets.choice(alphabet) for _ in range(length))


def _password() -> str:
    """A fresh word+digits password of the kind a placeholder rule must not wave through."""
    word = pysecrets.choice(["Turkey", "Pelican", "Harbor", "Lantern", "Orchid", "Walnut"])
    return word + _random(string.digits, 4) + _random(string.ascii_lowercase, 1)


def _module(body: str) -> str:
    return (
        '"""Storage settings for the report exporter."""\n\nimport os\n\n'
        + body
        + '\n\ndef bucket_name(env):\n    """The bucket a given environment exports to."""\n'
        '    return f"reports-{env}"\n'
    )


@dataclass
class Planted:
    values: list[str]  # every planted credential value
    expected: dict[str, str]  # path in the reject list -> detail
    clean: set[str]  # paths that must be kept


def _records(folder: Path) -> tuple[Path, Planted]:
    alnum = string.ascii_letters + string.digits
    aws_secret = _random(alnum + "/+", 40)
    aws_id = "AKIA" + _random(string.ascii_uppercase + "234567", 16)
    db_password = _password()
    azure = _random(alnum + "+/", 86) + "=="
    sendgrid = f"SG.{_random(alnum, 22)}.{_random(alnum + '-_', 43)}"
    npm = "npm_" + _random(alnum, 36)
    github = "ghp_" + _random(alnum, 36)
    path_key = "AKIA" + _random(string.ascii_uppercase + "234567", 16)
    url_password = _password()
    short_npm = "npm_" + _random(alnum, 36)
    samples = [
        (SAMPLES / rel).read_text()
        for rel in ("mit_project/geometry/vectors.py", "mit_project/geometry/shapes.py",
                    "mit_project/utils/text.py", "mit_project/geometry/spdx_apache.py")
    ]  # fmt: skip
    content = {
        "exporter/env_default.py": (
            "aws_secret_access_key",
            _module(f'SECRET = os.environ.get("AWS_SECRET_ACCESS_KEY", "{aws_secret}")'),
        ),
        "exporter/comment_key.py": (
            "aws_access_key_id",
            _module(f"# the CI user, until it moves to OIDC: {aws_id}\nREGION = 'eu-west-1'"),
        ),
        "exporter/db.py": (
            "password_assignment",
            _module(f'DSN = "Server=db;Database=reports;User ID=sa;Password={db_password};"'),
        ),
        "exporter/azure.py": (
            "azure_storage_key",
            _module(f'CONN = "DefaultEndpointsProtocol=https;AccountName=rep;AccountKey={azure}"'),
        ),
        "exporter/mail.py": ("sendgrid_api_key", _module(f'SENDGRID = "{sendgrid}"')),
        "exporter/npm_publish.py": ("npm_token", _module(f'NPM_TOKEN = "{npm}"')),
    }
    rows = [
        {"text": text, "path": path, "license": "MIT", "language": "python"}
        for path, (_, text) in content.items()
    ]
    rows += [
        {"text": samples[0], "path": "geometry/vectors.py", "license": "MIT", "repo": "acme/geo"},
        {"text": samples[1], "path": "geometry/shapes.py", "license": "MIT",
         "repo": f"https://x-access-token:{github}@github.com/acme/geometry"},
        {"text": samples[2], "path": f"utils/{path_key}/text.py", "license": "MIT"},
        {"text": samples[3], "path": "geometry/spdx_apache.py", "license": "MIT",
         "url": f"https://deploy:{url_password}@git.example.com/acme/geometry.git"},
        {"text": "x = 1\n", "path": f"tiny/{short_npm}.py", "license": "MIT"},
    ]  # fmt: skip
    expected = {path: detail for path, (detail, _) in content.items()}
    expected["geometry/shapes.py"] = "github_token in repo"
    expected["utils/<SECRET:aws_access_key_id>/text.py"] = "aws_access_key_id in path"
    expected["geometry/spdx_apache.py"] = "connection_string_password in url"
    expected["tiny/<SECRET:npm_token>.py"] = ""  # too_few_lines: dropped before the secret rule
    path = folder / "documents.jsonl"
    path.write_text("".join(json.dumps(row) + "\n" for row in rows))
    values = [aws_secret, aws_id, db_password, azure, sendgrid, npm, github, path_key,
              url_password, short_npm]  # fmt: skip
    return path, Planted(values, expected, {"geometry/vectors.py"})


def _tree(folder: Path) -> tuple[Path, Planted]:
    token = "ghp_" + _random(string.ascii_letters + string.digits, 36)
    key_id = "AKIA" + _random(string.ascii_uppercase + "234567", 16)
    root = folder / "tree"
    (root / "app").mkdir(parents=True)
    (root / "notes").mkdir()
    shutil.copy(SAMPLES / "mit_project/LICENSE", root / "LICENSE")
    shutil.copy(SAMPLES / "mit_project/geometry/vectors.py", root / "app/vectors.py")
    shutil.copy(SAMPLES / "mit_project/geometry/shapes.py", root / f"app/{token}.py")
    (root / f"notes/{key_id}.bin").write_bytes(b"\x00\x01")
    expected = {
        "app/<SECRET:github_token>.py": "github_token in path",
        "notes/<SECRET:aws_access_key_id>.bin": "",  # not_source: dropped by name, unread
        "LICENSE": "",
    }
    return root, Planted([token, key_id], expected, {"app/vectors.py"})


@pytest.fixture(scope="module")
def secret_runs(tmp_path_factory) -> list[tuple[Planted, Path, str]]:
    """Two real `tritter curate` runs with JSON logs: a document set (content and metadata
    secrets, work files kept) and a source tree (secrets in file names)."""
    base = tmp_path_factory.mktemp("secret_runs")
    runs = []
    for build, extra in ((_records, ["--keep-work"]), (_tree, [])):
        source, planted = build(base)
        output = base / f"out-{source.stem}"
        args = ["curate", "--input", str(source), "--output", str(output), "--workers", "2"]
        result = run_tritter(*args, *extra, env={"TRITTER_LOG_FORMAT": "json"})
        assert result.returncode == 0, result.stderr
        runs.append((planted, output, result.stdout + result.stderr))
    return runs


def _rejects(output: Path) -> list[dict]:
    found = []
    for part in sorted((output / "rejects").glob("*.jsonl")):
        found += [json.loads(line) for line in part.read_text().splitlines()]
    return found


def test_secrets_in_text_and_metadata_are_rejected_with_redacted_paths(secret_runs):
    for planted, output, _ in secret_runs:
        rejects = {record["path"]: record for record in _rejects(output)}
        for path, detail in planted.expected.items():
            assert path in rejects, (path, sorted(rejects))
            if detail:
                assert rejects[path]["reason"] == "secret"
                assert rejects[path]["detail"] == detail
        kept = set()
        for part in sorted(output.glob("part-*.parquet")):
            kept |= set(pq.read_table(part).column("path").to_pylist())
        assert kept == planted.clean
        manifest = json.loads((output / "_manifest.json").read_text())
        secret_drops = sum(1 for detail in planted.expected.values() if detail)
        assert manifest["counts"]["dropped"]["secret"] == secret_drops


def test_no_planted_value_appears_in_any_output_work_file_or_log(secret_runs):
    for planted, output, log in secret_runs:
        assert log.count('"level"') > 3  # JSON log lines were captured
        haystacks = {"log": log}
        for folder, _, names in os.walk(output):
            for name in names:
                path = Path(folder, name)
                data = path.read_bytes()
                haystacks[str(path)] = data.decode("latin-1")
                if name.endswith(".parquet"):  # compressed: search the decoded columns too
                    rows = pq.read_table(path).to_pylist()
                    haystacks[f"{path} (rows)"] = json.dumps(rows, default=str)
        assert any("_work" in name for name in haystacks) == (output.name.endswith("documents"))
        for value in planted.values:
            for name, haystack in haystacks.items():
                assert value not in haystack, (name, value[:6])
