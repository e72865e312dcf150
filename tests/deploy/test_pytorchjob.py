"""The PyTorchJobs the pretrain, mid and sft steps create: built without a cluster, checked
against the CRD."""

from __future__ import annotations

import json
import shutil

import jsonschema
import pytest
from kubeflow.training import models

from tests.deploy.validation import validate
from tritter import cli
from tritter.deploy.pytorchjob import JobSpec, build_job, build_model, job_name
from tritter.errors import TritterError
from tritter.jobs import pretrain as pretrain_job
from tritter.jobs import settings as settings_job
from tritter.jobs import sft as sft_job


def spec(**changes) -> JobSpec:
    values = dict(
        name="tritter-demo-train",
        image="ghcr.io/tritter-ai/tritter-train:0.1.0",
        data="s3://bucket/run/tokens",
        tokenizer="s3://bucket/run/tokenizer",
        output="s3://bucket/run/checkpoints",
        model="700m",
        nodes=4,
        gpus_per_node=8,
        max_steps=1000,
        checkpoint_every=200,
        namespace="tritter",
        s3_endpoint="http://seaweedfs.kubeflow:8333",
        global_batch_tokens=1_048_576,
    )
    values.update(changes)
    return JobSpec(**values)


def test_multi_node_job_validates_against_the_crd():
    job = build_job(spec())
    validate(job)
    replicas = job["spec"]["pytorchReplicaSpecs"]
    assert replicas["Master"]["replicas"] == 1
    assert replicas["Worker"]["replicas"] == 3
    assert job["spec"]["nprocPerNode"] == "8"
    policy = job["spec"]["runPolicy"]
    assert policy["backoffLimit"] == 3 and policy["ttlSecondsAfterFinished"] == 3600
    for role in ("Master", "Worker"):
        pod = replicas[role]["template"]["spec"]
        (container,) = pod["containers"]
        assert container["name"] == "pytorch"
        assert container["image"] == "ghcr.io/tritter-ai/tritter-train:0.1.0"
        assert container["ports"] == [{"containerPort": 9400, "name": "metrics"}]
        assert container["resources"]["limits"]["nvidia.com/gpu"] == "8"
        assert container["envFrom"] == [{"secretRef": {"name": "tritter-s3"}}]
        env = {e["name"]: e["value"] for e in container["env"]}
        assert env["TRITTER_LOG_FORMAT"] == "json"
        assert env["AWS_ENDPOINT_URL_S3"] == "http://seaweedfs.kubeflow:8333"
        assert container["securityContext"]["readOnlyRootFilesystem"] is True
        assert pod["securityContext"]["runAsNonRoot"] is True
        labels = replicas[role]["template"]["metadata"]["labels"]
        assert labels["app.kubernetes.io/component"] == "pretrain"
    # Plain JSON all the way down (what the API server receives), from the SDK's model.
    assert json.loads(json.dumps(job)) == job
    assert isinstance(build_model(spec()), models.KubeflowOrgV1PyTorchJob)


def test_single_node_cpu_job_has_no_workers_and_no_gpu():
    job = build_job(spec(nodes=1, gpus_per_node=0, s3_secret=None, s3_endpoint=""))
    validate(job)
    assert set(job["spec"]["pytorchReplicaSpecs"]) == {"Master"}
    container = job["spec"]["pytorchReplicaSpecs"]["Master"]["template"]["spec"]["containers"][0]
    assert "nvidia.com/gpu" not in container["resources"]["limits"]
    assert "envFrom" not in container
    assert job["spec"]["nprocPerNode"] == "1"


def test_the_container_command_is_a_valid_tritter_pretrain_invocation():
    command = spec().command()
    assert command[:2] == ["tritter", "pretrain"]
    args = cli.build_parser().parse_args(command[1:])
    assert args.command == "pretrain"
    assert args.nproc == 8
    assert getattr(args, "checkpoint.every") == 200
    assert args.global_batch_tokens == 1_048_576


def test_schema_rejects_a_broken_job():
    job = build_job(spec())
    job["spec"]["pytorchReplicaSpecs"]["Master"]["replicas"] = "one"
    with pytest.raises(jsonschema.ValidationError):
        validate(job)


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"name": "Bad_Name"}, "DNS label"),
        ({"nodes": 0}, "nodes"),
        ({"metrics_port": 70000}, "metrics_port"),
    ],
)
def test_bad_specs_are_one_line_errors(changes, message):
    with pytest.raises(TritterError, match=message):
        build_job(spec(**changes))


def test_job_names_are_stable_dns_labels():
    name = job_name("s3://My_Bucket/runs/2026-11-29/first", "train")
    assert name == job_name("s3://My_Bucket/runs/2026-11-29/first", "train")
    assert len(name) <= 63 and name.endswith("-train")
    assert build_job(spec(name=name))["metadata"]["name"] == name


