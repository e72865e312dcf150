"""Lightweight KFP components, one per step of the two pipelines.

The first step of each pipeline checks every pipeline parameter and returns them as one
settings JSON that all later steps receive. Each body is a single call into the stage's
`tritter.jobs` module: KFP copies the function's source into the compiled pipeline, so bodies
stay one line and the logic lives in tested library code. The stage image already holds the
project, so nothing is pip-installed at run time (`install_kfp_package=False`).
"""

from kfp import dsl

from tritter.deploy.images import image

DATA_IMAGE = image("data")
# The training steps only create and follow their PyTorchJob (whose pods run the train image):
# the small data image (CPU torch) does that without pulling the multi-GB CUDA image, and still
# trains in the step itself on a CPU cluster (launcher=local).
LAUNCH_IMAGE = DATA_IMAGE
EVAL_IMAGE = image("eval")


def _component(base_image: str):  # noqa: ANN202 - returns KFP's decorator
    return dsl.component(base_image=base_image, install_kfp_package=False)


@_component(DATA_IMAGE)
def check_parameters(
    source: str,
    run_root: str,
    languages: str,
    mixture: str,
    min_stars: int,
    semantic_dedup: str,
    semantic_threshold: float,
    vocab_size: int,
    tokenizer_sample_bytes: int,
    seq_len: int,
    token_budget: int,
    model: str,
    nodes: int,
    gpus_per_node: int,
    max_steps: int,
    base_model: str,
    tokenizer_source: str,
    micro_batch_size: int,
    global_batch_tokens: int,
    checkpoint_every: int,
    seed: int,
    eval_tasks: str,
    eval_limit: int,
    eval_max_new_tokens: int,
    s3_endpoint: str,
    pushgateway_url: str,
    s3_secret: str,
    image_pull_secrets: str,
    train_cpu: str,
    train_memory: str,
    node_selector: str,
    tolerations: str,
    priority_class: str,
    service_account: str,
    gang_scheduling: bool,
    scheduling_queue: str,
    train_image: str,
    namespace: str,
    launcher: str,
    train_timeout_hours: float,
) -> str:
    values = dict(locals())
    from tritter.jobs import settings

    return settings.check_parameters(**values)


@_component(DATA_IMAGE)
def curate_plan(settings: str) -> list:
    from tritter.jobs import curate

    return curate.plan(settings)


@_component(DATA_IMAGE)
def curate_process(unit: str) -> int:
    from tritter.jobs import curate

    return curate.process_unit(unit)


@_component(DATA_IMAGE)
def curate_groups(settings: str, processed: list) -> list:
    from tritter.jobs import curate

    return curate.groups(settings, processed)


@_component(DATA_IMAGE)
def curate_index(unit: str) -> int:
    from tritter.jobs import curate

    return curate.index_unit(unit)


@_component(DATA_IMAGE)
def curate_apply_units(settings: str, indexed: list) -> list:
    from tritter.jobs import curate

    return curate.apply_units(settings, indexed)


@_component(DATA_IMAGE)
def curate_apply(unit: str) -> int:
    from tritter.jobs import curate

    return curate.apply_unit(unit)


@_component(DATA_IMAGE)
def curate_finalize(
    settings: str,
    applied: list,
    summary: dsl.Output[dsl.Markdown],
    metrics: dsl.Output[dsl.Metrics],
) -> str:
    from tritter.jobs import curate, ui

    folder = curate.finalize(settings, applied)
    ui.publish("curate", folder, summary.path, metrics)
    return folder


@_component(DATA_IMAGE)
def tokenizer_train(
    settings: str,
    curated: str,
    summary: dsl.Output[dsl.Markdown],
    metrics: dsl.Output[dsl.Metrics],
) -> str:
    from tritter.jobs import tokenizer, ui

    folder = tokenizer.train(settings, curated)
    ui.publish("tokenizer", folder, summary.path, metrics)
    return folder


@_component(DATA_IMAGE)
def pack_plan(settings: str, curated: str, tokenizer: str) -> list:
    from tritter.jobs import pack

    return pack.plan(settings, curated, tokenizer)


@_component(DATA_IMAGE)
def pack_shard(unit: str) -> int:
    from tritter.jobs import pack

    return pack.shard_unit(unit)


@_component(DATA_IMAGE)
def pack_finalize(
    settings: str,
    packed: list,
    summary: dsl.Output[dsl.Markdown],
    metrics: dsl.Output[dsl.Metrics],
) -> str:
    from tritter.jobs import pack, ui

    folder = pack.finalize(settings, packed)
    ui.publish("pack", folder, summary.path, metrics)
    return folder


@_component(LAUNCH_IMAGE)
def pretrain(
    settings: str,
    data: str,
    tokenizer: str,
    summary: dsl.Output[dsl.Markdown],
    metrics: dsl.Output[dsl.Metrics],
) -> str:
    from tritter.jobs import pretrain, ui

    folder = pretrain.pretrain(settings, data, tokenizer)
    ui.publish("pretrain", folder, summary.path, metrics)
    return folder


@_component(EVAL_IMAGE)
def evaluate(
    settings: str,
    checkpoints: str,
    tokenizer: str,
    data: str,
    summary: dsl.Output[dsl.Markdown],
    metrics: dsl.Output[dsl.Metrics],
) -> str:
    from tritter.jobs import evaluate, ui

    folder = evaluate.evaluate(settings, checkpoints, tokenizer, data)
    ui.publish("evaluate", folder, summary.path, metrics)
    return folder


