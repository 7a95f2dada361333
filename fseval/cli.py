"""The ``fseval`` command line. Heavy imports (torch, models) happen inside the commands."""

from __future__ import annotations

import functools
import json
import os
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager, nullcontext
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any, TypeVar

import typer

from fseval import __version__
from fseval.errors import FsevalError

if TYPE_CHECKING:
    from fseval.record import RunRecord

app = typer.Typer(
    help="Few-shot evaluation of Flamingo-style visual language models.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    rich_markup_mode="rich",
)
tasks_app = typer.Typer(help="List tasks, or show one with `fseval tasks show NAME`.", invoke_without_command=True)
app.add_typer(tasks_app, name="tasks")

F = TypeVar("F", bound=Callable[..., Any])

TasksDir = Annotated[
    list[Path] | None,
    typer.Option("--tasks-dir", help="Extra folder of task YAMLs (prompts in its prompts/); also $FSEVAL_TASKS_DIR."),
]


def user_errors(fn: F) -> F:
    """Show an FsevalError as one panel and exit 1; anything else is a bug and keeps its traceback."""

    @functools.wraps(fn)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return fn(*args, **kwargs)
        except FsevalError as e:
            from fseval.reports.display import error_panel

            error_panel(e.message, e.hint)
            raise typer.Exit(1) from None

    return wrapper  # type: ignore[return-value]


def split_list(values: list[str] | None) -> list[str]:
    return [item.strip() for value in values or [] for item in value.split(",") if item.strip()]


def parse_shots(value: str | None) -> tuple[int, ...] | None:
    if value is None:
        return None
    try:
        shots = tuple(int(s) for s in split_list([value]))
    except ValueError:
        raise typer.BadParameter(f"{value!r} is not a comma-separated list of integers, e.g. 0,4,8.") from None
    if not shots:
        raise typer.BadParameter("give at least one shot count, e.g. 0,4,8.")
    if any(s < 0 for s in shots):
        raise typer.BadParameter("shot counts must be >= 0.")
    return tuple(dict.fromkeys(shots))  # each once, in the order given


def parse_model_args(values: list[str] | None) -> dict[str, Any]:
    """``key=value`` pairs; values that parse as JSON (numbers, true/false) are typed."""
    parsed: dict[str, Any] = {}
    for item in values or []:
        key, sep, raw = item.partition("=")
        if not sep or not key:
            raise typer.BadParameter(f"--model-arg {item!r} should look like key=value.")
        try:
            parsed[key] = json.loads(raw)
        except json.JSONDecodeError:
            parsed[key] = raw
    return parsed


def existing_path(value: Any) -> Any:
    """``value`` made absolute if it names an existing file or folder (before a resume changes folder)."""
    return str(Path(value).resolve()) if isinstance(value, str) and value and Path(value).exists() else value


@contextmanager
def working_directory(folder: Path | None) -> Iterator[None]:
    previous = Path.cwd()
    if folder is not None:
        os.chdir(folder)
    try:
        yield
    finally:
        os.chdir(previous)


def device_callback(value: str) -> str:
    from fseval.devices import check_device_name

    try:
        return check_device_name(value)
    except FsevalError as e:
        raise typer.BadParameter(f"{e.message} {e.hint}") from None


def version_callback(value: bool) -> None:
    if value:
        typer.echo(f"fseval {__version__}")
        raise typer.Exit()


@app.callback()
def root(
    version: Annotated[
        bool, typer.Option("--version", callback=version_callback, is_eager=True, help="Print the version and exit.")
    ] = False,
) -> None:
    """Few-shot evaluation of Flamingo-style visual language models."""


