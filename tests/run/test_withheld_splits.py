"""Test splits whose labels are withheld (``scored: false``): predictions stored, no score, said so everywhere."""

from __future__ import annotations

import json
import math
from collections.abc import Callable
from pathlib import Path

import pytest
from data_writers import (
    flat,
    run_outputs,
    write_hateful_memes_test,
    write_nocaps_test,
    write_textvqa_test,
    write_vizwiz_test,
    write_vqav2_test,
)
from run_helpers import MockRun
from typer.testing import CliRunner

from fseval.cli import app
from fseval.errors import DataError
from fseval.record import RunRecord
from fseval.reports.completeness import completeness
from fseval.tasks.spec import load_tasks
from fseval.tasks.task_data import load_task_data

ANSWER_QUESTION = ("--model-arg", "mode=field", "--model-arg", "field=question")
ANSWER_TEXT = ("--model-arg", "mode=field", "--model-arg", "field=text")
ANSWER_FILE_NAME = ("--model-arg", "mode=field", "--model-arg", "field=file_name")

# task -> (data writer, mock options, samples in its evaluation split)
WITHHELD: dict[str, tuple[Callable[[Path], Path], tuple[str, ...], int]] = {
    "vqav2_test_dev": (write_vqav2_test, ANSWER_QUESTION, 4),
    "vqav2_test_std": (write_vqav2_test, ANSWER_QUESTION, 8),
    "vizwiz_test": (write_vizwiz_test, ANSWER_QUESTION, 4),
    "textvqa_test": (write_textvqa_test, ANSWER_QUESTION, 4),
    "hateful_memes_test_unseen": (write_hateful_memes_test, ANSWER_TEXT, 8),
    "nocaps_test": (lambda root: write_nocaps_test(root) / "nocaps", ANSWER_FILE_NAME, 4),
}


def withheld_run(mock_run: MockRun, tmp_path: Path, task: str, *options: str) -> Path:
    writer, mock, _ = WITHHELD[task]
    data = writer(tmp_path / "data")
    return mock_run(tmp_path / "run", "--data-dir", str(data), *mock, *options, task=task)


@pytest.mark.parametrize("task", sorted(WITHHELD))
def test_withheld_split_stores_predictions_without_a_score(mock_run: MockRun, tmp_path: Path, task: str) -> None:
    run = withheld_run(mock_run, tmp_path, task, "--shots", "0,4")
    lines, results = run_outputs(run)
    records = [json.loads(line) for line in lines]
    count = WITHHELD[task][2]
    assert len(records) == 2 * count
    assert all(r["prediction"] not in (None, "") and r["score"] is None and r["error"] is None for r in records)
    for row in results[task]:
        assert row["not_scored"] == "labels withheld"
        assert math.isnan(row["mean"]) and row["n"] == count and row["failed"] == 0
    record = RunRecord.load(run)
    assert completeness(record, run).complete  # every row it set out to make is there, unscored
    shown = flat(CliRunner().invoke(app, ["show", str(run)]).output)
    assert shown.count("not scored: labels withheld") == 2
    assert "nan" not in shown and "incomplete" not in shown and "every sample failed" not in shown


def test_a_scored_task_still_refuses_records_without_labels(tmp_path: Path) -> None:
    data = write_hateful_memes_test(tmp_path / "data")
    (data / "dev_seen.jsonl").write_text((data / "test_unseen.jsonl").read_text())
    (task,) = load_tasks(["hateful_memes"])
    with pytest.raises(DataError, match="'label'"):
        load_task_data(task, str(data))
    (withheld,) = load_tasks(["hateful_memes_test_unseen"])
    assert len(load_task_data(withheld, str(data)).eval) == 8


def test_test_seen_is_a_scored_split(mock_run: MockRun, tmp_path: Path) -> None:
    data = write_hateful_memes_test(tmp_path / "data")
    run = mock_run(
        tmp_path / "run", "--data-dir", str(data), *ANSWER_TEXT, "--shots", "0", task="hateful_memes_test_seen"
    )
    (row,) = run_outputs(run)[1]["hateful_memes_test_seen"]
    assert row["not_scored"] == "" and row["mean"] == pytest.approx(65.625) and row["n"] == 8


def test_compare_and_check_say_not_scored(mock_run: MockRun, tmp_path: Path) -> None:
    run = withheld_run(mock_run, tmp_path, "vizwiz_test", "--shots", "0")
    compared = CliRunner().invoke(app, ["compare", str(run), str(run), "--json"])
    assert compared.exit_code == 0, compared.output
    (comparison,) = json.loads(compared.output)[0]["comparisons"]
    assert comparison["not_scored"] == "labels withheld" and comparison["means"] == [None, None]
    table = flat(CliRunner().invoke(app, ["compare", str(run), str(run)]).output)
    assert "not scored: labels withheld" in table and "nan" not in table
    baseline = tmp_path / "baseline.json"
    written = CliRunner().invoke(app, ["check", str(run), "--write-baseline", str(baseline)])
    assert written.exit_code == 0, written.output
    assert json.loads(baseline.read_text())["tasks"] == {}  # nothing to gate: no score, and no error either


def test_fseval_score_refuses_a_withheld_split(mock_run: MockRun, tmp_path: Path) -> None:
    run = withheld_run(mock_run, tmp_path, "textvqa_test", "--shots", "0")
    data = tmp_path / "data"
    result = CliRunner().invoke(
        app, ["score", "--task", "textvqa_test", "--predictions", str(run), "--data-dir", str(data)]
    )
    assert result.exit_code == 1 and "labels are withheld" in flat(result.output)
    assert "fseval export" in flat(result.output)
