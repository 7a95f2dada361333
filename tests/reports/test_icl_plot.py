"""``fseval icl --plot`` and the report's ICL charts: a band and a peak per run and task; bad paths refused first."""

from __future__ import annotations

import math
import re
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from data_writers import flat
from typer.testing import CliRunner

from fseval.cli import app
from fseval.reports.colours import run_colours
from fseval.reports.compare import Run, load_run
from fseval.reports.html.svg import BandPoint, band_chart
from fseval.reports.icl import icl_views

runner = CliRunner()
MockRun = Callable[..., Path]
OPTIONS = ("--shots", "0,2", "--trials", "2", "--limit", "12", "--model-arg", "mode=copy-demo")


@pytest.fixture
def runs(tmp_path: Path, mock_run: MockRun) -> list[Path]:
    """A plain run and its random-answers ablation of shapes_vqa, and a run of another task (vqav2)."""
    plain = mock_run(tmp_path / "plain", *OPTIONS, task="shapes_vqa")
    ablated = mock_run(tmp_path / "random", *OPTIONS, "--demo-ablation", "random_answers", task="shapes_vqa")
    other = mock_run(tmp_path / "other", "--shots", "0,2", "--limit", "12")
    return [plain, ablated, other]


@pytest.fixture
def plt() -> Iterator[object]:
    pytest.importorskip("matplotlib")
    import matplotlib.pyplot as pyplot

    yield pyplot
    pyplot.close("all")


def test_each_panel_has_a_band_a_line_and_a_peak_per_run(runs: list[Path], plt: object) -> None:
    from matplotlib.collections import PolyCollection

    from fseval.reports.icl_plot import draw_icl

    loaded: list[Run] = [load_run(path) for path in runs]
    views = icl_views(loaded)
    figure = draw_icl(loaded, views)
    panels = {axis.get_title(): axis for axis in figure.axes if axis.get_visible()}
    assert sorted(panels) == ["shapes_vqa", "vqav2"]
    colour = dict(zip((run.name for run in loaded), run_colours(3), strict=True))
    for view in views:
        axis = panels[view.task]
        bands = [c for c in axis.collections if isinstance(c, PolyCollection)]
        assert len(bands) == len(view.curves) == (2 if view.task == "shapes_vqa" else 1)
        lines = {line.get_label(): line for line in axis.lines if not line.get_label().startswith("_")}
        assert sorted(lines) == sorted(c.label for c in view.curves)
        for curve, band in zip(view.curves, bands, strict=True):
            line = lines[curve.label]
            assert line.get_color() == colour[curve.run]
            assert list(line.get_xdata()) == [r.shots for r in curve.rows]
            assert list(line.get_ydata()) == pytest.approx([r.score for r in curve.rows])
            # the band spans each point's interval as results.json holds it
            corners = band.get_paths()[0].vertices
            for row in curve.rows:
                assert row.ci95 is not None and not math.isnan(row.ci95[0])
                at_shot = corners[corners[:, 0] == row.shots][:, 1]
                assert min(at_shot) == pytest.approx(row.ci95[0]) and max(at_shot) == pytest.approx(row.ci95[1])
        peaks = [line for line in axis.lines if line.get_label() == "_peak"]
        assert [(p.get_xdata()[0], p.get_ydata()[0]) for p in peaks] == [(c.peak_shots, c.peak) for c in view.curves]
    (legend,) = figure.legends
    assert [t.get_text() for t in legend.get_texts()] == ["plain", "random (random_answers)", "other"]


def test_icl_plot_writes_a_png_beside_the_json(runs: list[Path], tmp_path: Path, plt: object) -> None:
    out = tmp_path / "figures" / "icl.png"
    result = runner.invoke(app, ["icl", *map(str, runs[:2]), "--json", "--plot", str(out)])
    assert result.exit_code == 0, result.output
    assert out.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert result.stdout.startswith("{") and f"Wrote {out}" in flat(result.stderr)


@pytest.mark.parametrize(("name", "words"), [("icl.xyz", "Cannot write a plot as 'icl.xyz'"), ("", "is a folder")])
def test_a_bad_plot_path_is_one_error_before_any_run_is_read(
    tmp_path: Path, plt: object, name: str, words: str
) -> None:
    target = tmp_path / name if name else tmp_path
    result = runner.invoke(app, ["icl", str(tmp_path / "no_such_run"), "--plot", str(target)])
    text = flat(result.output)
    assert result.exit_code == 1 and "Traceback" not in result.output
    assert text.count("fseval: error") == 1 and f"--plot {target}" in text and words in text
    assert "not a run directory" not in text  # the path was checked first


def test_band_chart_draws_the_band_through_the_interval_ends() -> None:
    points = [BandPoint(0, 10.0, (5.0, 15.0)), BandPoint(4, 20.0, (10.0, 30.0)), BandPoint(8, 25.0, (math.nan,) * 2)]
    svg = band_chart("t", "accuracy", [("a", points, 4), ("b", points[:1], None)])
    bands = re.findall(r'<path class="band" d="M([^"]*) Z"[^>]*data-run="([^"]*)"', svg)
    assert [run for _, run in bands] == ["a", "b"]
    corners = [tuple(map(float, corner.split(","))) for corner in bands[0][0].split(" L")]
    assert len(corners) == 4  # the 8-shot point has no interval: the band stops at 4 shots
    (x0, top0), (x4, top4), (x4_low, low4), (x0_low, low0) = corners
    assert x0 == x0_low < x4 == x4_low and top0 < low0 and top4 < low4  # SVG y grows downward
    assert svg.count('class="peak"') == 1 and "peak 20.00 at 4 shots" in svg
    assert svg.count("<polyline") == 2 and svg.count('stroke="#1f77b4"/>') == 0  # lines, no interval bars
