"""``fseval score``, ``show``, ``tasks`` and ``models``: what a run, a task or a model family holds."""

from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

from fseval.cli.app import ShowBreakdown, TasksDir, app, tasks_app, user_errors

if TYPE_CHECKING:
    from fseval.record import RunRecord


def tasks_setting_demos(names: list[str], tasks_dirs: list[str]) -> list[str]:
    """Those of the tasks whose data sets each query's demos (VL-ICL Bench), where their task files still load."""
    from fseval.errors import FsevalError
    from fseval.tasks.spec import load_tasks

    try:
        tasks = load_tasks(names, [Path(directory) for directory in tasks_dirs])
    except FsevalError:
        return []
    return [task.name for task in tasks if any(layout.sets_demos for layout in task.spec.data.eval)]


def show_run(run_dir: Path, breakdown: bool = False) -> None:
    """The results table of a run directory (and its breakdowns), from its results.json."""
    from fseval.record import RunRecord
    from fseval.reports.completeness import completeness
    from fseval.reports.display import breakdown_tables, console, results_table

    record = RunRecord.load(run_dir)
    config = record.config
    own = tasks_setting_demos(list(record.results), config.get("tasks_dirs") or [])
    notes = [
        f"demos: {config.get('demos', 'random')}" + (f" ({', '.join(own)}: as their data sets them)" if own else "")
    ]
    notes += [f"prompt ensembles: {config['prompt_ensembles']}"] if config.get("prompt_ensembles", 1) > 1 else []
    notes += [] if config.get("zero_shot_text_demos", True) else ["0 shots without text demos"]
    notes += [f"instruction: {config['instruction']}"] if config.get("instruction") else []
    ablation = config.get("demo_ablation", "none")
    notes += [f"demo ablation: {ablation} (demos drawn as without it, then changed)"] if ablation != "none" else []
    compat = config.get("compat")
    notes += [f"compat: {compat} (rank scores as its evaluate.py computes them)"] if compat else []
    console.print(results_table(record.results, title=f"fseval {config.get('model', '')}", notes=notes))
    for table in breakdown_tables(record.results) if breakdown else []:
        console.print(table)
    for task_name, shot_count, error in unscored(record, run_dir):
        message = f"{task_name} at {shot_count} shots: every sample failed, so there is no score. First error: {error}"
        console.print(message, style="red", markup=False)
    if any(row.failed for _, row in record.rows()):
        console.print(f"Samples that failed are tried again by: fseval run --resume {run_dir}", markup=False)
    incomplete = completeness(record, run_dir).message()
    if incomplete:
        console.print(incomplete, style="yellow", markup=False, highlight=False)
    console.print(f"Run directory: {run_dir}")


def unscored(record: RunRecord, run_dir: Path) -> list[tuple[str, int, str]]:
    """(task, shots, first error) of every row in which no sample could be scored."""
    from fseval.record import SAMPLES_FILE, read_samples

    empty = {(task, row.shots) for task, row in record.rows() if row.n == 0}
    errors: dict[tuple[str, int], str] = {}
    if empty and (run_dir / SAMPLES_FILE).is_file():
        for sample in read_samples(run_dir):
            errors.setdefault((sample.task, sample.shots), sample.error or "")
    return [(task, shots, errors.get((task, shots), "")) for task, shots in sorted(empty)]


@app.command()
@user_errors
def score(
    task: Annotated[
        str, typer.Option("--task", "-t", help="Task whose evaluation split the predictions answer.", metavar="TASK")
    ],
    predictions: Annotated[
        Path,
        typer.Option(
            help="Predictions in the benchmark's results format (fseval tasks show TASK says which), "
            "or a run directory to rescore from its stored predictions.",
            metavar="FILE|RUN_DIR",
        ),
    ],
    data_dir: Annotated[
        str | None, typer.Option(help="Dataset folder (only the evaluation split is read).", metavar="DIR")
    ] = None,
    metric_variant: Annotated[str | None, typer.Option(help="e.g. openflamingo.", metavar="VARIANT")] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON only.")] = False,
    tasks_dir: TasksDir = None,
) -> None:
    """Score predictions made elsewhere with the task's official metric, or rescore a run's."""
    from fseval.reports.export import nan_to_none
    from fseval.reports.scoring import score_file, score_run

    if predictions.is_dir():
        results = score_run(task, predictions, data_dir, metric_variant, tasks_dir or ())
        if as_json:
            typer.echo(json.dumps(nan_to_none(results)))
        for result in [] if as_json else results:
            print_score(result, f"{result['shots']}-shot seed {result['seed']}")
        return
    result = score_file(task, predictions, data_dir, metric_variant, tasks_dir or ())
    if as_json:
        typer.echo(json.dumps(nan_to_none(result)))
    else:
        print_score(result)


def print_score(result: dict[str, Any], trial: str = "") -> None:
    from fseval.metrics import METRICS
    from fseval.reports.display import console, group_scores_table

    where = f"{result['task']} {trial}".strip()
    for position, (name, value) in enumerate(result["metrics"].items()):
        label = f"{name} [{METRICS[name].label}]" if name in METRICS and METRICS[name].headline else name
        count = f" (n={result['n']})" if position == 0 else ""  # the headline's; an extra may count a subset
        console.print(f"{where} {label} ({result['metric_variant']}): {value:.2f}{count}", markup=False)
    if result["missing"]:
        console.print(f"[yellow]{result['missing']} evaluation samples had no prediction and were not scored.[/yellow]")
    for field, groups in result["breakdown"].items():
        console.print(group_scores_table(f"{where} by {field}", field, groups))


@app.command()
@user_errors
def show(
    run_dir: Annotated[Path, typer.Argument(help="A run directory (its results.json).", metavar="RUN_DIR")],
    breakdown: ShowBreakdown = False,
    output_format: Annotated[
        str,
        typer.Option(
            "--format", "-f", help="table, markdown, csv or json (csv and json at full precision).", metavar="FORMAT"
        ),
    ] = "table",
) -> None:
    """Show a run's scores: the results table, or markdown/CSV/JSON for papers and issue trackers."""
    from fseval.record import RunRecord
    from fseval.reports import export
    from fseval.reports.completeness import completeness
    from fseval.reports.display import err_console

    if output_format not in ("table", "markdown", "csv", "json"):
        raise typer.BadParameter(f"{output_format!r} is not one of table, markdown, csv, json.", param_hint="--format")
    if output_format == "table":
        show_run(run_dir, breakdown)
        return
    record = RunRecord.load(run_dir)
    incomplete = completeness(record, run_dir).message()
    if incomplete:  # on stderr: what goes to stdout stays the format asked for
        err_console.print(incomplete, style="yellow", markup=False, highlight=False)
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
def tasks_show(
    name: Annotated[str, typer.Argument(help="A task (fseval tasks lists them).", metavar="TASK")],
    tasks_dir: TasksDir = None,
) -> None:
    """Show a task: its spec, prompt, metric and the files it expects under --data-dir."""
    from fseval.reports.display import console, task_details
    from fseval.tasks.spec import load_tasks

    (task,) = load_tasks([name], tasks_dir or ())
    console.print(task_details(task))


@app.command()
@user_errors
def models(
    family: Annotated[str | None, typer.Argument(help="A family: list its --model-arg keys.", metavar="FAMILY")] = None,
) -> None:
    """List model families and presets, or one family's arguments."""
    from fseval.reports.display import console, family_table, models_table

    console.print(models_table() if family is None else family_table(family))
