"""Rich tables and progress bars; no logic."""

from __future__ import annotations

import math
import os
import sys
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any

from rich.console import Console
from rich.panel import Panel
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    SpinnerColumn,
    TextColumn,
    TimeElapsedColumn,
    TimeRemainingColumn,
)
from rich.progress import Progress as RichProgress
from rich.table import Table
from rich.text import Text

from fseval.errors import plural
from fseval.progress import Progress

if TYPE_CHECKING:
    from fseval.record import ResultRow

# Piped into a log file, rich would lay tables out for 80 columns and cut their right edge.
_LOG_WIDTH = None if sys.stdout.isatty() or "COLUMNS" in os.environ else 120
console = Console(width=_LOG_WIDTH)
err_console = Console(stderr=True)


def error_panel(message: str, hint: str | None = None) -> None:
    body = message if hint is None else f"{message}\n\n[dim]{hint}[/dim]"
    err_console.print(Panel(body, title="fseval: error", title_align="left", border_style="red", expand=False))


def _fmt(value: float) -> str:
    return "nan" if math.isnan(value) else f"{value:.2f}"


def _metric_label(name: str) -> str:
    from fseval.metrics import METRICS

    return METRICS[name].label if name in METRICS else name


def _count(row: ResultRow, key: str) -> str:
    """A per-trial count, or its range where the trials differ."""
    values = row.per_trial(key)
    low, high = min(values), max(values)
    return str(low) if low == high else f"{low}–{high}"


def results_table(results: dict[str, list[ResultRow]], title: str = "Results", notes: Sequence[str] = ()) -> Table:
    """One row per (task, shots): mean ± population std over trials, bootstrap 95% CI over samples."""
    # ``n`` is the number of samples scored per trial; ``failed`` counts samples over all trials.
    # With one trial per row there is no spread to show: the column is the score alone.
    trials = sorted({len(row.trials) for rows in results.values() for row in rows})
    spread = trials != [1]
    table = Table(title=title)
    table.add_column("task", no_wrap=True)
    table.add_column("shots", justify="right", no_wrap=True, min_width=5)
    table.add_column("metric", no_wrap=True)
    for column in ("mean ± std" if spread else "score", "95% CI", "n", "failed"):
        table.add_column(column, justify="right", no_wrap=True, min_width=len(column))
    variants = set()
    for task, rows in results.items():
        for row in rows:
            variants.add(f"{row.metric}: {row.metric_variant}")
            low, high = row.ci95
            failed = _count(row, "failed")
            failed = failed if row.failed == 0 else f"[red]{failed}[/red]"
            score = f"{_fmt(row.mean)} ± {_fmt(row.stddev)}" if spread else _fmt(row.mean)
            table.add_row(
                task,
                str(row.shots),
                _metric_label(row.metric),
                f"[yellow]not scored: {row.not_scored}[/yellow]" if row.not_scored else score,
                "-" if row.not_scored else f"{_fmt(low)}–{_fmt(high)}",
                _count(row, "n") if row.n else "[red]0[/red]",
                failed,
            )
    withheld = ["not scored: n counts predictions (fseval export RUN writes the test server's file)"]
    withheld = withheld if any(row.not_scored for rows in results.values() for row in rows) else []
    table.caption = "; ".join(
        [f"trials: {', '.join(map(str, trials))}", *notes, *withheld, f"metric variants: {', '.join(sorted(variants))}"]
    )
    return table


def breakdown_tables(results: dict[str, list[ResultRow]]) -> list[Table]:
    """Per task and breakdown field: each group's score (mean over trials) per shot count, and its size."""
    tables = []
    for task, rows in results.items():
        fields = list(dict.fromkeys(name for row in rows for name in row.breakdown))
        for name in fields:
            metric = _metric_label(rows[0].metric)
            table = Table(title=f"{task}: {metric} by {name}")
            table.add_column(name, no_wrap=True)
            table.add_column("n", justify="right", no_wrap=True)
            for row in rows:
                table.add_column(f"{row.shots} shots", justify="right", no_wrap=True)
            groups = list(dict.fromkeys(key for row in rows for key in row.breakdown.get(name, {})))
            for key in groups:
                cells = [row.breakdown.get(name, {}).get(key) for row in rows]
                n = max(cell.n for cell in cells if cell is not None)
                table.add_row(key, str(n), *(_fmt(cell.mean) if cell is not None else "-" for cell in cells))
            tables.append(table)
    return tables


def group_scores_table(title: str, field: str, groups: dict[str, dict[str, float]]) -> Table:
    """``fseval score``'s breakdown: each group's metrics (``score`` first) and its size."""
    metrics = list(dict.fromkeys(name for group in groups.values() for name in group if name != "n"))
    table = Table(title=title)
    table.add_column(field, no_wrap=True)
    table.add_column("n", justify="right", no_wrap=True)
    for name in metrics:
        table.add_column(name, justify="right", no_wrap=True)
    for key, group in groups.items():
        table.add_row(key, str(group["n"]), *(_fmt(group[name]) if name in group else "-" for name in metrics))
    return table


