"""The ICL analysis view: what the demos add, per task and shot count, in a run and its demo ablations.

For each run, task and shot count: the gain over the same run's 0-shot row, paired on the samples
both shot counts scored (by sample id, each side's scores averaged over the sample's seeds, since a
k-shot trial's demos differ from the 0-shot prompt's). For the plain run (``demo_ablation`` none), its
gain over each ablated run at the same shots, paired as ``fseval compare`` pairs (same id, seed and
drawn demos: an ablation keeps the drawn ``demo_ids``). Both are differences of per-sample scores
(x100) with a paired bootstrap 95% interval (``compare.paired_statistics``); for metrics whose
headline is not a per-sample mean (ROC AUC), they compare the per-sample scores and say so.

Per run and task, VL-ICL Bench's peak (Zong et al., ICLR 2025, arXiv 2403.13164): the best score over
the shot counts the run evaluated, 0 included. VL-ICL Bench's ICL-efficiency figure is not reported:
its exact definition could not be confirmed from the paper or ys-zong/VL-ICL.

Each row also carries the run's own bootstrap 95% interval of its score (``results.json``'s ``ci95``),
which the plot (``icl_plot.py``) and the HTML report draw as a band around each curve.
"""

from __future__ import annotations

import json
import math
from collections import defaultdict
from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np
from rich.table import Table

from fseval.metrics import METRICS
from fseval.reports.compare import Run, fairness_warnings, paired_statistics, shared_scores

PLAIN = "none"


@dataclass(frozen=True)
class Gain:
    """A paired difference of per-sample scores (x100), its bootstrap 95% interval and how many samples it pairs."""

    difference: float
    ci95: tuple[float, float]
    n_shared: int


@dataclass
class ShotRow:
    shots: int
    score: float | None  # the row's headline score (None: not scored)
    ci95: tuple[float, float] | None = None  # the score's bootstrap 95% interval, as results.json holds it
    over_zero_shot: Gain | None = None
    over_ablated: dict[str, Gain | None] = field(default_factory=dict)  # ablated run -> this plain run's gain over it


@dataclass
class Curve:
    """One run's rows of one task."""

    run: str
    demo_ablation: str
    rows: list[ShotRow]
    peak: float | None = None
    peak_shots: int | None = None

    @property
    def label(self) -> str:
        """How plots name the curve: the run, and its demo ablation where it has one its name does not say."""
        plain = self.demo_ablation == PLAIN or self.demo_ablation == self.run
        return self.run if plain else f"{self.run} ({self.demo_ablation})"


@dataclass
class TaskView:
    task: str
    metric: str
    curves: list[Curve]
    note: str = ""
    warnings: list[str] = field(default_factory=list)

    def as_dict(self) -> dict[str, Any]:
        """JSON-ready: NaN becomes null."""
        cleaned: dict[str, Any] = _clean(asdict(self))
        return cleaned


def _clean(value: Any) -> Any:
    if isinstance(value, float) and math.isnan(value):
        return None
    if isinstance(value, dict):
        return {key: _clean(item) for key, item in value.items()}
    if isinstance(value, (list, tuple)):
        return [_clean(item) for item in value]
    return value


def ablation(run: Run) -> str:
    return str(run.record.config.get("demo_ablation", PLAIN))


def per_sample_means(run: Run, task: str, shots: int) -> dict[str, float]:
    """Sample id -> its score averaged over its seeds (trials), for scored samples."""
    scores: dict[str, list[float]] = defaultdict(list)
    for line in run.samples:
        if line.task == task and line.shots == shots and line.score is not None:
            scores[json.dumps(line.id)].append(float(line.score))
    return {key: float(np.mean(values)) for key, values in scores.items()}


def _gain(a: np.ndarray, b: np.ndarray) -> Gain | None:
    if not len(a):
        return None
    difference, ci95, _ = paired_statistics(a, b)
    return Gain(difference, ci95, len(a))


def gain_over_zero_shot(run: Run, task: str, shots: int) -> Gain | None:
    """``shots`` minus 0 shots on the samples both scored; None at 0 shots or without a 0-shot row."""
    if shots == 0 or run.row(task, 0) is None:
        return None
    zero, few = per_sample_means(run, task, 0), per_sample_means(run, task, shots)
    shared = sorted(set(zero) & set(few))
    return _gain(np.array([zero[key] for key in shared]), np.array([few[key] for key in shared]))


def gain_over_ablated(plain: Run, ablated: Run, task: str, shots: int) -> Gain | None:
    """The plain run minus the ablated one, paired by sample id, seed and demos; None at 0 shots (nothing to ablate)."""
    if shots == 0 or ablated.row(task, shots) is None:
        return None
    ablated_scores, plain_scores = shared_scores(ablated, plain, task, shots)
    return _gain(ablated_scores, plain_scores)


