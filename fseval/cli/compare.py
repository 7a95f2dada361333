"""``fseval compare``, ``check``, ``plot`` and ``report``: runs against each other and against baselines."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated, Any

import typer

from fseval.cli.app import Labels, app, user_errors


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
