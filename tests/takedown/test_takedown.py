"""`tritter takedown` on a real small run: curate → tokenizer → pack, then a repository out."""

from __future__ import annotations

import json
import shutil
from collections import Counter
from pathlib import Path

import pytest

from tests.takedown.conftest import SEQ_LEN, TAKEN
from tests.takedown.support import curated_rows, decoded_documents, digests, manifest, rendered
from tests.tokenizer.support import one_line_error, run_in_process
from tritter import manifest as manifests
from tritter import storage
from tritter.loader.dataset import TokenLoader
from tritter.run_folder import TAKEDOWN, TakedownEntry, TakedownSelectors
from tritter.takedown import journal
from tritter.takedown import run as run_module
from tritter.tokenizer import Tokenizer


def takedown(run: Path | str, *extra: str):
    done = run_in_process("takedown", "--run", str(run), *extra)
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout)


@pytest.fixture(scope="module")
def taken(template, tmp_path_factory) -> tuple[Path, dict]:
    """The template run after `--repo acme/alpha` (read-only: tests compare against it)."""
    run = tmp_path_factory.mktemp("taken") / "run"
    shutil.copytree(template, run)
    printed = takedown(run, "--repo", TAKEN, "--requested-by", "legal@example.com",
                       "--reason", "notice 17")  # fmt: skip
    return run, printed


def test_every_token_of_the_repo_goes_and_the_rest_is_untouched(template, taken):
    run, printed = taken
    tokenizer = Tokenizer.load(str(template / "tokenizer"))
    before = decoded_documents(template / "tokens", tokenizer)
    after = decoded_documents(run / "tokens", tokenizer)
    # The sidecars name the right documents: what they call alpha decodes to alpha's texts.
    alpha_texts = {rendered(r) for r in curated_rows(template / "curated") if r["repo"] == TAKEN}
    assert {text for (repo, text) in before if repo == TAKEN} <= alpha_texts
    assert any(repo == TAKEN for repo, _ in before)
    # After: no alpha document is left, decoded, and every other copy is still there.
    assert not {text for _, text in after} & alpha_texts
    assert after == Counter({k: n for k, n in before.items() if k[0] != TAKEN})
    assert not [r for r in curated_rows(run / "curated") if r["repo"] == TAKEN]
    assert len(curated_rows(run / "curated")) == len(curated_rows(template / "curated")) - len(
        alpha_texts
    )

    # Only the listed files changed; every other file is bit-identical.
    old, new = digests(template), digests(run)
    changed = {p for p in old if old[p] != new.get(p)}
    logged = {f["path"] for f in printed_files(run)}
    assert changed == logged | {"curated/_manifest.json", "tokens/_manifest.json"}
    assert set(new) - set(old) == {f"{TAKEDOWN}/log.jsonl"}
    untouched_shards = [p for p in old if p.startswith("tokens/train/") and p not in changed]
    assert untouched_shards, "some token shards hold no alpha document (the test needs one)"
    assert printed["token_shards"] and printed["curated_files"] == ["curated/part-00000.parquet"]

    # The manifests' sha256 and sizes match the files; counts follow the shards.
    for part in ("curated", "tokens"):
        manifests.verify_files(str(run / part), manifests.read_manifest(str(run / part)))
    pack = manifest(run / "tokens")
    for split, total in pack["counts"]["tokens_total"].items():
        shards = [s for s in pack["extra"]["shards"] if s["split"] == split]
        assert total == sum(s["num_tokens"] for s in shards)
        assert sum(pack["counts"]["documents"][split].values()) == sum(
            s["num_documents"] for s in shards
        )
    removed = sum(before.values()) - sum(after.values())
    assert printed["token_documents_removed"] == removed
    old_total = sum(manifest(template / "tokens")["counts"]["tokens_total"].values())
    assert old_total - sum(pack["counts"]["tokens_total"].values()) == printed["tokens_removed"]
    curate = manifest(run / "curated")["counts"]
    assert curate["dropped"]["takedown"] == len(alpha_texts) == printed["curated_documents_removed"]
    assert curate["kept_documents"] + curate["dropped_documents"] == curate["input_documents"]

    # The loader opens the rewritten folder and reads every sample.
    loader = TokenLoader(str(run / "tokens"), seq_len=SEQ_LEN, micro_batch_size=8, loop=False)
    assert loader.samples_per_epoch == (pack["counts"]["tokens_total"]["train"] - 1) // SEQ_LEN
    batches = loader.batches_per_pass()
    assert sum(1 for _ in loader) == batches > 0


