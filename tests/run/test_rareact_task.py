"""RareAct end to end: rareact.csv's lines as clips cut from whole videos, ranked against every class (mock model),
mWAP of the run, ``fseval score`` of RareAct's own .npy score matrix and of the run directory, bad release files."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from data_writers import flat
from run_helpers import MockRun
from typer.testing import CliRunner
from video_writers import RAREACT_CLASSES, RAREACT_LINES, write_rareact

from fseval.cli import app
from fseval.data.rareact import read_rareact
from fseval.errors import DataError
from fseval.media.video import CLIP_CACHE
from fseval.metrics import get_metric
from fseval.types import Ranked, VideoSampling

runner = CliRunner()
LABELS = [f"{verb} {noun}" for verb, noun in RAREACT_CLASSES]
MOCK = ["--model-arg", "mode=field", "--model-arg", "field=label"]  # 0 for the line's own class, -1 for the others


def samples_of(out: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in (out / "samples.jsonl").read_text().splitlines()]


def run_rareact(mock_run: MockRun, out: Path, data: Path, *options: str) -> list[dict[str, Any]]:
    CLIP_CACHE.clear()  # one CLI process is one run; here several runs share the process
    mock_run(out, "--shots", "0", "--data-dir", str(data), *MOCK, *options, task="rareact")
    return samples_of(out)


def expected_mwap(lines: list[int], matrix: np.ndarray) -> dict[str, float]:
    """mWAP and mSAP of ``matrix`` (one row per line of ``lines``, one column per class_id), by the metric."""
    targets = [
        {"video_id": video, "verb": RAREACT_CLASSES[c][0], "noun": RAREACT_CLASSES[c][1], "annotation": a,
         "label": LABELS[c]}
        for i, video, _, _, c, a in RAREACT_LINES if i in lines
    ]  # fmt: skip
    predictions = [Ranked.from_scores(dict(zip(LABELS, row, strict=True))) for row in matrix.tolist()]
    outcome = get_metric("mwap").score(predictions, targets, "default")
    return {"mwap": outcome.value, **outcome.extra}


def test_loader_one_sample_per_line_sharing_one_class_tuple(tmp_path: Path) -> None:
    data = write_rareact(tmp_path / "rareact")
    samples = read_rareact(data, "rareact.csv", "videos/{video_id}.mp4", VideoSampling(fps=1, frames=30))
    assert [s.id for s in samples] == list(range(8))
    assert all(s.fields["classes"] is samples[0].fields["classes"] for s in samples)  # one tuple, not a copy each
    assert samples[0].fields["classes"] == tuple(LABELS)
    assert samples[3].fields["label"] == "cut banana" and samples[3].fields["annotation"] == 3
    assert samples[2].media[0].span == (0, 3) and samples[2].media == samples[3].media  # one clip, two lines
    assert samples[0].media[0].path == data / "videos" / "aB3-x_9QzKw.mp4"


@pytest.mark.parametrize(
    ("edit", "message"),
    [
        (lambda text: text.replace("6,aB3-x_9QzKw", "six,aB3-x_9QzKw"), "line 8: field 'id' should be an integer"),
        (lambda text: text.replace(",peel,laptop,4", ",peel,laptop,5"), "annotation 5"),
        (lambda text: text.replace("2,cut,banana,3", "2,peel,banana,3"), "'peel banana' has class_id 2 here, 1 above"),
        (lambda text: text.replace(",3,peel,laptop,", ",4,peel,laptop,"), "no line has class_id 3"),
    ],
)
def test_loader_refuses_bad_lines_naming_file_and_line(tmp_path: Path, edit: Any, message: str) -> None:
    data = write_rareact(tmp_path / "rareact")
    path = data / "rareact.csv"
    path.write_text(edit(path.read_text()))
    with pytest.raises(DataError) as error:
        read_rareact(data, "rareact.csv", "videos/{video_id}.mp4", VideoSampling())
    assert str(path) in str(error.value) and message in str(error.value)


def test_zero_shot_run_scores_every_class_and_fails_the_clip_past_the_end(tmp_path: Path, mock_run: MockRun) -> None:
    data = write_rareact(tmp_path / "rareact")
    lines = run_rareact(mock_run, tmp_path / "run", data)
    assert [line["id"] for line in lines] == list(range(8))
    failed = [line for line in lines if line["error"]]
    assert [line["id"] for line in failed] == [7] and "past the end of the video (5.00 s long)" in failed[0]["error"]
    scored = [line for line in lines if not line["error"]]
    assert all(line["prompt"] == "<image>Output:" and line["demo_ids"] == [] for line in lines)  # 0 shots, no demos
    assert lines[2]["media"] == [f"{data / 'videos' / 'Zz0_yY1-wVu.mp4'}#fps=1,frames<=30@0.0-3.0s"]
    assert lines[3]["media"] == lines[2]["media"]
    assert all(len(line["scores"]) == 4 and line["prediction"] == line["targets"]["label"] for line in scored)
    matrix = np.array([line["scores"] for line in scored])
    expected = expected_mwap([line["id"] for line in scored], matrix)
    # By hand: cut laptop 1/2 (its positive ties its negative), peel banana 1, cut banana 1 / (1 + 1/2) (a hard
    # negative of a video with two lines ties it); peel laptop has no positive.
    assert expected["mwap"] == pytest.approx(100 * (0.5 + 1 + 2 / 3) / 3)
    row = json.loads((tmp_path / "run" / "results.json").read_text())["results"]["rareact"][0]
    assert (row["shots"], row["n"], row["failed"], row["metric"]) == (0, 7, 1, "mwap")
    assert row["mean"] == pytest.approx(expected["mwap"], abs=1e-9)
    assert row["extra"]["mSAP"] == pytest.approx(expected["mSAP"], abs=1e-9)


def test_batch_size_does_not_change_the_scores(tmp_path: Path, mock_run: MockRun) -> None:
    data = write_rareact(tmp_path / "rareact")
    one = run_rareact(mock_run, tmp_path / "one", data, "--batch-size", "1")
    four = run_rareact(mock_run, tmp_path / "four", data, "--batch-size", "4")
    keys = ("id", "prediction", "scores", "score", "error")
    assert [[line[k] for k in keys] for line in one] == [[line[k] for k in keys] for line in four]


def test_score_reads_the_npy_matrix_and_rescores_the_run(tmp_path: Path, mock_run: MockRun) -> None:
    data = write_rareact(tmp_path / "rareact")
    matrix = np.random.default_rng(0).integers(0, 4, size=(8, 4)).astype(np.float32)
    np.save(tmp_path / "predictions.npy", matrix)
    args = ["score", "--task", "rareact", "--data-dir", str(data), "--json"]
    result = runner.invoke(app, [*args, "--predictions", str(tmp_path / "predictions.npy")])
    assert result.exit_code == 0, result.output
    scored = json.loads(result.output)
    assert (scored["n"], scored["missing"]) == (8, 0)
    expected = expected_mwap(list(range(8)), matrix.astype(np.float64))
    assert scored["metrics"]["mwap"] == pytest.approx(expected["mwap"], abs=1e-9)
    assert scored["metrics"]["mSAP"] == pytest.approx(expected["mSAP"], abs=1e-9)

    run_rareact(mock_run, tmp_path / "run", data)
    rescored = runner.invoke(app, [*args, "--predictions", str(tmp_path / "run")])
    assert rescored.exit_code == 0, rescored.output
    (trial,) = json.loads(rescored.output)
    row = json.loads((tmp_path / "run" / "results.json").read_text())["results"]["rareact"][0]
    assert trial["n"] == 7 and trial["metrics"]["mwap"] == pytest.approx(row["mean"], abs=1e-9)


def test_score_refuses_a_matrix_of_the_wrong_shape(tmp_path: Path) -> None:
    data = write_rareact(tmp_path / "rareact")
    np.save(tmp_path / "predictions.npy", np.zeros((8, 3)))
    args = ["score", "--task", "rareact", "--data-dir", str(data), "--predictions", str(tmp_path / "predictions.npy")]
    result = runner.invoke(app, args)
    assert result.exit_code == 1
    output = flat(result.output)
    assert "predictions.npy" in output and "(8, 3)" in output and "(8, 4)" in output


def test_a_csv_missing_a_column_is_refused_before_the_model_loads(tmp_path: Path) -> None:
    data = write_rareact(tmp_path / "rareact", drop_column="annotation")
    args = ["run", "--model", "mock", "--task", "rareact", "--data-dir", str(data), "-o", str(tmp_path / "run")]
    result = runner.invoke(app, args)
    assert result.exit_code == 1
    output = flat(result.output)
    assert "rareact.csv" in output and "no column 'annotation'" in output and "Loading the model" not in output
