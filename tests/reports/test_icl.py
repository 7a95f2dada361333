"""fseval icl on mock-model runs: gains over 0 shots and over demo ablations, checked by hand."""

from __future__ import annotations

import json
import re
from collections import defaultdict
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from typer.testing import CliRunner

from fseval.cli import app
from fseval.record import read_samples

runner = CliRunner()
MockRun = Callable[..., Path]  # the conftest fixture
OPTIONS = ("--shots", "0,4", "--trials", "2", "--limit", "20", "--model-arg", "mode=copy-demo")


def icl_json(*runs: Path) -> dict[str, Any]:
    result = runner.invoke(app, ["icl", *map(str, runs), "--json"])
    assert result.exit_code == 0, result.output
    report: dict[str, Any] = json.loads(result.stdout)
    return report


def by_id(run: Path, shots: int) -> dict[str, float]:
    """Sample id -> its score averaged over seeds, computed here without fseval's reports."""
    scores: dict[str, list[float]] = defaultdict(list)
    for line in read_samples(run):
        if line.shots == shots and line.score is not None:
            scores[str(line.id)].append(line.score)
    return {key: sum(values) / len(values) for key, values in scores.items()}


def by_id_and_seed(run: Path, shots: int) -> dict[tuple[str, int], tuple[list[Any], float]]:
    return {
        (str(line.id), line.seed): (line.demo_ids, line.score)
        for line in read_samples(run)
        if line.shots == shots and line.score is not None
    }


@pytest.fixture
def runs(tmp_path: Path, mock_run: MockRun) -> tuple[Path, Path]:
    plain = mock_run(tmp_path / "plain", *OPTIONS, task="shapes_vqa")
    ablated = mock_run(tmp_path / "random", *OPTIONS, "--demo-ablation", "random_answers", task="shapes_vqa")
    return plain, ablated


def test_gains_match_hand_computed_paired_differences(runs: tuple[Path, Path]) -> None:
    plain, ablated = runs
    report = icl_json(plain, ablated)
    assert [r["demo_ablation"] for r in report["runs"]] == ["none", "random_answers"]
    (view,) = report["tasks"]
    assert view["task"] == "shapes_vqa" and view["metric"] == "vqa_accuracy" and report["warnings"] == []
    plain_curve, ablated_curve = view["curves"]
    zero_row, four_row = plain_curve["rows"]
    assert zero_row["over_zero_shot"] is None and zero_row["over_ablated"] == {"random": None}

    zero, four = by_id(plain, 0), by_id(plain, 4)
    expected = 100 * np.mean([four[key] - zero[key] for key in zero])
    gain = four_row["over_zero_shot"]
    assert gain["n_shared"] == 20 == len(zero)
    assert gain["difference"] == pytest.approx(expected)
    assert gain["ci95"][0] <= gain["difference"] <= gain["ci95"][1]

    mine, theirs = by_id_and_seed(plain, 4), by_id_and_seed(ablated, 4)
    assert all(mine[key][0] == theirs[key][0] for key in mine)  # an ablation keeps the drawn demo ids
    per_sample: dict[str, list[float]] = defaultdict(list)
    for (sample, seed), (_demos, score) in mine.items():
        per_sample[sample].append(score - theirs[sample, seed][1])
    expected_ablation = 100 * np.mean([np.mean(diffs) for diffs in per_sample.values()])
    over = four_row["over_ablated"]["random"]
    assert over["n_shared"] == 20 and over["difference"] == pytest.approx(expected_ablation)
    assert over["ci95"][0] <= over["difference"] <= over["ci95"][1]
    assert expected != 0 and expected_ablation != 0  # the mock's copy-demo answers make both gains non-trivial

    assert all(row["over_ablated"] == {} for row in ablated_curve["rows"])  # only the plain run is compared
    means = {r["shots"]: r["mean"] for r in json.loads((plain / "results.json").read_text())["results"]["shapes_vqa"]}
    assert plain_curve["peak"] == pytest.approx(max(means.values()))
    assert plain_curve["peak_shots"] == min(s for s, m in means.items() if m == max(means.values()))


