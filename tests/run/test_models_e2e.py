"""The real CLI with tiny real-architecture models: `fseval run --model $(fseval make-tiny DIR)`."""

from __future__ import annotations

import json
from pathlib import Path

from data_writers import flat, write_hateful_memes, write_imagenet, write_karpathy
from typer.testing import CliRunner

from fseval.cli import app

runner = CliRunner()


def run(model: Path, out: Path, *args: str) -> list[dict]:
    result = runner.invoke(app, ["run", "--model", str(model), "--device", "cpu", "-o", str(out), *args])
    assert result.exit_code == 0, result.output
    results = json.loads((out / "results.json").read_text())
    assert results["model"]["family"] in ("openflamingo", "idefics")
    return [json.loads(line) for line in (out / "samples.jsonl").read_text().splitlines()]


def test_vqav2_four_shots_with_tiny_openflamingo_batch_invariant(
    tmp_path: Path, vqav2_dir: Path, tiny_openflamingo: Path
) -> None:
    args = ("--task", "vqav2", "--shots", "4", "--data-dir", str(vqav2_dir), "--limit", "4")
    one = run(tiny_openflamingo, tmp_path / "b1", *args, "--batch-size", "1")
    four = run(tiny_openflamingo, tmp_path / "b4", *args, "--batch-size", "4")
    assert [s["generation"] for s in one] == [s["generation"] for s in four]
    assert [s["demo_ids"] for s in one] == [s["demo_ids"] for s in four]
    assert all(s["prompt"].count("<image>") == 5 and len(s["media"]) == 5 for s in one)
    assert all(s["model_prompt"] is None for s in one)  # OpenFlamingo reads fseval's prompt as it is


def test_rank_task_with_tiny_openflamingo(tmp_path: Path, tiny_openflamingo: Path) -> None:
    data = write_hateful_memes(tmp_path / "hm")
    lines = run(tiny_openflamingo, tmp_path / "r", "--task", "hateful_memes", "--shots", "0,2", "--data-dir", str(data))
    assert all(line["prediction"] in ("yes", "no") and len(line["ranking"]) == 2 for line in lines)


def test_embedded_default_with_tiny_idefics(tmp_path: Path, tiny_idefics: Path) -> None:
    lines = run(tiny_idefics, tmp_path / "i", "--task", "shapes_vqa", "--shots", "0,2", "--limit", "3")
    assert len(lines) == 6 and all(line["error"] is None for line in lines)
    two_shot = lines[-1]  # what IDEFICS was given is recorded beside fseval's prompt
    assert two_shot["model_prompt"].startswith("<s><fake_token_around_image><image><fake_token_around_image>")
    assert two_shot["model_prompt"].count("<image>") == 3 and "<|endofchunk|>" not in two_shot["model_prompt"]


def test_captions_and_imagenet_with_tiny_openflamingo(tmp_path: Path, tiny_openflamingo: Path) -> None:
    coco = write_karpathy(tmp_path / "coco")
    lines = run(tiny_openflamingo, tmp_path / "c", "--task", "coco", "--shots", "0,2", "--data-dir", str(coco))
    assert len(lines) == 8 and all(line["score"] is not None for line in lines)
    imagenet = write_imagenet(tmp_path / "imagenet", classes_with_images=(0,))
    lines = run(tiny_openflamingo, tmp_path / "i", "--task", "imagenet", "--shots", "1", "--data-dir", str(imagenet))
    assert len(lines) == 1 and len(lines[0]["ranking"]) == 5


def test_resume_with_a_moved_model_folder(tmp_path: Path, tiny_openflamingo: Path) -> None:
    import shutil

    model = shutil.copytree(tiny_openflamingo, tmp_path / "model")
    lines = run(model, tmp_path / "r", "--task", "shapes_vqa", "--shots", "0", "--limit", "3")
    model.rename(tmp_path / "moved")
    result = runner.invoke(app, ["run", "--resume", str(tmp_path / "r"), "--model", str(tmp_path / "moved")])
    assert result.exit_code == 0, result.output
    assert [json.loads(line) for line in (tmp_path / "r" / "samples.jsonl").read_text().splitlines()] == lines
    other = runner.invoke(app, ["run", "--resume", str(tmp_path / "r"), "--model", "tiny-shapes"])
    # Another model's files: refused before its weights load, naming what differs.
    assert other.exit_code == 1 and "The model's files are not those" in flat(other.output)
    assert "checkpoint has other content" in flat(other.output) and "Loading the model" not in other.output