# fseval run's options whose declarations would not fit on one line.
Tasks = Annotated[list[str] | None, typer.Option("--task", "-t", help="Task name(s), repeated or comma-separated.")]
ModelName = Annotated[
    str, typer.Option(help="Preset, family (with --model-arg), model directory, or the bundled tiny-shapes.")
]
ModelArgs = Annotated[
    list[str] | None, typer.Option(help="key=value for the model family, one pair per flag (fseval models FAMILY).")
]
DataDir = Annotated[
    str | None, typer.Option(help="Dataset folder (its files, or one sub-folder per task), or hf:REPO.")
]
BatchSize = Annotated[int, typer.Option(min=1, help="Prompts per model call (never changes the results).")]
MetricVariant = Annotated[str | None, typer.Option(help="Metric variant, e.g. openflamingo (default: the task's).")]
ZeroShotTextDemos = Annotated[bool, typer.Option(help="At 0 shots, prepend two text-only demos (Flamingo convention).")]
PromptEnsembles = Annotated[
    int, typer.Option(min=1, help="Rank tasks: average log-likelihoods over this many demo orders.")
]
DemosFile = Annotated[
    Path | None, typer.Option(help='--demos fixed: JSON list of demo ids, or {"sample id": \\[demo ids]}.')
]
CacheDir = Annotated[
    Path | None, typer.Option(help="Feature cache (default $FSEVAL_CACHE/features or ~/.cache/fseval/features).")
]
GroupByLength = Annotated[bool, typer.Option(help="Batch prompts of similar length together (never changes results).")]
Compat = Annotated[
    str | None,
    typer.Option(
        help="openflamingo: reproduce OpenFlamingo's evaluate.py where it differs from fseval (rank tasks: "
        "0-shot prompts attend to the first demo's image, candidates attend to the prompts' padding, "
        "its batches); implies --demos openflamingo and the openflamingo metric variant unless given."
    ),
]
Resume = Annotated[
    Path | None,
    typer.Option(
        help="Finish an interrupted run with its own options (RUN_DIR/results.json); "
        "only --model/--model-arg may point to moved files."
    ),
]


ShowBreakdown = Annotated[
    bool, typer.Option(help="Also show each group's score (answer type, question type ...: the task's breakdown).")
]
LogTo = Annotated[
    list[str] | None,
    typer.Option(help="Also send the scores to tensorboard and/or wandb (installed separately), when the run ends."),
]
Labels = Annotated[
    list[str] | None,
    typer.Option(help="A name per run, in order (default: the folder, or model and seed where folders share a name)."),
]


@app.command()
@user_errors
def run(
    ctx: typer.Context,
    task: Tasks = None,
    model: ModelName = "tiny-shapes",
    model_arg: ModelArgs = None,
    shots: Annotated[str | None, typer.Option(help="Shot counts, e.g. 0,4,8 (default: the task's).")] = None,
    data_dir: DataDir = None,
    output: Annotated[Path | None, typer.Option("--output", "-o", help="Run directory.")] = None,
    limit: Annotated[int | None, typer.Option(min=1, help="Evaluate the first N samples only.")] = None,
    seed: Annotated[int, typer.Option(help="Seed of the first trial; trial i uses seed + i.")] = 42,
    trials: Annotated[int, typer.Option(min=1, help="Trials (demo draws) per shot count.")] = 1,
    batch_size: BatchSize = 8,
    device: Annotated[str, typer.Option(help="auto, cpu, cuda, cuda:N or mps.", callback=device_callback)] = "auto",
    precision: Annotated[str, typer.Option(help="fp32, bf16 or fp16 (weights are cast).")] = "fp32",
    metric_variant: MetricVariant = None,
    zero_shot_text_demos: ZeroShotTextDemos = True,
    prompt_ensembles: PromptEnsembles = 1,
    demos: Annotated[str, typer.Option(help="Demo selection: random, fixed, rices or openflamingo.")] = "random",
    demos_file: DemosFile = None,
    rices_model: Annotated[str, typer.Option(help="--demos rices: open_clip model name or config JSON.")] = "ViT-L-14",
    rices_pretrained: Annotated[str, typer.Option(help="--demos rices: open_clip tag or weights file.")] = "openai",
    cache_dir: CacheDir = None,
    group_by_length: GroupByLength = True,
    prefetch: Annotated[bool, typer.Option(help="Decode the next batches' media in background threads.")] = True,
    compat: Compat = None,
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


def new_config(ctx: typer.Context, options: dict[str, Any]) -> Any:
    """A validated ``RunConfig`` from ``fseval run``'s options; every problem in one usage error."""
    from pydantic import ValidationError

    from fseval.config import RunConfig, problems

    if not options["task"]:
        raise typer.BadParameter("give --task (or --resume RUN_DIR).")
    values = dict(options)
    values.update(
        tasks=tuple(split_list(values.pop("task"))),
        tasks_dirs=tuple(values.pop("tasks_dir") or ()),
        model_args=parse_model_args(values.pop("model_arg")),
        shots=parse_shots(values["shots"]),
    )
    if getattr(ctx.get_parameter_source("model"), "name", None) != "COMMANDLINE":
        refuse_the_toy_default(values["tasks"], values["tasks_dirs"])
    if values["compat"] == "openflamingo" and getattr(ctx.get_parameter_source("demos"), "name", None) != "COMMANDLINE":
        values["demos"] = "openflamingo"  # OpenFlamingo's own draws, unless another strategy is asked for
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
) -> tuple[Any, Path | None]:
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


