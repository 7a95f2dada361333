"""TextCaps and NoCaps val end to end through the real CLI on their release files (tests/data_writers.py): one
sample per image, NoCaps' demos from COCO's Karpathy train found beside it, batch sizes that agree, `fseval score`
on the COCO results format both servers take."""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any

import pytest
from data_writers import write_nocaps, write_textcaps
from run_helpers import MockRun, results_of, samples_of
from typer.testing import CliRunner

from fseval.cli import app
from fseval.errors import DataError
from fseval.tasks.spec import load_tasks
from fseval.tasks.task_data import load_task_data

# Runs score with the Java PTB tokenizer and METEOR (seconds each): marked slow, skipped without Java.
needs_java = pytest.mark.skipif(shutil.which("java") is None, reason="the caption metrics need Java")
REFERENCES = ["--model-arg", "mode=field", "--model-arg", "field=references"]


def score(task: str, predictions: Path, data: Path) -> dict[str, Any]:
    args = ["score", "--task", task, "--predictions", str(predictions), "--data-dir", str(data), "--json"]
    result = CliRunner().invoke(app, args)
    assert result.exit_code == 0, result.output
    scored: dict[str, Any] = json.loads(result.output)
    return scored


def task_data(name: str, data: Path) -> Any:
    (task,) = load_tasks([name])
    return load_task_data(task, str(data))


def test_textcaps_one_sample_per_image_with_all_its_captions(tmp_path: Path) -> None:
    data = task_data("textcaps", write_textcaps(tmp_path / "textcaps"))
    assert [s.id for s in data.eval] == [f"v{i:015x}" for i in range(3)] and len(data.demo_pool) == 6
    first = data.eval[0]
    assert len(first.fields["references"]) == 5 and first.fields["caption"] == "A red square on a white table. val"
    assert first.media[0].key == str(tmp_path / "textcaps" / "train_images" / "v000000000000000.jpg")
    assert data.demo_pool[1].fields["references"] == ["Two dogs run in the park. train", "dogs running train"]


def test_nocaps_samples_carry_their_domain_and_demos_come_from_coco(tmp_path: Path) -> None:
    root = write_nocaps(tmp_path / "data")
    data = task_data("nocaps", root)
    assert [s.fields["domain"] for s in data.eval] == ["in-domain", "near-domain", "out-domain"] * 2
    assert [len(s.fields["references"]) for s in data.eval] == [10] * 6
    assert data.eval[1].media[0].key == str(root / "nocaps" / "val" / f"{1:016x}.jpg")
    assert [s.id for s in data.demo_pool] == [4, 5, 6, 7, 8, 9]  # Karpathy train cocoids
    assert (
        Path(data.demo_pool[0].media[0].key).resolve()
        == root / "coco" / "train2014" / "COCO_train2014_000000000004.jpg"
    )
    # --data-dir the nocaps folder itself: coco/ beside it is found.
    beside = task_data("nocaps", root / "nocaps")
    assert [s.id for s in beside.demo_pool] == [4, 5, 6, 7, 8, 9] and len(beside.eval) == 6


def test_nocaps_without_coco_says_where_the_demos_go(tmp_path: Path) -> None:
    root = write_nocaps(tmp_path / "data")
    shutil.rmtree(root / "coco")
    with pytest.raises(DataError) as error:
        task_data("nocaps", root)
    message = str(error.value)
    assert "demo split" in message and "coco/dataset_coco.json" in message and "../coco/dataset_coco.json" in message


@pytest.mark.parametrize(
    ("task", "write", "file", "drop"),
    [
        ("textcaps", write_textcaps, "TextCaps_0.1_val.json", ("data", 5, "reference_strs")),
        ("nocaps", write_nocaps, "nocaps/nocaps_val_4500_captions.json", ("images", 2, "domain")),
        ("nocaps", write_nocaps, "nocaps/nocaps_val_4500_captions.json", ("annotations", 7, "caption")),
    ],
)
def test_a_missing_field_names_file_record_and_field(
    tmp_path: Path, task: str, write: Any, file: str, drop: tuple[str, int, str]
) -> None:
    root = write(tmp_path / "data")
    path = root / file
    release = json.loads(path.read_text())
    key, index, field = drop
    del release[key][index][field]
    path.write_text(json.dumps(release))
    with pytest.raises(DataError) as error:
        task_data(task, root)
    assert f"{path}: {key}[{index}] has no field {field!r}" in str(error.value)