def printed_files(run: Path) -> list[dict]:
    lines = (run / TAKEDOWN / "log.jsonl").read_text().splitlines()
    assert len(lines) == 1
    return json.loads(lines[0])["files"]


def test_the_log_says_who_what_when_and_no_text(template, taken):
    run = taken[0]
    (line,) = (run / TAKEDOWN / "log.jsonl").read_text().splitlines()
    entry = TakedownEntry.model_validate_json(line)
    assert entry.requested_by == "legal@example.com" and entry.reason == "notice 17"
    assert entry.selectors.repos == [TAKEN] and entry.finished and entry.started.endswith("+00:00")
    for item in entry.files:
        assert item.old_sha256 == storage.sha256_file(template / item.path)
        assert item.new_sha256 == storage.sha256_file(run / item.path)
    texts = [r["text"] for r in curated_rows(template / "curated") if r["repo"] == TAKEN]
    assert not [t for t in texts if t[:200] in line]
    assert not (run / TAKEDOWN / journal.TAKEDOWN_PENDING).exists()


def test_a_second_takedown_changes_nothing(taken, tmp_path):
    run = tmp_path / "run"
    shutil.copytree(taken[0], run)
    before = digests(run)
    assert takedown(run, "--repo", TAKEN) == {"changed": False, "reason": "no document matches"}
    assert digests(run) == before


@pytest.mark.parametrize("kill", ["upload:1", "upload:3", "upload:6", "log"])
def test_an_interrupted_takedown_completes_on_rerun(fresh_run, taken, monkeypatch, kill):
    """Killed after some files were rewritten (mid-shard too), or after the manifests: the
    rerun finishes with exactly the bytes of an uninterrupted takedown."""
    calls = []

    def killed(*args: object) -> None:
        raise KeyboardInterrupt  # what Ctrl-C or a pod kill leaves: the step never ran

    if kill == "log":
        monkeypatch.setattr(journal, "append_log", killed)
    else:
        real, limit = storage.upload_file, int(kill.split(":")[1])

        def upload(source, uri):
            calls.append(uri)
            if len(calls) > limit:
                killed()
            real(source, uri)

        monkeypatch.setattr(storage, "upload_file", upload)
    stopped = run_in_process("takedown", "--run", fresh_run, "--repo", TAKEN)
    assert stopped.returncode == 130, stopped.stderr
    assert (fresh_run / TAKEDOWN / journal.TAKEDOWN_PENDING).exists()
    monkeypatch.undo()
    # Another takedown cannot start over an unfinished one.
    assert "unfinished takedown" in one_line_error(
        run_in_process("takedown", "--run", fresh_run, "--repo", "acme/beta")
    )
    printed = takedown(fresh_run, "--repo", TAKEN)
    assert printed["resumed"] is True
    done, reference = digests(fresh_run), digests(taken[0])
    log = f"{TAKEDOWN}/log.jsonl"
    assert {p: d for p, d in done.items() if p != log} == {
        p: d for p, d in reference.items() if p != log
    }
    assert len((fresh_run / log).read_text().splitlines()) == 1


