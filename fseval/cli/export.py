"""``fseval export``: a run's predictions as the files the benchmarks' evaluation servers take."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from fseval.cli.app import app, user_errors


@app.command()
@user_errors
def export(
    run_dir: Annotated[
        Path, typer.Argument(help="A run directory (results.json and samples.jsonl).", metavar="RUN_DIR")
    ],
    output: Annotated[Path, typer.Option("--output", "-o", help="New folder for the files.", metavar="DIR")],
    output_format: Annotated[
        str, typer.Option("--format", "-f", help="evalai: each server's submission file.", metavar="FORMAT")
    ] = "evalai",
    force: Annotated[bool, typer.Option("--force", help="Replace DIR if it holds files.")] = False,
) -> None:
    """Write a test-server submission file per task, shot count and seed of a run (every sample once)."""
    from fseval.outputs import new_folder_problem, staged_folder
    from fseval.reports.display import console
    from fseval.reports.submission import FORMATS, export_run

    if output_format not in FORMATS:
        raise typer.BadParameter(f"{output_format!r} is not one of {', '.join(FORMATS)}.", param_hint="--format")
    problem = new_folder_problem(output, "--output", force)  # before the run is read
    if problem is not None:
        raise typer.BadParameter(problem, param_hint="--output")
    with staged_folder(output, "--output", force) as staging:
        written = export_run(run_dir, staging)
    for item in written:
        note = f" ({item.note})" if item.note else ""
        place = output / item.path.name
        console.print(f"{item.server}: {place}: {item.entries} entries{note}", markup=False, highlight=False)
