"""Score against shots as inline SVG: one chart per task, one line per run, bars for the 95% intervals."""

from __future__ import annotations

import math
from collections.abc import Sequence
from html import escape

from fseval.record import ResultRow

COLOURS = ("#1f77b4", "#d62728", "#2ca02c", "#9467bd", "#ff7f0e", "#17becf", "#8c564b", "#e377c2")
WIDTH, HEIGHT = 360, 240
LEFT, RIGHT, TOP, BOTTOM = 48, 12, 28, 40
INSET = 16


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
    """An SVG element: ``runs`` is (label, that run's rows of ``task``)."""
    points = [(label, [r for r in rows if not math.isnan(r.mean)]) for label, rows in runs]
    shots = sorted({r.shots for _, rows in points for r in rows})
    values = [v for _, rows in points for r in rows for v in (r.ci95[0], r.ci95[1], r.mean) if not math.isnan(v)]
    if not shots or not values:
        return ""
    ticks = _ticks(min(values), max(values))
    low, high = ticks[0], ticks[-1] if ticks[-1] > ticks[0] else ticks[0] + 1
    plot_w, plot_h = WIDTH - LEFT - RIGHT, HEIGHT - TOP - BOTTOM

    def x(shot: int) -> float:  # shot counts evenly spaced (0, 4, 8, 16, 32 read better so), inset from the axes
        inner = plot_w - 2 * INSET
        return LEFT + INSET + (inner * shots.index(shot) / (len(shots) - 1) if len(shots) > 1 else inner / 2)

    def y(value: float) -> float:
        return TOP + plot_h * (1 - (value - low) / (high - low))

    parts = [
        f'<svg class="chart" viewBox="0 0 {WIDTH} {HEIGHT}" width="{WIDTH}" height="{HEIGHT}" role="img"'
        f' aria-label="{escape(task)}: {escape(axis)} against shots">',
        f'<text x="{WIDTH / 2}" y="16" class="title">{escape(task)}</text>',
        f'<text x="12" y="{TOP + plot_h / 2}" class="axis" transform="rotate(-90 12 {TOP + plot_h / 2})">'
        f"{escape(axis)}</text>",
        f'<text x="{LEFT + plot_w / 2}" y="{HEIGHT - 6}" class="axis">shots</text>',
    ]
    for tick in ticks:
        parts.append(f'<line x1="{LEFT}" x2="{WIDTH - RIGHT}" y1="{y(tick):.1f}" y2="{y(tick):.1f}" class="grid"/>')
        parts.append(f'<text x="{LEFT - 4}" y="{y(tick) + 4:.1f}" class="tick" text-anchor="end">{tick:g}</text>')
    for shot in shots:
        parts.append(f'<text x="{x(shot):.1f}" y="{TOP + plot_h + 16}" class="tick">{shot}</text>')
    for index, (label, rows) in enumerate(points):
        colour = COLOURS[index % len(COLOURS)]
        ordered = sorted(rows, key=lambda r: r.shots)
        line = " ".join(f"{x(r.shots):.1f},{y(r.mean):.1f}" for r in ordered)
        parts.append(f'<polyline points="{line}" fill="none" stroke="{colour}" stroke-width="2"/>')
        for r in ordered:
            if not math.isnan(r.ci95[0]):
                parts.append(
                    f'<line x1="{x(r.shots):.1f}" x2="{x(r.shots):.1f}" y1="{y(r.ci95[0]):.1f}"'
                    f' y2="{y(r.ci95[1]):.1f}" stroke="{colour}"/>'
                )
            parts.append(
                f'<circle cx="{x(r.shots):.1f}" cy="{y(r.mean):.1f}" r="3.5" fill="{colour}">'
                f"<title>{escape(label)}: {r.mean:.2f} at {r.shots} shots "
                f"(95% CI {r.ci95[0]:.2f}–{r.ci95[1]:.2f})</title></circle>"
            )
    parts.append("</svg>")
    return "".join(parts)
