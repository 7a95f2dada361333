"""A run stopped part way says so wherever it is read: ``show``, ``compare``, ``plot`` and ``report`` name the
(task, shots) rows and trials it lacks, and how to finish it."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from data_writers import flat
from typer.testing import CliRunner

from fseval.cli import app
from fseval.record import RunRecord
from fseval.reports.completeness import Shortfall, completeness, intended_shots

runner = CliRunner()


def row(shots: int, trials: int) -> dict[str, Any]:
    return {"shots": shots, "trials": [50.0] * trials, "mean": 50.0, "stddev": 0.0, "metric": "vqa_accuracy"}


def write_run(folder: Path, config: dict[str, Any], results: dict[str, list[Any]], **extra: Any) -> Path:
    folder.mkdir(parents=True)
    record = {"fseval_version": "0", "config": config, "results": results, **extra}
    (folder / "results.json").write_text(json.dumps(record))
    (folder / "samples.jsonl").write_text("")
    return folder


def test_missing_rows_and_trials_on_hand_written_files(tmp_path: Path) -> None:
    config = {"tasks": ["vqav2", "okvqa"], "shots": [0, 4, 8], "trials": 3}
    run = write_run(tmp_path / "run", config, {"vqav2": [row(0, 3), row(8, 1)]})
    found = completeness(RunRecord.load(run), run)
    assert not found.complete
    assert found.shortfalls == (
        Shortfall("vqav2", 4, 0, 3),
        Shortfall("vqav2", 8, 1, 3),
        Shortfall("okvqa", 0, 0, 3),
        Shortfall("okvqa", 4, 0, 3),
        Shortfall("okvqa", 8, 0, 3),
    )
    assert found.message() == (
        "incomplete: vqav2 4-shot missing, 8-shot has 1 of 3 trials; okvqa 0-, 4-, 8-shot missing "
        f"(finish it: fseval run --resume {run})"
    )


def test_a_finished_run_is_complete(tmp_path: Path) -> None:
    config = {"tasks": ["vqav2"], "shots": [0, 4], "trials": 2}
    run = write_run(tmp_path / "run", config, {"vqav2": [row(0, 2), row(4, 2)]})
    found = completeness(RunRecord.load(run), run)
    assert found.complete and found.message() == ""
    old = write_run(tmp_path / "old", {}, {"vqav2": [row(0, 1)]})  # a results file with no config: its rows stand
    assert completeness(RunRecord.load(old), old).complete


def test_each_tasks_own_shot_list_is_read_from_its_file(tmp_path: Path) -> None:
    spec = tmp_path / "tasks" / "mine.yaml"
    spec.parent.mkdir()
    spec.write_text("name: mine\nshots: [0, 2]\n")
    default = tmp_path / "tasks" / "plain.yaml"
    default.write_text("name: plain\n")  # no shots: the task default
    config = {"tasks": ["mine", "plain", "gone"], "shots": None, "trials": 1}
    tasks = {"mine": {"spec": str(spec)}, "plain": {"spec": str(default)}, "gone": {"spec": str(tmp_path / "x.yaml")}}
    run = write_run(tmp_path / "run", config, {"mine": [row(0, 1)], "gone": [row(0, 1)]}, tasks=tasks)
    record = RunRecord.load(run)
    assert intended_shots(record, "mine") == [0, 2]
    assert intended_shots(record, "plain") == [0, 4, 8, 16, 32]
    assert intended_shots(record, "gone") is None  # its file is gone: only what is recorded is checked
    found = completeness(record, run)
    assert [(s.task, s.shots) for s in found.shortfalls] == [("mine", 2)] + [("plain", k) for k in (0, 4, 8, 16, 32)]
    recorded = {"tasks": ["mine", "unknown_task"], "shots": None, "trials": 1}
    run = write_run(tmp_path / "recorded", recorded, {}, tasks={"mine": {"spec": "x", "shots": [1, 3]}})
    found = completeness(RunRecord.load(run), run)
    assert [(s.task, s.shots) for s in found.shortfalls] == [("mine", 1), ("mine", 3)]
    assert found.unknown == ("unknown_task",) and "unknown_task has no results" in found.message()


def test_a_built_in_task_not_yet_started_is_found_by_name(tmp_path: Path) -> None:
    config = {"tasks": ["vqav2"], "shots": None, "trials": 1}
    run = write_run(tmp_path / "run", config, {})
    expected = [(s.task, s.shots) for s in completeness(RunRecord.load(run), run).shortfalls]
    assert expected == [("vqav2", k) for k in intended_shots(RunRecord.load(run), "vqav2") or []] != []


@pytest.fixture
def interrupted(tmp_path: Path, vqav2_dir: Path) -> tuple[Path, Path]:
    """A run of vqav2 at 0 and 4 shots, 2 trials, that crashed during its 4-shot trials; and the whole run."""
    args = ["run", "--model", "mock", "--task", "vqav2", "--data-dir", str(vqav2_dir), "--shots", "0,4"]
    args += ["--trials", "2", "--batch-size", "2"]
    whole, broken = tmp_path / "whole", tmp_path / "broken"
    assert runner.invoke(app, [*args, "-o", str(whole)]).exit_code == 0
    result = runner.invoke(app, [*args, "-o", str(broken), "--model-arg", "crash_after=8"])
    assert result.exit_code == 1 and "SimulatedCrash" in result.output
    return whole, broken


def test_an_interrupted_run_says_what_is_missing(interrupted: tuple[Path, Path], tmp_path: Path) -> None:
    whole, broken = interrupted
    note = f"incomplete: vqav2 4-shot missing (finish it: fseval run --resume {broken})"
    shown = runner.invoke(app, ["show", str(broken)])
    assert shown.exit_code == 0 and note in flat(shown.output)
    assert "incomplete" not in runner.invoke(app, ["show", str(whole)]).output
    as_csv = runner.invoke(app, ["show", str(broken), "--format", "csv"])
    assert as_csv.exit_code == 0 and note in flat(as_csv.stderr) and "incomplete" not in as_csv.stdout

    compared = runner.invoke(app, ["compare", str(whole), str(broken)])
    assert compared.exit_code == 0 and f"broken: {note}" in flat(compared.stderr)
    as_json = runner.invoke(app, ["compare", str(whole), str(broken), "--json"])
    assert json.loads(as_json.stdout)[0]["comparisons"] and f"broken: {note}" in flat(as_json.stderr)

    out = tmp_path / "report.html"
    reported = runner.invoke(app, ["report", str(whole), str(broken), "-o", str(out)])
    assert reported.exit_code == 0, reported.output
    html = out.read_text()
    assert html.count('class="banner incomplete"') == 1
    assert f"<b>broken</b> {note}" in html and "<b>whole</b>" not in html


def test_resuming_makes_it_complete(interrupted: tuple[Path, Path]) -> None:
    _, broken = interrupted
    assert runner.invoke(app, ["run", "--resume", str(broken), "--model-arg", "crash_after=0"]).exit_code == 0
    assert completeness(RunRecord.load(broken), broken).complete
