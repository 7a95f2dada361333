"""iVQA and STAR end to end on their release files (tests/video_writers.py), clips cut from whole videos by range."""

from __future__ import annotations

import csv
import json
from pathlib import Path
from typing import Any

import pytest
from run_helpers import results_of, samples_of
from typer.testing import CliRunner
from video_writers import STAR_VAL, write_ivqa, write_star

from fseval.cli import app
from fseval.data.ivqa import read_ivqa_csv
from fseval.data.star import read_star_json
from fseval.errors import DataError
from fseval.media.video import CLIP_CACHE
from fseval.types import VideoSampling

runner = CliRunner()


def score(*args: str) -> dict[str, Any]:
    result = runner.invoke(app, ["score", *args, "--json"])
    assert result.exit_code == 0, result.output
    scored: dict[str, Any] = json.loads(result.output)
    return scored


def test_ivqa_zero_and_four_shots(tmp_path: Path, mock_run: Any) -> None:
    data = write_ivqa(tmp_path / "ivqa", past_end=True)
    CLIP_CACHE.clear()
    out = mock_run(tmp_path / "run", "--data-dir", str(data), "--shots", "0,4", task="ivqa")
    found = samples_of(out)
    assert len(found) == 10
    zero, four = found[0], found[5]
    assert zero["prompt"].count("<image>") == 1 and zero["prompt"].endswith(
        "<image>Question:what is the person holding? Answer:"
    )
    assert four["prompt"].count("<image>") == 5 and four["prompt"].count("<|endofchunk|>\n") == 4
    assert "Answer:thing" in four["prompt"]  # a demo's answer: the one most of its annotators gave
    assert four["media"][-1] == f"{data / 'videos' / '-3fE_x0qZ2k.mp4'}#fps=1,frames<=30@0.0-2.0s"
    # The mock gives the answer most annotators gave: min(1, its count / 2) is 1, 1, 0.5 (no agreement), 1.
    assert [line["score"] for line in found[:4]] == [1.0, 1.0, 0.5, 1.0]
    failed = [line for line in found if line["error"]]
    assert [line["id"] for line in failed] == [4, 4] and "past the end of the video" in failed[0]["error"]
    row = results_of(out, "ivqa")[1]
    assert (row["mean"], row["n"], row["failed"], row["metric"]) == (87.5, 4, 1, "ivqa_accuracy")


def test_star_zero_and_four_shots_by_question_type(tmp_path: Path, mock_run: Any) -> None:
    data = write_star(tmp_path / "star")
    # A constant answer that is no choice leaves the four tied: the first choice is taken.
    out = mock_run(
        tmp_path / "run", "--data-dir", str(data), "--shots", "0,4", "--model-arg", "mode=constant", task="star"
    )
    found = samples_of(out)
    assert len(found) == 10 and not any(line["error"] for line in found)
    four = found[5]
    assert four["prompt"].count("<image>") == 5 and four["prompt"].endswith(
        "<image>Question:Which object was tidied up by the person? Answer:"
    )
    assert four["scores"] == [-1.0] * 4 and four["prediction"] == "The closet/cabinet."
    assert four["media"][-1].endswith("Charades_v1_480/6H78U.mp4#fps=1,frames<=30@0.4-2.8s")
    assert [line["score"] for line in found[:5]] == [float(right == 0) for *_, right in STAR_VAL]
    row = results_of(out, "star")[1]
    types = {key: group["mean"] for key, group in row["breakdown"]["question_type"].items()}
    assert types == {"Interaction": 50.0, "Sequence": 0.0, "Prediction": 0.0, "Feasibility": 100.0}
    assert (row["mean"], row["extra"]["overall"], row["metric"]) == (37.5, 40.0, "star_accuracy")


@pytest.mark.parametrize("task", ["ivqa", "star"])
def test_batch_size_does_not_change_predictions(tmp_path: Path, mock_run: Any, task: str) -> None:
    data = (write_ivqa if task == "ivqa" else write_star)(tmp_path / task)
    runs = []
    for batch in ("1", "4"):
        CLIP_CACHE.clear()
        out = mock_run(
            tmp_path / f"b{batch}", "--data-dir", str(data), "--shots", "0,4", "--batch-size", batch, task=task
        )
        runs.append({(line["shots"], line["id"]): (line["prompt"], line["prediction"]) for line in samples_of(out)})
    assert runs[0] == runs[1] and len(runs[0]) == 8 + 2 * (task == "star")


def test_score_ivqa_answers(tmp_path: Path) -> None:
    data = write_ivqa(tmp_path / "ivqa")
    answers = tmp_path / "answers.json"
    given = ["knife", "onions", "garage", "Red"]  # 3, 1, 1 and 1 annotators: 1, 0.5, 0.5, 0.5
    answers.write_text(json.dumps([{"question_id": i, "answer": a} for i, a in enumerate(given)]))
    scored = score("--task", "ivqa", "--predictions", str(answers), "--data-dir", str(data))
    assert scored["metrics"]["ivqa_accuracy"] == 62.5 and scored["n"] == 4
    vqa = score("--task", "ivqa", "--predictions", str(answers), "--data-dir", str(data), "--metric-variant", "vqa")
    assert vqa["metrics"]["ivqa_accuracy"] == 75.0  # "Red" counts with the three "red"


