"""The `tritter-pretrain` pipeline: curate → tokenizer → pack → pretrain → evaluate → report.

Compiled into `tritter_pretrain.yaml` beside this file (`tritter pipeline compile`); a test keeps
the two in step. The same compiled file is what the Helm chart uploads and what `tritter run`
executes locally with KFP's SubprocessRunner.

Per-step settings and why:
* resources: data steps are CPU-bound and sized per work unit; the tokenizer trains with 8
  threads; pretrain only launches and watches the PyTorchJob (its pods carry the GPUs);
  evaluation generates code on one GPU.
* retries: data steps are idempotent (finished units are skipped), so they retry on transient
  failures (preempted nodes, S3 hiccups); pretrain retries once and resumes from its newest
  checkpoint; the parameter check never retries (a bad value stays bad).
* caching: only the parameter check is cached (a pure function). Every other step reads and
  writes object storage, which KFP's cache cannot see; their own manifests already make a
  relaunch skip finished work, and never skip work whose output was deleted.
* S3 credentials come from the Secret named by `s3_secret` (kfp-kubernetes; ignored locally,
  where the environment's AWS_* variables are used).
"""

from kfp import dsl, kubernetes

from tritter.deploy import params
from tritter.deploy.params import PipelineParams
from tritter.pipelines import components as c
from tritter.pipelines.tasks import configure as _configure
from tritter.pipelines.tasks import default, runs_generated_code

PIPELINE_NAME = "tritter-pretrain"


def _default(name: str):  # noqa: ANN202 - a parameter default of any type
    return default(PipelineParams, name)


