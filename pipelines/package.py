"""Compile the pipeline packages and upload them to Kubeflow Pipelines.

Two pipelines: `pretrain` (`tritter-pretrain`) and `posttrain` (`tritter-posttrain`).
`compile_package` writes one's KFP IR YAML. With no options its output is byte-for-byte the file
committed as `pipelines/tritter_<kind>.yaml`; `registry` and `defaults` adapt a copy to one
cluster (the Helm hook uses them for `image.registry` and the chart's pipeline defaults) by
rewriting the executor images and the root parameters' default values in the IR.
"""

from __future__ import annotations

import hashlib
import json
import re
import tempfile
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import yaml

from tritter import __version__, log
from tritter.deploy.images import DEFAULT_REGISTRY
from tritter.deploy.params import PipelineParams, PosttrainParams, RunParams, check_params
from tritter.deploy.sizing import Sizing, resources_ir
from tritter.errors import TritterError

_log = log.get_logger("pipelines.package")
HERE = Path(__file__).resolve().parent
KINDS = ("pretrain", "posttrain")
PARAMS: dict[str, type[RunParams]] = {"pretrain": PipelineParams, "posttrain": PosttrainParams}
DESCRIPTIONS = {
    "pretrain": "Tritter pretraining pipeline",
    "posttrain": "Tritter post-training pipeline",
}
# Parameters every run must set, given a placeholder when one default alone is checked.
_REQUIRED = {"pretrain": ("run_root",), "posttrain": ("run_root", "base")}
COMMITTED = HERE / "tritter_pretrain.yaml"


def pipeline_name(kind: str) -> str:
    """`tritter-pretrain` for `pretrain`."""
    _known(kind)
    return f"tritter-{kind}"


def file_name(kind: str) -> str:
    """`tritter_pretrain.yaml` for `pretrain`."""
    _known(kind)
    return f"tritter_{kind}.yaml"


def _known(kind: str) -> None:
    if kind not in KINDS:
        raise TritterError(f"unknown pipeline '{kind}' (known: {', '.join(KINDS)})")


def committed_package(kind: str = "pretrain") -> Path:
    """The compiled pipeline shipped with the code (source checkout or installed package)."""
    from importlib import resources

    name = file_name(kind)
    shipped = Path(str(resources.files("tritter.pipelines").joinpath(name)))
    return shipped if shipped.exists() else HERE / name


def compile_text(kind: str = "pretrain") -> str:
    """The IR YAML exactly as KFP's compiler writes it."""
    from kfp import compiler

    if kind == "posttrain":
        from tritter.pipelines.tritter_posttrain import pipeline
    else:
        _known(kind)
        from tritter.pipelines.tritter_pretrain import pipeline

    with tempfile.TemporaryDirectory(prefix="tritter-compile-") as tmp:
        path = Path(tmp) / "pipeline.yaml"
        compiler.Compiler().compile(pipeline, str(path))
        return path.read_text(encoding="utf-8")


def kind_of(text: str) -> str:
    """Which pipeline a compiled package is, from the name in its IR."""
    spec = next(yaml.safe_load_all(text))
    name = str((spec or {}).get("pipelineInfo", {}).get("name", ""))
    for kind in KINDS:
        if name == pipeline_name(kind):
            return kind
    raise TritterError(f"not a tritter pipeline package (pipeline name '{name}')")


def _typed_default(name: str, value: Any, kind: str = "pretrain") -> Any:
    """A `--set name=value` string as the parameter's type, checked against its bounds."""
    fields = PARAMS[kind].model_fields
    if name not in fields:
        raise TritterError(f"unknown pipeline parameter '{name}' (known: {', '.join(fields)})")
    annotation = fields[name].annotation
    try:
        if annotation is int:
            number = float(value)
            if not number.is_integer():
                raise ValueError(value)
            value = int(number)
        elif annotation is float:
            value = float(value)
        else:
            value = str(value)
    except ValueError as err:
        raise TritterError(f"pipeline parameter '{name}': not a number (got {value!r})") from err
    # Check the bound now, but not requirements that only apply to a whole run (run_root, base).
    probe = {**dict.fromkeys(_REQUIRED[kind], "probe"), name: value}
    check_params(PARAMS[kind], probe)
    return value