def test_a_takedown_that_finished_while_another_planned_stops_the_other(fresh_run, monkeypatch):
    """Two operators at once: `beta` is planned, then `alpha` finishes before `beta` creates
    its journal. `beta` planned from files that no longer exist: it stops before rewriting
    anything, leaves no journal, and a rerun does it on the new files."""
    real_plan = run_module._plan

    def plan_while_another_finishes(*args):
        planned = real_plan(*args)
        monkeypatch.setattr(run_module, "_plan", real_plan)
        takedown(fresh_run, "--repo", TAKEN)
        return planned

    monkeypatch.setattr(run_module, "_plan", plan_while_another_finishes)
    line = one_line_error(run_in_process("takedown", "--run", fresh_run, "--repo", "acme/beta"))
    assert "changed by another takedown while this one was planning" in line
    assert f"{fresh_run}/tokens/" in line  # names a file it planned from
    assert not (fresh_run / TAKEDOWN / journal.TAKEDOWN_PENDING).exists()
    assert [e.selectors.repos for e in journal.read_log(str(fresh_run))] == [[TAKEN]]
    after_alpha = digests(fresh_run)
    assert takedown(fresh_run, "--repo", "acme/beta")["tokens_removed"] > 0
    log = [e.selectors.repos for e in journal.read_log(str(fresh_run))]
    assert log == [[TAKEN], ["acme/beta"]]
    assert digests(fresh_run) != after_alpha


def test_a_takedown_that_started_while_another_planned_stops_the_other(fresh_run, monkeypatch):
    """The journal is created, never overwritten: the second of two takedowns that planned at
    the same time finds the first's journal and stops, leaving it and every file as they were."""
    real_plan = run_module._plan
    theirs = {}

    def plan_while_another_starts(folder, *args):
        planned = real_plan(folder, *args)
        other, _ = real_plan(folder, TakedownSelectors(repos=["acme/gamma"]), "them", None)
        journal.start_pending(folder.root, other)
        theirs["journal"] = (fresh_run / TAKEDOWN / journal.TAKEDOWN_PENDING).read_bytes()
        return planned

    monkeypatch.setattr(run_module, "_plan", plan_while_another_starts)
    before = digests(fresh_run)
    line = one_line_error(run_in_process("takedown", "--run", fresh_run, "--repo", "acme/beta"))
    assert "another takedown started on this run while this one was planning" in line
    assert (fresh_run / TAKEDOWN / journal.TAKEDOWN_PENDING).read_bytes() == theirs["journal"]
    journal_path = f"{TAKEDOWN}/{journal.TAKEDOWN_PENDING}"
    assert {p: d for p, d in digests(fresh_run).items() if p != journal_path} == before
    monkeypatch.undo()
    # The first one's operator reruns it: it completes.
    assert takedown(fresh_run, "--repo", "acme/gamma")["resumed"] is True


def test_takedown_on_s3(template, taken, s3_bucket):
    run = f"{s3_bucket}/runs/demo"
    storage.upload_folder(template, run)
    printed = takedown(run, "--path-glob", f"{TAKEN}/*")  # the same documents, by path glob
    assert printed["tokens_removed"] == taken[1]["tokens_removed"]
    remote = {
        o.uri[len(run) + 1 :]: storage.sha256_uri(o.uri)
        for o in storage.list_objects(run)
        if not o.uri.endswith("log.jsonl")
    }
    local = {p: d for p, d in digests(taken[0]).items() if not p.endswith("log.jsonl")}
    assert remote == local
    assert takedown(run, "--repo", TAKEN)["changed"] is False


def test_bad_input_is_one_line(fresh_run, tmp_path):
    missing = one_line_error(run_in_process("takedown", "--run", tmp_path / "nope", "--repo", "x"))
    assert "nope/curated" in missing
    assert "--repo NAME" in one_line_error(run_in_process("takedown", "--run", fresh_run))
    assert "--repo: empty" in one_line_error(
        run_in_process("takedown", "--run", fresh_run, "--repo", " ")
    )
    # A dry run lists and changes nothing.
    before = digests(fresh_run)
    printed = takedown(fresh_run, "--repo", TAKEN, "--dry-run")
    assert printed["dry_run"] and printed["tokens_removed"] > 0 and printed["documents"]
    assert digests(fresh_run) == before
