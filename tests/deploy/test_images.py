"""The Dockerfiles, read without a Docker engine: sources, users, entrypoints, tags."""

from __future__ import annotations

import re

import pytest
import yaml

from tests.deploy.dockerfiles import IMAGES, all_dockerfiles, exec_form
from tritter import __version__, cli
from tritter.deploy import images
from tritter.pipelines import package

DOCKERFILES = all_dockerfiles()
REPO = IMAGES.parent
BUILD_TOOLS = re.compile(r"\b(build-essential|make|cmake|g\+\+|git|curl|wget)\b")


def test_one_dockerfile_per_stage():
    assert set(DOCKERFILES) == set(images.STAGES)


@pytest.mark.parametrize("stage", images.STAGES)
def test_bases_are_pinned(stage):
    dockerfile = DOCKERFILES[stage]
    for build_stage in dockerfile.stages:
        base = dockerfile.resolve(build_stage.base)
        if base in {s.name for s in dockerfile.stages}:
            continue
        _, _, tag = base.partition(":")
        assert tag and tag != "latest", base
        assert re.search(r"\d+\.\d+\.\d+", tag) or "@sha256:" in base, f"{base}: pin a full version"


@pytest.mark.parametrize("stage", images.STAGES)
def test_copy_sources_exist(stage):
    dockerfile = DOCKERFILES[stage]
    copies = 0
    for build_stage in dockerfile.stages:
        for args in build_stage.of("COPY"):
            if args.startswith("--from="):
                assert args.split()[0].removeprefix("--from=") in {
                    s.name for s in dockerfile.stages
                }
                continue
            *sources, _ = args.split()
            for source in sources:
                assert (REPO / source).exists(), f"{stage}: COPY {source} is not in the repository"
                copies += 1
    assert copies >= 5


@pytest.mark.parametrize("stage", images.STAGES)
def test_runtime_is_multi_stage_non_root_without_build_tools(stage):
    dockerfile = DOCKERFILES[stage]
    assert len(dockerfile.stages) >= 2
    runtime = dockerfile.runtime
    users = runtime.of("USER")
    assert users and users[-1].split(":")[0] not in {"0", "root"}
    for run in runtime.of("RUN"):
        assert not BUILD_TOOLS.search(run), f"{stage}: build tool in the runtime stage: {run}"
        assert "pip install" not in run
    env = " ".join(runtime.of("ENV"))
    assert "TRITTER_LOG_FORMAT=json" in env
    assert any("--from=build" in c for c in runtime.of("COPY"))


@pytest.mark.parametrize("stage", images.STAGES)
def test_entrypoints_are_tritter_commands(stage):
    dockerfile = DOCKERFILES[stage]
    (entrypoint,) = dockerfile.runtime.of("ENTRYPOINT")
    command = exec_form(entrypoint) + exec_form(dockerfile.runtime.of("CMD")[-1])
    assert command[0] == "tritter"
    subcommands = cli.build_parser()._subparsers._group_actions[0].choices
    assert command[1] in subcommands, f"{stage}: '{command[1]}' is not a tritter command"


def test_tags_match_the_pipeline_images():
    built = set()
    for stage, dockerfile in DOCKERFILES.items():
        labels = {
            k: dockerfile.resolve(v, {"TRITTER_VERSION": __version__})
            for k, v in dockerfile.labels().items()
        }
        version_arg = next(
            a for a in dockerfile.runtime.of("ARG") if a.startswith("TRITTER_VERSION=")
        )
        assert version_arg == f"TRITTER_VERSION={__version__}"
        assert labels["org.opencontainers.image.ref.name"] == f"tritter-{stage}"
        built.add(images.image(stage))
    spec = next(yaml.safe_load_all(package.committed_package().read_text()))
    used = {e["container"]["image"] for e in spec["deploymentSpec"]["executors"].values()}
    used.add(spec["root"]["inputDefinitions"]["parameters"]["train_image"]["defaultValue"])
    assert used <= built, used - built
    assert used == built


LOCK = IMAGES / "requirements.lock"


@pytest.mark.parametrize("stage", images.STAGES)
def test_dependencies_come_from_the_hash_locked_file(stage):
    runs = " ".join(DOCKERFILES[stage].stages[0].of("RUN"))
    assert "pip install --require-hashes --no-deps -r requirements.lock" in runs
    assert "pip install --no-deps ." in runs
    assert not re.search(r"pip install (?!--require-hashes|--no-deps|\"torch==)", runs), runs


def test_the_lock_pins_every_runtime_dependency_with_hashes():
    """Every dependency in pyproject (torch and triton come from PyTorch's index) is pinned, with
    at least one hash, at a version pyproject allows."""
    import tomllib

    from packaging.requirements import Requirement

    text = LOCK.read_text()
    pinned = dict(re.findall(r"^([a-z0-9][a-z0-9._-]*)==(\S+) \\$", text, re.M))
    blocks = re.split(r"\n(?=[a-z0-9])", text.split("\n\n", 1)[-1])
    assert all("--hash=sha256:" in block for block in blocks if "==" in block)
    project = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]
    for line in project["dependencies"]:
        requirement = Requirement(line)
        name = requirement.name.lower().replace("_", "-")
        if name in {"torch", "triton"}:
            continue
        assert name in pinned, f"{name} is not in {LOCK.name}"
        assert requirement.specifier.contains(pinned[name]), (name, pinned[name])
