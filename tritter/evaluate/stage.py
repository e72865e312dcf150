"""The evaluate stage: a checkpoint → eval/ (`tritter evaluate`): perplexity / bits per byte,
sandboxed code generation (HumanEval, MBPP, MultiPL-E Rust, DS-1000), GSM8K, multiple choice
(ARC, MMLU), their CORE average and, for chat models, identity consistency and the persona
rates (`tritter.evaluate.persona`).

A chat model (`tritter.evaluate.prompt_format`) is asked each code problem as a user turn and
its reply, generated until `<|assistant_end|>`, gives the program to test
(`tritter.evaluate.replies`); a base model completes the benchmark prompt. Both are scored the
same way.

Order matters for users: everything cheap that can be wrong (task names, benchmark files,
tokenizer, held-out data, the prompt format, the persona, output folder, the sandbox) is checked
before the model loads, so a typo costs seconds, not a checkpoint download. Outputs
(`results.json`, `samples-<task>.jsonl`) are written whole, then `_manifest.json` (stage
`evaluate`) last; a relaunch with the same checkpoint, tokenizer, data and config finds the
manifest and does nothing.
"""

from __future__ import annotations

import json
import time
from typing import TYPE_CHECKING, Any

from tritter import config as config_module
from tritter import log, manifest, storage
from tritter.chat import persona as persona_file
from tritter.errors import TritterError
from tritter.evaluate import identity as identity_task
from tritter.evaluate import loading, prompt_format
from tritter.evaluate import persona as persona_task
from tritter.evaluate.config import CHOICE_TASKS, CODE_TASKS, EvaluateConfig
from tritter.evaluate.identity_questions import QUESTIONS, questions_sha256
from tritter.evaluate.persona_prompts import prompts_sha256
from tritter.evaluate.prompt_format import PromptFormat
from tritter.evaluate.tasks import CodeTask, load_task
from tritter.run_folder import (
    EVALUATE_MANIFEST,
    PACK_MANIFEST,
    RESULTS,
    EvaluateCounts,
    EvaluateInputs,
    EvaluateManifest,
    Nothing,
    samples_file,
)
from tritter.train.store import identity

if TYPE_CHECKING:
    import torch

    from tritter.benchmarks.choice import ChoiceQuestion
    from tritter.benchmarks.gsm8k import MathProblem
    from tritter.chat.persona import Persona
    from tritter.evaluate.sandbox import Sandbox
    from tritter.tokenizer import Tokenizer

_log = log.get_logger("evaluate")


def stage_inputs(
    config: EvaluateConfig, tokenizer: Tokenizer, persona: tuple[str, str] | None = None
) -> tuple[EvaluateInputs, PromptFormat]:
    """The weights (by their identity, not their bytes), how they are prompted, the tokenizer,
    the held-out data and, for the identity and persona tasks, the persona file (location,
    text), the question set and the persona prompts."""
    data = PACK_MANIFEST.require(config.data) if "perplexity" in config.tasks else None
    if data is not None:
        from tritter.loader import check_tokenizer

        # Ids from another tokenizer are in range and would be scored silently.
        check_tokenizer(config.data, tokenizer)
    checkpoint_identity = identity(config.checkpoint)  # a missing checkpoint: this error first
    chosen = prompt_format.decide(config.checkpoint, config.prompt_format)
    inputs = EvaluateInputs(
        checkpoint=storage.normalize(config.checkpoint),
        checkpoint_identity=checkpoint_identity,
        tokenizer_sha256=tokenizer.sha256,
        data=storage.normalize(config.data) if data is not None else None,
        data_fingerprint=data.fingerprint if data is not None else None,
        prompt_format=chosen.format,
        persona=persona[0] if persona else None,
        persona_sha256=storage.sha256_bytes(persona[1].encode()) if persona else None,
        identity_questions_sha256=questions_sha256() if persona else None,
        persona_prompts_sha256=prompts_sha256() if "persona" in config.tasks else None,
    )
    return inputs, chosen


def fingerprint(config: EvaluateConfig, inputs: EvaluateInputs) -> str:
    return EVALUATE_MANIFEST.fingerprint(config, inputs)


def is_done(output: str) -> EvaluateManifest | None:
    return EVALUATE_MANIFEST.read(output)