class _CountColumn(MofNCompleteColumn):
    """``done/total`` for bars; for a phase (a status line, total 0) nothing while it runs, then "done"."""

    def render(self, task: Any) -> Any:
        if task.fields.get("phase"):
            return Text("done" if task.finished else "", style="progress.download")
        return super().render(task)


@contextmanager
def progress_bars() -> Iterator[Progress]:
    """Yields ``start(description, total) -> advance(n)`` (``fseval.progress``): a bar per (task, shots, seed)
    and a status line per phase on a terminal; one plain line per start and end elsewhere (logs, CI)."""
    if not err_console.is_terminal:
        yield _plain_lines
        return
    with RichProgress(
        SpinnerColumn(finished_text="✓"),
        TextColumn("{task.description}"),
        BarColumn(),
        _CountColumn(),
        TimeElapsedColumn(),
        TimeRemainingColumn(),
        console=err_console,
        transient=False,
    ) as progress:

        def start(description: str, total: int) -> Callable[[int], None]:
            if total == 0:
                handle = progress.add_task(description, total=None, phase=True)
                return lambda n: _end_phase(progress, handle)
            bar = progress.add_task(description, total=total)
            return lambda n: progress.advance(bar, n)

        yield start


def _end_phase(progress: RichProgress, handle: Any) -> None:
    """A phase is marked done; one that took under a second leaves no line behind."""
    task = progress.tasks[[t.id for t in progress.tasks].index(handle)]
    if (task.elapsed or 0.0) < 1:
        progress.remove_task(handle)
    else:
        progress.update(handle, total=1, completed=1)


def _plain_lines(description: str, total: int) -> Callable[[int], None]:
    """Progress without a terminal: a line when work starts and one when it ends, with its time."""
    import time

    started, state = time.perf_counter(), {"count": 0, "done": False}
    err_console.print(
        f"{description} ..." if total == 0 else f"{description}: {plural(total, 'sample')} ...", markup=False
    )

    def advance(n: int) -> None:
        state["count"] += n
        seconds = time.perf_counter() - started
        if not state["done"] and (total == 0 or state["count"] >= total):
            state["done"] = True
            if total > 0 or seconds >= 1:  # a quick phase needs no second line
                err_console.print(f"{description}: done in {seconds:.1f} s", markup=False)

    return advance


def tasks_table(tasks: list[Any]) -> Table:
    table = Table(title="Tasks (fseval tasks show NAME)")
    for column in ("name", "mode", "metric", "shots", "description"):
        table.add_column(column)
    for task in tasks:
        spec = task.spec
        table.add_row(task.name, spec.mode, spec.metric, ",".join(map(str, spec.shots)), spec.description)
    return table


def task_details(task: Any) -> Table:
    from fseval.metrics import get_metric

    spec = task.spec
    metric = get_metric(spec.metric)
    gen = spec.generation
    table = Table(title=f"Task {task.name}", show_header=False, expand=False)
    table.add_column(style="bold")
    table.add_column()
    table.add_row("description", spec.description)
    table.add_row("file", str(task.path))
    table.add_row("version", str(spec.version))
    table.add_row("mode", spec.mode)
    table.add_row("metric", f"{metric.name} — {metric.description}")
    native = metric.result_format.native
    shapes = metric.result_format.shape + (f"; or {native.shape}" if native is not None else "")
    table.add_row("predictions (fseval score)", shapes + "; or a run directory (rescored from its samples)")
    table.add_row(
        "metric variant", f"{metric.check_variant(spec.metric_variant)} (choices: {', '.join(metric.variants)})"
    )
    table.add_row("post-processing", spec.postprocess)
    if spec.breakdown:
        table.add_row("breakdown (--breakdown)", ", ".join(spec.breakdown))
    if spec.rank is not None:
        rank = spec.rank
        if rank.candidates is not None:
            source = ", ".join(map(repr, rank.candidates))
        elif rank.candidates_file is not None:
            source = f"{len(rank.fixed() or ())} names from {rank.candidates_file}"
        else:
            source = f"each sample's {rank.candidates_field!r} field"
        table.add_row("ranking", f"candidates: {source}; score: {rank.normalize} token log-likelihood")
    else:
        table.add_row(
            "generation",
            f"max_new_tokens={gen.max_new_tokens} num_beams={gen.num_beams} length_penalty={gen.length_penalty}",
        )
    table.add_row("shots", ", ".join(map(str, spec.shots)))
    table.add_row("0-shot text demos", str(spec.zero_shot_text_demos))
    table.add_row("prompt: demo", repr(task.prompt.demo))
    table.add_row("prompt: query", repr(task.prompt.query))
    table.add_row("prompt: separator", repr(task.prompt.separator))
    if task.prompt.preamble:
        table.add_row("prompt: preamble", repr(task.prompt.preamble))
    if task.prompt.instructions:
        levels = [f"{level}: {text!r}" for level, text in task.prompt.instructions.items()]
        table.add_row("prompt: instructions", "\n".join(levels) + "\n(--instruction LEVEL; the first by default)")
    table.add_row("data: source", spec.data.source)
    set_by_data = next((rule for layout in spec.data.eval if (rule := layout.sets_demos)), None)
    for role, layouts in (("evaluation", spec.data.eval), ("demos", spec.data.demo)):
        lines = [f"- {layout.describe()}" for layout in layouts] or [set_by_data or "(drawn from the evaluation split)"]
        table.add_row(f"data: {role}", "\n".join(lines))
    if spec.data.default_dir:
        table.add_row("data: default", f"bundled with fseval ({spec.data.default_dir}); no --data-dir needed")
    else:
        table.add_row("data: --data-dir", f"a folder holding these files, or one whose {task.name}/ sub-folder does")
    return table


