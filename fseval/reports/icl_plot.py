"""The ICL view as a figure (``fseval icl --plot``): score against shots with a 95% band per run and ablation.

One panel per task; in it, one line per run holding the task (the plain run and each demo-ablation
run, named by run and ablation), a shaded band over each point's bootstrap 95% interval (the run's
``results.json`` ``ci95``) and a ring on the curve's peak (its fewest shots reaching the best score).
A run keeps one colour in every panel (``reports/colours.py``). matplotlib, the format check and the
whole-or-nothing write are ``plot.py``'s.
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import TYPE_CHECKING, Any

from fseval.errors import FsevalError
from fseval.reports.colours import colours_by_name
from fseval.reports.compare import Run
from fseval.reports.icl import Curve, TaskView
from fseval.reports.plot import axis_label, plot_output, pyplot, save_figure

if TYPE_CHECKING:
    from matplotlib.figure import Figure

OPTION = "--plot"


def write_icl_plot(runs: list[Run], views: list[TaskView], output: Path) -> Path:
    """Draw ``views`` (of ``runs``, which fix the colours) and write the figure to ``output`` whole."""
    plot_output(output, OPTION)
    return save_figure(draw_icl(runs, views), output, OPTION)


def draw_icl(runs: list[Run], views: list[TaskView]) -> Figure:
    """The figure: a panel per view (in the views' order), the legend above naming each curve."""
    from matplotlib.lines import Line2D

    if not views:
        raise FsevalError("The runs have no results to plot.")
    colour = colours_by_name([run.name for run in runs])
    labels = dict.fromkeys(c.label for view in views for c in view.curves)  # in run order, each once
    columns = min(3, len(views))
    rows = math.ceil(len(views) / columns)
    figure: Figure
    figure, axes = pyplot().subplots(
        rows, columns, figsize=(4.5 * columns, 3.5 * rows + 0.3 * len(labels)), squeeze=False, layout="constrained"
    )
    for axis, view in zip(axes.flat, views, strict=False):
        icl_panel(axis, view, colour)
    for axis in list(axes.flat)[len(views) :]:
        axis.set_visible(False)
    by_label = {c.label: colour[c.run] for view in views for c in view.curves}
    handles = [Line2D([], [], color=by_label[label], marker="o") for label in labels]
    figure.legend(handles, list(labels), loc="outside upper center", ncols=min(len(labels), columns))  # fits above
    return figure


def icl_panel(axis: Any, view: TaskView, colour: dict[str, str]) -> None:
    """One task: each curve as a line, its 95% band and its peak, in its run's colour."""
    for curve in view.curves:
        _draw_curve(axis, curve, colour[curve.run])
    shots = sorted({r.shots for c in view.curves for r in c.rows})
    axis.set(title=view.task, xlabel="shots", ylabel=axis_label(view.metric))
    axis.set_xticks(shots)
    axis.grid(alpha=0.3)


def _draw_curve(axis: Any, curve: Curve, colour: str) -> None:
    points = [r for r in curve.rows if r.score is not None and not math.isnan(r.score)]
    if not points:
        return
    axis.plot([r.shots for r in points], [r.score for r in points], marker="o", color=colour, label=curve.label)
    banded = [r for r in points if r.ci95 is not None and not any(math.isnan(v) for v in r.ci95)]
    if banded:
        low = [r.ci95[0] for r in banded if r.ci95 is not None]
        high = [r.ci95[1] for r in banded if r.ci95 is not None]
        axis.fill_between([r.shots for r in banded], low, high, color=colour, alpha=0.2, linewidth=0, label="_band")
    if curve.peak is not None:
        axis.plot(
            [curve.peak_shots], [curve.peak], marker="o", markersize=12, fillstyle="none", color=colour, label="_peak"
        )