def run(config: EvaluateConfig) -> dict[str, Any]:
    """Evaluate; returns results.json's content."""
    started = time.time()
    if "perplexity" in config.tasks and not config.data:
        raise TritterError("the perplexity task needs --data (the packed token shards)")
    code_tasks = {
        name: _load_code_task(name, config.benchmarks.uri(name), config.limit)
        for name in config.tasks
        if name in CODE_TASKS
    }
    suites = _load_suites(config)  # GSM8K and the multiple-choice sets
    on_samples = [
        name
        for name in config.tasks
        if name in (*CHOICE_TASKS, "gsm8k", "multipl-e-rust", "ds1000")
        and config.benchmarks.uri(name) is None
    ]
    if on_samples:
        log.event(_log, "scoring the shipped samples (a smoke test, not comparable to published "
                  "scores; --benchmarks.<task> hf://… reads the full sets)", level=30,
                  tasks=",".join(on_samples))  # fmt: skip
    tokenizer = loading.load_tokenizer(config.tokenizer)
    persona_source = persona = None  # (location, text) of the persona file, and its content
    chat_tasks = [name for name in ("identity", "persona") if name in config.tasks]
    if chat_tasks:
        persona_source = persona_file.read_text(config.identity.persona)
        persona = persona_file.parse(persona_source[1], persona_source[0])
    inputs, chosen = stage_inputs(config, tokenizer, persona_source)
    log.event(_log, "prompt format", format=chosen.format, phase=chosen.phase,
              decided_by=chosen.decided_by)  # fmt: skip
    if persona is not None and not chosen.chat:
        raise TritterError(
            f"--tasks {chat_tasks[0]} needs a chat model: {config.checkpoint} is prompted as a "
            f"base model (phase {chosen.phase or 'not recorded'}; --prompt-format chat forces chat)"
        )
    if chosen.chat:
        from tritter.chat.template import stop_ids

        stop_ids(tokenizer)  # a tokenizer without the chat markers: its one-line error now
    expected = fingerprint(config, inputs)
    output = config.output
    if EVALUATE_MANIFEST.current(output, expected) is not None:
        log.event(_log, "evaluation already complete; nothing to do", output=output)
        return json.loads(storage.read_text(storage.join(output, RESULTS)))
    storage.ensure_writable(output)
    storage.delete(manifest.manifest_uri(output))  # a stale manifest must not vouch for new files

    sandbox = None
    if {"humaneval", "mbpp"} & set(code_tasks):
        from tritter.evaluate.sandbox import Sandbox

        sandbox = Sandbox(config.sandbox)  # probes isolation now, before the model loads
    # MultiPL-E and DS-1000 get their own sandboxes (limits, exposed toolchain/libraries),
    # checked now too: a missing rustc or library is known before the model loads.
    sandboxes, code_tasks = _open_sandboxes(config, code_tasks, sandbox)

    import torch

    device = loading.pick_device(config.device)
    dtype = loading.pick_dtype(config.dtype, device)
    torch.manual_seed(config.generation.seed)
    model, info = loading.load_model(config.checkpoint, device, dtype)
    loading.check_vocab(tokenizer, model, config.tokenizer, info)
    max_positions = int(getattr(model.config, "max_position_embeddings", 0) or 2048)
    log.event(_log, "model loaded", parameters=info["parameters"], device=str(device),
              dtype=str(dtype).removeprefix("torch."))  # fmt: skip

    results: dict[str, Any] = {
        "checkpoint": info,
        "tokenizer": {
            "uri": config.tokenizer,
            "vocab_size": tokenizer.vocab_size,
            "sha256": tokenizer.sha256,
        },
        "device": str(device),
        "dtype": str(dtype).removeprefix("torch."),
        "prompt_format": {"format": chosen.format, "phase": chosen.phase,
                          "decided_by": chosen.decided_by},
        "tasks": {},
    }  # fmt: skip
    written: list[manifest.FileEntry] = []
    if "perplexity" in config.tasks:
        results["tasks"]["perplexity"] = _perplexity(config, model, tokenizer, device,
                                                     max_positions)  # fmt: skip
    for name, task in code_tasks.items():
        results["tasks"][name], entry = _code_task(
            config, task, model, tokenizer, device, max_positions, sandboxes[name], chosen.chat
        )
        results["tasks"][name].update(_code_task_extras(config, task, sandboxes[name]))
        written.append(entry)
    for name, (problems, source) in suites.items():
        run_suite = _gsm8k if name == "gsm8k" else _choice
        results["tasks"][name], entry = run_suite(
            config, name, problems, model, tokenizer, device, max_positions, chosen.chat
        )
        results["tasks"][name]["source"] = source
        written.append(entry)
    if "core" in config.tasks:
        from tritter.evaluate.core import core

        results["tasks"]["core"] = core(results["tasks"])
        log.event(_log, "scored", task="core", score=results["tasks"]["core"]["score"],
                  suites=results["tasks"]["core"]["suites"])  # fmt: skip
    if persona is not None and "identity" in config.tasks:
        results["tasks"]["identity"], entry = _identity(
            config, persona, model, tokenizer, device, max_positions
        )
        written.append(entry)
    if persona is not None and "persona" in config.tasks:
        results["tasks"]["persona"], entry = _persona(
            config, persona, model, tokenizer, device, max_positions
        )
        written.append(entry)
    if sandbox is not None:
        results["sandbox"] = sandbox.describe()
    results["config"] = config_module.dump(config)
    results["seconds"] = round(time.time() - started, 2)

    results_uri = storage.join(output, RESULTS)
    storage.write_text(results_uri, loading.dumps(results))
    written.append(manifest.file_entry(output, results_uri))
    counted = ("problems", "accuracy", "score", *identity_task.METRICS)
    counts = EvaluateCounts(
        tasks={
            name: persona_task.counts(values)
            if name == "persona"
            else {
                k: v
                for k, v in values.items()
                if (k.startswith("pass@") or k in counted) and isinstance(v, (int, float))
            }
            for name, values in results["tasks"].items()
            if name != "perplexity"
        }
    )
    manifest.write_manifest(
        output,
        manifest.Manifest(stage=EVALUATE_MANIFEST.stage, fingerprint=expected, inputs=inputs,
                          config=config_module.dump(config), counts=counts, files=written,
                          extra=Nothing()),
    )  # fmt: skip

    from tritter.evaluate.metrics import push_results

    run_name = config.run_name or storage.basename(storage.normalize(output).rsplit("/", 1)[0])
    push_results(results, run_name)
    return results


