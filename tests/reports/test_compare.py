"""fseval compare / check / plot on real run directories."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest
from data_writers import flat
from typer.testing import CliRunner

from fseval.cli import app
from fseval.reports.compare import paired_statistics

runner = CliRunner()
SHOTS = ("--shots", "0,2", "--trials", "2")
MockRun = Callable[..., Path]  # the conftest fixture


@pytest.fixture
def runs(tmp_path: Path, mock_run: MockRun) -> tuple[Path, Path]:
    good = mock_run(tmp_path / "good", *SHOTS)  # the majority-answer oracle
    worse = mock_run(tmp_path / "worse", *SHOTS, "--model-arg", "mode=copy-demo")
    return good, worse


def test_compare_pairs_shared_samples(runs: tuple[Path, Path]) -> None:
    good, worse = runs
    result = runner.invoke(app, ["compare", str(good), str(worse), "--json"])
    assert result.exit_code == 0, result.output
    (report,) = json.loads(result.output)
    by_shots = {c["shots"]: c for c in report["comparisons"]}
    results_good = json.loads((good / "results.json").read_text())["results"]["vqav2"]
    results_worse = json.loads((worse / "results.json").read_text())["results"]["vqav2"]
    for row_good, row_worse in zip(results_good, results_worse, strict=True):
        c = by_shots[row_good["shots"]]
        assert c["n_shared"] == 6 and c["warnings"] == []
        assert c["difference"] == pytest.approx(row_worse["mean"] - row_good["mean"])
        assert c["ci95"][0] <= c["difference"] <= c["ci95"][1]
        assert 0 < c["p_value"] <= 1
    table = runner.invoke(app, ["compare", str(good), str(worse)])
    assert table.exit_code == 0 and "95% CI" in flat(table.output) and "unpaired" not in flat(table.output)


def test_compare_warns_about_unfair_comparisons(tmp_path: Path, mock_run: MockRun, runs: tuple[Path, Path]) -> None:
    good, _ = runs
    other = mock_run(tmp_path / "other", *SHOTS, "--metric-variant", "openflamingo", "--seed", "7")
    (report,) = json.loads(runner.invoke(app, ["compare", str(good), str(other), "--json"]).output)
    warnings = report["comparisons"][0]["warnings"]
    assert any("metric variant differs" in w for w in warnings) and any("seed differs" in w for w in warnings)


def test_check_passes_on_the_same_run_and_fails_on_a_worse_one(
    tmp_path: Path, mock_run: MockRun, runs: tuple[Path, Path]
) -> None:
    good, worse = runs
    baseline = tmp_path / "baseline.json"
    assert runner.invoke(app, ["check", str(good), "--write-baseline", str(baseline)]).exit_code == 0
    assert json.loads(baseline.read_text())["tasks"]["vqav2"]["2"]["mean"] == 100.0
    passed = runner.invoke(app, ["check", str(good), "--baseline", str(baseline)])
    assert passed.exit_code == 0, passed.output
    failed = runner.invoke(app, ["check", str(worse), "--baseline", str(baseline)])
    assert failed.exit_code == 1 and "FAIL" in failed.output and "fell below the baseline" in flat(failed.output)
    lenient = runner.invoke(app, ["check", str(worse), "--baseline", str(baseline), "--tolerance", "100"])
    assert lenient.exit_code == 0
    wider = json.loads(baseline.read_text())
    wider["tasks"]["okvqa"] = wider["tasks"]["vqav2"]
    baseline.write_text(json.dumps(wider))
    other_variant = mock_run(tmp_path / "variant", *SHOTS, "--metric-variant", "openflamingo")
    unlike = runner.invoke(app, ["check", str(other_variant), "--baseline", str(baseline)])
    assert unlike.exit_code == 1 and "FAIL: metric variant openflamingo (baseline vqav2)" in flat(unlike.output)
    fewer = mock_run(tmp_path / "fewer", *SHOTS, "--limit", "2")
    unlike = runner.invoke(app, ["check", str(fewer), "--baseline", str(baseline)])
    assert (
        unlike.exit_code == 1 and "n 2 (baseline" in flat(unlike.output) and "measure something else" in unlike.output
    )
    missing = runner.invoke(app, ["check", str(good), "--baseline", str(baseline)])
    assert missing.exit_code == 1 and "0 of 4 scores fell below the baseline; 2 are missing" in flat(missing.output)


def test_plot_writes_a_png(tmp_path: Path, runs: tuple[Path, Path]) -> None:
    pytest.importorskip("matplotlib")
    out = tmp_path / "plot.png"
    result = runner.invoke(app, ["plot", *map(str, runs), "-o", str(out)])
    assert result.exit_code == 0, result.output
    assert out.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    wrong = runner.invoke(app, ["plot", *map(str, runs), "-o", str(tmp_path / "plot.xyz")])
    assert wrong.exit_code == 1 and "Cannot write a plot as 'plot.xyz'" in flat(wrong.output)


def test_paired_statistics_on_known_inputs() -> None:
    same = np.array([0.0, 1.0, 0.5, 1.0])
    diff, (low, high), p = paired_statistics(same, same)
    assert diff == 0 and low == 0 and high == 0 and p == 1.0
    a, b = np.zeros(12), np.ones(12)
    diff, (low, high), p = paired_statistics(a, b)
    assert diff == 100 and low == high == 100
    assert p < 0.01  # only the two all-equal sign patterns of 2**12 reach the observed difference


def test_ensembling_is_a_difference_only_for_rank_tasks(tmp_path: Path) -> None:
    from data_writers import write_hateful_memes, write_vqav2

    data = tmp_path / "data"
    write_vqav2(data / "vqav2")
    write_hateful_memes(data / "hateful_memes")
    args = ["run", "--model", "mock", "--task", "vqav2,hateful_memes", "--data-dir", str(data), "--shots", "2"]
    assert runner.invoke(app, [*args, "-o", str(tmp_path / "a")]).exit_code == 0
    assert runner.invoke(app, [*args, "-o", str(tmp_path / "b"), "--prompt-ensembles", "2"]).exit_code == 0
    report = json.loads(runner.invoke(app, ["compare", str(tmp_path / "a"), str(tmp_path / "b"), "--json"]).output)
    warned = {c["task"]: c["warnings"] for c in report[0]["comparisons"]}
    assert not any("ensembling" in w for w in warned["vqav2"])
    assert any("prompt ensembling differs (1 vs 2)" in w for w in warned["hateful_memes"])


def test_check_is_exact_by_default_and_noise_tolerant_on_request(tmp_path: Path, runs: tuple[Path, Path]) -> None:
    """A deterministic CI gate must catch a small drop; ``--tolerance ci`` allows the baseline's own noise."""
    good, _ = runs
    baseline = tmp_path / "baseline.json"
    assert runner.invoke(app, ["check", str(good), "--write-baseline", str(baseline)]).exit_code == 0
    raised = json.loads(baseline.read_text())
    entry = raised["tasks"]["vqav2"]["0"]
    entry["mean"] += 0.5  # half a point above what the run scores
    entry["ci95"] = [entry["mean"] - 5, entry["mean"] + 5]
    baseline.write_text(json.dumps(raised))
    exact = runner.invoke(app, ["check", str(good), "--baseline", str(baseline)])
    assert exact.exit_code == 1 and "fell below the baseline" in flat(exact.output)
    noisy = runner.invoke(app, ["check", str(good), "--baseline", str(baseline), "--tolerance", "ci"])
    assert noisy.exit_code == 0, noisy.output
    assert runner.invoke(app, ["check", str(good), "--baseline", str(baseline), "--tolerance", "x"]).exit_code == 2


