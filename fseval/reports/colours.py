"""One colour per run, the same in every chart of a report and every panel of a plot."""

from __future__ import annotations

# matplotlib's tab10, reordered so that two runs (the common case) are blue and red.
COLOURS = ("#1f77b4", "#d62728", "#2ca02c", "#9467bd", "#ff7f0e", "#17becf", "#8c564b", "#e377c2")


def run_colours(count: int) -> list[str]:
    """The colour of each of ``count`` runs, by position in the order given (repeating after eight).

    By position, not by which runs have a task: a run missing from one chart leaves the others' colours as they are.
    """
    return [COLOURS[index % len(COLOURS)] for index in range(count)]


def colours_by_name(names: list[str]) -> dict[str, str]:
    """Run name -> its colour (``run_colours``), for drawings that meet the runs task by task."""
    return dict(zip(names, run_colours(len(names)), strict=True))
