"""VATEX and YouCook2 end to end through the real CLI on their release files: few-shot clip captioning with the
mock model, batch sizes that agree, clips cut by range, `fseval score` on each benchmark's own results file."""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any

import pytest
import yaml
from data_writers import flat
from run_helpers import MockRun, results_of, samples_of
from typer.testing import CliRunner
from video_writers import YOUCOOK2_VIDEOS, frame_index, write_vatex, write_youcook2

from fseval.cli import app
from fseval.data.layouts import VatexJson, YouCook2Json
from fseval.errors import DataError
from fseval.media.video import load_video
from fseval.resources import builtin_dir

# Runs score with the Java PTB tokenizer and METEOR (seconds each): marked slow, skipped without Java.
needs_java = pytest.mark.skipif(shutil.which("java") is None, reason="the caption metrics need Java")
REFERENCES = ["--model-arg", "mode=field", "--model-arg", "field=references"]


def same_across_batch_sizes(mock_run: MockRun, tmp_path: Path, task: str, data: Path) -> list[dict[str, Any]]:
    """``--shots 0,4`` at batch sizes 1 and 4 (demo captions copied): the same prompts, clips and predictions."""
    args = ["--data-dir", str(data), "--shots", "0,4", "--model-arg", "mode=copy-demo"]
    one = samples_of(mock_run(tmp_path / "batch1", *args, "--batch-size", "1", task=task))
    four = samples_of(mock_run(tmp_path / "batch4", *args, "--batch-size", "4", task=task))
    keys = ("id", "shots", "demo_ids", "prompt", "media", "prediction", "score", "error")
    assert [[line[k] for k in keys] for line in one] == [[line[k] for k in keys] for line in four]
    return one


def score(task: str, predictions: Path, data: Path) -> dict[str, Any]:
    args = ["score", "--task", task, "--predictions", str(predictions), "--data-dir", str(data), "--json"]
    result = CliRunner().invoke(app, args)
    assert result.exit_code == 0, result.output
    scored: dict[str, Any] = json.loads(result.output)
    return scored


@pytest.mark.slow
@needs_java
def test_vatex_public_test_zero_and_four_shots(mock_run: MockRun, tmp_path: Path) -> None:
    data = write_vatex(tmp_path / "vatex")
    run_dir = mock_run(tmp_path / "run", "--data-dir", str(data), "--shots", "0,4", *REFERENCES, task="vatex")
    lines = samples_of(run_dir)
    assert [line["id"] for line in lines[:3]] == ["nJ6KPT1uwe8_000002_000012", "-0jJ7Zb_Gm8A_000004_000014",
                                                  "Ptf_2VRj-V0_000000_000010"]  # fmt: skip
    zero, four = lines[0], lines[3]
    assert zero["prompt"].count("<image>") == 1 and four["prompt"].count("<image>") == 5
    assert four["prompt"].endswith("<|endofchunk|>\n<image>Output:") and len(four["media"]) == 5
    assert four["media"][-1] == f"{data / 'videos' / 'nJ6KPT1uwe8_000002_000012.mp4'}#fps=1,frames<=30"
    assert all(line["demo_ids"][0].startswith("trainvid_") for line in lines)  # demos from training
    assert lines[0]["prediction"] == "a red square moves to the right 0"
    assert len(lines[0]["targets"]["references"]) == 10
    row = results_of(run_dir, "vatex")[1]
    assert (row["shots"], row["metric"], row["n"], row["failed"]) == (4, "vatex_caption", 3, 0)
    # A {videoID: caption} file of the run's 4-shot captions scores as the run did.
    captions = {line["id"]: line["prediction"] for line in lines if line["shots"] == 4}
    (tmp_path / "captions.json").write_text(json.dumps(captions))
    scored = score("vatex", tmp_path / "captions.json", data)
    assert scored["n"] == 3 and scored["metrics"]["CIDEr"] == pytest.approx(row["mean"], abs=1e-9)