def test_runs_that_share_no_sample_are_compared_unpaired(tmp_path: Path, mock_run: MockRun) -> None:
    base = mock_run(tmp_path / "a", *SHOTS, "--model-arg", "mode=copy-demo")
    other = mock_run(tmp_path / "b", *SHOTS, "--model-arg", "mode=copy-demo", "--seed", "7")
    (report,) = json.loads(runner.invoke(app, ["compare", str(base), str(other), "--json"]).output)
    for comparison in report["comparisons"]:
        assert comparison["n_shared"] == 0 and comparison["paired"] is False
        assert comparison["difference"] is not None and comparison["ci95"][0] <= comparison["difference"]
        assert comparison["difference"] <= comparison["ci95"][1] and 0 < comparison["p_value"] <= 1
    table = runner.invoke(app, ["compare", str(base), str(other)])
    assert "unpaired" in flat(table.output)


def test_runs_are_labelled_so_that_they_can_be_told_apart(tmp_path: Path, mock_run: MockRun) -> None:
    from fseval.reports.compare import default_labels, load_run

    first = mock_run(tmp_path / "x" / "run", *SHOTS)
    second = mock_run(tmp_path / "y" / "run", *SHOTS, "--seed", "7")
    assert default_labels([load_run(first), load_run(second)]) == ["mock seed 42", "mock seed 7"]
    named = runner.invoke(app, ["compare", str(first), str(second), "--label", "before", "--label", "after"])
    assert named.exit_code == 0 and "B = after vs A = before" in flat(named.output)
    wrong = runner.invoke(app, ["compare", str(first), str(second), "--label", "only-one"])
    assert wrong.exit_code == 2 and "one --label per run" in flat(wrong.output)