def test_score_star_challenge_submission_and_answer_texts(tmp_path: Path) -> None:
    data = write_star(tmp_path / "star")
    submission: dict[str, list[dict[str, Any]]] = {}
    for question_id, *_, right in STAR_VAL:  # right everywhere but the first Interaction question
        chosen = (right + 1) % 4 if question_id == "Interaction_T1_13" else right
        submission.setdefault(question_id.split("_")[0], []).append({"question_id": question_id, "answer": chosen})
    path = tmp_path / "submission.json"
    path.write_text(json.dumps(submission))
    scored = score("--task", "star", "--predictions", str(path), "--data-dir", str(data))
    assert scored["metrics"] == {"star_accuracy": 87.5, "overall": 80.0}
    assert scored["breakdown"]["question_type"]["Interaction"]["score"] == 50.0
    texts = [{"question_id": q, "answer": choices[right]} for q, _, _, _, _, choices, right in STAR_VAL]
    path.write_text(json.dumps(texts))
    assert (
        score("--task", "star", "--predictions", str(path), "--data-dir", str(data))["metrics"]["star_accuracy"] == 100
    )


def test_a_csv_without_a_column_is_refused_before_the_model(tmp_path: Path) -> None:
    data = write_ivqa(tmp_path / "ivqa")
    with (data / "test.csv").open(newline="") as handle:
        rows = [{k: v for k, v in row.items() if k != "answer3"} for row in csv.DictReader(handle)]
    with (data / "test.csv").open("w", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(rows)
    result = runner.invoke(
        app, ["run", "--model", "mock", "--task", "ivqa", "--data-dir", str(data), "-o", str(tmp_path / "r")]
    )
    assert result.exit_code == 1 and "Loading the model" not in result.output
    assert "test.csv has no column 'answer3'" in " ".join(result.output.split())


def test_reader_errors_name_the_file_the_row_and_the_field(tmp_path: Path) -> None:
    sampling = VideoSampling()
    (tmp_path / "bad.csv").write_text(
        "video_id,start,end,question,answer1,answer2,answer3,answer4,answer5\nv,1,x,q,a,a,a,a,a\n"
    )
    with pytest.raises(DataError, match=r"bad.csv, line 2: column 'end' should be a time in seconds, found 'x'"):
        read_ivqa_csv(tmp_path, "bad.csv", "{video_id}.mp4", sampling)
    (tmp_path / "short.csv").write_text(
        "video_id,start,end,question,answer1,answer2,answer3,answer4,answer5\nv,1,2,q,a\n"
    )
    with pytest.raises(DataError, match=r"short.csv, line 2: the row has no cell for answer2, answer3"):
        read_ivqa_csv(tmp_path, "short.csv", "{video_id}.mp4", sampling)
    data = write_star(tmp_path / "star")
    items = json.loads((data / "STAR_val.json").read_text())
    del items[1]["start"]
    (data / "STAR_val.json").write_text(json.dumps(items))
    with pytest.raises(DataError, match=r"STAR_val.json: item 1 has no field 'start'"):
        read_star_json(data, "STAR_val.json", "{video_id}.mp4", sampling)


def test_star_reads_the_release_structure(tmp_path: Path) -> None:
    data = write_star(tmp_path / "star")
    samples = read_star_json(data, "STAR_val.json", "Charades_v1_480/{video_id}.mp4", VideoSampling(fps=1, frames=30))
    first = samples[0]
    assert first.id == "Interaction_T1_13" and first.fields["question_type"] == "Interaction"
    assert first.fields["choices"] == STAR_VAL[0][5] and first.fields["label"] == "The clothes."
    assert first.media[0].span == (0.4, 2.8) and str(first.media[0].path).endswith("Charades_v1_480/6H78U.mp4")
    test = read_star_json(data, "STAR_test.json", "Charades_v1_480/{video_id}.mp4", VideoSampling())
    assert "label" not in test[0].fields and test[0].fields["choices"] == first.fields["choices"]


@pytest.mark.slow  # a tiny OpenFlamingo generating and ranking on CPU
@pytest.mark.parametrize("task", ["ivqa", "star"])
def test_tiny_openflamingo_batch_one_and_four_agree(tmp_path: Path, tiny_openflamingo: Path, task: str) -> None:
    data = (write_ivqa if task == "ivqa" else write_star)(tmp_path / task)
    runs = []
    for batch in ("1", "4"):
        CLIP_CACHE.clear()
        args = ["--task", task, "--shots", "0,4", "--model", str(tiny_openflamingo), "--data-dir", str(data)]
        result = runner.invoke(
            app, ["run", *args, "--device", "cpu", "--batch-size", batch, "-o", str(tmp_path / batch)]
        )
        assert result.exit_code == 0, result.output
        found = samples_of(tmp_path / batch)
        assert found and not any(line["error"] for line in found)
        runs.append({(line["shots"], line["id"]): (line["prediction"], line["scores"]) for line in found})
    assert runs[0].keys() == runs[1].keys()
    for key, (prediction, scores) in runs[0].items():
        assert runs[1][key][0] == prediction, key
        if scores is not None:  # STAR: every choice's score, batch-independent up to float rounding
            assert runs[1][key][1] == pytest.approx(scores, abs=1e-4), key