def _perplexity(
    config: EvaluateConfig,
    model: torch.nn.Module,
    tokenizer: Tokenizer,
    device: torch.device,
    max_positions: int,
) -> dict[str, Any]:
    import torch

    from tritter.evaluate.perplexity import evaluate_subsets
    from tritter.loader import TokenLoader, list_subsets

    assert config.data is not None
    available = list_subsets(config.data)
    wanted = config.perplexity.subsets or available
    unknown = sorted(set(wanted) - set(available))
    if unknown:
        raise TritterError(
            f"{config.data}: no held-out subset '{unknown[0]}' (has: {', '.join(available)})"
        )
    # Default window: the length the shards were packed for (what training saw), capped by
    # the model's context.
    packed = PACK_MANIFEST.require(config.data).extra.seq_len
    seq_len = config.perplexity.seq_len or min(packed, max_positions)
    loaders, skipped = {}, {}
    for name in wanted:
        try:
            loaders[name] = TokenLoader(
                config.data, split="val", subset=name, seq_len=seq_len,
                micro_batch_size=config.perplexity.batch_size, loop=False,
            )  # fmt: skip
        except TritterError as err:
            if config.perplexity.subsets:  # asked for by name: its absence is an error
                raise
            # A held-out stream shorter than one window cannot be scored; say so, go on.
            skipped[name] = str(err)
            log.event(_log, "held-out subset too short; skipped", level=30, subset=name)
    if not loaders:
        raise TritterError(f"{config.data}: no held-out subset has {seq_len + 1} tokens")
    token_bytes = torch.as_tensor(tokenizer.token_byte_lengths(), dtype=torch.long)
    result = evaluate_subsets(model, loaders, token_bytes, device, config.perplexity.max_batches)
    result["seq_len"] = seq_len
    result["skipped_subsets"] = skipped
    return result