def extended(ctx: typer.Context, saved: Any, origin: Path | None) -> dict[str, Any]:
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
    from fseval.errors import FsevalError
    from fseval.reports.loggers import missing_loggers

    problems = missing_loggers(names)
    if problems:
        raise FsevalError("\n".join(problems))
    return names


def execute(
    config: Any, origin: Path | None, resume: bool, breakdown: bool = False, trackers: Sequence[str] = ()
) -> None:
    """Run, show progress and the results table on rank 0; Ctrl-C or SIGTERM says how to resume."""
    from fseval.reports.display import console, progress_bars
    from fseval.run.results import stored_samples
    from fseval.run.runner import RunInterrupted, no_progress
    from fseval.run.runner import run as run_tasks

    worker = os.environ.get("RANK", "0") != "0"  # a torchrun worker: rank 0 shows progress and results
    stored_before = stored_samples(config.output) if resume else 0
    try:
        bars = nullcontext(no_progress) if worker else progress_bars()
        with working_directory(origin), interrupted_by_sigterm(), quiet_libraries(), bars as progress:
            run_dir = run_tasks(config, progress, resume=resume)
    except RunInterrupted as stop:
        if not worker and stop.saved == 0:
            console.print("[yellow]Interrupted[/yellow] before any sample finished: nothing was saved.")
        elif not worker:
            console.print(
                f"[yellow]Interrupted.[/yellow] {stop.saved} finished samples are saved in {stop.output}; "
                f"finish the run with: fseval run --resume {stop.output}"
            )
        raise typer.Exit(130) from None
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


def failed_rows(run_dir: Path) -> list[int]:
    from fseval.record import RunRecord

    return [row.failed for _, row in RunRecord.load(run_dir).rows() if row.failed]


@contextmanager
def interrupted_by_sigterm() -> Iterator[None]:
    """SIGTERM, what schedulers send to stop a job, stops a run as Ctrl-C does: saved, with the resume command."""
    import signal

    def interrupt(signum: int, frame: Any) -> None:
        raise KeyboardInterrupt

    previous = signal.signal(signal.SIGTERM, interrupt)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)


class _NoRandomWeightsNotice:
    """open_clip announces "No pretrained weights loaded" for every tower built from a config, as ours are."""

    def filter(self, record: Any) -> bool:
        return "No pretrained weights loaded" not in record.getMessage()