def test_plot_axes_name_the_headline_metric() -> None:
    from fseval.reports.plot import axis_label

    assert axis_label("caption") == "CIDEr" and axis_label("vqa_accuracy") == "vqa_accuracy"


def renamed_task(run: Path, folder: Path, task: str) -> Path:
    """A copy of ``run`` whose results are of ``task`` (another benchmark, as far as compare can tell)."""
    import shutil

    shutil.copytree(run, folder)
    record = json.loads((run / "results.json").read_text())
    record["results"] = {task: next(iter(record["results"].values()))}
    record["config"]["tasks"] = [task]
    (folder / "results.json").write_text(json.dumps(record))
    return folder


def test_runs_with_no_task_in_common_are_refused(tmp_path: Path, runs: tuple[Path, Path]) -> None:
    good, worse = runs
    other = renamed_task(worse, tmp_path / "other", "okvqa")
    for extra in ([], ["--json"]):
        result = runner.invoke(app, ["compare", str(good), str(other), *extra])
        text = flat(result.output)
        assert result.exit_code == 1 and "Traceback" not in result.output, result.output
        assert f"other and good have no task in common: good ({good}) has results for vqav2; " in text
        assert f"other ({other}) has results for okvqa." in text and "B - A" not in text
    several = runner.invoke(app, ["compare", str(good), str(worse), str(other)])  # one pair of three is enough
    assert several.exit_code == 1 and "B = worse" not in several.output


def test_a_path_that_is_not_a_run_is_one_panel(tmp_path: Path, runs: tuple[Path, Path]) -> None:
    pytest.importorskip("matplotlib")
    a_file = tmp_path / "notes.txt"
    a_file.write_text("not a run")
    for bad in (tmp_path / "nowhere", tmp_path, a_file):
        for command in (["compare", str(runs[0])], ["plot", "-o", str(tmp_path / "p.png")], ["report"]):
            result = runner.invoke(app, [*command, str(bad)], catch_exceptions=False)
            assert result.exit_code == 1 and "Traceback" not in result.output, (command, result.output)
            assert f"{bad} is not a run directory" in flat(result.output)


def test_plot_keeps_one_colour_per_run_across_panels(tmp_path: Path, runs: tuple[Path, Path]) -> None:
    pytest.importorskip("matplotlib")
    import matplotlib.pyplot as plt

    from fseval.reports.colours import run_colours
    from fseval.reports.compare import load_run
    from fseval.reports.plot import draw

    good, worse = runs
    only_okvqa = renamed_task(worse, tmp_path / "other", "okvqa")
    loaded = [load_run(path) for path in (only_okvqa, good, worse)]  # the first run lacks vqav2
    figure = draw(loaded)
    try:
        colour = dict(zip((run.name for run in loaded), run_colours(3), strict=True))
        panels = {axis.get_title(): axis for axis in figure.axes if axis.get_visible()}
        assert sorted(panels) == ["okvqa", "vqav2"]
        for title, axis in panels.items():
            drawn = {c.get_label(): c.lines[0].get_color() for c in axis.containers}
            assert drawn == {name: colour[name] for name in (["other"] if title == "okvqa" else ["good", "worse"])}
        (legend,) = figure.legends
        assert [text.get_text() for text in legend.get_texts()] == ["other", "good", "worse"]
        assert [handle.get_color() for handle in legend.legend_handles] == run_colours(3)
    finally:
        plt.close(figure)
