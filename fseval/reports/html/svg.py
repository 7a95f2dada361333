"""Score against shots as inline SVG: one chart per task, one line per run, bars for the 95% intervals.

Each run keeps its colour (``reports/colours.py``, by its position among the runs) in every chart,
and a chart of several runs has a legend naming each by its label. ``band_chart`` draws the same
with a shaded band over the intervals and a ring on each line's peak (the in-context learning view).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from html import escape
from typing import Protocol

from fseval.record import ResultRow
from fseval.reports.colours import run_colours

WIDTH, HEIGHT = 360, 240
LEFT, RIGHT, TOP, BOTTOM = 48, 12, 28, 40
INSET = 16
LEGEND_ROW = 16
LEGEND_CHARACTERS = 52  # a longer label is cut (its full text is the entry's tooltip)


class Point(Protocol):
    """A score at a shot count with its 95% interval (a ``ResultRow`` is one)."""

    @property
    def shots(self) -> int: ...
    @property
    def mean(self) -> float: ...
    @property
    def ci95(self) -> tuple[float, float]: ...


@dataclass(frozen=True)
class BandPoint:
    shots: int
    mean: float
    ci95: tuple[float, float]


@dataclass(frozen=True)
class Scale:
    """Where a (shots, score) is drawn."""

    shots: list[int]
    low: float
    high: float

    def x(self, shot: int) -> float:  # shot counts evenly spaced (0, 4, 8, 16, 32 read better so), inset from the axes
        inner = WIDTH - LEFT - RIGHT - 2 * INSET
        return (
            LEFT
            + INSET
            + (inner * self.shots.index(shot) / (len(self.shots) - 1) if len(self.shots) > 1 else inner / 2)
        )

    def y(self, value: float) -> float:
        return TOP + (HEIGHT - TOP - BOTTOM) * (1 - (value - self.low) / (self.high - self.low))


def _ticks(low: float, high: float, count: int = 5) -> list[float]:
    """Round tick values covering [low, high]."""
    span = high - low or 1.0
    step = 10 ** math.floor(math.log10(span / count))
    for factor in (1, 2, 5, 10):
        if span / (step * factor) <= count:
            step *= factor
            break
    first = math.floor(low / step) * step
    return [first + i * step for i in range(int((high - first) / step) + 2) if first + i * step <= high + step / 2]


def score_chart(task: str, axis: str, runs: Sequence[tuple[str, Sequence[ResultRow]]]) -> str:
    """An SVG element: ``runs`` is (label, that run's rows of ``task``), every run of the report in its order."""
    points = [(label, _finite(rows)) for label, rows in runs]
    frame = _frame(task, axis, points)
    if frame is None:
        return ""
    scale, parts, legend, colours = frame
    for (label, rows), colour in zip(points, colours, strict=True):
        parts += _line(label, rows, colour, scale)
    return "".join([*parts, *legend, "</svg>"])


def band_chart(
    task: str, axis: str, lines: Sequence[tuple[str, Sequence[Point], int | None]], colours: Sequence[str] = ()
) -> str:
    """An SVG element: ``lines`` is (label, points, the shots of its peak or None), a band over each 95% interval.

    ``colours``: one per line (its run's, so that a run keeps it where another lacks the task); default: by position.
    """
    points = [(label, _finite(rows)) for label, rows, _ in lines]
    frame = _frame(task, axis, points, "chart icl", colours)
    if frame is None:
        return ""
    scale, parts, legend, colours = frame
    for (label, rows), (_, _, peak), colour in zip(points, lines, colours, strict=True):
        parts += _band(label, rows, colour, scale)
        parts += _line(label, rows, colour, scale, bars=False)
        parts += [_peak(label, row, colour, scale) for row in rows if row.shots == peak]
    return "".join([*parts, *legend, "</svg>"])


def _finite(rows: Sequence[Point]) -> list[Point]:
    return sorted((r for r in rows if not math.isnan(r.mean)), key=lambda r: r.shots)


def _frame(
    task: str, axis: str, points: list[tuple[str, list[Point]]], css_class: str = "chart", colours: Sequence[str] = ()
) -> tuple[Scale, list[str], list[str], Sequence[str]] | None:
    """The scale, the opening (element, title, axes), the legend and each line's colour; None: nothing to draw."""
    shots = sorted({r.shots for _, rows in points for r in rows})
    values = [v for _, rows in points for r in rows for v in (r.ci95[0], r.ci95[1], r.mean) if not math.isnan(v)]
    if not shots or not values:
        return None
    ticks = _ticks(min(values), max(values))
    scale = Scale(shots, ticks[0], ticks[-1] if ticks[-1] > ticks[0] else ticks[0] + 1)
    colours = colours or run_colours(len(points))
    legend = _legend([(label, colour, bool(rows)) for (label, rows), colour in zip(points, colours, strict=True)])
    height = HEIGHT + (len(points) * LEGEND_ROW + 4 if legend else 0)
    parts = [
        f'<svg class="{css_class}" viewBox="0 0 {WIDTH} {height}" width="{WIDTH}" height="{height}" role="img"'
        f' aria-label="{escape(task)}: {escape(axis)} against shots">',
        *_axes(task, axis, scale, ticks),
    ]
    return scale, parts, legend, colours


def _axes(task: str, axis: str, scale: Scale, ticks: list[float]) -> list[str]:
    plot_w, plot_h = WIDTH - LEFT - RIGHT, HEIGHT - TOP - BOTTOM
    parts = [
        f'<text x="{WIDTH / 2}" y="16" class="title">{escape(task)}</text>',
        f'<text x="12" y="{TOP + plot_h / 2}" class="axis" transform="rotate(-90 12 {TOP + plot_h / 2})">'
        f"{escape(axis)}</text>",
        f'<text x="{LEFT + plot_w / 2}" y="{HEIGHT - 6}" class="axis">shots</text>',
    ]
    y = scale.y
    for tick in ticks:
        parts.append(f'<line x1="{LEFT}" x2="{WIDTH - RIGHT}" y1="{y(tick):.1f}" y2="{y(tick):.1f}" class="grid"/>')
        parts.append(f'<text x="{LEFT - 4}" y="{y(tick) + 4:.1f}" class="tick" text-anchor="end">{tick:g}</text>')
    for shot in scale.shots:
        parts.append(f'<text x="{scale.x(shot):.1f}" y="{TOP + plot_h + 16}" class="tick">{shot}</text>')
    return parts


def _line(label: str, rows: list[Point], colour: str, scale: Scale, bars: bool = True) -> list[str]:
    """One run: its line (titled by its label), interval bars (unless not ``bars``) and points."""
    if not rows:
        return []
    x, y = scale.x, scale.y
    line = " ".join(f"{x(r.shots):.1f},{y(r.mean):.1f}" for r in rows)
    parts = [
        f'<polyline points="{line}" fill="none" stroke="{colour}" stroke-width="2" data-run="{escape(label)}">'
        f"<title>{escape(label)}</title></polyline>"
    ]
    for r in rows:
        if bars and not math.isnan(r.ci95[0]):
            parts.append(
                f'<line x1="{x(r.shots):.1f}" x2="{x(r.shots):.1f}" y1="{y(r.ci95[0]):.1f}"'
                f' y2="{y(r.ci95[1]):.1f}" stroke="{colour}"/>'
            )
        parts.append(
            f'<circle cx="{x(r.shots):.1f}" cy="{y(r.mean):.1f}" r="3.5" fill="{colour}">'
            f"<title>{escape(label)}: {r.mean:.2f} at {r.shots} shots "
            f"(95% CI {r.ci95[0]:.2f}–{r.ci95[1]:.2f})</title></circle>"
        )
    return parts


def _band(label: str, rows: list[Point], colour: str, scale: Scale) -> list[str]:
    """The shaded 95% band of one line: along the upper ends, back along the lower ends (points with an interval)."""
    banded = [r for r in rows if not math.isnan(r.ci95[0]) and not math.isnan(r.ci95[1])]
    if not banded:
        return []
    upper = [f"{scale.x(r.shots):.1f},{scale.y(r.ci95[1]):.1f}" for r in banded]
    lower = [f"{scale.x(r.shots):.1f},{scale.y(r.ci95[0]):.1f}" for r in reversed(banded)]
    return [
        f'<path class="band" d="M{" L".join(upper + lower)} Z" fill="{colour}" fill-opacity="0.18"'
        f' stroke="none" data-run="{escape(label)}"><title>{escape(label)}: 95% CI</title></path>'
    ]


def _peak(label: str, row: Point, colour: str, scale: Scale) -> str:
    return (
        f'<circle class="peak" cx="{scale.x(row.shots):.1f}" cy="{scale.y(row.mean):.1f}" r="7" fill="none"'
        f' stroke="{colour}" stroke-width="1.5"><title>{escape(label)}: peak {row.mean:.2f} at {row.shots} shots'
        "</title></circle>"
    )


def _legend(entries: list[tuple[str, str, bool]]) -> list[str]:
    """Under the chart, one row per run: its colour and label (``has_points`` False: "no results")."""
    if len(entries) < 2:
        return []  # one run: the table beside the chart names it
    parts = ['<g class="legend">']
    for row, (label, colour, has_points) in enumerate(entries):
        y = HEIGHT + row * LEGEND_ROW + 6
        shown = label if len(label) <= LEGEND_CHARACTERS else label[: LEGEND_CHARACTERS - 1] + "…"
        parts.append(
            f'<g class="legend-entry" data-run="{escape(label)}" data-colour="{colour}"><title>{escape(label)}</title>'
            f'<line x1="{LEFT}" x2="{LEFT + 18}" y1="{y}" y2="{y}" stroke="{colour}" stroke-width="2"/>'
            f'<circle cx="{LEFT + 9}" cy="{y}" r="3.5" fill="{colour}"/>'
            f'<text x="{LEFT + 24}" y="{y + 4}" class="legend">{escape(shown)}'
            f"{' (no results)' if not has_points else ''}</text></g>"
        )
    return [*parts, "</g>"]