@contextmanager
def quiet_libraries() -> Iterator[None]:
    """No library progress bars or notices in the middle of fseval's own (transformers' "Loading weights")."""
    import logging

    quiet = _NoRandomWeightsNotice()
    logging.getLogger().addFilter(quiet)
    previous = os.environ.get("HF_HUB_DISABLE_PROGRESS_BARS")
    os.environ["HF_HUB_DISABLE_PROGRESS_BARS"] = "1"
    try:
        yield
    finally:
        logging.getLogger().removeFilter(quiet)
        if previous is None:
            os.environ.pop("HF_HUB_DISABLE_PROGRESS_BARS", None)
        else:
            os.environ["HF_HUB_DISABLE_PROGRESS_BARS"] = previous


def show_run(run_dir: Path, breakdown: bool = False) -> None:
    """The results table of a run directory (and its breakdowns), from its results.json."""
    from fseval.record import SAMPLES_FILE, RunRecord
    from fseval.reports.display import breakdown_tables, console, results_table

    record = RunRecord.load(run_dir)
    config = record.config
    notes = [f"demos: {config.get('demos', 'random')}"]
    notes += [f"prompt ensembles: {config['prompt_ensembles']}"] if config.get("prompt_ensembles", 1) > 1 else []
    notes += [] if config.get("zero_shot_text_demos", True) else ["0 shots without text demos"]
    compat = config.get("compat")
    notes += [f"compat: {compat} (rank scores as its evaluate.py computes them)"] if compat else []
    console.print(results_table(record.results, title=f"fseval {config.get('model', '')}", notes=notes))
    for table in breakdown_tables(record.results) if breakdown else []:
        console.print(table)
    for task_name, shot_count, error in unscored(record, run_dir / SAMPLES_FILE):
        message = f"{task_name} at {shot_count} shots: every sample failed, so there is no score. First error: {error}"
        console.print(message, style="red", markup=False)
    if any(row.failed for _, row in record.rows()):
        console.print(f"Samples that failed are tried again by: fseval run --resume {run_dir}", markup=False)
    console.print(f"Run directory: {run_dir}")


def unscored(record: RunRecord, samples: Path) -> list[tuple[str, int, str]]:
    """(task, shots, first error) of every row in which no sample could be scored."""
    empty = {(task, row.shots) for task, row in record.rows() if row.n == 0}
    errors: dict[tuple[str, int], str] = {}
    if empty and samples.is_file():
        with samples.open(encoding="utf-8") as lines:
            for line in lines:
                sample = json.loads(line)
                errors.setdefault((sample["task"], sample["shots"]), sample["error"] or "")
    return [(task, shots, errors.get((task, shots), "")) for task, shots in sorted(empty)]


@app.command()
@user_errors
def score(
    task: Annotated[str, typer.Option("--task", "-t", help="Task whose evaluation split the predictions answer.")],
    predictions: Annotated[
        Path,
        typer.Option(
            help="A JSON file in the benchmark's standard results format (fseval tasks show TASK says which)."
        ),
    ],
    data_dir: Annotated[str | None, typer.Option(help="Dataset folder (only the evaluation split is read).")] = None,
    metric_variant: Annotated[str | None, typer.Option(help="e.g. openflamingo.")] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON only.")] = False,
    tasks_dir: TasksDir = None,
) -> None:
    """Score predictions made elsewhere with the task's official metric."""
    from fseval.metrics import METRICS
    from fseval.reports.display import console, group_scores_table
    from fseval.reports.export import nan_to_none
    from fseval.reports.scoring import score_file

    result = score_file(task, predictions, data_dir, metric_variant, tasks_dir or ())
    if as_json:
        typer.echo(json.dumps(nan_to_none(result)))
        return
    for name, value in result["metrics"].items():
        label = f"{name} [{METRICS[name].label}]" if name in METRICS and METRICS[name].headline else name
        console.print(
            f"{result['task']} {label} ({result['metric_variant']}): {value:.2f} (n={result['n']})", markup=False
        )
    if result["missing"]:
        console.print(f"[yellow]{result['missing']} evaluation samples had no prediction and were not scored.[/yellow]")
    for field, groups in result["breakdown"].items():
        console.print(group_scores_table(f"{result['task']} by {field}", field, groups))


