"""Everything a run can check before it creates anything or loads any weights, reported at once.

A run that fails after hours of generation because Java is missing, a record is malformed or the
output folder is read-only loses the user's day. So before the run directory is made and before
the model loads: the options against the tasks, the model's arguments and files, the demo pools
against the shot counts, what the metrics need (Java, a writable temporary folder), the output
folder, and whatever would otherwise need the network. All problems come back in one error.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterable
from functools import partial
from pathlib import Path

from fseval.config import RunConfig
from fseval.errors import FsevalError
from fseval.metrics import get_metric
from fseval.record import being_written, stored_samples
from fseval.run.demos import OPENFLAMINGO_QUERY_SET_SIZE
from fseval.run.evaluation import metric_variant
from fseval.run.writer import fresh_run_problem
from fseval.tasks.prompts import answer_fields
from fseval.tasks.spec import Task
from fseval.tasks.task_data import TaskData

Problems = list[str]


def raise_problems(problems: Iterable[str]) -> None:
    found = list(dict.fromkeys(problems))
    if found:
        raise FsevalError(
            f"This run cannot start ({len(found)} problem{'s' * (len(found) > 1)}; nothing was created):\n- "
            + "\n- ".join(found),
        )


def collect(check: Callable[[], object]) -> Problems:
    """A check that raises ``FsevalError`` (one message) as a list of problems."""
    try:
        check()
    except FsevalError as error:
        return [str(error)]
    return []


def option_problems(config: RunConfig, tasks: list[Task], compat_modes: tuple[str, ...]) -> Problems:
    """Options that mean nothing, or cannot work, for the tasks and the model asked for."""
    found = []
    ranks = any(task.spec.mode == "rank" for task in tasks)
    if config.prompt_ensembles > 1 and not ranks:
        found.append(
            "--prompt-ensembles averages the candidates' scores over demo orders; it applies to rank tasks only "
            f"({', '.join(config.tasks)} generate their answers: leave the option out)."
        )
    offered = {variant for task in tasks for variant in get_metric(task.spec.metric).variants}
    if config.metric_variant is not None and config.metric_variant not in offered:
        found.append(
            f"No metric of {', '.join(config.tasks)} has a variant {config.metric_variant!r} "
            f"(their variants: {', '.join(sorted(offered))})."
        )
    else:
        for task in tasks:
            found += collect(lambda task=task: metric_variant(task, config.metric_variant))  # type: ignore[misc]
    if config.compat is not None and ranks and config.compat not in compat_modes:
        found.append(
            f"--compat {config.compat} reproduces OpenFlamingo's ranking; {config.model} cannot rank that way "
            "(leave --compat out for this model)."
        )
    return found + ablation_problems(config, tasks)


def ablation_problems(config: RunConfig, tasks: list[Task]) -> Problems:
    """``--demo-ablation`` changes the demos of prompts with shots; refused where it could change nothing."""
    ablation = config.demo_ablation
    least = {"none": 0, "shuffled_images": 2, "permuted_order": 2}.get(ablation, 1)  # demos it needs to do anything
    found = []
    for task in tasks if least else []:
        shots = config.shots or task.spec.shots
        if max(shots) < least:
            found.append(
                f"{task.name}: --demo-ablation {ablation} changes prompts with {least} or more demos, but the shot "
                f"counts are {', '.join(map(str, shots))} (give --shots 4, say; other shot counts run plain)."
            )
        elif ablation == "random_answers" and not answer_fields(task.prompt):
            found.append(
                f"{task.name}: --demo-ablation random_answers replaces the fields a demo shows and the query asks "
                "for, but its demo template reads no field that its query template does not."
            )
    return found


def demo_problems(config: RunConfig, tasks: list[Task], data: dict[str, TaskData]) -> Problems:
    """Each shot count's demos can be drawn from the task's demo pool."""
    found = []
    for task in (t for t in tasks if t.name in data):
        if data[task.name].demo_source is not None:
            found += demo_source_problems(config, task, data[task.name])
            continue
        pool = len(data[task.name].demo_pool) - data[task.name].demo_is_eval  # the query never demos itself
        text_demos = task.spec.zero_shot_text_demos if config.zero_shot_text_demos else 0
        most = max(shots or text_demos for shots in config.shots or task.spec.shots)
        if config.demos == "openflamingo" and pool < OPENFLAMINGO_QUERY_SET_SIZE:
            found.append(
                f"{task.name}: --demos openflamingo draws from a query set of {OPENFLAMINGO_QUERY_SET_SIZE} "
                f"but the demo split has {pool} examples."
            )
        elif most > pool:
            found.append(
                f"{task.name}: {most} demos per prompt, but its demo split has {pool} examples (use fewer --shots)."
            )
        elif config.demos == "fixed" and config.demos_file is not None:
            found += demos_file_problems(config.demos_file, data[task.name], most, config.limit)
    return found


def demo_source_problems(config: RunConfig, task: Task, data: TaskData) -> Problems:
    """A task whose data sets its demos per query: only that, and every (seed, shots) can be drawn."""
    source = data.demo_source
    assert source is not None
    if config.demos != "random":
        return [
            f"{task.name}: its demos are set per query by its data ({source.description}); "
            f"--demos {config.demos} does not apply to it (leave --demos out)."
        ]
    found: list[str] = []
    for seed in config.seeds:
        for shots in config.shots or task.spec.shots:
            found += collect(partial(source.demos, seed, shots))
    return list(dict.fromkeys(found))


def demos_file_problems(path: Path, data: TaskData, most: int, limit: int | None) -> Problems:
    """``--demos-file`` parses and names, for every evaluated sample, enough demos that the demo split has."""
    from fseval.run.demos import plan_fixed

    if not path.is_file():
        return [f"--demos-file {path} does not exist."]
    return collect(lambda: plan_fixed(data.eval, data.demo_pool, most, path, limit))


def scorer_problems(config: RunConfig, tasks: list[Task]) -> Problems:
    """What the machine lacks to score the tasks (Java for the PTB tokenizer, a WordNet database ...)."""
    found: Problems = []
    for task in tasks:
        found += get_metric(task.spec.metric).missing(metric_variant(task, config.metric_variant))
    return found


def output_problems(output: Path, resume: bool, files: dict[str, str] | None = None) -> Problems:
    """The run directory can be made or taken, without making it now; a resumed run's model files are its own."""
    if output.exists():
        if not output.is_dir():
            return [f"--output {output} is a file (give a new or empty folder)."]
        if not os.access(output, os.W_OK | os.X_OK):
            return [f"--output {output} is not writable (give a folder you can write to)."]
        if being_written(output):
            return [
                f"{output} is being written by another fseval run (wait for it to finish, or stop it, then "
                "fseval run --resume it; or pick another --output)."
            ]
        if resume:
            return model_file_problems(output, files or {})
        problem = fresh_run_problem(output)
        return [] if problem is None else [problem]
    parent = output.parent
    while not parent.exists() and parent != parent.parent:
        parent = parent.parent
    if not parent.is_dir():
        return [f"--output {output} cannot be created: {parent} is a file."]
    if not os.access(parent, os.W_OK | os.X_OK):
        return [f"--output {output} cannot be created: {parent} is not writable."]
    return []