@_component(EVAL_IMAGE)
def report(settings: str, evaluated: str, page: dsl.Output[dsl.HTML]) -> str:
    from tritter.jobs import report, ui

    folder = report.report(settings, evaluated)
    ui.publish_report(folder, page.path)
    return folder


# -- tritter-posttrain ---------------------------------------------------------------------------


@_component(DATA_IMAGE)
def check_posttrain_parameters(
    seq_len: int,
    nodes: int,
    gpus_per_node: int,
    micro_batch_size: int,
    global_batch_tokens: int,
    checkpoint_every: int,
    seed: int,
    eval_tasks: str,
    eval_limit: int,
    eval_max_new_tokens: int,
    s3_endpoint: str,
    pushgateway_url: str,
    s3_secret: str,
    image_pull_secrets: str,
    train_cpu: str,
    train_memory: str,
    node_selector: str,
    tolerations: str,
    priority_class: str,
    service_account: str,
    gang_scheduling: bool,
    scheduling_queue: str,
    train_image: str,
    namespace: str,
    launcher: str,
    train_timeout_hours: float,
    base: str,
    run_root: str,
    tokenizer: str,
    identity_count: int,
    conversations: str,
    docstrings_count: int,
    mid_max_steps: int,
    mid_lr: float,
    sft_max_steps: int,
    sft_lr: float,
    constitutional_count: int,
    preference_pairs: str,
    dpo_max_steps: int,
    dpo_lr: float,
    dpo_beta: float,
    rl_prompts: str,
    rl_reward: str,
    rl_max_steps: int,
    rl_samples_per_prompt: int,
    rl_lr: float,
) -> str:
    values = dict(locals())
    from tritter.jobs import settings

    return settings.check_posttrain_parameters(**values)


@_component(DATA_IMAGE)
def synth_identity(settings: str) -> str:
    from tritter.jobs import synth

    return synth.identity(settings)


@_component(DATA_IMAGE)
def synth_docstrings(settings: str) -> str:
    from tritter.jobs import synth

    return synth.docstrings(settings)


@_component(EVAL_IMAGE)
def synth_generate(settings: str) -> str:
    from tritter.jobs import synth

    return synth.generate(settings)


@_component(EVAL_IMAGE)
def synth_critique(settings: str, generated: str) -> str:
    from tritter.jobs import synth

    return synth.critique(settings, generated)


@_component(EVAL_IMAGE)
def synth_revise(settings: str, critiques: str) -> str:
    from tritter.jobs import synth

    return synth.revise(settings, critiques)


@_component(DATA_IMAGE)
def synth_filter(settings: str, pairs: str) -> str:
    from tritter.jobs import synth

    return synth.filter_pairs(settings, pairs)


@_component(LAUNCH_IMAGE)
def mid(
    settings: str,
    identity: str,
    docstrings: str,
    summary: dsl.Output[dsl.Markdown],
    metrics: dsl.Output[dsl.Metrics],
) -> str:
    from tritter.jobs import sft, ui

    folder = sft.mid(settings, identity, docstrings)
    ui.publish("mid", folder, summary.path, metrics)
    return folder


@_component(LAUNCH_IMAGE)
def sft(
    settings: str,
    mid: str,
    constitutional: str,
    summary: dsl.Output[dsl.Markdown],
    metrics: dsl.Output[dsl.Metrics],
) -> str:
    from tritter.jobs import sft, ui

    folder = sft.sft(settings, mid, constitutional)
    ui.publish("sft", folder, summary.path, metrics)
    return folder


@_component(LAUNCH_IMAGE)
def dpo(
    settings: str,
    sft: str,
    constitutional: str,
    summary: dsl.Output[dsl.Markdown],
    metrics: dsl.Output[dsl.Metrics],
) -> str:
    from tritter.jobs import dpo, ui

    folder = dpo.dpo(settings, sft, constitutional)
    ui.publish("dpo" if folder != sft else "sft", folder, summary.path, metrics)
    return folder


@_component(LAUNCH_IMAGE)
def rl(
    settings: str,
    model: str,
    summary: dsl.Output[dsl.Markdown],
    metrics: dsl.Output[dsl.Metrics],
) -> str:
    from tritter.jobs import rl, ui

    folder = rl.rl(settings, model)
    ui.publish(rl.stage_of(folder), folder, summary.path, metrics)
    return folder


@_component(EVAL_IMAGE)
def evaluate_sft(
    settings: str,
    checkpoints: str,
    summary: dsl.Output[dsl.Markdown],
    metrics: dsl.Output[dsl.Metrics],
) -> str:
    from tritter.jobs import evaluate, ui

    folder = evaluate.evaluate_sft(settings, checkpoints)
    ui.publish("evaluate", folder, summary.path, metrics)
    return folder


@_component(EVAL_IMAGE)
def report_posttrain(settings: str, evaluated: str, page: dsl.Output[dsl.HTML]) -> str:
    from tritter.jobs import report, ui

    folder = report.report_posttrain(settings, evaluated)
    ui.publish_report(folder, page.path)
    return folder