def models_table() -> Table:
    from fseval.models.registry import BUNDLED, FAMILIES, PRESETS

    table = Table(title="Models (--model NAME, or a directory from fseval make-tiny)")
    for column in ("name", "kind", "description"):
        table.add_column(column)
    for name, description in BUNDLED.items():
        table.add_row(name, "bundled (default)", description)
    for family in FAMILIES.values():
        table.add_row(family.name, "family", family.description)
    for family, preset in PRESETS.values():
        table.add_row(preset.name, f"preset of {family.name}", preset.description)
    return table


def family_table(name: str) -> Table:
    """A family's ``--model-arg`` keys: type, default and what each does (from its settings model)."""
    from fseval.errors import UnknownNameError
    from fseval.models.registry import FAMILIES

    if name not in FAMILIES:
        raise UnknownNameError("model family", name, FAMILIES, listing="fseval models")
    family = FAMILIES[name]
    table = Table(title=f"{name}: {family.description} (--model-arg KEY=VALUE)")
    for column in ("key", "type", "default", "meaning"):
        table.add_column(column)
    for key, field in family.settings.model_fields.items():
        default = "(required)" if field.is_required() else repr(field.default)
        annotation = field.annotation
        kind = annotation.__name__ if isinstance(annotation, type) else str(annotation)
        kind = kind.replace("typing.", "").replace("NoneType", "None")
        table.add_row(key, kind, default, field.description or "")
    return table


def comparison_tables(base: str, other: str, comparisons: list[Any]) -> list[Table]:
    """One table per task: each run's score per shot count, B - A, its 95% CI and p-value (paired on shared samples)."""
    tables: dict[str, Table] = {}
    for c in comparisons:
        if c.task not in tables:
            table = Table(title=f"{c.task} ({_metric_label(c.metric)}): B = {other} vs A = {base}")
            table.add_column("shots", justify="right", no_wrap=True, min_width=5)
            difference = "B - A" if not c.note else "B - A (per sample)"  # ROC AUC is not a mean over samples
            for column in (base, other, difference, "95% CI", "p", "shared"):
                table.add_column(column, justify="right", no_wrap=True)
            notes = [w for w in c.warnings] + ([c.note] if c.note else [])
            table.caption = "[yellow]" + "; ".join(notes) + "[/yellow]" if notes else None
            tables[c.task] = table
        a, b = c.means
        table = tables[c.task]
        unscored = f"not scored: {c.not_scored}"
        table.add_row(
            str(c.shots),
            unscored if c.not_scored else _fmt(a) if a is not None else "-",
            unscored if c.not_scored else _fmt(b) if b is not None else "-",
            f"{c.difference:+.2f}" if not math.isnan(c.difference) else "-",
            (f"[{c.ci95[0]:+.2f}, {c.ci95[1]:+.2f}]" + ("" if c.paired else " unpaired"))
            if not math.isnan(c.ci95[0])
            else "-",
            f"{c.p_value:.4f}" if not math.isnan(c.p_value) else "-",
            str(c.n_shared),
        )
    return list(tables.values())


def check_table(verdicts: list[Any]) -> Table:
    table = Table(title="fseval check")
    for column in ("task", "shots", "metric", "baseline", "score", "tolerance", "verdict"):
        table.add_column(column, no_wrap=True)
    for v in verdicts:
        verdict = "[green]pass[/green]" if v.passed else "[red]FAIL[/red]"
        if v.mismatch:
            verdict = f"[red]FAIL: {v.mismatch}[/red]"
        score = _fmt(v.score) if v.score is not None else "missing"
        score = f"not scored: {v.not_scored}" if v.not_scored else score
        table.add_row(
            v.task, str(v.shots), _metric_label(v.metric), _fmt(v.baseline), score, _fmt(v.tolerance), verdict
        )
    return table
