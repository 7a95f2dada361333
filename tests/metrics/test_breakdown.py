"""Scores per group: against the official VQA script, through a run, and out of fseval show/score."""

from __future__ import annotations

import csv
import io
import json
import math
import shutil
import statistics
from collections import defaultdict
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from fseval.cli import app
from fseval.metrics import get_metric
from fseval.metrics.breakdown import breakdown
from fseval.reports.scoring import read_predictions, score_file
from fseval.tasks.spec import load_tasks
from fseval.tasks.task_data import load_task_data
from fseval.types import Ranked

OFFICIAL = Path(__file__).parents[1] / "fixtures" / "official_vqa"
runner = CliRunner()


def rounded_equal(ours: float, official: float) -> bool:
    """The official script prints round(100 * mean, 2); Python 2 and 3 round ties differently."""
    return abs(ours - official) <= 0.005 + 1e-9


def test_vqa_breakdown_equals_the_official_script() -> None:
    """Compared: overall, every perAnswerType and perQuestionType entry (keys and values) and every evalQA entry.

    The official numbers come from GT-Vision-Lab/VQA's vqaEval.py run by scripts/make_official_vqa_fixture.py
    on the same files (330 questions, 11 question types, 3 answer types, unanimous and split annotators).
    """
    official = json.loads((OFFICIAL / "official.json").read_text())
    result = score_file("vqav2", OFFICIAL / "results.json", str(OFFICIAL))
    assert result["n"] == len(official["evalQA"]) and result["missing"] == 0
    assert rounded_equal(result["metrics"]["vqa_accuracy"], official["accuracy"]["overall"])
    for ours, theirs in (("answer_type", "perAnswerType"), ("question_type", "perQuestionType")):
        groups = result["breakdown"][ours]
        assert set(groups) == set(official["accuracy"][theirs])
        for key, value in official["accuracy"][theirs].items():
            assert rounded_equal(groups[key]["score"], value), (ours, key)

    (task,) = load_tasks(["vqav2"])
    samples = load_task_data(task, str(OFFICIAL), None, for_scoring=True).eval
    predictions = read_predictions(OFFICIAL / "results.json", "vqa_accuracy")
    outcome = get_metric("vqa_accuracy").score(
        [predictions[s.id] for s in samples], [s.fields for s in samples], "vqav2"
    )
    for sample, value in zip(samples, outcome.per_sample, strict=True):
        assert rounded_equal(100 * value, official["evalQA"][str(sample.id)]), sample.id


def test_group_is_the_metric_on_the_groups_samples() -> None:
    metric = get_metric("vqa_accuracy")
    targets = [{"answers": ["yes"] * 10, "kind": "a"}, {"answers": ["no"] * 10, "kind": "b"}, {"answers": ["no"] * 10}]
    groups = breakdown(metric, ["yes", "yes", "no"], targets, "vqav2", ["kind", "absent"])
    assert set(groups) == {"kind"}  # a field no sample has makes no table; a sample without the field joins no group
    assert (groups["kind"]["a"].value, groups["kind"]["a"].n) == (100.0, 1)
    assert (groups["kind"]["b"].value, groups["kind"]["b"].n) == (0.0, 1)


def test_a_group_the_metric_cannot_score_alone_is_nan() -> None:
    """ROC AUC over a group holding one class has no value; the other groups still get theirs."""
    metric = get_metric("roc_auc")
    predictions = [Ranked(("yes", "no"), (-0.1, -2.0)), Ranked(("yes", "no"), (-2.0, -0.1))] * 2
    targets = [{"label": "yes", "g": "mixed"}, {"label": "no", "g": "mixed"}, {"label": "yes", "g": "one"}] * 1
    targets.append({"label": "yes", "g": "one"})
    groups = breakdown(metric, predictions, targets, "default", ["g"])["g"]
    assert groups["mixed"].value == 100.0 and math.isnan(groups["one"].value) and groups["one"].n == 2