def tritter_pretrain(
    source: str = _default("source"),
    run_root: str = _default("run_root"),
    languages: str = _default("languages"),
    mixture: str = _default("mixture"),
    min_stars: int = _default("min_stars"),
    semantic_dedup: str = _default("semantic_dedup"),
    semantic_threshold: float = _default("semantic_threshold"),
    vocab_size: int = _default("vocab_size"),
    tokenizer_sample_bytes: int = _default("tokenizer_sample_bytes"),
    seq_len: int = _default("seq_len"),
    token_budget: int = _default("token_budget"),
    model: str = _default("model"),
    nodes: int = _default("nodes"),
    gpus_per_node: int = _default("gpus_per_node"),
    max_steps: int = _default("max_steps"),
    base_model: str = _default("base_model"),
    tokenizer_source: str = _default("tokenizer_source"),
    micro_batch_size: int = _default("micro_batch_size"),
    global_batch_tokens: int = _default("global_batch_tokens"),
    checkpoint_every: int = _default("checkpoint_every"),
    seed: int = _default("seed"),
    eval_tasks: str = _default("eval_tasks"),
    eval_limit: int = _default("eval_limit"),
    eval_max_new_tokens: int = _default("eval_max_new_tokens"),
    s3_endpoint: str = _default("s3_endpoint"),
    pushgateway_url: str = _default("pushgateway_url"),
    s3_secret: str = _default("s3_secret"),
    image_pull_secrets: str = _default("image_pull_secrets"),
    train_cpu: str = _default("train_cpu"),
    train_memory: str = _default("train_memory"),
    node_selector: str = _default("node_selector"),
    tolerations: str = _default("tolerations"),
    priority_class: str = _default("priority_class"),
    service_account: str = _default("service_account"),
    gang_scheduling: bool = _default("gang_scheduling"),
    scheduling_queue: str = _default("scheduling_queue"),
    train_image: str = _default("train_image"),
    namespace: str = _default("namespace"),
    launcher: str = _default("launcher"),
    train_timeout_hours: float = _default("train_timeout_hours"),
) -> str:
    checked = c.check_parameters(
        source=source,
        run_root=run_root,
        languages=languages,
        mixture=mixture,
        min_stars=min_stars,
        semantic_dedup=semantic_dedup,
        semantic_threshold=semantic_threshold,
        vocab_size=vocab_size,
        tokenizer_sample_bytes=tokenizer_sample_bytes,
        seq_len=seq_len,
        token_budget=token_budget,
        model=model,
        nodes=nodes,
        gpus_per_node=gpus_per_node,
        max_steps=max_steps,
        base_model=base_model,
        tokenizer_source=tokenizer_source,
        micro_batch_size=micro_batch_size,
        global_batch_tokens=global_batch_tokens,
        checkpoint_every=checkpoint_every,
        seed=seed,
        eval_tasks=eval_tasks,
        eval_limit=eval_limit,
        eval_max_new_tokens=eval_max_new_tokens,
        s3_endpoint=s3_endpoint,
        pushgateway_url=pushgateway_url,
        s3_secret=s3_secret,
        image_pull_secrets=image_pull_secrets,
        train_cpu=train_cpu,
        train_memory=train_memory,
        node_selector=node_selector,
        tolerations=tolerations,
        priority_class=priority_class,
        service_account=service_account,
        gang_scheduling=gang_scheduling,
        scheduling_queue=scheduling_queue,
        train_image=train_image,
        namespace=namespace,
        launcher=launcher,
        train_timeout_hours=train_timeout_hours,
    ).set_display_name("check parameters")
    _configure(checked, s3_secret, cpu="1", memory="2Gi", retries=0)
    checked.set_caching_options(enable_caching=True)
    settings = checked.output

    # Curation: plan → process every shard → dedup index per band group → apply per shard.
    plan = c.curate_plan(settings=settings).set_display_name("curate: plan")
    _configure(plan, s3_secret, cpu="2", memory="4Gi")
    with dsl.ParallelFor(plan.output, parallelism=64) as shard:
        process = c.curate_process(unit=shard)
        _configure(
            process.set_display_name("curate: process shard"), s3_secret, cpu="2", memory="8Gi"
        )
    groups = c.curate_groups(settings=settings, processed=dsl.Collected(process.output))
    _configure(groups.set_display_name("curate: shards done"), s3_secret, cpu="1", memory="2Gi")
    with dsl.ParallelFor(groups.output) as group:
        index = c.curate_index(unit=group)
        _configure(index.set_display_name("curate: dedup index"), s3_secret, cpu="2", memory="16Gi")
    units = c.curate_apply_units(settings=settings, indexed=dsl.Collected(index.output))
    _configure(units.set_display_name("curate: index done"), s3_secret, cpu="1", memory="2Gi")
    with dsl.ParallelFor(units.output, parallelism=64) as unit:
        apply = c.curate_apply(unit=unit)
        _configure(apply.set_display_name("curate: apply shard"), s3_secret, cpu="2", memory="8Gi")
    curated = c.curate_finalize(settings=settings, applied=dsl.Collected(apply.output))
    _configure(curated.set_display_name("curate: finalize"), s3_secret, cpu="2", memory="8Gi")

    tokenizer = c.tokenizer_train(settings=settings, curated=curated.outputs["Output"])
    _configure(tokenizer.set_display_name("tokenizer"), s3_secret, cpu="8", memory="32Gi")

    # Packing: plan → one step per output shard → verify and publish.
    pack_plan = c.pack_plan(
        settings=settings, curated=curated.outputs["Output"], tokenizer=tokenizer.outputs["Output"]
    )
    _configure(pack_plan.set_display_name("pack: plan"), s3_secret, cpu="2", memory="8Gi")
    with dsl.ParallelFor(pack_plan.output, parallelism=64) as pack_unit:
        packed = c.pack_shard(unit=pack_unit)
        _configure(packed.set_display_name("pack: shard"), s3_secret, cpu="2", memory="8Gi")
    tokens = c.pack_finalize(settings=settings, packed=dsl.Collected(packed.output))
    _configure(tokens.set_display_name("pack: finalize"), s3_secret, cpu="2", memory="4Gi")

    trained = c.pretrain(
        settings=settings, data=tokens.outputs["Output"], tokenizer=tokenizer.outputs["Output"]
    )
    _configure(trained.set_display_name("pretrain"), s3_secret, cpu="1", memory="2Gi", retries=1)
    # The step enforces train_timeout_hours itself (and the PyTorchJob gets it as its deadline);
    # the pod deadline, fixed at compile time, is only a backstop at the largest allowed value.
    kubernetes.set_timeout(trained, int(params.MAX_TRAIN_HOURS * 3600) + 600)

    evaluated = c.evaluate(
        settings=settings,
        checkpoints=trained.outputs["Output"],
        tokenizer=tokenizer.outputs["Output"],
        data=tokens.outputs["Output"],
    )
    _configure(
        evaluated.set_display_name("evaluate"), s3_secret, cpu="8", memory="64Gi", retries=1, gpus=1
    )
    runs_generated_code(evaluated)
    report = c.report(settings=settings, evaluated=evaluated.outputs["Output"])
    _configure(report.set_display_name("report"), s3_secret, cpu="1", memory="4Gi", retries=1)
    return report.outputs["Output"]


# KFP takes the parameter descriptions shown in the dashboard from the docstring.
tritter_pretrain.__doc__ = params.describe(PipelineParams)
pipeline = dsl.pipeline(name=PIPELINE_NAME, description=PipelineParams.SUMMARY)(tritter_pretrain)
