"""Score against shots: one panel per task, one line per run, error bars from the bootstrap 95% CI."""

from __future__ import annotations

import math
from pathlib import Path

from fseval.errors import FsevalError
from fseval.metrics import METRICS
from fseval.reports.compare import Run


def plot_runs(runs: list[Run], output: Path) -> Path:
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError as e:
        raise FsevalError("fseval plot needs matplotlib.", hint="pip install matplotlib") from e

    formats = plt.gcf().canvas.get_supported_filetypes()
    plt.close("all")
    if output.suffix.lstrip(".").lower() not in formats:
        raise FsevalError(
            f"Cannot write a plot as {output.name!r}.", hint=f"End -o with one of: .{', .'.join(sorted(formats))}"
        )
    tasks = sorted({task for run in runs for task in run.record.results})
    if not tasks:
        raise FsevalError("The runs have no results to plot.")
    columns = min(3, len(tasks))
    rows = math.ceil(len(tasks) / columns)
    figure, axes = plt.subplots(rows, columns, figsize=(4.5 * columns, 3.5 * rows), squeeze=False)
    for axis, task in zip(axes.flat, tasks, strict=False):
        for run in runs:
            points = sorted(run.record.results.get(task, []), key=lambda r: r.shots)
            if not points:
                continue
            shots = [p.shots for p in points]
            means = [p.mean for p in points]
            low = [p.mean - p.ci95[0] for p in points]
            high = [p.ci95[1] - p.mean for p in points]
            axis.errorbar(shots, means, yerr=[low, high], marker="o", capsize=3, label=run.name)
        metric = next(r.metric for run in runs for r in run.record.results.get(task, []))
        axis.set(title=task, xlabel="shots", ylabel=axis_label(metric))
        axis.set_xticks(sorted({p.shots for run in runs for p in run.record.results.get(task, [])}))
        axis.grid(alpha=0.3)
        axis.legend(fontsize="small")
    for axis in list(axes.flat)[len(tasks) :]:
        axis.set_visible(False)
    figure.tight_layout()
    output.parent.mkdir(parents=True, exist_ok=True)
    figure.savefig(output, dpi=120)
    plt.close(figure)
    return output


def axis_label(metric: str) -> str:
    """What the score is: the metric's headline where its name does not say (caption scores are CIDEr)."""
    return METRICS[metric].label if metric in METRICS else metric