def curve(run: Run, task: str, ablated: list[Run]) -> Curve:
    rows = []
    for row in sorted(run.record.results.get(task, []), key=lambda r: r.shots):
        scored = not row.not_scored
        shot_row = ShotRow(row.shots, row.mean if scored else None, row.ci95 if scored else None)
        if scored:
            shot_row.over_zero_shot = gain_over_zero_shot(run, task, row.shots)
            shot_row.over_ablated = {other.name: gain_over_ablated(run, other, task, row.shots) for other in ablated}
        rows.append(shot_row)
    result = Curve(run.name, ablation(run), rows)
    scored_rows = [r for r in rows if r.score is not None and not math.isnan(r.score)]
    if scored_rows:
        best = max(scored_rows, key=lambda r: (r.score, -r.shots))  # the fewest shots reaching the peak
        result.peak, result.peak_shots = best.score, best.shots
    return result


def has_icl_view(runs: list[Run]) -> bool:
    """Whether the runs hold something the view shows: a demo-ablation run, or a task at more than one shot count."""
    if any(ablation(run) != PLAIN for run in runs):
        return True
    tasks = {task for run in runs for task in run.record.results}
    return any(len({row.shots for run in runs for row in run.record.results.get(task, [])}) > 1 for task in tasks)


def run_warnings(runs: list[Run]) -> list[str]:
    """What makes the runs unlike each other: another model, other tasks, several plain runs."""
    warnings = []
    models = {str(run.record.config.get("model", "?")) for run in runs}
    if len(models) > 1:
        warnings.append(f"the runs are of different models ({', '.join(sorted(models))})")
    task_sets = {run.name: sorted(run.record.results) for run in runs}
    if len({tuple(tasks) for tasks in task_sets.values()}) > 1:
        held = "; ".join(f"{name}: {', '.join(tasks) or 'none'}" for name, tasks in task_sets.items())
        warnings.append(f"the runs hold different tasks ({held})")
    plain = [run.name for run in runs if ablation(run) == PLAIN]
    if len(plain) > 1:
        warnings.append(f"several runs without a demo ablation ({', '.join(plain)}): {plain[0]} is the plain run")
    return warnings


def icl_views(runs: list[Run]) -> list[TaskView]:
    """One view per task of any run, in the order the runs first hold them."""
    plain = next((run for run in runs if ablation(run) == PLAIN), None)
    ablated = [run for run in runs if ablation(run) != PLAIN] if plain is not None else []
    tasks = list(dict.fromkeys(task for run in runs for task in run.record.results))
    views = []
    for task in tasks:
        holding = [run for run in runs if task in run.record.results]
        metric = next(row.metric for run in holding for row in run.record.results[task])
        view = TaskView(task, metric, [])
        if metric in METRICS and not METRICS[metric].per_sample_mean:
            view.note = f"gains and their intervals compare the per-sample scores (top-1 correctness), not {metric}"
        for run in holding:
            against = [other for other in ablated if task in other.record.results] if run is plain else []
            view.curves.append(curve(run, task, against))
            for other in against:
                view.warnings += [f"{other.name}: {w}" for w in fairness_warnings(run, other, task)]
        views.append(view)
    return views


def _gain_cell(gain: Gain | None) -> str:
    if gain is None or math.isnan(gain.difference):
        return "-"
    return f"{gain.difference:+.2f} [{gain.ci95[0]:+.2f}, {gain.ci95[1]:+.2f}]"


def icl_tables(views: list[TaskView]) -> list[Table]:
    """One table per task: each run's score per shot count, its gain over 0 shots, the plain run's over ablations."""
    tables = []
    for view in views:
        ablated = list(dict.fromkeys(name for c in view.curves for r in c.rows for name in r.over_ablated))
        metric = METRICS[view.metric].label if view.metric in METRICS else view.metric
        table = Table(title=f"{view.task} ({metric}): what the demos add")
        gains = ("vs 0-shot [95% CI]", *(f"vs {name} [95% CI]" for name in ablated))
        for column in ("run", "ablation", "shots", "score", *gains):
            table.add_column(column, justify="left" if column in ("run", "ablation") else "right", no_wrap=True)
        for c in view.curves:
            for r in c.rows:
                score = "not scored" if r.score is None else "nan" if math.isnan(r.score) else f"{r.score:.2f}"
                cells = [_gain_cell(r.over_ablated.get(name)) for name in ablated]
                table.add_row(c.run, c.demo_ablation, str(r.shots), score, _gain_cell(r.over_zero_shot), *cells)
            table.add_section()
        peaks = [f"{c.run} {c.peak:.2f} ({c.peak_shots} shots)" for c in view.curves if c.peak is not None]
        notes = ["peak: " + "; ".join(peaks)] if peaks else []
        notes += [f"[yellow]{note}[/yellow]" for note in [view.note, *view.warnings] if note]
        table.caption = "\n".join(notes) or None
        tables.append(table)
    return tables
