"""PII scrubbing (issue #17): precision and recall per kind on a labelled sample, the share of
standard-library files it changes, the rule's modes, and real `tritter curate` runs whose every
output is searched for the planted values."""

from __future__ import annotations

import json
import os
import random
import sysconfig
import time
from collections import Counter
from dataclasses import dataclass
from pathlib import Path

import pyarrow.parquet as pq
import pytest
import yaml

from tests.conftest import run_tritter
from tritter.curate import filters, licenses, pii, rules, sources
from tritter.curate.config import CurateConfig
from tritter.curate.metrics import StepMetrics

SAMPLES = Path(__file__).parent / "samples"
LABELLED = SAMPLES / "pii_labelled.yaml"


def _sample() -> dict[str, list[dict]]:
    return yaml.safe_load(LABELLED.read_text(encoding="utf-8"))


def _scan(case: dict) -> list[pii.Finding]:
    return pii.scan(case["text"], license_id=case.get("license", "unknown"),
                    path=case.get("path", ""))  # fmt: skip


def _expected(case: dict) -> Counter[tuple[str, str]]:
    return Counter((kind, str(v)) for kind, values in case.get("pii", {}).items() for v in values)


def _score(cases: list[dict]) -> tuple[dict[str, Counter[str]], list[str]]:
    """kind → tp/fp/fn over the cases (a found value matches an expected one of its kind and
    text), and the errors by case."""
    scores = {kind: Counter() for kind in pii.KINDS}
    errors = []
    for case in cases:
        text = case["text"]
        found = Counter((f.kind, text[f.start : f.end]) for f in _scan(case))
        expected = _expected(case)
        for key in found | expected:
            hit = min(found[key], expected[key])
            scores[key[0]]["tp"] += hit
            scores[key[0]]["fp"] += found[key] - hit
            scores[key[0]]["fn"] += expected[key] - hit
            if found[key] != expected[key]:
                errors.append(f"{case['form']}: {key[0]} found {found[key]}, expected "
                              f"{expected[key]}")  # fmt: skip
    return scores, errors


def _figures(scores: dict[str, Counter[str]]) -> dict[str, tuple[float, float, int]]:
    figures = {}
    for kind, s in scores.items():
        precision = s["tp"] / max(s["tp"] + s["fp"], 1)
        recall = s["tp"] / max(s["tp"] + s["fn"], 1)
        figures[kind] = (precision, recall, s["tp"] + s["fn"])
    return figures


def test_labelled_sample_precision_and_recall_per_kind():
    sample = _sample()
    positives = sample["positives"] + sample["holdout_positives"]
    negatives = sample["negatives"] + sample["holdout_negatives"]
    assert len(positives) >= 60 and len(negatives) >= 40
    assert all(case.get("pii") for case in positives) and not any(c.get("pii") for c in negatives)
    assert len({case["form"] for case in positives + negatives}) == len(positives + negatives)
    assert len({case.get("language", "text") for case in positives}) >= 15
    scores, errors = _score(positives + negatives)
    held_out, _ = _score(sample["holdout_positives"] + sample["holdout_negatives"])
    print()
    for label, figures in (("all", _figures(scores)), ("held out", _figures(held_out))):
        print(f"{label}: " + "; ".join(f"{kind} precision {p:.3f} recall {r:.3f} ({n} values)"
                                       for kind, (p, r, n) in figures.items()))  # fmt: skip
    print(f"errors: {errors or 'none'}")
    for kind, (precision, recall, values) in _figures(scores).items():
        assert values >= 15, kind  # every kind is measured on enough values
        assert precision >= 0.9 and recall >= 0.9, (kind, errors)


def test_redaction_removes_every_labelled_value_and_leaves_look_alikes_alone():
    sample = _sample()
    for case in sample["positives"] + sample["holdout_positives"]:
        redacted = pii.redact(case["text"], _scan(case))
        for kind, value in _expected(case):
            assert value not in redacted, case["form"]
            assert pii.PLACEHOLDERS[kind] in redacted, case["form"]
        assert not pii.scan(redacted, license_id=case.get("license", "unknown"),
                            kinds=("email", "ip_address", "phone"))  # fmt: skip
    for case in sample["negatives"] + sample["holdout_negatives"]:
        assert pii.redact(case["text"], _scan(case)) == case["text"], case["form"]