@pytest.fixture(scope="module")
def mock_run(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("breakdown") / "run"
    args = ["run", "--model", "mock", "--task", "shapes_vqa", "--shots", "0,4", "--trials", "2", "--limit", "40"]
    result = runner.invoke(app, [*args, "--output", str(out), "--breakdown"])
    assert result.exit_code == 0, result.output
    assert "shapes_vqa: vqa_accuracy by question_type" in result.output
    return out


def test_results_json_groups_are_the_samples_scores(mock_run: Path) -> None:
    """Each group's per-trial score is the mean of its samples' scores in samples.jsonl; its mean is over trials."""
    lines = [json.loads(line) for line in (mock_run / "samples.jsonl").read_text().splitlines()]
    scores: dict[tuple[int, int, str, str], list[float]] = defaultdict(list)
    for line in lines:
        assert set(line["groups"]) == {"answer_type", "question_type"}
        for field, key in line["groups"].items():
            scores[(line["shots"], line["seed"], field, key)].append(line["score"])
    results = json.loads((mock_run / "results.json").read_text())["results"]["shapes_vqa"]
    for row in results:
        assert set(row["breakdown"]) == {"answer_type", "question_type"}
        for field, groups in row["breakdown"].items():
            for key, group in groups.items():
                expected = [100 * statistics.fmean(scores[(row["shots"], seed, field, key)]) for seed in row["seeds"]]
                assert group["trials"] == pytest.approx(expected, abs=1e-9)
                assert group["mean"] == pytest.approx(statistics.fmean(expected), abs=1e-9)
                assert group["n"] == len(scores[(row["shots"], row["seeds"][0], field, key)])


def test_show_formats(mock_run: Path) -> None:
    table = runner.invoke(app, ["show", str(mock_run), "--breakdown"])
    assert table.exit_code == 0 and "by answer_type" in table.output and "what shape" in table.output

    markdown = runner.invoke(app, ["show", str(mock_run), "--format", "markdown"]).output.splitlines()
    assert markdown[0].startswith("| task | shots | metric |") and len(markdown) == 2 + 2  # header, rule, 2 rows

    rows = list(
        csv.DictReader(io.StringIO(runner.invoke(app, ["show", str(mock_run), "-f", "csv", "--breakdown"]).output))
    )
    results = json.loads((mock_run / "results.json").read_text())["results"]["shapes_vqa"]
    headline = [r for r in rows if r["group"] == ""]
    assert [float(r["mean"]) for r in headline] == [row["mean"] for row in results]  # full precision
    grouped = {(int(r["shots"]), r["group"]): float(r["mean"]) for r in rows if r["group"]}
    assert grouped[(4, "question_type=what shape")] == results[1]["breakdown"]["question_type"]["what shape"]["mean"]

    exported: dict[str, Any] = json.loads(runner.invoke(app, ["show", str(mock_run), "-f", "json"]).output)
    assert [row["shots"] for row in exported["shapes_vqa"]] == [0, 4] and "breakdown" not in exported["shapes_vqa"][0]

    wrong = runner.invoke(app, ["show", str(mock_run), "--format", "xml"])
    assert wrong.exit_code != 0 and "--format" in wrong.output


def test_score_prints_and_returns_the_breakdown() -> None:
    args = ["score", "--task", "vqav2", "--predictions", str(OFFICIAL / "results.json"), "--data-dir", str(OFFICIAL)]
    printed = runner.invoke(app, args)
    assert printed.exit_code == 0 and "vqav2 by answer_type" in printed.output and "yes/no" in printed.output
    as_json = json.loads(runner.invoke(app, [*args, "--json"]).output)
    assert set(as_json["breakdown"]) == {"answer_type", "question_type"}
    assert as_json["breakdown"]["answer_type"]["number"]["n"] == 60


@pytest.mark.slow
@pytest.mark.skipif(shutil.which("java") is None, reason="caption metrics need Java")
def test_caption_groups_carry_every_metric_of_their_subset() -> None:
    """A caption group's numbers are the metric run on that group alone (CIDEr's IDF from its references)."""
    metric = get_metric("caption")
    references = [["a red circle", "a circle that is red"], ["two blue squares", "blue squares"], ["a green shape"]]
    targets = [{"references": r, "kind": k} for r, k in zip(references, ["round", "square", "square"], strict=True)]
    predictions = ["a red circle", "blue squares", "a shape"]
    groups = breakdown(metric, predictions, targets, "ptb", ["kind"])["kind"]
    alone = metric.score(predictions[1:], targets[1:], "ptb")
    assert groups["square"].value == pytest.approx(alone.value) and groups["square"].n == 2
    assert groups["square"].extra == pytest.approx(alone.extra) and "METEOR" in groups["square"].extra
