"""The Dockerfiles, read without a Docker engine: sources, users, entrypoints, tags."""

from __future__ import annotations

import re

import pytest
import yaml

from tests.deploy.dockerfiles import IMAGES, all_targets, build_args, exec_form, parse
from tritter import __version__, cli
from tritter.deploy import images
from tritter.pipelines import package

TARGETS = all_targets()
DOCKERFILE = IMAGES / "Dockerfile"
REPO = IMAGES.parent
BUILD_TOOLS = re.compile(r"\b(build-essential|make|cmake|g\+\+|git|curl|wget)\b")


def test_one_dockerfile_one_target_per_stage():
    assert set(TARGETS) == set(images.STAGES)
    found = sorted(p.relative_to(IMAGES).as_posix() for p in IMAGES.rglob("Dockerfile*"))
    assert found == ["Dockerfile", "Dockerfile.dockerignore"]


def test_one_builder_stage_serves_every_image():
    """The project is installed once (stage `build`); the targets differ in PyTorch build only."""
    dockerfile = parse(DOCKERFILE)
    installs = [
        s.name for s in dockerfile.stages if any("requirements.lock" in r for r in s.of("RUN"))
    ]
    assert installs == ["build"]
    variants = {name: build_args(name)["TORCH_VARIANT"] for name in images.STAGES}
    assert variants == {"data": "cpu", "train": "cu128", "eval": "cu128"}
    for name, target in TARGETS.items():
        torch = " ".join(r for s in target.build for r in s.of("RUN") if '"torch==' in r)
        assert f"whl/{variants[name]}" in torch, name


def test_bases_are_pinned():
    dockerfile = parse(DOCKERFILE)
    names = {s.name for s in dockerfile.stages}
    for build_stage in dockerfile.stages:
        base = dockerfile.resolve(build_stage.base)
        if base in names or base.startswith("torch-"):
            continue
        _, _, tag = base.partition(":")
        assert tag and tag != "latest", base
        assert re.search(r"\d+\.\d+\.\d+", tag) or "@sha256:" in base, f"{base}: pin a full version"


def test_copy_sources_exist():
    dockerfile = parse(DOCKERFILE)
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
                assert (REPO / source).exists(), f"COPY {source} is not in the repository"
                copies += 1
    assert copies >= 5


@pytest.mark.parametrize("stage", images.STAGES)
def test_runtime_is_multi_stage_non_root_without_build_tools(stage):
    target = TARGETS[stage]
    assert target.build, f"{stage}: copies nothing from a build stage"
    users = target.of("USER")
    assert users and users[-1].split(":")[0] not in {"0", "root"}
    for run in target.of("RUN"):
        assert not BUILD_TOOLS.search(run), f"{stage}: build tool in the runtime stages: {run}"
        assert "pip install" not in run
    env = " ".join(target.of("ENV"))
    assert "TRITTER_LOG_FORMAT=json" in env
    assert any(c.startswith("--from=build ") for c in target.of("COPY"))


@pytest.mark.parametrize("stage", images.STAGES)
def test_entrypoints_are_tritter_commands(stage):
    target = TARGETS[stage]
    entrypoint = target.of("ENTRYPOINT")[-1]
    command = exec_form(entrypoint) + exec_form(target.of("CMD")[-1])
    assert command[0] == "tritter"
    subcommands = cli.build_parser()._subparsers._group_actions[0].choices
    assert command[1] in subcommands, f"{stage}: '{command[1]}' is not a tritter command"


def test_the_eval_image_can_compile_rust():
    """MultiPL-E Rust programs are compiled in the evaluation sandbox."""
    assert any(re.search(r"\brustc\b", r) for r in TARGETS["eval"].of("RUN"))


def test_tags_match_the_pipeline_images():
    built = set()
    for stage, target in TARGETS.items():
        labels = {
            k: target.resolve(v, {"TRITTER_VERSION": __version__})
            for k, v in target.labels().items()
        }
        version_arg = next(a for a in target.of("ARG") if a.startswith("TRITTER_VERSION="))
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
    runs = " ".join(r for s in TARGETS[stage].build for r in s.of("RUN"))
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