def test_placeholders_are_stable_and_name_no_value():
    text = (
        "# Author: Jane Roe <jane.roe@gmail.com>\n"
        "# Reviewed-by: Jane Roe <jane.roe@gmail.com>\n"
        'HOSTS = ["10.1.2.3", "10.1.2.3", "2a00:1450:4001:81c::200e"]\n'
        'CALL = "+44 20 7946 0321"  # or (415) 555-2671\n'
    )
    findings = pii.scan(text)
    redacted = pii.redact(text, findings)
    assert redacted == (
        "# Author: <NAME> <<EMAIL>>\n"
        "# Reviewed-by: <NAME> <<EMAIL>>\n"
        'HOSTS = ["<IP_ADDRESS>", "<IP_ADDRESS>", "<IP_ADDRESS>"]\n'
        'CALL = "<PHONE>"  # or <PHONE>\n'
    )
    assert pii.redact(text, pii.scan(text)) == redacted  # deterministic
    assert pii.counts(findings) == {"email": 2, "ip_address": 3, "name": 2, "phone": 2}
    assert pii.redact(redacted, pii.scan(redacted)) == redacted  # placeholders are not values


def test_allowlist_entries_of_every_form():
    allow = pii.allowlist(
        ("bot@", "acme-staff.io", "ops@northwind.com", "10.9.0.0/16", "Ada Byron")
    )
    text = (
        "a: bot@anything.org b: x@build.acme-staff.io c: ops@northwind.com d: dev@northwind.com\n"
        "e: 10.9.4.4 f: 10.8.4.4\n"
        "# Author: Ada Byron\n# Author: Charles Babbage\n"
    )
    found = {text[f.start : f.end] for f in pii.scan(text, allow=allow)}
    assert found == {"dev@northwind.com", "10.8.4.4", "Charles Babbage"}
    # The built-in entries are always there; the user's only add to them.
    defaults = {text[f.start : f.end] for f in pii.scan("noreply@github.com 8.8.8.8 x@example.org")}
    assert not defaults
    assert "noreply@" in pii.default_allowlist() and "example.com" in pii.default_allowlist()
    config = CurateConfig(input="in", output="out", pii_allowlist=[" Bot@ ", "bot@", "x.org"])
    assert config.pii_allowlist == ["bot@", "x.org"]


@pytest.mark.parametrize(
    ("license_id", "holder_kept"),
    [("mit", True), ("apache-2.0", True), ("bsd-3-clause", True), ("psf-2.0", True),
     ("unknown", False), ("cc0-1.0", False), ("unlicense", False)],
)  # fmt: skip
def test_a_copyright_holder_is_kept_where_the_licence_requires_its_notice(license_id, holder_kept):
    text = (
        "# Copyright (c) 2021 Rosalind Whitfield <rosalind@whitfield.dev>\n"
        "# Author: Rosalind Whitfield\n"
    )
    redacted = pii.redact(text, pii.scan(text, license_id=license_id))
    first, second = redacted.splitlines()
    notice = "# Copyright (c) 2021 Rosalind Whitfield <<EMAIL>>"  # the address goes regardless
    assert first == (notice if holder_kept else "# Copyright (c) 2021 <NAME> <<EMAIL>>")
    assert second == "# Author: <NAME>"  # an author line is not a notice the licence requires
    assert pii.retains_notice(license_id) == holder_kept


def test_metadata_fields_lose_email_and_ip_addresses():
    assert pii.redact_field("people/jane.roe@gmail.com/notes.py") == "people/<EMAIL>/notes.py"
    assert pii.redact_field("hosts/10.1.2.3/app.py") == "hosts/<IP_ADDRESS>/app.py"
    assert (
        pii.redact_field("src/lib/python3.11/v1.2.3.4/a.py") == "src/lib/python3.11/v1.2.3.4/a.py"
    )
    assert pii.redact_field("git@github.com:acme/app.git") == "git@github.com:acme/app.git"


def _context(mode: str) -> rules.Context:
    return rules.Context(
        config=CurateConfig(input="in", output="out", pii=mode),
        limits=filters.Thresholds(),
        policy=licenses.Policy(frozenset(licenses.PERMISSIVE)),
        license_of=lambda raw, text: "mit",
    )


MODULE = (
    '"""Send the weekly digest."""\n\n'
    "# Author: Jane Roe <jane.roe@gmail.com>\n"
    'SMTP_HOST = "192.168.1.20"\n\n\n'
    "def digest(items):\n"
    '    """Join the items, one per line."""\n'
    '    return "\\n".join(items)\n'
)