@pytest.mark.slow
@needs_java
def test_vatex_batch_sizes_agree(mock_run: MockRun, tmp_path: Path) -> None:
    lines = same_across_batch_sizes(mock_run, tmp_path, "vatex", write_vatex(tmp_path / "vatex"))
    assert len(lines) == 6 and all(line["error"] is None for line in lines)


@pytest.mark.slow
@needs_java
def test_vatex_whole_videos_are_sampled_in_the_video_id_range(mock_run: MockRun, tmp_path: Path) -> None:
    data = write_vatex(tmp_path / "vatex", whole_videos=True)
    spec = yaml.safe_load((builtin_dir("tasks") / "vatex.yaml").read_text())
    for layout in (*spec["data"]["eval"], *spec["data"]["demo"]):
        layout.update(videos="videos/{youtube_id}.mp4", whole_videos=True)
    (tmp_path / "tasks").mkdir()
    (tmp_path / "tasks" / "vatex.yaml").write_text(yaml.safe_dump(spec))
    (first, *_) = VatexJson.model_validate(spec["data"]["eval"][0]).read(data)
    assert [frame_index(image) for image in load_video(first.media[0]).frames] == list(range(2, 12))  # 000002-000012
    args = ["--data-dir", str(data), "--shots", "4", "--tasks-dir", str(tmp_path / "tasks"), *REFERENCES]
    lines = samples_of(mock_run(tmp_path / "run", *args, task="vatex"))
    assert lines[1]["media"][-1] == f"{data / 'videos' / '-0jJ7Zb_Gm8A.mp4'}#fps=1,frames<=30@4.0-14.0s"
    assert all(line["error"] is None for line in lines)


@pytest.mark.slow
@needs_java
def test_youcook2_validation_steps_zero_and_four_shots(mock_run: MockRun, tmp_path: Path) -> None:
    data = write_youcook2(tmp_path / "youcook2")
    lines = same_across_batch_sizes(mock_run, tmp_path, "youcook2", data)
    ids = ["xHr8X2Wpmno_0", "xHr8X2Wpmno_1", "xHr8X2Wpmno_2", "V53X_mPeyjIU_0", "V53X_mPeyjIU_3"]
    assert [line["id"] for line in lines] == ids * 2 and all(line["error"] is None for line in lines)
    video = data / "raw_videos" / "validation" / "113" / "xHr8X2Wpmno.mkv"  # the extension that exists
    assert lines[5]["media"][-1] == f"{video}#fps=1,frames<=30@2.0-5.0s" and lines[5]["prompt"].count("<image>") == 5
    assert {key.split("#")[0].rsplit(".", 1)[1] for line in lines for key in line["media"]} == {"mp4", "mkv", "webm"}
    # densevid_eval's results file of references-as-predictions scores as the run with those predictions does.
    run_dir = mock_run(tmp_path / "run", "--data-dir", str(data), "--shots", "0", *REFERENCES, task="youcook2")
    predictions = {line["id"]: line["prediction"] for line in samples_of(run_dir)}
    results = {
        youtube_id: [
            {"sentence": predictions[f"{youtube_id}_{n}"], "timestamp": [start, end]} for n, start, end, _ in steps
        ]
        for subset, _, youtube_id, _, steps in YOUCOOK2_VIDEOS
        if subset == "validation"
    }
    (tmp_path / "results.json").write_text(json.dumps({"version": "VERSION 1.0", "results": results}))
    scored = score("youcook2", tmp_path / "results.json", data)
    assert scored["n"] == 5 and scored["metrics"]["CIDEr"] == pytest.approx(results_of(run_dir, "youcook2")[0]["mean"])


