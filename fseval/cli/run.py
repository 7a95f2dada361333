"""``fseval run``: options, a new or resumed RunConfig, and the run with its progress and interruption."""

from __future__ import annotations

import os
from collections.abc import Sequence
from contextlib import nullcontext
from pathlib import Path
from typing import Annotated, Any

import typer

from fseval.cli.app import (
    LogTo,
    ShowBreakdown,
    TasksDir,
    app,
    device_callback,
    existing_path,
    parse_model_args,
    parse_shots,
    quiet_libraries,
    split_list,
    user_errors,
    working_directory,
)
from fseval.cli.show import show_run
from fseval.config import COMPAT_PROFILES, RunConfig
from fseval.errors import FsevalError

# RunConfig holds every default; the options below show and use its values.
DEFAULTS = RunConfig.defaults()

# fseval run's options whose declarations would not fit on one line.
Tasks = Annotated[
    list[str] | None, typer.Option("--task", "-t", help="Task name(s), repeated or comma-separated.", metavar="TASK")
]
ModelName = Annotated[
    str,
    typer.Option(
        help="Preset, family (with --model-arg), model directory, or the bundled tiny-shapes.", metavar="MODEL"
    ),
]
ModelArgs = Annotated[
    list[str] | None,
    typer.Option(help="key=value for the model family, one pair per flag (fseval models FAMILY).", metavar="KEY=VALUE"),
]
DataDir = Annotated[
    str | None, typer.Option(help="Dataset folder (its files, or one sub-folder per task), or hf:REPO.", metavar="DIR")
]
BatchSize = Annotated[int, typer.Option(min=1, help="Prompts per model call (never changes the results).", metavar="N")]
MetricVariant = Annotated[
    str | None, typer.Option(help="Metric variant, e.g. openflamingo (default: the task's).", metavar="VARIANT")
]
ZeroShotTextDemos = Annotated[bool, typer.Option(help="At 0 shots, prepend two text-only demos (Flamingo convention).")]
PromptEnsembles = Annotated[
    int, typer.Option(min=1, help="Rank tasks: average log-likelihoods over this many demo orders.", metavar="K")
]
DemosFile = Annotated[
    Path | None,
    typer.Option(help='--demos fixed: JSON list of demo ids, or {"sample id": [demo ids]}.', metavar="FILE"),
]
CacheDir = Annotated[
    Path | None,
    typer.Option(help="Feature cache (default $FSEVAL_CACHE/features or ~/.cache/fseval/features).", metavar="DIR"),
]
Instruction = Annotated[
    str | None,
    typer.Option(
        help="The task instruction's level, for tasks whose prompt defines levels (VL-ICL: nothing, concise, "
        "detailed; fseval tasks show NAME lists them). Default: the prompt's first level.",
        metavar="LEVEL",
    ),
]
DemoAblation = Annotated[
    str,
    typer.Option(
        help="Change each prompt's drawn demos (shots > 0): none, no_images (text kept), shuffled_images "
        "(images deranged across the demos), random_answers (from the demo split's answers) or "
        "permuted_order; the demos drawn stay the plain run's, so fseval compare pairs the two runs.",
        metavar="ABLATION",
    ),
]
GroupByLength = Annotated[bool, typer.Option(help="Batch prompts of similar length together (never changes results).")]
Compat = Annotated[
    str | None,
    typer.Option(
        help="openflamingo: reproduce OpenFlamingo's evaluate.py where it differs from fseval (rank tasks: "
        "0-shot prompts attend to the first demo's image, candidates attend to the prompts' padding, "
        "its batches); implies --demos openflamingo and the openflamingo metric variant unless given.",
        metavar="CODEBASE",
    ),
]
Resume = Annotated[
    Path | None,
    typer.Option(
        help="Finish an interrupted run with its own options (RUN_DIR/results.json); "
        "only --model/--model-arg may point to moved files.",
        metavar="RUN_DIR",
    ),
]