@pytest.mark.parametrize("mode", ["redact", "keep", "drop"])
def test_the_rule_redacts_keeps_or_drops_and_counts(mode):
    raw = sources.RawDoc(path="mailer.py", size=len(MODULE), text=MODULE, language="python")
    result = rules.inspect(raw, _context(mode))
    counts = {"email": 1, "ip_address": 1, "name": 1}
    if mode == "drop":
        assert result == rules.Drop("pii", "email,ip_address,name", tuple(counts.items()))
        return
    assert isinstance(result, rules.Doc) and result.pii == counts
    assert result.data == result.text.encode()  # what the row and every dedup hash are made of
    if mode == "keep":
        assert result.text == MODULE
    else:
        assert "jane" not in result.data.decode().lower() and "192.168" not in result.text
        assert "# Author: <NAME> <<EMAIL>>" in result.text
        assert 'SMTP_HOST = "<IP_ADDRESS>"' in result.text


def test_the_rule_runs_after_secrets_and_before_the_labels():
    names = [rule.name for rule in rules.DOCUMENT_RULES]
    assert names.index("secret") + 1 == names.index("pii") < names.index("security")
    assert "pii" in rules.REASONS


def test_pii_counters_name_kinds_never_values():
    metrics = StepMetrics("curate_process", "/tmp/out")
    metrics.count_pii({"email": 3, "name": 1}, {"email": 2, "name": 1})
    sample = metrics.registry.get_sample_value
    labels = {"stage": "curate_process", "kind": "email"}
    assert sample("tritter_data_pii_total", {**labels, "unit": "values"}) == 3
    assert sample("tritter_data_pii_total", {**labels, "unit": "documents"}) == 2


def _stdlib_files() -> list[Path]:
    root = Path(sysconfig.get_paths()["stdlib"])
    files = []
    for folder, dirs, names in os.walk(root):
        dirs[:] = [d for d in dirs if d not in ("site-packages", "dist-packages", "__pycache__")]
        files += [Path(folder, name) for name in names if name.endswith(".py")]
    return sorted(files)


def test_standard_library_share_of_files_changed():
    """Every `.py` file of the running interpreter's standard library (the embedded default
    corpus `python-stdlib`, under PSF-2.0: copyright holders are kept) through the scanner:
    the share of files it would change, per kind, and its throughput."""
    files = _stdlib_files()
    assert len(files) > 1000
    texts = []
    for path in files:
        try:
            texts.append((path, path.read_text(encoding="utf-8")))
        except UnicodeDecodeError:
            continue
    started = time.process_time()
    found = {path: pii.scan(text, text.lower(), license_id="psf-2.0", path=str(path))
             for path, text in texts}  # fmt: skip
    seconds = time.process_time() - started
    changed = {path: findings for path, findings in found.items() if findings}
    documents: Counter[str] = Counter()
    values: Counter[str] = Counter()
    for findings in changed.values():
        counts = pii.counts(findings)
        values.update(counts)
        documents.update(counts.keys())
    megabytes = sum(len(text) for _, text in texts) / 1e6
    rate = len(changed) / len(texts)
    print(
        f"\nstdlib: {len(changed)}/{len(texts)} files changed ({rate:.1%}); documents per kind "
        f"{dict(documents)}, values {dict(values)}; {megabytes / seconds:.0f} MB/s CPU"
    )
    assert rate < 0.2  # author lines and addresses of a 30-year-old code base
    assert documents["phone"] <= 2  # numeric literals, tables and timestamps are not phones
    by_name = {path.name: findings for path, findings in changed.items()}
    assert "test_ipaddress.py" in by_name  # its private and public test addresses
    assert not any(f.kind == "ip_address" for f in by_name.get("_markupbase.py", []))


# --------------------------------------------------------------------------------------------
# Real runs: no planted value in any output, work file or log line


NAMES = ["Rosalind Whitfield", "Oskar Lindqvist", "Priya Raghunathan", "Tomás Herrera",
         "Kwame Mensah", "Ingrid Solberg", "Mateo Rossi", "Aylin Demir"]  # fmt: skip


@dataclass
class Planted:
    values: list[str]  # every planted value that redaction and drop must remove
    kept: list[str]  # what must survive redaction: the licence holder, allowlisted values


