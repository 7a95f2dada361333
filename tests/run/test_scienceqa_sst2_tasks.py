"""ScienceQA (IMG) and Rendered SST2 end to end on their release files (tests/data_writers.py)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from data_writers import SCIENCEQA_TEST, flat, write_rendered_sst2, write_scienceqa
from run_helpers import results_of, samples_of
from typer.testing import CliRunner

from fseval.cli import app
from fseval.data.scienceqa import read_scienceqa

runner = CliRunner()
WRITERS = {"scienceqa": write_scienceqa, "rendered_sst2": write_rendered_sst2}


def score(*args: str) -> dict[str, Any]:
    result = runner.invoke(app, ["score", *args, "--json"])
    assert result.exit_code == 0, result.output
    scored: dict[str, Any] = json.loads(result.output)
    return scored


def test_scienceqa_reads_the_problems_with_an_image(tmp_path: Path) -> None:
    data = write_scienceqa(tmp_path / "sqa")
    samples = read_scienceqa(data, "problems.json", "pid_splits.json", "test", "images/{split}/{pid}/{image}")
    assert [s.id for s in samples] == ["4", "5", "11", "15", "22"]  # 23 and 26 have no image
    fields = samples[1].fields
    assert (fields["label"], fields["answer_index"], fields["context"], fields["topic"]) == (
        "day gecko",
        1,
        "Figure: tokay gecko.",
        "biology",
    )
    assert samples[0].fields["context"] == "N/A" and samples[0].fields["hint"] == ""
    mini = read_scienceqa(data, "problems.json", "pid_splits.json", "minitest", "images/{split}/{pid}/{image}")
    assert [str(s.media[0].path) for s in mini] == [
        str(data / "images" / "test" / p / "image.png") for p in ["4", "5", "11"]
    ]


def test_scienceqa_zero_and_four_shots(tmp_path: Path, mock_run: Any) -> None:
    data = write_scienceqa(tmp_path / "sqa")
    # A constant answer that is no choice leaves the choices tied: the first is taken (right for 4 and 15).
    out = mock_run(
        tmp_path / "run", "--data-dir", str(data), "--shots", "0,4", "--model-arg", "mode=constant", task="scienceqa"
    )
    found = samples_of(out)
    assert len(found) == 10 and not any(line["error"] for line in found)
    zero, four = found[1], found[6]
    assert zero["prompt"].count("<image>") == 1 and zero["prompt"].endswith(
        "<image>Context: Figure: tokay gecko. Question: Which animal's feet are adapted for sticking to smooth "
        "surfaces? Answer:"
    )
    assert four["prompt"].count("<image>") == 5 and four["prompt"].count("<|endofchunk|>") == 4
    assert all(f"/images/train/{pid}/image.png" in "".join(four["media"]) for pid in four["demo_ids"])
    assert "106" not in {pid for line in found for pid in line["demo_ids"]}  # the train problem without an image
    assert four["scores"] == [-1.0, -1.0] and four["prediction"] == "tiger salamander"
    assert [line["score"] for line in found[:5]] == [1.0, 0.0, 0.0, 1.0, 0.0]
    row = results_of(out, "scienceqa")[1]
    assert (row["mean"], row["n"], row["metric"]) == (40.0, 5, "scienceqa_accuracy")
    extra = {key: round(value, 2) for key, value in row["extra"].items()}
    assert extra == {"NAT": 33.33, "SOC": 100.0, "LAN": 0.0, "TXT": 50.0, "IMG": 40.0, "G1-6": 33.33, "G7-12": 50.0}
    assert row["breakdown"]["topic"]["geography"]["mean"] == 100.0


def test_rendered_sst2_zero_and_four_shots(tmp_path: Path, mock_run: Any) -> None:
    data = write_rendered_sst2(tmp_path / "sst2")
    options = ("--data-dir", str(data), "--shots", "0,4", "--model-arg", "mode=field", "--model-arg", "field=label")
    out = mock_run(tmp_path / "run", *options, task="rendered_sst2")
    found = samples_of(out)
    assert len(found) == 8 and not any(line["error"] for line in found)
    assert [line["id"] for line in found[:4]] == [
        "negative/test_negative_0.png",
        "negative/test_negative_1.png",
        "positive/test_positive_0.png",
        "positive/test_positive_1.png",
    ]
    four = found[6]
    assert four["prompt"].count("<image>") == 5 and four["prompt"].endswith(
        "<image>Is the sentiment of the text in this image positive or negative? Answer:"
    )
    assert all("/train/" in media for media in four["media"][:4]) and "/test/positive/" in four["media"][4]
    assert four["prediction"] == "positive" and four["targets"] == {"label": "positive"}
    assert [row["mean"] for row in results_of(out, "rendered_sst2")] == [100.0, 100.0]


@pytest.mark.parametrize("task", ["scienceqa", "rendered_sst2"])
def test_batch_size_does_not_change_predictions(tmp_path: Path, mock_run: Any, task: str) -> None:
    data = WRITERS[task](tmp_path / task)
    runs = []
    for batch in ("1", "4"):
        out = mock_run(
            tmp_path / f"b{batch}",
            *("--data-dir", str(data), "--shots", "0,4", "--batch-size", batch, "--model-arg", "mode=copy-demo"),
            task=task,
        )
        runs.append({(line["shots"], line["id"]): (line["prompt"], line["scores"]) for line in samples_of(out)})
    assert runs[0] == runs[1] and len(runs[0]) == (10 if task == "scienceqa" else 8)


def test_score_scienceqa_results_file(tmp_path: Path) -> None:
    data = write_scienceqa(tmp_path / "sqa")
    # The whole test split, as the release's run_gpt3.py writes it: right everywhere but problem 5.
    chosen = {
        pid: (answer + 1) % len(choices) if pid == "5" else answer for pid, _, choices, answer, *_ in SCIENCEQA_TEST
    }
    path = tmp_path / "results.json"
    path.write_text(json.dumps({"acc": 85.7, "correct": 6, "count": 7, "results": chosen, "outputs": {}}))
    scored = score("--task", "scienceqa", "--predictions", str(path), "--data-dir", str(data))
    assert scored["n"] == 5 and scored["metrics"]["scienceqa_accuracy"] == 80.0
    assert scored["metrics"]["TXT"] == 50.0 and scored["metrics"]["IMG"] == 80.0
    texts = [
        {"pid": pid, "answer": choices[answer]} for pid, _, choices, answer, _, image, *_ in SCIENCEQA_TEST if image
    ]
    path.write_text(json.dumps(texts))
    assert (
        score("--task", "scienceqa", "--predictions", str(path), "--data-dir", str(data))["metrics"][
            "scienceqa_accuracy"
        ]
        == 100
    )


def test_score_rendered_sst2_labels(tmp_path: Path) -> None:
    data = write_rendered_sst2(tmp_path / "sst2")
    labels = [{"id": f"{c}/test_{c}_{k}.png", "label": "positive"} for c in ("negative", "positive") for k in range(2)]
    path = tmp_path / "labels.json"
    path.write_text(json.dumps(labels))
    scored = score("--task", "rendered_sst2", "--predictions", str(path), "--data-dir", str(data))
    assert scored["n"] == 4 and scored["metrics"]["accuracy"] == 50.0


def test_scienceqa_problem_without_a_field_is_a_clear_error(tmp_path: Path) -> None:
    data = write_scienceqa(tmp_path / "sqa")
    problems = json.loads((data / "problems.json").read_text())
    del problems["15"]["grade"]
    (data / "problems.json").write_text(json.dumps(problems))
    result = runner.invoke(app, ["run", "--model", "mock", "--task", "scienceqa", "--data-dir", str(data)])
    assert result.exit_code == 1
    assert f"{data / 'problems.json'}: problem '15' has no field 'grade'" in flat(result.output)


def test_rendered_sst2_with_a_third_class_folder_is_a_clear_error(tmp_path: Path) -> None:
    data = write_rendered_sst2(tmp_path / "sst2")
    (data / "test" / "neutral").mkdir()
    result = runner.invoke(app, ["run", "--model", "mock", "--task", "rendered_sst2", "--data-dir", str(data)])
    assert result.exit_code == 1
    assert "has 3 class folders but rendered_sst2_classnames.txt names 2 classes" in flat(result.output)


@pytest.mark.slow  # tiny real models ranking on CPU
@pytest.mark.parametrize("model", ["tiny_openflamingo", "tiny_idefics", "tiny_qwen2_vl"])
@pytest.mark.parametrize("task", ["scienceqa", "rendered_sst2"])
def test_tiny_models_batch_one_and_four_agree(
    tmp_path: Path, request: pytest.FixtureRequest, task: str, model: str
) -> None:
    data = WRITERS[task](tmp_path / task)
    path = request.getfixturevalue(model)
    runs = []
    for batch in ("1", "4"):
        args = ["--task", task, "--shots", "0,4", "--model", str(path), "--data-dir", str(data), "--device", "cpu"]
        result = runner.invoke(app, ["run", *args, "--batch-size", batch, "-o", str(tmp_path / batch)])
        assert result.exit_code == 0, result.output
        found = samples_of(tmp_path / batch)
        assert found and not any(line["error"] for line in found)
        runs.append({(line["shots"], line["id"]): (line["prediction"], line["scores"]) for line in found})
    assert runs[0].keys() == runs[1].keys() and len(runs[0]) == (10 if task == "scienceqa" else 8)
    for key, (prediction, scores) in runs[0].items():
        assert runs[1][key][0] == prediction, key
        assert runs[1][key][1] == pytest.approx(scores, abs=1e-4), key