@app.command()
@user_errors
def run(
    ctx: typer.Context,
    task: Tasks = None,
    model: ModelName = DEFAULTS["model"],
    model_arg: ModelArgs = None,
    shots: Annotated[
        str | None, typer.Option(help="Shot counts, e.g. 0,4,8 (default: the task's).", metavar="SHOTS")
    ] = None,
    data_dir: DataDir = None,
    output: Annotated[Path | None, typer.Option("--output", "-o", help="Run directory.", metavar="DIR")] = None,
    limit: Annotated[int | None, typer.Option(min=1, help="Evaluate the first N samples only.", metavar="N")] = None,
    seed: Annotated[int, typer.Option(help="Seed of the first trial; trial i uses seed + i.", metavar="N")] = DEFAULTS[
        "seed"
    ],
    trials: Annotated[int, typer.Option(min=1, help="Trials (demo draws) per shot count.", metavar="N")] = DEFAULTS[
        "trials"
    ],
    batch_size: BatchSize = DEFAULTS["batch_size"],
    device: Annotated[
        str, typer.Option(help="auto, cpu, cuda, cuda:N or mps.", callback=device_callback, metavar="DEVICE")
    ] = DEFAULTS["device"],
    precision: Annotated[
        str, typer.Option(help="fp32, bf16 or fp16 (weights are cast).", metavar="PRECISION")
    ] = DEFAULTS["precision"],
    metric_variant: MetricVariant = DEFAULTS["metric_variant"],
    zero_shot_text_demos: ZeroShotTextDemos = DEFAULTS["zero_shot_text_demos"],
    prompt_ensembles: PromptEnsembles = DEFAULTS["prompt_ensembles"],
    demos: Annotated[
        str, typer.Option(help="Demo selection: random, fixed, rices or openflamingo.", metavar="STRATEGY")
    ] = DEFAULTS["demos"],
    demos_file: DemosFile = DEFAULTS["demos_file"],
    demo_ablation: DemoAblation = DEFAULTS["demo_ablation"],
    instruction: Instruction = DEFAULTS["instruction"],
    rices_model: Annotated[
        str, typer.Option(help="--demos rices: open_clip model name or config JSON.", metavar="NAME")
    ] = DEFAULTS["rices_model"],
    rices_pretrained: Annotated[
        str, typer.Option(help="--demos rices: open_clip tag or weights file.", metavar="TAG")
    ] = DEFAULTS["rices_pretrained"],
    cache_dir: CacheDir = DEFAULTS["cache_dir"],
    group_by_length: GroupByLength = DEFAULTS["group_by_length"],
    prefetch: Annotated[bool, typer.Option(help="Decode the next batches' media in background threads.")] = DEFAULTS[
        "prefetch"
    ],
    compat: Compat = DEFAULTS["compat"],
    tasks_dir: TasksDir = None,
    resume: Resume = None,
    breakdown: ShowBreakdown = False,
    log_to: LogTo = None,
) -> None:
    """Evaluate a model on tasks at several shot counts; write results.json and samples.jsonl."""
    options = {name: value for name, value in locals().items() if name not in ("ctx", "resume", "breakdown", "log_to")}
    trackers = checked_loggers(split_list(log_to))
    if resume is not None:
        config, origin = resumed_config(ctx, resume, model, model_arg)
    else:
        config, origin = new_config(ctx, options), None
    execute(config, origin, resume is not None, breakdown, trackers)


def new_config(ctx: typer.Context, options: dict[str, Any]) -> RunConfig:
    """A validated ``RunConfig`` from ``fseval run``'s options; every problem in one usage error."""
    from pydantic import ValidationError

    from fseval.config import problems

    if not options["task"]:
        raise typer.BadParameter("give --task (or --resume RUN_DIR).")
    values = dict(options)
    if not split_list(values["task"]):
        raise typer.BadParameter(
            "give at least one task name, e.g. --task vqav2 (fseval tasks lists them).", param_hint="--task"
        )
    values.update(
        tasks=tuple(split_list(values.pop("task"))),
        tasks_dirs=tuple(values.pop("tasks_dir") or ()),
        model_args=parse_model_args(values.pop("model_arg")),
        shots=parse_shots(values["shots"]),
    )
    if getattr(ctx.get_parameter_source("model"), "name", None) != "COMMANDLINE":
        refuse_the_toy_default(values["tasks"], values["tasks_dirs"])
    implied = COMPAT_PROFILES.get(values["compat"], COMPAT_PROFILES[None]).demos
    if implied and getattr(ctx.get_parameter_source("demos"), "name", None) != "COMMANDLINE":
        values["demos"] = implied  # e.g. OpenFlamingo's own draws, unless another strategy is asked for
    try:
        return RunConfig.model_validate(values)
    except ValidationError as error:
        raise typer.BadParameter(problems(error)) from None


