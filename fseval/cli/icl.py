"""``fseval icl``: what the demos add, per task and shot count, across a run and its demo ablations."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated

import typer

from fseval.cli.app import Labels, app, user_errors
from fseval.cli.compare import labelled_runs, warn_incomplete


@app.command()
@user_errors
def icl(
    runs: Annotated[
        list[Path],
        typer.Argument(help="Run directories of one model and task(s): a plain run and its --demo-ablation runs."),
    ],
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON only.")] = False,
    plot: Annotated[
        Path | None,
        typer.Option(
            "--plot",
            help="Also write score against shots, a 95% band per run and ablation, to this PNG (needs matplotlib).",
            metavar="FILE",
        ),
    ] = None,
    label: Labels = None,
) -> None:
    """ICL analysis: gain over 0 shots and over each demo ablation (paired bootstrap 95% CI), peak per run."""
    from fseval.reports.display import console, err_console
    from fseval.reports.icl import ablation, icl_tables, icl_views, run_warnings

    if plot is not None:
        from fseval.reports.icl_plot import OPTION, write_icl_plot
        from fseval.reports.plot import plot_output

        plot_output(plot, OPTION)  # the format and the place, before any run is read
    loaded = labelled_runs(runs, label)
    warn_incomplete(loaded)
    warnings = run_warnings(loaded)
    for warning in warnings:
        err_console.print(f"warning: {warning}", style="yellow", markup=False, highlight=False)
    views = icl_views(loaded)
    if plot is not None:
        written = write_icl_plot(loaded, views, plot)
        err_console.print(f"Wrote {written}", markup=False, highlight=False)
    if as_json:
        described = [{"name": r.name, "path": str(r.path), "demo_ablation": ablation(r)} for r in loaded]
        typer.echo(json.dumps({"runs": described, "warnings": warnings, "tasks": [v.as_dict() for v in views]}))
        return
    for table in icl_tables(views):
        console.print(table)