def _person(rng: random.Random, taken: set[str]) -> tuple[str, str]:
    name = rng.choice([n for n in NAMES if n not in taken and n != "Rosalind Whitfield"])
    taken.add(name)
    local = name.split()[0].lower() + "." + str(rng.randrange(1000, 9999))
    return name, f"{local}@{rng.choice(['gmail.com', 'posteo.de', 'fastmail.com'])}"


def _mailer(name: str, email: str, ip: str, phone: str) -> str:
    return (
        '"""Send the weekly digest to the team."""\n\n'
        "# Copyright (c) 2022 Rosalind Whitfield\n"
        f"# Author: {name} <{email}>\n"
        f'SMTP_HOST = "{ip}"\n'
        f'SUPPORT_PHONE = "{phone}"\n'
        'VERSION = "10.2.0.15"\n'
        'DOCS_HOST = "192.0.2.10"\n'
        'BOT = "build-bot@acme-staff.io"\n\n\n'
        "def digest(items):\n"
        '    """Join the items, one per line."""\n'
        '    return "\\n".join(items)\n'
    )


CLEAN = (
    '"""Areas of plane shapes."""\n\n\n'
    "def area(width, height):\n"
    '    """The area of a width x height rectangle."""\n'
    "    return width * height\n\n\n"
    "def square(side):\n"
    '    """The area of a square."""\n'
    "    return area(side, side)\n"
)


CLOCK = (
    '"""Clock arithmetic on minutes."""\n\n\n'
    "MINUTES_PER_DAY = 24 * 60\n\n\n"
    "def add_minutes(start, minutes):\n"
    '    """The time of day `minutes` after `start`, both in minutes since midnight."""\n'
    "    return (start + minutes) % MINUTES_PER_DAY\n\n\n"
    "def as_text(minutes):\n"
    '    """HH:MM for a time of day."""\n'
    '    return f"{minutes // 60:02d}:{minutes % 60:02d}"\n'
)


def _documents(folder: Path) -> tuple[Path, Planted]:
    rng = random.Random()
    taken: set[str] = set()
    values: list[str] = []
    records = []
    for path in ("digest/mailer.py", "digest/mailer_copy.py"):
        name, email = _person(rng, taken)
        ip = f"10.{rng.randrange(1, 250)}.{rng.randrange(1, 250)}.{rng.randrange(2, 250)}"
        phone = f"+44 20 7946 0{rng.randrange(100, 999)}"
        records.append({"path": path, "text": _mailer(name, email, ip, phone)})
        values += [name, email, ip, phone]
    owner = f"ana.{rng.randrange(1000, 9999)}@uol.com.br"
    records.append({"path": f"people/{owner}/shapes.py", "text": CLEAN})
    records.append({"path": "geometry/clock.py", "text": CLOCK})
    tiny = f"jo.{rng.randrange(1000, 9999)}@gmail.com"
    records.append({"path": f"tiny/{tiny}/x.py", "text": "x = 1\n"})
    values += [owner, tiny]
    for record in records:
        record.update(license="MIT", language="python")
    source = folder / "documents.jsonl"
    source.write_text("".join(json.dumps(r) + "\n" for r in records), encoding="utf-8")
    kept = ["Rosalind Whitfield", "build-bot@acme-staff.io", "10.2.0.15", "192.0.2.10"]
    return source, Planted(values, kept)


@dataclass
class Run:
    mode: str
    output: Path
    log: str

    @property
    def manifest(self) -> dict:
        return json.loads((self.output / "_manifest.json").read_text())

    def rows(self) -> list[dict]:
        rows = []
        for part in sorted(self.output.glob("part-*.parquet")):
            rows += pq.read_table(part).to_pylist()
        return rows

    def rejects(self) -> list[dict]:
        found = []
        for part in sorted((self.output / "rejects").glob("*.jsonl")):
            found += [json.loads(line) for line in part.read_text().splitlines()]
        return found

    def haystacks(self) -> dict[str, str]:
        """Every file under the output (decoded Parquet rows too) and the log."""
        found = {"log": self.log}
        for folder, _, names in os.walk(self.output):
            for name in names:
                path = Path(folder, name)
                found[str(path)] = path.read_bytes().decode("utf-8", "replace")
                if name.endswith(".parquet"):
                    rows = pq.read_table(path).to_pylist()
                    found[f"{path} (rows)"] = json.dumps(rows, default=str, ensure_ascii=False)
        return found


