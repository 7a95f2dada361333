"""``fseval compare``, ``check``, ``plot`` and ``report``: runs against each other and against baselines."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated, Any

import typer

from fseval.cli.app import Labels, app, user_errors
from fseval.errors import plural


@app.command()
@user_errors
def compare(
    runs: Annotated[
        list[Path], typer.Argument(help="Run directories; each is compared with the first.", metavar="RUN_DIR")
    ],
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON only.")] = False,
    label: Labels = None,
) -> None:
    """Compare runs: score per shot count, difference, bootstrap CI and p-value (paired on shared samples)."""
    from fseval.reports.compare import check_comparable
    from fseval.reports.compare import compare as compare_runs
    from fseval.reports.display import comparison_tables, console

    if len(runs) < 2:
        raise typer.BadParameter("give at least two run directories.")
    loaded = labelled_runs(runs, label)
    for other in loaded[1:]:
        check_comparable(loaded[0], other)  # every pair, before anything is printed
    warn_incomplete(loaded)
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
    run_dir: Annotated[Path, typer.Argument(help="The run directory to check.", metavar="RUN_DIR")],
    baseline: Annotated[Path | None, typer.Option(help="Baseline JSON to check against.", metavar="FILE")] = None,
    tolerance: Annotated[
        str,
        typer.Option(
            help="Allowed drop: points, or 'ci' for the baseline's 95% CI half-width (default: exact).",
            metavar="POINTS",
        ),
    ] = "exact",
    write_baseline: Annotated[
        Path | None, typer.Option(help="Create or update this baseline from the run.", metavar="FILE")
    ] = None,
) -> None:
    """Exit 1 if any (task, shots) score fell below the baseline by more than the tolerance."""
    from fseval.outputs import output_file
    from fseval.reports.check import check as check_run
    from fseval.reports.check import read_baseline
    from fseval.reports.check import write_baseline as write
    from fseval.reports.compare import load_run
    from fseval.reports.display import check_table, console

    if (baseline is None) == (write_baseline is None):
        raise typer.BadParameter("give exactly one of --baseline FILE or --write-baseline FILE.")
    if write_baseline is not None:
        output_file(write_baseline, "--write-baseline")  # before the run is read
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
        unscored = sum(v.score is None and bool(v.not_scored) for v in failed)
        missing = sum(v.score is None for v in failed) - unscored
        unlike = sum(v.score is not None and v.mismatch is not None for v in failed)
        parts = [f"{len(failed) - missing - unscored - unlike} of {len(verdicts)} scores fell below the baseline"]
        parts += [f"{missing} are missing from the run"] if missing else []
        parts += [f"{unscored} are not scored in the run (labels withheld)"] if unscored else []
        parts += [f"{unlike} measure something else (metric variant or n)"] if unlike else []
        console.print(f"[red]{'; '.join(parts)}.[/red]")
        raise typer.Exit(1)
    console.print(f"[green]All {len(verdicts)} scores meet the baseline.[/green]")


def warn_incomplete(runs: list[Any]) -> None:
    """A yellow line on stderr for each run that lacks (task, shots) rows or trials it set out to make."""
    from fseval.reports.completeness import completeness
    from fseval.reports.display import err_console

    for run in runs:
        message = completeness(run.record, run.path).message()
        if message:
            err_console.print(f"{run.name}: {message}", style="yellow", markup=False, highlight=False)


def labelled_runs(paths: list[Path], labels: list[str] | None) -> list[Any]:
    """The runs, each named by ``--label`` or, by default, by what tells them apart."""
    import dataclasses

    from fseval.reports.compare import default_labels, load_run

    runs = [load_run(path) for path in paths]
    if labels is not None and len(labels) != len(runs):
        raise typer.BadParameter(
            f"give one --label per run ({plural(len(runs), 'run')}, {plural(len(labels), 'label')})."
        )
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
    runs: Annotated[list[Path], typer.Argument(help="Run directories, one line each.", metavar="RUN_DIR")],
    output: Annotated[Path, typer.Option("--output", "-o", help="PNG file to write.", metavar="FILE")] = Path(
        "fseval.png"
    ),
    label: Labels = None,
) -> None:
    """Plot score against shots: one panel per task, one line per run (needs matplotlib)."""
    from fseval.reports.plot import plot_output, plot_runs

    plot_output(output)  # the format and the place, before any run is read
    loaded = labelled_runs(runs, label)
    warn_incomplete(loaded)
    typer.echo(str(plot_runs(loaded, output)))


@app.command()
@user_errors
def report(
    runs: Annotated[
        list[Path], typer.Argument(help="Run directories; the first is A in the paired differences.", metavar="RUN_DIR")
    ],
    output: Annotated[Path, typer.Option("--output", "-o", help="HTML file to write.", metavar="FILE")] = Path(
        "report.html"
    ),
    label: Labels = None,
    thumbnail_size: Annotated[
        int, typer.Option(min=16, max=512, help="Longest side of thumbnails, pixels.", metavar="PIXELS")
    ] = 80,
    image_budget: Annotated[
        float,
        typer.Option(min=0, help="MB of thumbnails at most (query images first); the rest are named.", metavar="MB"),
    ] = 40.0,
) -> None:
    """Write one self-contained HTML file: scores, charts, breakdowns and a browser of every sample."""
    from fseval.outputs import output_file
    from fseval.progress import phase, reporting_to
    from fseval.reports.display import console, progress_bars
    from fseval.reports.html import build_report

    output_file(output, "--output")  # before any run is read
    with progress_bars() as progress, reporting_to(progress):  # status lines on stderr while it works
        with phase(f"Reading {len(runs)} run{'s' if len(runs) > 1 else ''}"):
            loaded = labelled_runs(runs, label)
        built = build_report(loaded, output, thumbnail_size, image_budget)
    warn_incomplete(loaded)  # as the report's banner says
    console.print(built.summary(), markup=False, highlight=False)
