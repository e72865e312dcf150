"""The chart's NetworkPolicy for the pods that run generated code: egress only to DNS, the
Kubeflow namespace, the in-cluster S3 endpoint's and Pushgateway's namespaces and the address
blocks given for an external S3 endpoint and the API server; it validates as a Kubernetes
object, and the values schema rejects malformed settings naming the key."""

from __future__ import annotations

import helm_python
import pytest
import yaml

from tests.deploy.validation import validate
from tritter.pipelines import chart

GPU_VALUES = yaml.safe_load((chart.CHART.parent / "examples" / "multinode-gpu.yaml").read_text())


def policies(values: dict | None = None) -> list[dict]:
    objects = chart.render_chart(values, namespace="ml")
    found = [o for o in objects if o["kind"] == "NetworkPolicy"]
    for obj in found:
        validate(obj)
    return found


def namespaces(rule: dict) -> set[str]:
    return {
        peer["namespaceSelector"]["matchLabels"]["kubernetes.io/metadata.name"]
        for peer in rule["to"]
        if "namespaceSelector" in peer and "podSelector" not in peer
    }


def test_default_policy_allows_only_dns_and_kubeflow():
    (policy,) = policies()
    spec = policy["spec"]
    assert policy["metadata"]["namespace"] == "ml"
    assert spec["podSelector"] == {"matchLabels": {"tritter.dev/runs-generated-code": "true"}}
    assert spec["policyTypes"] == ["Egress"]  # ingress untouched (training pods scrape/rendezvous)
    dns, kubeflow = spec["egress"]
    assert dns["to"][0]["podSelector"] == {"matchLabels": {"k8s-app": "kube-dns"}}
    assert {(p["protocol"], p["port"]) for p in dns["ports"]} == {("UDP", 53), ("TCP", 53)}
    assert namespaces(kubeflow) == {"kubeflow"} and "ports" not in kubeflow


def test_in_cluster_storage_and_pushgateway_namespaces_are_allowed():
    (policy,) = policies(GPU_VALUES)  # SeaweedFS in kubeflow, the Pushgateway in monitoring
    rules = policy["spec"]["egress"]
    assert namespaces(rules[1]) == {"kubeflow", "monitoring"}
    values = {"storage": {"endpoint": "http://minio.object-store.svc:9000"},
              "networkPolicy": {"namespaces": []}}  # fmt: skip
    (policy,) = policies(values)
    assert namespaces(policy["spec"]["egress"][1]) == {"object-store"}


def test_external_s3_and_api_server_are_address_blocks_with_ports():
    values = {
        "storage": {"endpoint": "https://s3.eu-west-1.amazonaws.com"},
        "networkPolicy": {
            "s3": {"cidrs": ["52.218.0.0/17"]},
            "apiServer": {"cidrs": ["10.0.0.10/32"], "ports": [6443]},
            "extraEgress": [{"to": [{"ipBlock": {"cidr": "10.9.0.0/16"}}]}],
        },
    }
    (policy,) = policies(values)
    blocks = [
        ([p["ipBlock"]["cidr"] for p in rule["to"] if "ipBlock" in p], rule.get("ports"))
        for rule in policy["spec"]["egress"]
        if any("ipBlock" in p for p in rule["to"])
    ]
    assert blocks == [
        (["52.218.0.0/17"], [{"protocol": "TCP", "port": 443}]),
        (["10.0.0.10/32"], [{"protocol": "TCP", "port": 6443}]),
        (["10.9.0.0/16"], None),
    ]


def test_no_rules_means_no_egress_and_disabled_means_no_policy():
    (policy,) = policies({"networkPolicy": {"dns": False, "namespaces": []}})
    assert policy["spec"]["egress"] == []
    assert policies({"networkPolicy": {"enabled": False}}) == []


@pytest.mark.parametrize(
    ("values", "key"),
    [
        ({"networkPolicy": {"s3": {"cidrs": ["s3.amazonaws.com"]}}}, "/networkPolicy/s3/cidrs/0"),
        ({"networkPolicy": {"apiServer": {"ports": [0]}}}, "/networkPolicy/apiServer/ports/0"),
        ({"networkPolicy": {"podSelector": {"runs": 1}}}, "/networkPolicy/podSelector/runs"),
        ({"networkPolicy": {"runtimeClassName": "gvisor"}}, "/networkPolicy"),
    ],
)
def test_schema_rejects_bad_values_naming_the_key(values, key):
    with pytest.raises(Exception, match=key):
        helm_python.Chart.load(str(chart.CHART)).render(
            values, name="tritter", namespace="ml", is_install=True
        )


def test_the_evaluation_steps_carry_the_label_the_policy_selects():
    """Both compiled pipelines label exactly their evaluation steps (the ones that run generated
    code) with the chart's default podSelector, so the policy applies to them and nothing else."""
    from tritter.pipelines import package
    from tritter.pipelines.tasks import GENERATED_CODE_LABEL

    (policy,) = policies()
    assert policy["spec"]["podSelector"]["matchLabels"] == dict([GENERATED_CODE_LABEL])
    for kind, evaluate in (("pretrain", "exec-evaluate"), ("posttrain", "exec-evaluate-sft")):
        documents = list(yaml.safe_load_all(package.committed_package(kind).read_text()))
        executors = documents[1]["platforms"]["kubernetes"]["deploymentSpec"]["executors"]
        labelled = {
            executor
            for executor, spec in executors.items()
            if spec.get("podMetadata", {}).get("labels") == dict([GENERATED_CODE_LABEL])
        }
        assert labelled == {evaluate}, kind