def test_table_shows_one_panel_per_task_with_peaks(runs: tuple[Path, Path]) -> None:
    result = runner.invoke(app, ["icl", *map(str, runs)], env={"COLUMNS": "200"})
    assert result.exit_code == 0, result.output
    assert result.stdout.count("what the demos add") == 1
    assert "vs 0-shot [95% CI]" in result.stdout and "vs random [95% CI]" in result.stdout
    assert "peak: plain" in result.stdout


def test_run_without_zero_shot_row_has_no_gain(tmp_path: Path, mock_run: MockRun) -> None:
    run = mock_run(tmp_path / "four", "--shots", "2", "--limit", "20", task="shapes_vqa")
    (view,) = icl_json(run)["tasks"]
    (row,) = view["curves"][0]["rows"]
    assert row["shots"] == 2 and row["over_zero_shot"] is None and row["score"] is not None
    table = runner.invoke(app, ["icl", str(run)], env={"COLUMNS": "200"})
    assert table.exit_code == 0 and " - " in table.stdout


def test_runs_of_different_tasks_warn(tmp_path: Path, mock_run: MockRun) -> None:
    shapes = mock_run(tmp_path / "shapes", "--shots", "0,2", "--limit", "20", task="shapes_vqa")
    vqav2 = mock_run(tmp_path / "vqa_run", "--shots", "0,2")
    result = runner.invoke(app, ["icl", str(shapes), str(vqav2), "--json"])
    assert result.exit_code == 0, result.output
    report = json.loads(result.stdout)
    assert [v["task"] for v in report["tasks"]] == ["shapes_vqa", "vqav2"]
    assert any("different tasks" in w for w in report["warnings"])
    assert "different tasks" in result.stderr


def test_missing_run_dir_is_one_panel(tmp_path: Path) -> None:
    result = runner.invoke(app, ["icl", str(tmp_path / "nowhere")])
    assert result.exit_code == 1
    assert "fseval: error" in result.stderr and "Traceback" not in result.output


def test_rows_carry_the_scores_own_interval(runs: tuple[Path, Path]) -> None:
    report = icl_json(*runs)
    for run, curve in zip(runs, report["tasks"][0]["curves"], strict=True):
        held = json.loads((run / "results.json").read_text())["results"]["shapes_vqa"]
        assert [row["ci95"] for row in curve["rows"]] == [row["ci95"] for row in held]


def test_report_has_an_icl_section_with_the_table_and_banded_chart(tmp_path: Path, runs: tuple[Path, Path]) -> None:
    out = tmp_path / "r.html"
    result = runner.invoke(app, ["report", *map(str, runs), "-o", str(out)])
    assert result.exit_code == 0, result.output
    html = out.read_text()
    section = html[html.index("<h2>In-context learning</h2>") : html.index("</section>", html.index("In-context"))]
    assert "<th>vs 0-shot</th><th>vs random</th>" in section
    assert "<td>plain</td><td>none</td><td>4</td>" in section
    assert "<td>random</td><td>random_answers</td><td>4</td>" in section
    assert "peak: plain" in section and "random (random_answers)" in section
    svg = section[section.index('<svg class="chart icl"') : section.index("</svg>")]
    assert re.findall(r'<path class="band" d="M[^"]+ Z"[^>]*data-run="([^"]+)"', svg) == [
        "plain",
        "random (random_answers)",
    ]
    assert svg.count('class="peak"') == 2


def test_report_of_one_shot_count_and_no_ablation_has_no_icl_section(tmp_path: Path, mock_run: MockRun) -> None:
    run = mock_run(tmp_path / "zero", "--shots", "0", "--limit", "4", task="shapes_vqa")
    out = tmp_path / "r.html"
    assert runner.invoke(app, ["report", str(run), "-o", str(out)]).exit_code == 0
    assert "In-context learning" not in out.read_text()


def test_curve_labels_name_the_ablation_once() -> None:
    from fseval.reports.icl import Curve

    assert Curve("plain", "none", []).label == "plain"
    assert Curve("no_images", "no_images", []).label == "no_images"
    assert Curve("run2", "no_images", []).label == "run2 (no_images)"