def model_file_problems(output: Path, files: dict[str, str]) -> Problems:
    """The files of the model resuming a run have the content of those that made its stored samples.

    Where they live may change (a copied checkpoint, another cache); their content may not.
    """
    from fseval.models.files import fingerprint_changes
    from fseval.record import RunRecord

    saved = RunRecord.load(output).model.get("files") if stored_samples(output) else None
    if not saved:  # nothing stored yet, or a run from before fingerprints were recorded
        return []
    changes = fingerprint_changes(saved, files)
    if not changes:
        return []
    shown = "; ".join(changes[:8]) + (f"; and {len(changes) - 8} more" if len(changes) > 8 else "")
    return [
        f"The model's files are not those {output} was made with: {shown}. Resume with the run's own files "
        "(they may have moved), or start a new run with another --output."
    ]


def network_problems(config: RunConfig) -> Problems:
    """fseval downloads nothing: what a run would fetch must be on this machine already."""
    if config.demos != "rices" or not config.rices_pretrained or Path(config.rices_pretrained).expanduser().is_file():
        return []
    from fseval.models.hub import open_clip_weights_available

    if open_clip_weights_available(config.rices_model, config.rices_pretrained):
        return []
    return [
        f"--demos rices needs the CLIP weights {config.rices_model}/{config.rices_pretrained}, which are not on "
        "this machine (download them into the Hugging Face cache where there is network, or pass "
        "--rices-pretrained as a local weights file)."
    ]
