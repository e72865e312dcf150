"""The `tritter-posttrain` pipeline: identity (and default instruction) conversations and,
optionally, constitutional data from the base model (generate → critique → revise → filter) →
mid → sft → dpo (when there are preference pairs) → rl (when there are RL prompts) → evaluate
(the last model trained) → report, starting from the weights named by `base`.

Compiled into `tritter_posttrain.yaml` beside this file (`tritter pipeline compile --pipeline
posttrain`); a test keeps the two in step. The same compiled file is what the Helm chart uploads
and what `tritter run --pipeline posttrain|full` executes locally with KFP's SubprocessRunner.

Per-step settings follow `tritter-pretrain`'s:
* resources: the identity and docstring steps are light; the constitutional generate /
  critique / revise steps sample from the base model on one GPU; mid, sft, dpo and rl only
  launch and watch their PyTorchJob (its pods carry the GPUs); evaluation generates code on one
  GPU.
* retries: the synth steps retry on transient failures (they skip finished units); mid, sft,
  dpo and rl retry once and resume from their newest checkpoint; the parameter check never
  retries.
* caching: only the parameter check is cached; every other step skips by its own manifest.
* S3 credentials come from the Secret named by `s3_secret`.
"""

from kfp import dsl, kubernetes

from tritter.deploy import params
from tritter.deploy.params import PosttrainParams
from tritter.pipelines import components as c
from tritter.pipelines.tasks import configure, default, runs_generated_code

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
    constitutional_count: int = _default("constitutional_count"),
    preference_pairs: str = _default("preference_pairs"),
    dpo_max_steps: int = _default("dpo_max_steps"),
    dpo_lr: float = _default("dpo_lr"),
    dpo_beta: float = _default("dpo_beta"),
    rl_prompts: str = _default("rl_prompts"),
    rl_reward: str = _default("rl_reward"),
    rl_max_steps: int = _default("rl_max_steps"),
    rl_samples_per_prompt: int = _default("rl_samples_per_prompt"),
    rl_lr: float = _default("rl_lr"),
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
        constitutional_count=constitutional_count,
        preference_pairs=preference_pairs,
        dpo_max_steps=dpo_max_steps,
        dpo_lr=dpo_lr,
        dpo_beta=dpo_beta,
        rl_prompts=rl_prompts,
        rl_reward=rl_reward,
        rl_max_steps=rl_max_steps,
        rl_samples_per_prompt=rl_samples_per_prompt,
        rl_lr=rl_lr,
    ).set_display_name("check parameters")
    configure(checked, s3_secret, cpu="1", memory="2Gi", retries=0)
    checked.set_caching_options(enable_caching=True)
    settings = checked.output

    identity = c.synth_identity(settings=settings).set_display_name("synth: identity")
    configure(identity, s3_secret, cpu="1", memory="2Gi")
    docstrings = c.synth_docstrings(settings=settings).set_display_name("synth: docstrings")
    configure(docstrings, s3_secret, cpu="1", memory="2Gi")

    # Constitutional data (constitutional_count > 0; otherwise each step returns at once): the
    # base model writes, critiques and revises by few-shot prompting; one GPU speeds it up.
    generated = c.synth_generate(settings=settings).set_display_name("synth: generate")
    configure(generated, s3_secret, cpu="4", memory="32Gi", gpus=1)
    critiques = c.synth_critique(settings=settings, generated=generated.output)
    configure(critiques.set_display_name("synth: critique"), s3_secret, cpu="4", memory="32Gi",
              gpus=1)  # fmt: skip
    revised = c.synth_revise(settings=settings, critiques=critiques.output)
    configure(revised.set_display_name("synth: revise"), s3_secret, cpu="4", memory="32Gi", gpus=1)
    filtered = c.synth_filter(settings=settings, pairs=revised.output)
    configure(filtered.set_display_name("synth: filter"), s3_secret, cpu="2", memory="8Gi")

    midtrained = c.mid(settings=settings, identity=identity.output, docstrings=docstrings.output)
    configure(midtrained.set_display_name("mid"), s3_secret, cpu="1", memory="2Gi", retries=1)
    tuned = c.sft(
        settings=settings, mid=midtrained.outputs["Output"], constitutional=filtered.output
    )
    configure(tuned.set_display_name("sft"), s3_secret, cpu="1", memory="2Gi", retries=1)
    # DPO from the SFT model when there are preference pairs; else it passes the SFT model on.
    preferred = c.dpo(
        settings=settings, sft=tuned.outputs["Output"], constitutional=filtered.output
    )
    configure(preferred.set_display_name("dpo"), s3_secret, cpu="1", memory="2Gi", retries=1)
    # RL from the model so far (DPO's or SFT's) when there are prompt rows; else it passes that
    # model on. Tool calls and unit-test rewards run in the sandbox of the training pods.
    reinforced = c.rl(settings=settings, model=preferred.outputs["Output"])
    configure(reinforced.set_display_name("rl"), s3_secret, cpu="1", memory="2Gi", retries=1)
    # Each step enforces train_timeout_hours itself (the PyTorchJob gets it as its deadline);
    # the pod deadline, fixed at compile time, is only a backstop at the largest allowed value.
    for trained in (midtrained, tuned, preferred, reinforced):
        kubernetes.set_timeout(trained, int(params.MAX_TRAIN_HOURS * 3600) + 600)

    evaluated = c.evaluate_sft(settings=settings, checkpoints=reinforced.outputs["Output"])
    configure(
        evaluated.set_display_name("evaluate"), s3_secret, cpu="8", memory="64Gi", retries=1, gpus=1
    )
    runs_generated_code(evaluated)
    report = c.report_posttrain(settings=settings, evaluated=evaluated.outputs["Output"])
    configure(report.set_display_name("report"), s3_secret, cpu="1", memory="4Gi", retries=1)
    return report.outputs["Output"]


# KFP takes the parameter descriptions shown in the dashboard from the docstring.
tritter_posttrain.__doc__ = params.describe(PosttrainParams)
pipeline = dsl.pipeline(name=PIPELINE_NAME, description=PosttrainParams.SUMMARY)(tritter_posttrain)
