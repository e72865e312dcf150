"""The `tritter-posttrain` pipeline: identity (and default instruction) conversations → mid →
sft → evaluate → report, starting from the weights named by `base`.

Compiled into `tritter_posttrain.yaml` beside this file (`tritter pipeline compile --pipeline
posttrain`); a test keeps the two in step. The same compiled file is what the Helm chart uploads
and what `tritter run --pipeline posttrain|full` executes locally with KFP's SubprocessRunner.

Per-step settings follow `tritter-pretrain`'s:
* resources: the synth steps are light; mid and sft only launch and watch their PyTorchJob (its
  pods carry the GPUs); evaluation generates code on one GPU.
* retries: the synth steps retry on transient failures (they are deterministic and skip when
  done); mid and sft retry once and resume from their newest checkpoint; the parameter check
  never retries.
* caching: only the parameter check is cached; every other step skips by its own manifest.
* S3 credentials come from the Secret named by `s3_secret`.
"""

from kfp import dsl, kubernetes

from tritter.deploy import params
from tritter.deploy.params import PosttrainParams
from tritter.pipelines import components as c
from tritter.pipelines.tasks import configure, default

PIPELINE_NAME = "tritter-posttrain"


def _default(name: str):  # noqa: ANN202 - a parameter default of any type
    return default(PosttrainParams, name)


def tritter_posttrain(
    seq_len: int = _default("seq_len"),
    nodes: int = _default("nodes"),
    gpus_per_node: int = _default("gpus_per_node"),
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
    train_image: str = _default("train_image"),
    namespace: str = _default("namespace"),
    launcher: str = _default("launcher"),
    train_timeout_hours: float = _default("train_timeout_hours"),
    base: str = _default("base"),
    run_root: str = _default("run_root"),
    tokenizer: str = _default("tokenizer"),
    identity_count: int = _default("identity_count"),
    conversations: str = _default("conversations"),
    docstrings_count: int = _default("docstrings_count"),
    mid_max_steps: int = _default("mid_max_steps"),
    mid_lr: float = _default("mid_lr"),
    sft_max_steps: int = _default("sft_max_steps"),
    sft_lr: float = _default("sft_lr"),
) -> str:
    checked = c.check_posttrain_parameters(
        seq_len=seq_len,
        nodes=nodes,
        gpus_per_node=gpus_per_node,
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
        train_image=train_image,
        namespace=namespace,
        launcher=launcher,
        train_timeout_hours=train_timeout_hours,
        base=base,
        run_root=run_root,
        tokenizer=tokenizer,
        identity_count=identity_count,
        conversations=conversations,
        docstrings_count=docstrings_count,
        mid_max_steps=mid_max_steps,
        mid_lr=mid_lr,
        sft_max_steps=sft_max_steps,
        sft_lr=sft_lr,
    ).set_display_name("check parameters")
    configure(checked, s3_secret, cpu="1", memory="2Gi", retries=0)
    checked.set_caching_options(enable_caching=True)
    settings = checked.output

    identity = c.synth_identity(settings=settings).set_display_name("synth: identity")
    configure(identity, s3_secret, cpu="1", memory="2Gi")
    docstrings = c.synth_docstrings(settings=settings).set_display_name("synth: docstrings")
    configure(docstrings, s3_secret, cpu="1", memory="2Gi")

    midtrained = c.mid(settings=settings, identity=identity.output, docstrings=docstrings.output)
    configure(midtrained.set_display_name("mid"), s3_secret, cpu="1", memory="2Gi", retries=1)
    tuned = c.sft(settings=settings, mid=midtrained.output)
    configure(tuned.set_display_name("sft"), s3_secret, cpu="1", memory="2Gi", retries=1)
    # Each step enforces train_timeout_hours itself (the PyTorchJob gets it as its deadline);
    # the pod deadline, fixed at compile time, is only a backstop at the largest allowed value.
    for trained in (midtrained, tuned):
        kubernetes.set_timeout(trained, int(params.MAX_TRAIN_HOURS * 3600) + 600)

    evaluated = c.evaluate_sft(settings=settings, checkpoints=tuned.output)
    configure(
        evaluated.set_display_name("evaluate"), s3_secret, cpu="8", memory="64Gi", retries=1, gpus=1
    )
    report = c.report_posttrain(settings=settings, evaluated=evaluated.output)
    configure(report.set_display_name("report"), s3_secret, cpu="1", memory="4Gi", retries=1)
    return report.output


# KFP takes the parameter descriptions shown in the dashboard from the docstring.
tritter_posttrain.__doc__ = params.describe(PosttrainParams)
pipeline = dsl.pipeline(name=PIPELINE_NAME, description=PosttrainParams.SUMMARY)(tritter_posttrain)