def _code_task(
    config: EvaluateConfig,
    task: CodeTask,
    model: torch.nn.Module,
    tokenizer: Tokenizer,
    device: torch.device,
    max_positions: int,
    sandbox: Sandbox,
    chat: bool,
) -> tuple[dict[str, Any], manifest.FileEntry]:
    from tritter.chat.conversation import Message
    from tritter.chat.template import render_prompt, stop_ids
    from tritter.evaluate.execution import check_completions, score
    from tritter.evaluate.generation import Decoding, Generator, Prompt

    started = time.perf_counter()
    settings = config.generation
    # A chat reply ends with its turn; the text stops are for completions of a base prompt.
    default_stop = () if chat else task.stop
    decoding = Decoding(
        temperature=settings.temperature, top_p=settings.top_p,
        max_new_tokens=settings.max_new_tokens, batch_size=settings.batch_size,
        seed=settings.seed,
        stop=tuple(settings.stop) if settings.stop is not None else default_stop,
        stop_ids=stop_ids(tokenizer) if chat else (),
    )  # fmt: skip
    generator = Generator(model, tokenizer, device, max_positions)
    prompts: list[Prompt] = [
        render_prompt([Message("user", task.question(problem))], tokenizer)
        if chat
        else task.prompt(problem)
        for problem in task.problems
    ]
    log.event(_log, "generating", task=task.name, problems=len(prompts),
              samples=settings.num_samples)  # fmt: skip
    outputs, stats = generator.generate(prompts, decoding, settings.num_samples)
    by_id = {p.task_id: texts for p, texts in zip(task.problems, outputs, strict=True)}
    replies = None
    if chat:
        replies = by_id
        by_id = {key: [task.extract(text) for text in texts] for key, texts in replies.items()}
    checked = check_completions(task, by_id, sandbox, replies)
    metrics = score(checked, settings.pass_k)
    metrics["decoding"] = {
        "temperature": decoding.temperature, "top_p": decoding.top_p,
        "max_new_tokens": decoding.max_new_tokens, "stop": list(decoding.stop),
        "stop_ids": list(decoding.stop_ids), "seed": decoding.seed,
    }  # fmt: skip
    metrics["generation"] = stats.to_dict()
    metrics["sandbox_seconds_per_sample"] = round(
        sum(r.seconds for r in checked) / max(len(checked), 1), 4
    )
    metrics["seconds"] = round(time.perf_counter() - started, 2)
    if config.limit:
        metrics["limited_to"] = config.limit
    uri = storage.join(config.output, samples_file(task.name))
    lines = (json.dumps(result.to_record(), ensure_ascii=False) for result in checked)
    storage.write_text(uri, "".join(line + "\n" for line in lines))
    log.event(_log, "scored", task=task.name,
              **{k: v for k, v in metrics.items() if k.startswith("pass@")})  # fmt: skip
    return metrics, manifest.file_entry(storage.normalize(config.output), uri)


def _greedy_replies(
    config: EvaluateConfig,
    task: str,
    prompts: list[Any],
    max_new_tokens: int,
    model: torch.nn.Module,
    tokenizer: Tokenizer,
    device: torch.device,
    max_positions: int,
    stop: tuple[str, ...] | None = None,
) -> tuple[list[str], dict[str, Any]]:
    """One greedy chat reply per rendered prompt (the identity, persona, GSM8K and multiple-
    choice tasks), and the decoding/generation fields their metrics carry. With `stop`, the
    prompts are base-model text completed until one of those sequences instead."""
    from tritter.chat.template import stop_ids
    from tritter.evaluate.generation import Decoding, Generator

    started = time.perf_counter()
    decoding = Decoding(
        temperature=0.0, max_new_tokens=max_new_tokens,
        batch_size=config.generation.batch_size,
        stop=stop or (), stop_ids=stop_ids(tokenizer) if stop is None else (),
    )  # fmt: skip
    log.event(_log, "generating", task=task, problems=len(prompts), samples=1)
    outputs, stats = Generator(model, tokenizer, device, max_positions).generate(prompts, decoding)
    described: dict[str, Any] = {"temperature": 0.0, "max_new_tokens": decoding.max_new_tokens}
    if stop is None:
        described["stop_ids"] = list(decoding.stop_ids)
    else:
        described["stop"] = list(decoding.stop)
    fields = {
        "decoding": described,
        "generation": stats.to_dict(),
        "seconds": round(time.perf_counter() - started, 2),
    }
    return [texts[0] for texts in outputs], fields


def _write_samples(
    config: EvaluateConfig, task: str, records: list[dict[str, Any]]
) -> manifest.FileEntry:
    uri = storage.join(config.output, samples_file(task))
    lines = (json.dumps(record, ensure_ascii=False) for record in records)
    storage.write_text(uri, "".join(line + "\n" for line in lines))
    return manifest.file_entry(storage.normalize(config.output), uri)