@app.command()
@user_errors
def show(
    run_dir: Annotated[Path, typer.Argument(help="A run directory (its results.json).")],
    breakdown: ShowBreakdown = False,
    output_format: Annotated[
        str, typer.Option("--format", "-f", help="table, markdown, csv or json (csv and json at full precision).")
    ] = "table",
) -> None:
    """Show a run's scores: the results table, or markdown/CSV/JSON for papers and issue trackers."""
    from fseval.record import RunRecord
    from fseval.reports import export

    if output_format not in ("table", "markdown", "csv", "json"):
        raise typer.BadParameter(f"{output_format!r} is not one of table, markdown, csv, json.", param_hint="--format")
    if output_format == "table":
        show_run(run_dir, breakdown)
        return
    record = RunRecord.load(run_dir)
    if output_format == "json":
        typer.echo(export.to_json(record, breakdown))
    elif output_format == "markdown":
        typer.echo(export.to_markdown(export.rows(record, breakdown)))
    else:
        typer.echo(export.to_csv(export.rows(record, breakdown)), nl=False)


@tasks_app.callback()
@user_errors
def tasks_list(ctx: typer.Context, tasks_dir: TasksDir = None) -> None:
    """List the available tasks."""
    if ctx.invoked_subcommand is not None:
        return
    from fseval.reports.display import console, err_console, tasks_table
    from fseval.tasks.spec import tasks_and_problems

    tasks, problems = tasks_and_problems(tasks_dir or ())
    console.print(tasks_table(tasks))
    for problem in problems:  # a broken file of one's own should not hide the other tasks
        err_console.print(f"not listed: {problem}", style="yellow", markup=False)


@tasks_app.command("show")
@user_errors
def tasks_show(name: str, tasks_dir: TasksDir = None) -> None:
    """Show a task: its spec, prompt, metric and the files it expects under --data-dir."""
    from fseval.reports.display import console, task_details
    from fseval.tasks.spec import load_tasks

    (task,) = load_tasks([name], tasks_dir or ())
    console.print(task_details(task))


@app.command()
@user_errors
def models(
    family: Annotated[str | None, typer.Argument(help="A family: list its --model-arg keys.")] = None,
) -> None:
    """List model families and presets, or one family's arguments."""
    from fseval.reports.display import console, family_table, models_table

    console.print(models_table() if family is None else family_table(family))


@app.command()
@user_errors
def compare(
    runs: Annotated[list[Path], typer.Argument(help="Run directories; each is compared with the first.")],
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON only.")] = False,
    label: Labels = None,
) -> None:
    """Compare runs: score per shot count, difference, bootstrap CI and p-value (paired on shared samples)."""
    from fseval.reports.compare import compare as compare_runs
    from fseval.reports.display import comparison_tables, console

    if len(runs) < 2:
        raise typer.BadParameter("give at least two run directories.")
    loaded = labelled_runs(runs, label)
    report = []
    for other in loaded[1:]:
        comparisons = compare_runs(loaded[0], other)
        pair = {"base": str(loaded[0].path), "other": str(other.path)}
        report.append({**pair, "comparisons": [c.as_dict() for c in comparisons]})
        if not as_json:
            for table in comparison_tables(loaded[0].name, other.name, comparisons):  # by label
                console.print(table)
    if as_json:
        typer.echo(json.dumps(report))