def customize(
    text: str,
    registry: str | None = None,
    defaults: dict[str, Any] | None = None,
    pull_secrets: Sequence[str] = (),
    sizing: Sizing | None = None,
) -> str:
    """The IR with images moved to `registry`, parameter defaults replaced, `pull_secrets`
    given to every step's pod and (as `image_pull_secrets`' default) to the training pods, and
    the cluster's `sizing` applied (`tritter.deploy.sizing`).

    The pull Secrets are baked in rather than passed at run time: KFP fixes the number of a
    step's pull Secrets at compile time, and a registry's Secrets belong to the install."""
    kind = kind_of(text)
    documents = list(yaml.safe_load_all(text))
    spec = documents[0]
    if registry and registry.rstrip("/") != DEFAULT_REGISTRY:
        old, new = f"{DEFAULT_REGISTRY}/", f"{registry.rstrip('/')}/"
        for executor in spec["deploymentSpec"]["executors"].values():
            container = executor.get("container", {})
            if container.get("image", "").startswith(old):
                container["image"] = new + container["image"][len(old) :]
        train = spec["root"]["inputDefinitions"]["parameters"]["train_image"]
        if str(train.get("defaultValue", "")).startswith(old):
            train["defaultValue"] = new + train["defaultValue"][len(old) :]
    parameters = spec["root"]["inputDefinitions"]["parameters"]
    if sizing is not None:
        # Before the explicit defaults: a --set wins over the sizing's parameter defaults.
        _apply_sizing(documents, sizing)
        for name, value in sizing.parameter_defaults().items():
            parameters[name]["defaultValue"] = _typed_default(name, value, kind)
    for name, value in (defaults or {}).items():
        parameters[name]["defaultValue"] = _typed_default(name, value, kind)
    if pull_secrets:
        names = [_secret_name(n) for n in pull_secrets]
        platform = documents[1]["platforms"]["kubernetes"]["deploymentSpec"]["executors"]
        for executor in spec["deploymentSpec"]["executors"]:
            platform.setdefault(executor, {})["imagePullSecret"] = [
                {"secretName": n, "secretNameParameter": {"runtimeValue": {"constant": n}}}
                for n in names
            ]
        parameters["image_pull_secrets"]["defaultValue"] = ",".join(names)
    return yaml.safe_dump_all(documents, sort_keys=True)


def _apply_sizing(documents: list[Any], sizing: Sizing) -> None:
    executors = documents[0]["deploymentSpec"]["executors"]
    platform = documents[1]["platforms"]["kubernetes"]["deploymentSpec"]["executors"]
    steps = {name.removeprefix("exec-"): name for name in executors}
    for step, size in sizing.step_sizes().items():
        if step in steps:
            executors[steps[step]]["container"]["resources"] = resources_ir(size)
        elif step in sizing.steps:  # the built-in profile names steps of both pipelines
            known = ", ".join(sorted(steps))
            raise TritterError(f"sizing: no step '{step}' in this pipeline (steps: {known})")
    for name in executors:
        config = platform.setdefault(name, {})
        if sizing.node_selector:
            config["nodeSelector"] = {"labels": dict(sizing.node_selector)}
        if sizing.tolerations:
            config["tolerations"] = [
                {k: v for k, v in t.model_dump().items() if v} for t in sizing.tolerations
            ]


def _secret_name(name: str) -> str:
    """A Kubernetes object name (DNS subdomain), or a one-line error naming it."""
    if not re.fullmatch(r"[a-z0-9]([-a-z0-9.]{0,251}[a-z0-9])?", name):
        raise TritterError(f"image pull Secret '{name}': not a valid Kubernetes Secret name")
    return name


def _drop_key(node: Any, key: str) -> None:
    if isinstance(node, dict):
        node.pop(key, None)
        for value in node.values():
            _drop_key(value, key)
    elif isinstance(node, list):
        for value in node:
            _drop_key(value, key)