def _identity(
    config: EvaluateConfig,
    persona: Persona,
    model: torch.nn.Module,
    tokenizer: Tokenizer,
    device: torch.device,
    max_positions: int,
) -> tuple[dict[str, Any], manifest.FileEntry]:
    prompts = [identity_task.prompt_ids(q, tokenizer) for q in QUESTIONS]
    replies, fields = _greedy_replies(config, "identity", prompts,
                                      config.identity.max_new_tokens, model, tokenizer,
                                      device, max_positions)  # fmt: skip
    metrics, records = identity_task.score(QUESTIONS, replies, persona)
    metrics.update(fields)
    entry = _write_samples(config, "identity", records)
    log.event(_log, "scored", task="identity",
              **{k: metrics[k] for k in identity_task.METRICS})  # fmt: skip
    return metrics, entry


def _persona(
    config: EvaluateConfig,
    persona: Persona,
    model: torch.nn.Module,
    tokenizer: Tokenizer,
    device: torch.device,
    max_positions: int,
) -> tuple[dict[str, Any], manifest.FileEntry]:
    prompts, questions = persona_task.select(config.limit)
    asked = [persona_task.prompt_ids(item, tokenizer) for item in prompts]
    asked += [persona_task.prompt_ids(question, tokenizer) for question in questions]
    replies, fields = _greedy_replies(config, "persona", asked, config.persona.max_new_tokens,
                                      model, tokenizer, device, max_positions)  # fmt: skip
    metrics, records = persona_task.score(
        prompts, replies[: len(prompts)], questions, replies[len(prompts) :], persona
    )
    metrics.update(fields)
    if config.limit:
        metrics["limited_to"] = config.limit
    entry = _write_samples(config, "persona", records)
    log.event(_log, "scored", task="persona",
              **{name: rate["rate"] for name, rate in metrics["rates"].items()})  # fmt: skip
    return metrics, entry


def _load_code_task(name: str, uri: str | None, limit: int | None) -> CodeTask:
    """HumanEval and MBPP (`tritter.evaluate.tasks`), MultiPL-E Rust and DS-1000 (their
    modules; their sandboxes are opened by `_open_sandboxes`)."""
    if name == "multipl-e-rust":
        from tritter.evaluate import multipl_e

        return multipl_e.load_task(uri, limit)
    if name == "ds1000":
        from tritter.evaluate import ds1000

        return ds1000.load_task(uri, limit)
    return load_task(name, uri, limit)


def _load_suites(config: EvaluateConfig) -> dict[str, tuple[list[Any], str]]:
    """GSM8K's problems and each multiple-choice set's questions ({task: (items, source)}),
    the first --limit of each."""
    from tritter.benchmarks import rows
    from tritter.benchmarks.choice import SAMPLES, load_choice
    from tritter.benchmarks.gsm8k import SAMPLE, load_gsm8k

    suites: dict[str, tuple[list[Any], str]] = {}
    for name in config.tasks:
        if name != "gsm8k" and name not in CHOICE_TASKS:
            continue
        uri = config.benchmarks.uri(name)
        items: list[Any] = load_gsm8k(uri) if name == "gsm8k" else load_choice(name, uri)
        source = rows.describe(uri, SAMPLE if name == "gsm8k" else SAMPLES[name])
        suites[name] = (items[: config.limit] if config.limit else items, source)
    return suites


def _open_sandboxes(
    config: EvaluateConfig, tasks: dict[str, CodeTask], sandbox: Sandbox | None
) -> tuple[dict[str, Sandbox], dict[str, CodeTask]]:
    """The sandbox each code task runs in, and the tasks bound to theirs: Python tasks share
    `sandbox`; MultiPL-E Rust gets the Rust limits and the toolchain; DS-1000 its limits, the
    site-packages, and only the problems whose libraries import there."""
    from dataclasses import replace

    sandboxes: dict[str, Sandbox] = {}
    bound: dict[str, CodeTask] = {}
    for name, task in tasks.items():
        if name == "multipl-e-rust":
            from tritter.evaluate import rust

            sandboxes[name], runner = rust.open_runner(config.sandbox, config.rust)
            bound[name] = replace(task, runner=runner)  # type: ignore[call-arg]
            log.event(_log, "rust toolchain", rustc=runner.version, edition=runner.edition)
        elif name == "ds1000":
            from tritter.evaluate import ds1000

            sandboxes[name], bound[name] = ds1000.open_task(
                task.problems, config.sandbox, config.ds1000
            )
            skipped = bound[name].skipped  # type: ignore[attr-defined]
            if skipped["problems"]:
                log.event(_log, "ds1000 problems skipped: their libraries do not import in the "
                          "sandbox", level=30, problems=skipped["problems"],
                          modules=",".join(skipped["missing_modules"]))  # fmt: skip
        else:
            assert sandbox is not None
            sandboxes[name], bound[name] = sandbox, task
    return sandboxes, bound


