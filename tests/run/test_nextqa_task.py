"""NExT-QA open-ended end to end: NExT-OE's release files and VidOR-mapped clips (mock model), WUPS of the run,
``fseval score`` of NExT-OE's own results JSON, and bad release files."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from data_writers import flat
from run_helpers import MockRun
from typer.testing import CliRunner
from video_writers import NEXTQA_ROWS, write_nextqa

from fseval.cli import app
from fseval.data.nextqa import read_nextoe_csv
from fseval.errors import DataError
from fseval.media.video import CLIP_CACHE
from fseval.metrics import get_metric, wups
from fseval.types import VideoSampling

pytestmark = [
    pytest.mark.slow,  # decoded clips, and WUPS loads WordNet and the tagger
    pytest.mark.skipif(wups.wordnet_problem() is not None, reason=str(wups.wordnet_problem())),
]
runner = CliRunner()
TEST_IDS = [f"{video}_{qid}" for video, _, _, qid, _ in NEXTQA_ROWS["test"]]


def run_nextqa(mock_run: MockRun, out: Path, data: Path, *options: str) -> list[dict[str, Any]]:
    CLIP_CACHE.clear()  # one CLI process is one run; here several runs share the process
    mock_run(out, "--data-dir", str(data), *options, task="nextqa")
    return [json.loads(line) for line in (out / "samples.jsonl").read_text().splitlines()]


def test_loader_reads_the_release_files(tmp_path: Path) -> None:
    data = write_nextqa(tmp_path / "nextqa")
    map_file = data / "map_vid_vidorID.json"
    map_file.write_text(json.dumps({k: v for k, v in json.loads(map_file.read_text()).items() if k != "6213049384"}))
    samples = read_nextoe_csv(
        data, "test.csv", "NExTVideo/{vidor_path}.mp4", VideoSampling(), "map_vid_vidorID.json",
        "add_reference_answer_test.json",
    )  # fmt: skip
    assert [s.id for s in samples] == TEST_IDS
    assert samples[0].fields["answers"] == ["to wave at the camera", "to say hello"]  # the second reference
    assert samples[3].fields["answers"] == ["no"] and samples[2].fields["type"] == "TP"
    assert [s.fields["category"] for s in samples] == ["C", "D", "T", "D", "D"]
    assert samples[0].media[0].path == data / "NExTVideo" / "0000" / "2440175990.mp4"
    assert samples[3].media[0].error == f"{map_file}: video 6213049384 is not listed."  # that question fails


def test_loader_refuses_references_missing_a_question(tmp_path: Path) -> None:
    data = write_nextqa(tmp_path / "nextqa")
    (data / "add_reference_answer_test.json").write_text(json.dumps({"2440175990": {"0": "hi"}}))
    with pytest.raises(DataError, match="video 2440175990 has no answer for question 1"):
        read_nextoe_csv(data, "test.csv", "{vidor_path}", VideoSampling(), "map_vid_vidorID.json",
                        "add_reference_answer_test.json")  # fmt: skip


def test_zero_and_four_shots_with_video_demos(tmp_path: Path, mock_run: MockRun) -> None:
    data = write_nextqa(tmp_path / "nextqa")
    lines = run_nextqa(mock_run, tmp_path / "run", data, "--shots", "0,4")
    assert [line["id"] for line in lines] == TEST_IDS * 2
    zero, four = lines[0], lines[5]
    assert zero["prompt"].endswith("<image>Question:why did the man raise his hand Answer:")
    assert four["prompt"].count("<image>") == 5 and len(four["media"]) == 5  # 4 demo clips from train, then the query
    assert zero["media"] == [f"{data / 'NExTVideo' / '0000' / '2440175990.mp4'}#fps=1,frames<=30"]
    assert all(line["error"] is None and line["score"] == 1.0 for line in lines)  # the mock answers the reference
    rows = json.loads((tmp_path / "run" / "results.json").read_text())["results"]["nextqa"]
    assert [(row["shots"], row["mean"], row["n"], row["metric"]) for row in rows] == [
        (0, 100.0, 5, "wups"),
        (4, 100.0, 5, "wups"),
    ]
    assert rows[0]["extra"]["WUPS@0.9"] == 100.0 and rows[0]["extra"]["TN"] == 100.0  # TP counts as TN


def test_batch_size_does_not_change_the_predictions(tmp_path: Path, mock_run: MockRun) -> None:
    data = write_nextqa(tmp_path / "nextqa")
    options = ("--shots", "4", "--model-arg", "mode=copy-demo")
    one = run_nextqa(mock_run, tmp_path / "one", data, *options, "--batch-size", "1")
    four = run_nextqa(mock_run, tmp_path / "four", data, *options, "--batch-size", "4")
    keys = ("id", "prompt", "prediction", "score", "error")
    assert [[line[k] for k in keys] for line in one] == [[line[k] for k in keys] for line in four]
    assert len({line["prediction"] for line in one}) > 1


def test_score_reads_nextoe_results_json(tmp_path: Path) -> None:
    data = write_nextqa(tmp_path / "nextqa")
    answers = ["waving at camera", "3", "walks in", "yes", "kitchen"]
    results: dict[str, dict[str, str]] = {}
    for (video, _, _, qid, _), answer in zip(NEXTQA_ROWS["test"], answers, strict=True):
        results.setdefault(video, {})[str(qid)] = answer
    (tmp_path / "results.json").write_text(json.dumps(results))
    args = [
        "score",
        "--task",
        "nextqa",
        "--data-dir",
        str(data),
        "--json",
        "--predictions",
        str(tmp_path / "results.json"),
    ]
    result = runner.invoke(app, args)
    assert result.exit_code == 0, result.output
    scored = json.loads(result.output)
    targets = [{"answers": a, "type": t} for a, t in [
        (["to wave at the camera", "to say hello"], "CW"), (["three", "3"], "DC"),
        (["walk in", "walk into the room"], "TP"), (["no"], "DB"), (["in the kitchen"], "DL"),
    ]]  # fmt: skip
    expected = get_metric("wups").score(answers, targets, "official")
    assert (scored["n"], scored["missing"]) == (5, 0)
    assert scored["metrics"]["wups"] == pytest.approx(expected.value, abs=1e-9)
    assert scored["metrics"]["WUPS@0.9"] == pytest.approx(expected.extra["WUPS@0.9"], abs=1e-9)
    assert expected.per_sample[1] == 1.0 and expected.per_sample[3] == 0.0  # DC "3" matches the second reference


def test_a_csv_missing_a_column_is_refused_before_the_model_loads(tmp_path: Path) -> None:
    data = write_nextqa(tmp_path / "nextqa", drop_column="qid")
    args = ["run", "--model", "mock", "--task", "nextqa", "--data-dir", str(data), "-o", str(tmp_path / "run")]
    result = runner.invoke(app, args)
    assert result.exit_code == 1
    output = flat(result.output)
    assert "test.csv" in output and "no column 'qid'" in output and "Loading the model" not in output
