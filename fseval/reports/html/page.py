"""The report's summary as HTML: runs, scores with intervals, charts, breakdowns, paired differences and ICL.

Rendered here, so the summary reads without JavaScript; the sample browser below it is drawn by
``assets/report.js`` from the embedded data.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from html import escape

from fseval.errors import FsevalError
from fseval.progress import phase
from fseval.record import ResultRow
from fseval.reports.colours import colours_by_name
from fseval.reports.compare import Paired, Run
from fseval.reports.compare import compare as compare_runs
from fseval.reports.completeness import completeness
from fseval.reports.html.svg import BandPoint, band_chart, score_chart
from fseval.reports.icl import Gain, TaskView, has_icl_view, icl_views
from fseval.reports.plot import axis_label


def _number(value: float | None, signed: bool = False) -> str:
    if value is None or math.isnan(value):
        return "–"
    return f"{value:+.2f}" if signed else f"{value:.2f}"


def _table(head: Sequence[str], rows: Iterable[Sequence[str]], caption: str = "", text: bool = False) -> str:
    """A table of already-escaped cells (numbers right-aligned after the first column unless ``text``)."""
    out = ['<table class="text">' if text else "<table>", f"<caption>{caption}</caption>" if caption else ""]
    out.append("<thead><tr>" + "".join(f"<th>{h}</th>" for h in head) + "</tr></thead><tbody>")
    out += ["<tr>" + "".join(f"<td>{cell}</td>" for cell in row) + "</tr>" for row in rows]
    return "".join(out) + "</tbody></table>"


def incomplete_banner(runs: Sequence[Run]) -> str:
    """A banner above everything for each run that lacks (task, shots) rows or trials it set out to make."""
    notes = [(run, completeness(run.record, run.path)) for run in runs]
    lines = [
        f"<p><b>{escape(run.name)}</b> {escape(found.message())}</p>" for run, found in notes if not found.complete
    ]
    return f'<div class="banner incomplete" role="alert">{"".join(lines)}</div>' if lines else ""


def runs_section(runs: Sequence[Run]) -> str:
    rows = []
    for run in runs:
        record, config = run.record, run.record.config
        rows.append(
            [
                escape(run.name),
                escape(f"{record.model.get('name', config.get('model', ''))} ({record.model.get('family', '?')})"),
                escape(str(run.path)),
                escape(record.created[:19]),
                escape(f"{config.get('demos', '')}, seed {config.get('seed', '')}, {config.get('trials', 1)} trial(s)"),
                str(len(run.samples)),
                escape(record.fseval_version),
            ]
        )
    head = ["run", "model", "directory", "created", "demos", "samples", "fseval"]
    return "<section><h2>Runs</h2>" + _table(head, rows, text=True) + "</section>"


def _score(row: ResultRow | None) -> str:
    if row is None:
        return "–"
    spread = f" ± {_number(row.stddev)}" if len(row.trials) > 1 else ""
    failed = f' <span class="failed-count">{row.failed} failed</span>' if row.failed else ""
    return (
        f'<b>{_number(row.mean)}</b>{spread} <span class="ci">[{_number(row.ci95[0])}, {_number(row.ci95[1])}]'
        f'</span> <span class="n">n={row.n}</span>{failed}'
    )


def scores_section(runs: Sequence[Run], tasks: Sequence[str]) -> str:
    parts = ['<section><h2>Scores</h2><p class="note">mean (± std over trials) [bootstrap 95% CI] n</p>']
    for task in tasks:
        shots = sorted({row.shots for run in runs for row in run.record.results.get(task, [])})
        metric = next(row.metric for run in runs for row in run.record.results.get(task, []))
        rows = [[str(k)] + [_score(run.row(task, k)) for run in runs] for k in shots]
        head = ["shots"] + [escape(run.name) for run in runs]
        chart = score_chart(task, axis_label(metric), [(run.name, run.record.results.get(task, [])) for run in runs])
        caption = f"{escape(task)}: {escape(axis_label(metric))}"
        parts.append(f'<div class="task">{_table(head, rows, caption)}{chart}</div>')
    return "".join(parts) + "</section>"


def breakdown_section(runs: Sequence[Run], tasks: Sequence[str]) -> str:
    parts = []
    for task in tasks:
        columns = [(run, row) for run in runs for row in run.record.results.get(task, [])]
        fields = list(dict.fromkeys(name for _, row in columns for name in row.breakdown))
        for name in fields:
            keys = list(dict.fromkeys(key for _, row in columns for key in row.breakdown.get(name, {})))
            head = [escape(name), "n"] + [
                escape(f"{run.name}: {row.shots} shots" if len(runs) > 1 else f"{row.shots} shots")
                for run, row in columns
            ]
            rows = []
            for key in keys:
                cells = [row.breakdown.get(name, {}).get(key) for _, row in columns]
                n = max((cell.n for cell in cells if cell is not None), default=0)
                rows.append([escape(key), str(n)] + [_number(cell.mean if cell else None) for cell in cells])
            parts.append(_table(head, rows, f"{escape(task)} by {escape(name)}"))
    return "<section><h2>Breakdowns</h2>" + "".join(parts) + "</section>" if parts else ""


def comparison_section(runs: Sequence[Run]) -> str:
    if len(runs) < 2:
        return ""
    note = (
        "as <code>fseval compare</code>: B − A on the samples both runs evaluated with the same id, seed and demos; "
        "paired bootstrap 95% CI; sign-flip p"
    )
    parts = [f'<section><h2>Paired differences</h2><p class="note">{note}</p>']
    for other in runs[1:]:
        try:
            with phase(f"Paired differences: {other.name} vs {runs[0].name}"):
                comparisons = compare_runs(runs[0], other)
        except FsevalError as refusal:  # no task in common: the rest of the report still reads
            parts.append(f'<p class="note">{escape(refusal.message)}</p>')
            continue
        rows = [_comparison_row(c) for c in comparisons]
        head = ["task", "shots", escape(runs[0].name), escape(other.name), "B − A", "95% CI", "p", "shared", "notes"]
        parts.append(_table(head, rows, f"B = {escape(other.name)} vs A = {escape(runs[0].name)}"))
    return "".join(parts) + "</section>"


def _comparison_row(c: Paired) -> list[str]:
    a, b = c.means
    interval = f"[{_number(c.ci95[0], True)}, {_number(c.ci95[1], True)}]" + ("" if c.paired else " unpaired")
    notes = "; ".join(c.warnings + ([c.note] if c.note else []))
    return [
        escape(c.task),
        str(c.shots),
        _number(a),
        _number(b),
        _number(c.difference, True),
        interval if not math.isnan(c.ci95[0]) else "–",
        f"{c.p_value:.4f}" if not math.isnan(c.p_value) else "–",
        str(c.n_shared),
        escape(notes),
    ]


def icl_section(runs: Sequence[Run]) -> str:
    """As ``fseval icl``: per task, each run's score by shots, its gain over 0 shots and the plain run's over each
    ablation (paired bootstrap 95% CI), the peaks, and the curves with their 95% bands; only where the runs hold a
    task at several shot counts or a demo-ablation run."""
    if not has_icl_view(list(runs)):
        return ""
    with phase("In-context learning"):
        views = icl_views(list(runs))
    note = (
        "as <code>fseval icl</code>: gains are paired differences of per-sample scores (×100) with a paired "
        "bootstrap 95% CI; bands are each score's bootstrap 95% CI; a ring marks each run's peak"
    )
    parts = [f'<section><h2>In-context learning</h2><p class="note">{note}</p>']
    colour = colours_by_name([run.name for run in runs])
    parts += [_icl_task(view, colour) for view in views]
    return "".join(parts) + "</section>"


def _gain(gain: Gain | None) -> str:
    if gain is None or math.isnan(gain.difference):
        return "–"
    low, high = (_number(end, True) for end in gain.ci95)
    return f'{_number(gain.difference, True)} <span class="ci">[{low}, {high}]</span>'


def _icl_task(view: TaskView, colour: dict[str, str]) -> str:
    ablated = list(dict.fromkeys(name for c in view.curves for r in c.rows for name in r.over_ablated))
    head = ["run", "ablation", "shots", "score", "vs 0-shot", *(f"vs {escape(name)}" for name in ablated)]
    rows = [
        [
            escape(c.run),
            escape(c.demo_ablation),
            str(r.shots),
            "not scored" if r.score is None else _number(r.score),
            _gain(r.over_zero_shot),
            *(_gain(r.over_ablated.get(name)) for name in ablated),
        ]
        for c in view.curves
        for r in c.rows
    ]
    peaks = [f"{escape(c.label)} {c.peak:.2f} at {c.peak_shots} shots" for c in view.curves if c.peak is not None]
    notes = (["peak: " + "; ".join(peaks)] if peaks else []) + [escape(n) for n in [view.note, *view.warnings] if n]
    lines = [
        (
            c.label,
            [BandPoint(r.shots, r.score, r.ci95 or (math.nan, math.nan)) for r in c.rows if r.score is not None],
            c.peak_shots,
        )
        for c in view.curves
    ]
    chart = band_chart(view.task, axis_label(view.metric), lines, [colour[c.run] for c in view.curves])
    caption = f"{escape(view.task)}: {escape(axis_label(view.metric))}, what the demos add"
    notes_html = "".join(f'<p class="note">{n}</p>' for n in notes)
    return f'<div class="task"><div>{_table(head, rows, caption)}{notes_html}</div>{chart}</div>'