def test_pipeline_settings_become_the_job(tmp_path):
    settings = settings_job.check_parameters(
        run_root=str(tmp_path / "run"),
        nodes=2,
        gpus_per_node=4,
        model="1.3b",
        s3_secret="team-s3",
        image_pull_secrets="regcred, mirror",
        service_account="tritter-train",
    )
    params = settings_job.prepare(settings)
    job = build_job(pretrain_job.train_job_spec(params, "/d/tokens", "/d/tokenizer", "kubernetes"))
    validate(job)
    for replica in job["spec"]["pytorchReplicaSpecs"].values():
        pod = replica["template"]
        # A private registry's Secrets and no Istio sidecar (it would keep finished pods alive).
        assert pod["spec"]["imagePullSecrets"] == [{"name": "regcred"}, {"name": "mirror"}]
        assert pod["metadata"]["annotations"] == {"sidecar.istio.io/inject": "false"}
        assert pod["spec"]["serviceAccountName"] == "tritter-train"
    master = job["spec"]["pytorchReplicaSpecs"]["Master"]["template"]["spec"]["containers"][0]
    assert master["envFrom"] == [{"secretRef": {"name": "team-s3"}}]
    assert "--model" in master["command"] and "1.3b" in master["command"]
    assert master["command"][master["command"].index("--output") + 1].endswith("checkpoints")
    assert job["spec"]["pytorchReplicaSpecs"]["Worker"]["replicas"] == 1


def test_sft_job_validates_against_the_crd_and_runs_tritter_sft():
    sources = "identity=s3://bucket/run/synth/identity,docstrings=s3://bucket/run/synth/docstrings"
    job = build_job(
        spec(name="tritter-demo-mid", phase="mid", init="s3://bucket/run/checkpoints",
             data=sources, output="s3://bucket/run/mid", model=None, max_steps=None, lr=5e-4)
    )  # fmt: skip
    validate(job)
    replicas = job["spec"]["pytorchReplicaSpecs"]
    assert replicas["Worker"]["replicas"] == 3
    for role in ("Master", "Worker"):
        (container,) = replicas[role]["template"]["spec"]["containers"]
        assert container["ports"] == [{"containerPort": 9400, "name": "metrics"}]
        # The chart's PodMonitor selects every training pod by this label.
        labels = replicas[role]["template"]["metadata"]["labels"]
        assert labels["app.kubernetes.io/component"] == "pretrain"
    command = replicas["Master"]["template"]["spec"]["containers"][0]["command"]
    assert command[:4] == ["tritter", "sft", "--phase", "mid"]
    assert "--model" not in command and "--max-steps" not in command
    args = cli.build_parser().parse_args(command[1:])
    assert args.command == "sft" and args.phase == "mid"
    assert args.init == "s3://bucket/run/checkpoints"
    assert args.data == sources.split(",")
    assert args.output == "s3://bucket/run/mid" and args.nproc == 8
    assert getattr(args, "optim.lr") == 5e-4
    assert args.global_batch_tokens == 1_048_576


def test_post_training_jobs_need_init_weights():
    with pytest.raises(TritterError, match="PyTorchJob init: the sft phase starts from --init"):
        build_job(spec(phase="sft", model=None))


def test_pipeline_settings_become_the_mid_and_sft_jobs(artifacts, tmp_path):
    base = tmp_path / "base"
    shutil.copytree(artifacts.tokenizer, base / "tokenizer")  # the check loads it
    (base / "checkpoints").mkdir()
    (base / "checkpoints" / "config.yaml").write_text("stand-in")  # the check looks for it
    settings = settings_job.check_posttrain_parameters(
        run_root=str(base), base=str(base / "checkpoints"), nodes=2, gpus_per_node=4,
        s3_secret="team-s3", mid_max_steps=500, sft_lr=2e-4,
    )  # fmt: skip
    params = settings_job.prepare_posttrain(settings)
    mid = sft_job.job_spec(params, "mid", params.base, "kubernetes")
    tuned = sft_job.job_spec(params, "sft", mid.output, "kubernetes")
    assert (mid.name, tuned.name) == (job_name(str(base), "mid"), job_name(str(base), "sft"))
    for made, phase in ((mid, "mid"), (tuned, "sft")):
        job = build_job(made)
        validate(job)
        master = job["spec"]["pytorchReplicaSpecs"]["Master"]["template"]["spec"]["containers"][0]
        assert master["envFrom"] == [{"secretRef": {"name": "team-s3"}}]
        command = master["command"]
        assert command[3] == phase
        assert command[command.index("--output") + 1] == str(base / phase)
    assert mid.command()[mid.command().index("--max-steps") + 1] == "500"
    assert "--max-steps" not in tuned.command()
    assert tuned.command()[tuned.command().index("--init") + 1] == str(base / "mid")
    assert tuned.command()[tuned.command().index("--optim.lr") + 1] == "0.0002"