@pytest.mark.slow
@needs_java
def test_youcook2_step_past_the_end_of_its_video_fails_alone(mock_run: MockRun, tmp_path: Path) -> None:
    data = write_youcook2(tmp_path / "youcook2")
    annotations = json.loads((data / "youcookii_annotations_trainval.json").read_text())
    annotations["database"]["V53X_mPeyjIU"]["annotations"][1]["segment"] = [12, 40]  # the video is 15 s long
    (data / "youcookii_annotations_trainval.json").write_text(json.dumps(annotations))
    lines = samples_of(
        mock_run(tmp_path / "run", "--data-dir", str(data), "--shots", "0", *REFERENCES, task="youcook2")
    )
    failed = [line for line in lines if line["error"]]
    assert [line["id"] for line in failed] == ["V53X_mPeyjIU_3"] and "past the end" in failed[0]["error"]
    assert results_of(tmp_path / "run", "youcook2")[0]["n"] == 4


@pytest.mark.parametrize(
    ("task", "break_file", "expected"),
    [
        ("vatex", "vatex_public_test_english_v1.1.json", "item 1 has no field 'enCap'"),
        ("youcook2", "youcookii_annotations_trainval.json", "['annotations'][1] has no field 'sentence'"),
    ],
)
def test_a_missing_field_is_named_before_any_model_loads(
    tmp_path: Path, task: str, break_file: str, expected: str
) -> None:
    data = write_vatex(tmp_path / task) if task == "vatex" else write_youcook2(tmp_path / task)
    records = json.loads((data / break_file).read_text())
    if task == "vatex":
        del records[1]["enCap"]
    else:
        del records["database"]["xHr8X2Wpmno"]["annotations"][1]["sentence"]
    (data / break_file).write_text(json.dumps(records))
    args = ["run", "--model", "mock", "--task", task, "--data-dir", str(data), "-o", str(tmp_path / "run")]
    result = CliRunner().invoke(app, args)
    assert result.exit_code == 1
    assert f"{data / break_file}: " in flat(result.output) and expected in flat(result.output)
    assert "Loading the model" not in result.output


def test_vatex_video_ids_are_parsed_from_the_right(tmp_path: Path) -> None:
    data = write_vatex(tmp_path / "vatex", whole_videos=True)
    test_file = "vatex_public_test_english_v1.1.json"
    layout = VatexJson(format="vatex_json", file=test_file, videos="videos/{youtube_id}.mp4", whole_videos=True)
    second = layout.read(data)[1]
    assert (second.fields["youtube_id"], second.fields["start"], second.fields["end"]) == ("-0jJ7Zb_Gm8A", 4, 14)
    assert second.media[0].span == (4.0, 14.0) and "chCap" not in json.loads((data / layout.file).read_text())[0]
    (data / layout.file).write_text(json.dumps([{"videoID": "nJ6KPT1uwe8_47_x", "enCap": ["a"]}]))
    with pytest.raises(DataError, match=r"item 0 has videoID 'nJ6KPT1uwe8_47_x', not '<YouTube id>_<start>_<end>'"):
        layout.read(data)


def test_youcook2_layout_errors_and_extension_fallback(tmp_path: Path) -> None:
    data = write_youcook2(tmp_path / "youcook2")
    layout = YouCook2Json(format="youcook2_json", file="youcookii_annotations_trainval.json", subset="validation",
                          videos="raw_videos/{subset}/{recipe_type}/{youtube_id}.{ext}")  # fmt: skip
    (data / "raw_videos" / "validation" / "113" / "xHr8X2Wpmno.mkv").unlink()
    first = layout.read(data)[0]
    assert str(first.media[0].path).endswith("validation/113/xHr8X2Wpmno.mp4")  # none exists: named with the first
    assert first.fields["references"] == ["boil water"] and first.fields["segment"] == [2.0, 5.0]
    annotations = json.loads((data / layout.file).read_text())
    annotations["database"]["xHr8X2Wpmno"]["annotations"][2]["segment"] = [10]
    (data / layout.file).write_text(json.dumps(annotations))
    with pytest.raises(DataError, match=r"database\['xHr8X2Wpmno'\]\['annotations'\]\[2\] field 'segment' should be"):
        layout.read(data)