def _code_task_extras(config: EvaluateConfig, task: CodeTask, sandbox: Sandbox) -> dict[str, Any]:
    """What a MultiPL-E or DS-1000 result adds: where the problems came from, its sandbox (own
    limits) and the toolchain or the problems skipped."""
    from tritter.benchmarks import rows

    extras: dict[str, Any] = {}
    if task.name == "multipl-e-rust":
        from tritter.benchmarks.multipl_e import SAMPLE

        runner = task.runner  # type: ignore[attr-defined]
        extras["toolchain"] = {"rustc": runner.version, "edition": runner.edition}
    elif task.name == "ds1000":
        from tritter.benchmarks.ds1000 import SAMPLE  # type: ignore[no-redef]

        extras["skipped"] = task.skipped  # type: ignore[attr-defined]
    else:
        return extras
    extras["source"] = rows.describe(config.benchmarks.uri(task.name), SAMPLE)
    extras["sandbox"] = sandbox.describe()
    return extras


def _choice(
    config: EvaluateConfig,
    name: str,
    questions: list[ChoiceQuestion],
    model: torch.nn.Module,
    tokenizer: Tokenizer,
    device: torch.device,
    max_positions: int,
    chat: bool,
) -> tuple[dict[str, Any], manifest.FileEntry]:
    """ARC or MMLU: each choice's log-likelihood (base), or a generated letter (chat)."""
    from tritter.evaluate import multiple_choice

    started = time.perf_counter()
    if chat:
        from tritter.chat.conversation import Message
        from tritter.chat.template import render_prompt

        prompts = [
            render_prompt([Message("user", multiple_choice.question_text(q))], tokenizer)
            for q in questions
        ]
        replies, fields = _greedy_replies(config, name, prompts, config.choice.max_new_tokens,
                                          model, tokenizer, device, max_positions)  # fmt: skip
        metrics, records = multiple_choice.score_replies(questions, replies)
        metrics.update(fields)
    else:
        log.event(_log, "scoring choices", task=name, problems=len(questions),
                  sequences=sum(len(q.choices) for q in questions))  # fmt: skip
        logprobs = multiple_choice.choice_logprobs(
            model, tokenizer, questions, device, max_positions, config.choice.batch_size
        )
        metrics, records = multiple_choice.score_logprobs(questions, logprobs)
        metrics["seconds"] = round(time.perf_counter() - started, 2)
    if config.limit:
        metrics["limited_to"] = config.limit
    entry = _write_samples(config, name, records)
    log.event(_log, "scored", task=name, accuracy=metrics["accuracy"])
    return metrics, entry


def _gsm8k(
    config: EvaluateConfig,
    name: str,
    problems: list[MathProblem],
    model: torch.nn.Module,
    tokenizer: Tokenizer,
    device: torch.device,
    max_positions: int,
    chat: bool,
) -> tuple[dict[str, Any], manifest.FileEntry]:
    """GSM8K: a greedy worked solution per problem, scored by its final number."""
    from tritter.evaluate import gsm8k

    prompts: list[Any]
    if chat:
        from tritter.chat.conversation import Message
        from tritter.chat.template import render_prompt

        prompts = [render_prompt([Message("user", gsm8k.question(p))], tokenizer) for p in problems]
        stop = None
    else:
        prompts = [gsm8k.prompt(p, config.gsm8k.shots) for p in problems]
        stop = gsm8k.STOP
    texts, fields = _greedy_replies(config, name, prompts, config.gsm8k.max_new_tokens, model,
                                    tokenizer, device, max_positions, stop=stop)  # fmt: skip
    metrics, records = gsm8k.score(problems, texts, chat=chat)
    metrics.update(fields)
    if not chat:
        metrics["shots"] = config.gsm8k.shots
    if config.limit:
        metrics["limited_to"] = config.limit
    entry = _write_samples(config, name, records)
    log.event(_log, "scored", task=name, accuracy=metrics["accuracy"])
    return metrics, entry