@app.command()
@user_errors
def check(
    run_dir: Annotated[Path, typer.Argument(help="The run directory to check.")],
    baseline: Annotated[Path | None, typer.Option(help="Baseline JSON to check against.")] = None,
    tolerance: Annotated[
        str, typer.Option(help="Allowed drop: points, or 'ci' for the baseline's 95% CI half-width (default: exact).")
    ] = "exact",
    write_baseline: Annotated[Path | None, typer.Option(help="Create or update this baseline from the run.")] = None,
) -> None:
    """Exit 1 if any (task, shots) score fell below the baseline by more than the tolerance."""
    from fseval.reports.check import check as check_run
    from fseval.reports.check import read_baseline
    from fseval.reports.check import write_baseline as write
    from fseval.reports.compare import load_run
    from fseval.reports.display import check_table, console

    if (baseline is None) == (write_baseline is None):
        raise typer.BadParameter("give exactly one of --baseline FILE or --write-baseline FILE.")
    run = load_run(run_dir)
    if write_baseline is not None:
        written = write(run, write_baseline)
        entries = sum(len(rows) for rows in written["tasks"].values())
        console.print(f"Wrote {write_baseline} ({entries} task/shot entries).")
        return
    assert baseline is not None
    verdicts = check_run(run, read_baseline(baseline), parse_tolerance(tolerance))
    console.print(check_table(verdicts))
    failed = [v for v in verdicts if not v.passed]
    if failed:
        missing = sum(v.score is None for v in failed)
        unlike = sum(v.score is not None and v.mismatch is not None for v in failed)
        parts = [f"{len(failed) - missing - unlike} of {len(verdicts)} scores fell below the baseline"]
        parts += [f"{missing} are missing from the run"] if missing else []
        parts += [f"{unlike} measure something else (metric variant or n)"] if unlike else []
        console.print(f"[red]{'; '.join(parts)}.[/red]")
        raise typer.Exit(1)
    console.print(f"[green]All {len(verdicts)} scores meet the baseline.[/green]")


def labelled_runs(paths: list[Path], labels: list[str] | None) -> list[Any]:
    """The runs, each named by ``--label`` or, by default, by what tells them apart."""
    import dataclasses

    from fseval.reports.compare import default_labels, load_run

    runs = [load_run(path) for path in paths]
    if labels is not None and len(labels) != len(runs):
        raise typer.BadParameter(f"give one --label per run ({len(runs)} runs, {len(labels)} labels).")
    names = labels if labels is not None else default_labels(runs)
    return [dataclasses.replace(run, label=name) for run, name in zip(runs, names, strict=True)]


def parse_tolerance(value: str) -> float | str:
    from fseval.reports.check import EXACT

    if value in ("exact", "ci"):
        return EXACT if value == "exact" else value
    try:
        points = float(value)
    except ValueError:
        raise typer.BadParameter(f"--tolerance {value!r}: give points (e.g. 0.5), ci or exact.") from None
    if points < 0:
        raise typer.BadParameter("--tolerance must be >= 0.")
    return points


@app.command()
@user_errors
def plot(
    runs: Annotated[list[Path], typer.Argument(help="Run directories, one line each.")],
    output: Annotated[Path, typer.Option("--output", "-o", help="PNG file to write.")] = Path("fseval.png"),
    label: Labels = None,
) -> None:
    """Plot score against shots: one panel per task, one line per run (needs matplotlib)."""
    from fseval.reports.plot import plot_runs

    typer.echo(str(plot_runs(labelled_runs(runs, label), output)))


@app.command()
@user_errors
def report(
    runs: Annotated[list[Path], typer.Argument(help="Run directories; the first is A in the paired differences.")],
    output: Annotated[Path, typer.Option("--output", "-o", help="HTML file to write.")] = Path("report.html"),
    label: Labels = None,
    thumbnail_size: Annotated[int, typer.Option(min=16, max=512, help="Longest side of thumbnails, pixels.")] = 80,
    image_budget: Annotated[
        float, typer.Option(min=0, help="MB of thumbnails at most (query images first); the rest are named.")
    ] = 40.0,
) -> None:
    """Write one self-contained HTML file: scores, charts, breakdowns and a browser of every sample."""
    from fseval.reports.display import console
    from fseval.reports.html import build_report

    built = build_report(labelled_runs(runs, label), output, thumbnail_size, image_budget)
    stats = built.stats
    left_out = "; ".join(f"{n} media {why}" for why, n in stats.not_embedded.items())
    console.print(
        f"Wrote {built.path} ({built.bytes / 1e6:.1f} MB: {stats.samples} samples, {stats.thumbnails} thumbnails"
        f"{'; ' + left_out if left_out else ''}) in {built.seconds:.1f} s",
        markup=False,
    )