def refuse_the_toy_default(tasks: tuple[str, ...], tasks_dirs: tuple[Path, ...]) -> None:
    """Without --model the bundled tiny-shapes runs: right for the shapes tasks, a silent toy score for others."""
    from fseval.models.registry import PRESETS
    from fseval.tasks.spec import load_tasks

    others = [task.name for task in load_tasks(tasks, tasks_dirs) if task.spec.data.default_dir is None]
    if others:
        raise typer.BadParameter(
            f"give --model for {', '.join(others)}: the default, tiny-shapes, is a 2.3M-parameter toy trained "
            f"for the bundled shapes_* tasks. Presets: {', '.join(PRESETS)}; or a family with --model-arg, or a "
            "model directory (fseval models)."
        )


def resumed_config(
    ctx: typer.Context, resume: Path, model: str, model_arg: list[str] | None
) -> tuple[RunConfig, Path | None]:
    """A run's own options, with only where the model's files are allowed to change; and its origin folder.

    ``--shots`` and ``--trials`` extend a run: the shot counts given are added to the run's, and
    trials grow to the number given; only the samples not stored yet are evaluated.
    """
    from fseval.config import config_from_run, run_origin

    # (Typer ships its own copy of click, so the source is matched by name.)
    given = [
        f"--{name.replace('_', '-')}"
        for name in ctx.params
        if name not in ("resume", "model_arg", "model", "shots", "trials")
        and getattr(ctx.get_parameter_source(name), "name", None) == "COMMANDLINE"
    ]
    if given:
        raise typer.BadParameter(
            f"{', '.join(given)} cannot be combined with --resume: a run resumes with its own options "
            "(only --model and --model-arg may point to files that moved; --shots and --trials add work)."
        )
    # The runner checks that it is the same model. The run goes on in the folder it was started from
    # (its relative paths, and the media paths it recorded, are from there); what is given now is
    # resolved here first.
    resume = resume.resolve()
    saved = config_from_run(resume)
    moved = getattr(ctx.get_parameter_source("model"), "name", None) == "COMMANDLINE"
    arguments = {k: existing_path(v) for k, v in parse_model_args(model_arg).items()}
    update = {"model": existing_path(model) if moved else saved.model, "model_args": {**saved.model_args, **arguments}}
    update.update(extended(ctx, saved, run_origin(resume)))
    return saved.model_copy(update=update), run_origin(resume)


def extended(ctx: typer.Context, saved: RunConfig, origin: Path | None) -> dict[str, Any]:
    """The shot counts and trials ``--resume RUN --shots ... --trials N`` asks for, added to the run's."""
    from fseval.tasks.spec import load_tasks

    changes: dict[str, Any] = {}
    if getattr(ctx.get_parameter_source("trials"), "name", None) == "COMMANDLINE":
        changes["trials"] = max(saved.trials, ctx.params["trials"])
    if getattr(ctx.get_parameter_source("shots"), "name", None) == "COMMANDLINE":
        added = parse_shots(ctx.params["shots"]) or ()
        if saved.shots is None:  # the tasks' own shot counts, all kept
            with working_directory(origin):
                before = [k for task in load_tasks(saved.tasks, saved.tasks_dirs) for k in task.spec.shots]
        else:
            before = list(saved.shots)
        changes["shots"] = tuple(sorted(dict.fromkeys([*before, *added])))
    return changes


def checked_loggers(names: list[str]) -> list[str]:
    """``--log-to`` names whose packages are installed (checked before anything runs)."""
    from fseval.reports.loggers import missing_loggers

    problems = missing_loggers(names)
    if problems:
        raise FsevalError("\n".join(problems))
    return names


