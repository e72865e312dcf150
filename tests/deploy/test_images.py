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
