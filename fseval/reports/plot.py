"""Score against shots: one panel per task, one line per run, error bars from the bootstrap 95% CI.

A run keeps one colour in every panel (``reports/colours.py``, as in the HTML report), also where
another run lacks a task, and one legend above the panels names each run by its label.
"""

from __future__ import annotations

import io
import math
from pathlib import Path
from typing import TYPE_CHECKING, Any

from fseval.errors import FsevalError
from fseval.metrics import METRICS
from fseval.outputs import output_file, write_atomic
from fseval.reports.colours import run_colours
from fseval.reports.compare import Run

if TYPE_CHECKING:
    from matplotlib.figure import Figure

OPTION = "--output"


def pyplot() -> Any:
    """``matplotlib.pyplot`` drawing off-screen, or the pip line that installs it."""
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError as e:
        raise FsevalError("fseval plot needs matplotlib.", hint="pip install matplotlib") from e
    return plt


def plot_output(output: Path, option: str = OPTION) -> Path:
    """``output`` checked before any drawing: a format matplotlib writes, in a place that can hold it.

    Errors name the file as the command's ``option`` (``-o``, ``--plot``)."""
    plt = pyplot()
    formats = plt.gcf().canvas.get_supported_filetypes()
    plt.close("all")
    if not output.is_dir() and output.suffix.lstrip(".").lower() not in formats:  # a folder: output_file says so
        raise FsevalError(
            f"{option} {output}: Cannot write a plot as {output.name!r}.",
            hint=f"End {option} with one of: .{', .'.join(sorted(formats))}",
        )
    return output_file(output, option)


def save_figure(figure: Figure, output: Path, option: str = OPTION) -> Path:
    """``figure`` written to ``output`` whole (a failed write leaves nothing), in the format its suffix names."""
    buffer = io.BytesIO()
    try:
        figure.savefig(buffer, format=output.suffix.lstrip(".").lower(), dpi=120)
    finally:
        pyplot().close(figure)
    write_atomic(output, buffer.getvalue(), option)
    return output


def plot_runs(runs: list[Run], output: Path) -> Path:
    """Draw ``runs`` and write the figure to ``output``."""
    plot_output(output)
    return save_figure(draw(runs), output)


def draw(runs: list[Run]) -> Figure:
    """The figure: a panel per task (in name order), each run in its own colour, the legend above."""
    from matplotlib.lines import Line2D

    tasks = sorted({task for run in runs for task in run.record.results})
    if not tasks:
        raise FsevalError("The runs have no results to plot.")
    columns = min(3, len(tasks))
    rows = math.ceil(len(tasks) / columns)
    colours = run_colours(len(runs))
    figure: Figure
    figure, axes = pyplot().subplots(
        rows, columns, figsize=(4.5 * columns, 3.5 * rows + 0.3 * len(runs)), squeeze=False, layout="constrained"
    )
    for axis, task in zip(axes.flat, tasks, strict=False):
        panel(axis, task, runs, colours)
    for axis in list(axes.flat)[len(tasks) :]:
        axis.set_visible(False)
    handles = [Line2D([], [], color=colour, marker="o") for colour in colours]
    figure.legend(handles, [run.name for run in runs], loc="outside upper center", ncols=min(len(runs), 3))
    return figure


def panel(axis: Any, task: str, runs: list[Run], colours: list[str]) -> None:
    """One task: each run that has it, as a line with its intervals, in the run's colour."""
    for run, colour in zip(runs, colours, strict=True):
        points = sorted(run.record.results.get(task, []), key=lambda r: r.shots)
        if not points:
            continue
        shots = [p.shots for p in points]
        means = [p.mean for p in points]
        low = [p.mean - p.ci95[0] for p in points]
        high = [p.ci95[1] - p.mean for p in points]
        axis.errorbar(shots, means, yerr=[low, high], marker="o", capsize=3, color=colour, label=run.name)
    metric = next(r.metric for run in runs for r in run.record.results.get(task, []))
    axis.set(title=task, xlabel="shots", ylabel=axis_label(metric))
    axis.set_xticks(sorted({p.shots for run in runs for p in run.record.results.get(task, [])}))
    axis.grid(alpha=0.3)


def axis_label(metric: str) -> str:
    """What the score is: the metric's headline where its name does not say (caption scores are CIDEr)."""
    return METRICS[metric].label if metric in METRICS else metric