def without_retries(text: str) -> str:
    """The IR with every task's retry policy removed: on one machine a failed step fails for
    good, and waiting through cluster-sized back-offs only delays the error."""
    documents = list(yaml.safe_load_all(text))
    _drop_key(documents[0], "retryPolicy")
    return yaml.safe_dump_all(documents, sort_keys=True)


def compile_package(
    output: str | Path,
    registry: str | None = None,
    defaults: dict[str, Any] | None = None,
    kind: str = "pretrain",
    pull_secrets: Sequence[str] = (),
    sizing: Sizing | None = None,
) -> Path:
    text = compile_text(kind)
    if registry or defaults or pull_secrets or sizing:
        text = customize(text, registry, defaults, pull_secrets, sizing)
    path = Path(output)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp")
    tmp.write_text(text, encoding="utf-8")
    tmp.replace(path)
    return path


def version_name(package: Path) -> str:
    """Content-addressed version name: uploading the same package twice is a no-op."""
    digest = hashlib.sha256(package.read_bytes()).hexdigest()[:12]
    return f"{__version__}-{digest}"


def _client(host: str, namespace: str | None) -> Any:
    import warnings

    import kfp

    # Inside a cluster KFP reads its projected service-account token from
    # KF_PIPELINES_SA_TOKEN_PATH by itself; outside one, the host is reached as given.
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", FutureWarning)  # "only works with KFP v2" notice
        return kfp.Client(host=host, namespace=namespace)


def _find_pipeline(client: Any, name: str, namespace: str | None) -> str | None:
    """The id of pipeline `name` in `namespace` (shared pipelines when None); the client's own
    lookup by name only sees shared ones."""
    predicate = {"operation": "EQUALS", "key": "display_name", "stringValue": name}
    found = client.list_pipelines(
        filter=json.dumps({"predicates": [predicate]}), namespace=namespace, page_size=2
    )
    pipelines = found.pipelines or []
    if len(pipelines) > 1:
        raise TritterError(f"Kubeflow Pipelines: more than one pipeline named '{name}'")
    return pipelines[0].pipeline_id if pipelines else None


def upload(
    package: Path,
    host: str,
    name: str | None = None,
    namespace: str | None = None,
) -> dict[str, str]:
    """Upload `package` as pipeline `name` (default: the name in its IR), or as a new version
    when it exists already."""
    if not package.exists():
        raise TritterError(f"{package}: pipeline package not found")
    kind = kind_of(package.read_text(encoding="utf-8"))
    name = name or pipeline_name(kind)
    version = version_name(package)
    try:
        client = _client(host, namespace)
        pipeline_id = _find_pipeline(client, name, namespace)
        if pipeline_id is None:
            # With a namespace, multi-user KFP makes the pipeline the profile's own; without
            # one it is shared by every namespace.
            created = client.upload_pipeline(
                str(package),
                pipeline_name=name,
                description=DESCRIPTIONS[kind],
                namespace=namespace,
            )
            pipeline_id = created.pipeline_id
            result = {"pipeline_id": pipeline_id, "version": "initial", "action": "created"}
        else:
            existing = client.list_pipeline_versions(pipeline_id, page_size=200)
            names = {v.display_name for v in (existing.pipeline_versions or [])}
            if version in names:
                result = {"pipeline_id": pipeline_id, "version": version, "action": "unchanged"}
                return {"name": name, **result}
            client.upload_pipeline_version(
                str(package), pipeline_version_name=version, pipeline_id=pipeline_id
            )
            result = {"pipeline_id": pipeline_id, "version": version, "action": "new version"}
    except TritterError:
        raise
    except Exception as err:  # urllib3, kfp_server_api and kubernetes errors alike
        reason = str(err).splitlines()[0] if str(err) else type(err).__name__
        raise TritterError(f"Kubeflow Pipelines at {host}: {reason[:300]}") from err
    log.event(_log, "pipeline uploaded", host=host, name=name, **result)
    return {"name": name, **result}
