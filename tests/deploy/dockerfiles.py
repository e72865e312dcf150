"""A small Dockerfile reader for the image tests (no Docker engine on these machines).

`images/Dockerfile` builds every image as a target: `target(name)` follows a target's `FROM`
chain (its runtime stages) and the stages its `COPY --from` reads (its build stages), resolving
`${ARG}`s with the build arguments `images/build.sh` passes for that target."""

from __future__ import annotations

import json
import re
import shlex
from dataclasses import dataclass, field
from pathlib import Path

IMAGES = Path(__file__).resolve().parents[2] / "images"


@dataclass
class Stage:
    base: str
    name: str | None
    instructions: list[tuple[str, str]] = field(default_factory=list)

    def of(self, keyword: str) -> list[str]:
        return [args for kw, args in self.instructions if kw == keyword]


@dataclass
class Dockerfile:
    path: Path
    args: dict[str, str]
    stages: list[Stage]

    def resolve(self, text: str, extra: dict[str, str] | None = None) -> str:
        values = {**self.args, **(extra or {})}
        return re.sub(r"\$\{(\w+)\}", lambda m: values.get(m.group(1), m.group(0)), text)

    def stage(self, name: str) -> Stage:
        return next(s for s in self.stages if s.name == name)

    def chain(self, name: str, args: dict[str, str] | None = None) -> list[Stage]:
        """The stage and the stages it is built FROM, base first."""
        names = {s.name for s in self.stages}
        chain = [self.stage(name)]
        while (base := self.resolve(chain[0].base, args)) in names:
            chain.insert(0, self.stage(base))
        return chain

    def target(self, name: str, args: dict[str, str] | None = None) -> Target:
        runtime = self.chain(name, args)
        sources = [
            c.split()[0].removeprefix("--from=")
            for stage in runtime
            for c in stage.of("COPY")
            if c.startswith("--from=")
        ]
        build = [stage for source in sources for stage in self.chain(source, args)]
        return Target(self, name, runtime, build)


@dataclass
class Target:
    """One image: its runtime stages (the FROM chain) and the build stages it copies from."""

    dockerfile: Dockerfile
    name: str
    stages: list[Stage]
    build: list[Stage]

    def of(self, keyword: str) -> list[str]:
        return [args for stage in self.stages for args in stage.of(keyword)]

    def resolve(self, text: str, extra: dict[str, str] | None = None) -> str:
        return self.dockerfile.resolve(text, extra)

    def labels(self) -> dict[str, str]:
        found = {}
        for args in self.of("LABEL"):
            for item in shlex.split(args):
                key, _, value = item.partition("=")
                found[key] = value
        return found


def _logical_lines(text: str) -> list[str]:
    lines, current = [], ""
    for raw in text.splitlines():
        stripped = raw.strip()
        if not current and (not stripped or stripped.startswith("#")):
            continue
        if stripped.startswith("#"):
            continue
        if stripped.endswith("\\"):
            current += stripped[:-1] + " "
            continue
        lines.append(current + stripped)
        current = ""
    return lines


def parse(path: Path) -> Dockerfile:
    args: dict[str, str] = {}
    stages: list[Stage] = []
    for line in _logical_lines(path.read_text()):
        keyword, _, rest = line.partition(" ")
        keyword = keyword.upper()
        rest = rest.strip()
        if keyword == "ARG" and not stages:
            name, _, default = rest.partition("=")
            args[name] = default
        elif keyword == "FROM":
            parts = rest.split()
            name = parts[2] if len(parts) > 2 and parts[1].upper() == "AS" else None
            stages.append(Stage(base=parts[0], name=name))
        else:
            stages[-1].instructions.append((keyword, rest))
    return Dockerfile(path, args, stages)


def exec_form(args: str) -> list[str]:
    value = json.loads(args)
    assert isinstance(value, list) and all(isinstance(v, str) for v in value), args
    return value


def build_args(target: str) -> dict[str, str]:
    """The `--build-arg`s images/build.sh passes for a target (read from the script)."""
    script = (IMAGES / "build.sh").read_text()
    variant = re.search(rf"^\s*(?:\w+\|)*{target}(?:\|\w+)*\) variant=(\S+) ;;", script, re.M)
    assert variant, f"images/build.sh has no TORCH_VARIANT for {target}"
    return {"TORCH_VARIANT": variant.group(1)}


def all_targets() -> dict[str, Target]:
    dockerfile = parse(IMAGES / "Dockerfile")
    names = [s.name for s in dockerfile.stages if s.name in {"data", "train", "eval"}]
    return {name: dockerfile.target(name, build_args(name)) for name in names}