@pytest.fixture(scope="module")
def pii_runs(tmp_path_factory) -> tuple[Planted, dict[str, Run]]:
    """One document set curated three times: `--pii redact` (the default; work files kept),
    `--pii drop` and `--pii keep`, each with an allowlisted domain and JSON logs."""
    base = tmp_path_factory.mktemp("pii_runs")
    source, planted = _documents(base)
    runs = {}
    for mode, extra in (("redact", ["--keep-work"]), ("drop", []), ("keep", [])):
        output = base / f"out-{mode}"
        args = ["curate", "--input", str(source), "--output", str(output), "--workers", "2",
                "--pii", mode, "--pii-allowlist", "acme-staff.io", *extra]  # fmt: skip
        result = run_tritter(*args, env={"TRITTER_LOG_FORMAT": "json"})
        assert result.returncode == 0, result.stderr
        runs[mode] = Run(mode, output, result.stdout + result.stderr)
    return planted, runs


PII_COUNTS = {
    "values": {"email": 2, "ip_address": 2, "name": 2, "phone": 2},
    "documents": {"email": 2, "ip_address": 2, "name": 2, "phone": 2},
}


def test_redact_replaces_values_before_dedup_and_counts_them(pii_runs):
    planted, runs = pii_runs
    run = runs["redact"]
    counts = run.manifest["counts"]
    # The two mailers differ only in their personal data: redacted, they are one document.
    assert counts["dropped"]["exact_duplicate"] == 1
    rows = {row["path"]: row for row in run.rows()}
    assert set(rows) == {"people/<EMAIL>/shapes.py", "geometry/clock.py",
                         next(p for p in rows if p.startswith("digest/mailer"))}  # fmt: skip
    mailer = next(row for path, row in rows.items() if path.startswith("digest/"))
    assert "# Author: <NAME> <<EMAIL>>" in mailer["text"]
    assert 'SMTP_HOST = "<IP_ADDRESS>"' in mailer["text"]
    assert 'SUPPORT_PHONE = "<PHONE>"' in mailer["text"]
    for value in planted.kept:  # the licence holder (MIT), allowlisted and reserved values
        assert value in mailer["text"], value
    rejects = {record["path"]: record for record in run.rejects()}
    assert rejects["tiny/<EMAIL>/x.py"]["reason"] == "too_few_lines"


def test_no_planted_value_appears_in_any_output_work_file_or_log(pii_runs):
    planted, runs = pii_runs
    for mode in ("redact", "drop"):
        run = runs[mode]
        haystacks = run.haystacks()
        assert run.log.count('"level"') > 3  # JSON log lines were captured
        assert any("_work" in name for name in haystacks) == (mode == "redact")
        for value in planted.values:
            for name, haystack in haystacks.items():
                assert value not in haystack, (mode, name, value[:3])


def test_drop_rejects_documents_naming_kinds_only(pii_runs):
    _, runs = pii_runs
    run = runs["drop"]
    counts = run.manifest["counts"]
    assert counts["dropped"]["pii"] == 2
    rejects = [r for r in run.rejects() if r["reason"] == "pii"]
    assert sorted(r["path"] for r in rejects) == ["digest/mailer.py", "digest/mailer_copy.py"]
    assert {r["detail"] for r in rejects} == {"email,ip_address,name,phone"}
    assert {row["path"] for row in run.rows()} == {"people/<EMAIL>/shapes.py",
                                                   "geometry/clock.py"}  # fmt: skip


def test_keep_counts_and_leaves_every_value(pii_runs):
    planted, runs = pii_runs
    run = runs["keep"]
    counts = run.manifest["counts"]
    assert "exact_duplicate" not in counts["dropped"]  # the two mailers still differ
    texts = "\n".join(row["text"] + row["path"] for row in run.rows())
    for value in planted.values[:8]:  # everything in the mailers' text
        assert value in texts
    assert run.manifest["config"]["pii"] == "keep"
    assert run.manifest["config"]["pii_allowlist"] == ["acme-staff.io"]


def test_manifest_counts_personal_data_per_kind_in_every_mode(pii_runs):
    """Values and documents per kind, whatever `--pii` did with them (needs finalize to write
    `process.pii_totals` into `CurateCounts.pii`)."""
    _, runs = pii_runs
    for mode, run in runs.items():
        assert run.manifest["counts"]["pii"] == PII_COUNTS, mode
