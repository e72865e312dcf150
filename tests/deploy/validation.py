"""Validate Kubernetes objects offline: built-in kinds with kubernetes-validate (strict), custom
resources with jsonschema against the CRD schemas copied under schemas/ (see ATTRIBUTION.md)."""

from __future__ import annotations

import functools
import json
from pathlib import Path
from typing import Any

import jsonschema
import kubernetes_validate
import yaml

SCHEMAS = Path(__file__).parent / "schemas"
K8S_VERSION = "1.33"


@functools.cache
def crd_schemas() -> dict[tuple[str, str], dict[str, Any]]:
    """(apiVersion, kind) → JSON schema of the object."""
    found = {}
    for name in (
        "kubeflow.org_pytorchjobs.yaml",
        "trainer.kubeflow.org_trainjobs.yaml",
        "trainer.kubeflow.org_clustertrainingruntimes.yaml",
    ):
        crd = yaml.safe_load((SCHEMAS / name).read_text())
        for version in crd["spec"]["versions"]:
            api = f"{crd['spec']['group']}/{version['name']}"
            found[(api, crd["spec"]["names"]["kind"])] = version["schema"]["openAPIV3Schema"]
            if crd["spec"]["names"]["kind"] == "ClusterTrainingRuntime":
                # Kubeflow Trainer's namespaced TrainingRuntime shares the cluster one's spec.
                found[(api, "TrainingRuntime")] = version["schema"]["openAPIV3Schema"]
    found[("monitoring.coreos.com/v1", "PodMonitor")] = json.loads(
        (SCHEMAS / "podmonitor_v1.json").read_text()
    )
    found[("monitoring.coreos.com/v1", "ServiceMonitor")] = json.loads(
        (SCHEMAS / "servicemonitor_v1.json").read_text()
    )
    found[("monitoring.coreos.com/v1", "PrometheusRule")] = json.loads(
        (SCHEMAS / "prometheusrule_v1.json").read_text()
    )
    return found


def validate(obj: dict[str, Any]) -> None:
    """Raise on the first schema violation of one object."""
    key = (obj.get("apiVersion"), obj.get("kind"))
    schema = crd_schemas().get(key)
    if schema is not None:
        jsonschema.validate(obj, schema, cls=jsonschema.Draft7Validator)
        return
    kubernetes_validate.validate(obj, K8S_VERSION, strict=True)