@pytest.mark.slow
@needs_java
def test_textcaps_zero_and_four_shots_and_its_results_file(mock_run: MockRun, tmp_path: Path) -> None:
    data = write_textcaps(tmp_path / "textcaps")
    args = ["--data-dir", str(data), "--shots", "0,4", "--model-arg", "mode=copy-demo"]
    one = samples_of(mock_run(tmp_path / "batch1", *args, "--batch-size", "1", task="textcaps"))
    four = samples_of(mock_run(tmp_path / "batch4", *args, "--batch-size", "4", task="textcaps"))
    keys = ("id", "shots", "demo_ids", "prompt", "media", "prediction", "score", "error")
    assert [[line[k] for k in keys] for line in one] == [[line[k] for k in keys] for line in four]
    assert len(one) == 6 and all(line["error"] is None for line in one)
    assert one[3]["prompt"].count("<image>") == 5 and one[3]["prompt"].endswith("<|endofchunk|>\n<image>Output:")
    assert all(demo.startswith("t") for line in one[3:] for demo in line["demo_ids"])  # demos from train
    run_dir = mock_run(tmp_path / "run", "--data-dir", str(data), "--shots", "0", *REFERENCES, task="textcaps")
    lines = samples_of(run_dir)
    row = results_of(run_dir, "textcaps")[0]
    assert (row["metric"], row["n"]) == ("caption", 3) and row["mean"] > 0
    captions = [{"image_id": line["id"], "caption": line["prediction"]} for line in lines]
    (tmp_path / "captions.json").write_text(json.dumps(captions))
    scored = score("textcaps", tmp_path / "captions.json", data)
    assert scored["n"] == 3 and scored["metrics"]["caption"] == row["mean"]


@pytest.mark.slow
@needs_java
def test_nocaps_zero_and_four_shots_per_domain_and_its_results_file(mock_run: MockRun, tmp_path: Path) -> None:
    data = write_nocaps(tmp_path / "data")
    args = ["--data-dir", str(data), "--shots", "0,4", "--model-arg", "mode=copy-demo"]
    one = samples_of(mock_run(tmp_path / "batch1", *args, "--batch-size", "1", task="nocaps"))
    four = samples_of(mock_run(tmp_path / "batch4", *args, "--batch-size", "4", task="nocaps"))
    keys = ("id", "shots", "demo_ids", "prompt", "media", "prediction", "score", "error")
    assert [[line[k] for k in keys] for line in one] == [[line[k] for k in keys] for line in four]
    assert len(one) == 12 and all(line["error"] is None for line in one)
    assert all(set(line["demo_ids"]) <= {4, 5, 6, 7, 8, 9} for line in one[6:])  # COCO Karpathy train
    assert "train2014" in one[6]["media"][0] and one[6]["media"][-1].endswith(f"{0:016x}.jpg")
    run_dir = mock_run(tmp_path / "run", "--data-dir", str(data), "--shots", "0", *REFERENCES, task="nocaps")
    lines = samples_of(run_dir)
    assert lines[0]["targets"]["domain"] == "in-domain"
    row = results_of(run_dir, "nocaps")[0]
    assert (row["metric"], row["n"]) == ("nocaps_cider", 6)
    domains = [row["extra"][f"CIDEr {d}"] for d in ("in-domain", "near-domain", "out-domain")]
    assert row["mean"] == pytest.approx(sum(domains) / 3, abs=1e-9)  # two images a domain: the mean of means
    # The EvalAI submission format, [{"image_id", "caption"}], scores as the run did.
    captions = [{"image_id": line["id"], "caption": line["prediction"]} for line in lines]
    (tmp_path / "captions.json").write_text(json.dumps(captions))
    scored = score("nocaps", tmp_path / "captions.json", data)
    assert scored["n"] == 6 and scored["metrics"]["nocaps_cider"] == row["mean"]
    assert [scored["metrics"][f"CIDEr {d}"] for d in ("in-domain", "near-domain", "out-domain")] == domains