def execute(
    config: RunConfig, origin: Path | None, resume: bool, breakdown: bool = False, trackers: Sequence[str] = ()
) -> None:
    """Run, show progress and the results table on rank 0; Ctrl-C, SIGTERM or an error says how to resume."""
    from fseval.progress import no_progress
    from fseval.record import stored_samples
    from fseval.reports.display import console, progress_bars
    from fseval.run.runner import RunFailed, RunInterrupted
    from fseval.run.runner import run as run_tasks
    from fseval.run.stopping import stop_on_signals

    worker = os.environ.get("RANK", "0") != "0"  # a torchrun worker: rank 0 shows progress and results
    stored_before = stored_samples(config.output) if resume and config.output is not None else 0
    try:
        bars = nullcontext(no_progress) if worker else progress_bars()
        with working_directory(origin), stop_on_signals(), quiet_libraries(), bars as progress:
            run_dir = run_tasks(config, progress, resume=resume)
    except RunInterrupted as stop:
        if not worker:
            console.print(f"[yellow]Interrupted.[/yellow] {saved_note(stop.saved, stop.output)}", highlight=False)
        raise typer.Exit(130) from None
    except RunFailed as failure:
        if not worker:
            report_failure(failure)
        raise typer.Exit(1) from None
    if not worker:
        show_run(run_dir, breakdown)
        if trackers:
            from fseval.reports.loggers import log_run

            for where in log_run(run_dir, trackers):
                console.print(f"Logged to {where}", markup=False)
        if resume and stored_samples(run_dir) == stored_before and not failed_rows(run_dir):
            console.print(
                "The run was complete: nothing new was evaluated (results.json is rewritten from its samples)."
            )


def saved_note(saved: int, output: Path) -> str:
    """What a stopped run kept, and how to finish it."""
    from fseval.errors import plural

    if saved == 0:
        return "No sample had finished: nothing was saved."
    kept = f"{plural(saved, 'finished sample')} {'is' if saved == 1 else 'are'} saved in {output}"
    return f"{kept}; finish the run with: fseval run --resume {output}"


def report_failure(failure: Any) -> None:
    """An error inside a run as one panel: the error, what is saved, the resume command, where the traceback is."""
    from fseval.reports.display import err_console, error_panel

    if debugging():
        err_console.print_exception(show_locals=False)
    where = f"The full traceback is in {failure.log}" if failure.log is not None else "No log could be written"
    hint = f"{where} (fseval --debug run ... also prints it)."
    message = f"The run stopped on an error: {failure}.\n{failure_advice(failure.error, failure.output)}"
    if failure.started:
        message += f"\n{saved_note(failure.saved, failure.output)}"
    error_panel(message, hint)


def disk_nearly_full(folder: Path) -> bool:
    """Under 1 MiB free where the run writes (SQLite reports a full disk as a "disk I/O error" at times)."""
    import shutil

    try:
        return shutil.disk_usage(folder if folder.exists() else Path.cwd()).free < 1 << 20
    except OSError:
        return False


def failure_advice(error: BaseException, output: Path) -> str:
    """What usually helps, for the failures a long run meets: memory, disk, the accelerator."""
    import errno
    import sqlite3

    text = str(error).lower()
    if "out of memory" in text or type(error).__name__ == "OutOfMemoryError":
        return "The accelerator ran out of memory even one prompt at a time: use --precision bf16 or a larger device."
    full = "disk is full" in text or (isinstance(error, OSError) and error.errno in (errno.ENOSPC, errno.EDQUOT))
    if full or (isinstance(error, sqlite3.Error | OSError) and disk_nearly_full(output)):
        return "The disk is full: free space (or move the run directory), then resume."
    if isinstance(error, sqlite3.Error):
        return "The run's store (store.sqlite) could not be written."
    if "cuda" in text:
        return "The accelerator reported an error; set CUDA_LAUNCH_BLOCKING=1 to locate it, then resume."
    return "This looks like a bug in fseval or the model's code; please report it with the traceback."


def debugging() -> bool:
    return os.environ.get("FSEVAL_DEBUG", "") not in ("", "0")


def failed_rows(run_dir: Path) -> list[int]:
    from fseval.record import RunRecord

    return [row.failed for _, row in RunRecord.load(run_dir).rows() if row.failed]