@app.command("cache-features")
@user_errors
def cache_features(
    task: Annotated[list[str], typer.Option("--task", "-t", help="Task name(s), repeated or comma-separated.")],
    data_dir: Annotated[str | None, typer.Option(help="Dataset folder, as for fseval run.")] = None,
    rices_model: Annotated[str, typer.Option(help="open_clip model name or config JSON.")] = "ViT-L-14",
    rices_pretrained: Annotated[str, typer.Option(help="open_clip tag or weights file.")] = "openai",
    cache_dir: Annotated[Path | None, typer.Option(help="Feature cache folder.")] = None,
    device: Annotated[str, typer.Option(help="auto, cpu, cuda, cuda:N or mps.", callback=device_callback)] = "auto",
    tasks_dir: TasksDir = None,
) -> None:
    """Precompute the CLIP image features --demos rices uses (demo split and evaluation split)."""
    from fseval.config import RicesSettings
    from fseval.data.task_data import load_task_data
    from fseval.reports.display import console
    from fseval.run.rices import cache_dir as feature_dir
    from fseval.run.rices import cached_embeddings
    from fseval.tasks.spec import load_tasks

    settings = RicesSettings(rices_model, rices_pretrained, cache_dir, device)
    for spec in load_tasks(split_list(task), tasks_dir or ()):
        data = load_task_data(spec, data_dir)
        pool = cached_embeddings(data.demo_pool, data.files["demo"], settings)
        queries = cached_embeddings(data.eval, data.files["eval"], settings)
        console.print(
            f"{spec.name}: {len(pool)} demo and {len(queries)} evaluation features in {feature_dir(settings)}"
        )


@app.command("make-tiny")
@user_errors
def make_tiny(
    directory: Annotated[Path, typer.Argument(help="Where to write the model directory.")],
    seed: Annotated[int, typer.Option(help="Same seed, same weights.")] = 0,
    family: Annotated[str, typer.Option(help="openflamingo, idefics or hf_vlm.")] = "openflamingo",
    lm: Annotated[
        str, typer.Option(help="OpenFlamingo LM family: gpt_neox, mpt, mosaic_gpt, llama, opt, gptj, gpt2.")
    ] = "gpt_neox",
    arch: Annotated[
        str, typer.Option(help="hf_vlm architecture: idefics2, idefics3, qwen2_vl, qwen2_5_vl, llava_onevision.")
    ] = "idefics2",
) -> None:
    """Write a tiny random model directory (released layout + fseval model card); prints its path."""
    if family == "openflamingo":
        from fseval.models.openflamingo import make_tiny as make

        path = make(directory, seed=seed, lm_family=lm)
    elif family == "idefics":
        from fseval.models.idefics import make_tiny_idefics

        path = make_tiny_idefics(directory, seed=seed)
    elif family == "hf_vlm":
        from fseval.models.hf_vlm.tiny import BUILDERS, make_tiny_hf_vlm

        if arch not in BUILDERS:
            raise typer.BadParameter(f"--arch must be one of {', '.join(BUILDERS)}.")
        path = make_tiny_hf_vlm(directory, arch=arch, seed=seed)
    else:
        raise typer.BadParameter("--family must be openflamingo, idefics or hf_vlm.")
    typer.echo(str(path))


def main() -> None:
    # fseval downloads nothing unless asked: models and data come from local files and the Hugging Face
    # cache, so an offline Hub fails at once instead of after network timeouts.
    if not os.environ.get("FSEVAL_ALLOW_DOWNLOADS"):
        os.environ.setdefault("HF_HUB_OFFLINE", "1")
    app()
