"""Video tasks through the real CLI: few-shot prompts whose demos are clips, on the mock and tiny models."""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any

import pytest
import torch
from data_writers import flat
from typer.testing import CliRunner
from video_writers import write_msrvtt_captions, write_msrvtt_qa, write_msvd_qa

from fseval.cli import app
from fseval.media.video import CLIP_CACHE
from fseval.models.openflamingo.flamingo import Flamingo

pytestmark = pytest.mark.slow  # tiny real models and decoded clips, end to end
runner = CliRunner()


def run(out: Path, *args: str, exit_code: int = 0) -> list[dict[str, Any]]:
    CLIP_CACHE.clear()  # one CLI process is one run; here several runs share the process
    result = runner.invoke(app, ["run", "-o", str(out), *args])
    assert result.exit_code == exit_code, result.output
    return [json.loads(line) for line in (out / "samples.jsonl").read_text().splitlines()]


def distinct_clips(lines: list[dict[str, Any]]) -> set[str]:
    return {key for line in lines for key in line["media"]}


def test_msrvtt_qa_few_shot_video_demos_with_mock(tmp_path: Path) -> None:
    data = write_msrvtt_qa(tmp_path / "msrvtt_qa", corrupt_video_id=7013)
    lines = run(tmp_path / "run", "--model", "mock", "--task", "msrvtt_qa", "--shots", "0,2", "--data-dir", str(data))
    assert len(lines) == 10
    zero, two = lines[0], lines[5]
    assert zero["prompt"].count("<image>") == 1 and len(zero["media"]) == 1  # 0 shots: text-only demos
    assert zero["prompt"].startswith("Question:what is in clip") and zero["prompt"].endswith(
        "<image>Question:what is moving? Answer:"
    )
    assert two["prompt"].count("<image>") == 3 and two["prompt"].count("<|endofchunk|>\n") == 2
    assert two["media"][-1] == f"{data / 'videos' / 'video7010.mp4'}#frames=8"
    assert all("/videos/video" in key and key.endswith(".mp4#frames=8") for key in two["media"])
    # The mock answers with the reference: every readable sample scores 1; the corrupt clip fails its sample.
    assert [line["score"] for line in lines[:4]] == [1.0] * 4
    failed = [line for line in lines if line["error"]]
    assert [line["id"] for line in failed] == [204, 204] and "cannot decode video" in failed[0]["error"]
    row = json.loads((tmp_path / "run" / "results.json").read_text())["results"]["msrvtt_qa"][1]
    assert (row["mean"], row["n"], row["failed"], row["metric"]) == (100.0, 4, 1, "exact_match")
    assert CLIP_CACHE.decodes == len(distinct_clips(lines))  # each clip decoded once in the run


def test_msrvtt_qa_zero_and_four_shots_with_tiny_openflamingo(
    tmp_path: Path, tiny_openflamingo: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The issue's check: `fseval run --task msrvtt_qa --shots 0,4 --model DIR --data-dir D` on CPU."""
    encoded: list[tuple[int, ...]] = []
    encode = Flamingo.encode_vision_x

    def spy(self: Flamingo, vision_x: torch.Tensor) -> torch.Tensor:
        encoded.append(tuple(vision_x.shape))
        return encode(self, vision_x)

    monkeypatch.setattr(Flamingo, "encode_vision_x", spy)
    data = write_msrvtt_qa(tmp_path / "msrvtt_qa")
    args = ["--task", "msrvtt_qa", "--shots", "0,4", "--model", str(tiny_openflamingo), "--data-dir", str(data)]
    lines = run(tmp_path / "run", *args, "--device", "cpu", "--batch-size", "2")
    assert len(lines) == 10 and all(line["error"] is None and line["generation"] is not None for line in lines)
    assert all(line["prompt"].count("<image>") == 5 and len(line["media"]) == 5 for line in lines if line["shots"] == 4)
    clips = distinct_clips(lines)
    # vision_x is (N, T_img=1, F=8, C, H, W): 8 frames per clip, each clip decoded and encoded once.
    assert encoded and all(shape[1:3] == (1, 8) and len(shape) == 6 for shape in encoded)
    assert sum(shape[0] for shape in encoded) == len(clips) == CLIP_CACHE.decodes


def test_frame_embeddings_from_the_checkpoint(tmp_path: Path, tiny_openflamingo: Path) -> None:
    model = tmp_path / "with_frames"
    shutil.copytree(tiny_openflamingo, model)
    checkpoint = torch.load(model / "checkpoint.pt", map_location="cpu")
    checkpoint["perceiver.frame_embs"] = torch.randn(8, checkpoint["perceiver.latents"].shape[1])
    torch.save(checkpoint, model / "checkpoint.pt")
    data = write_msvd_qa(tmp_path / "msvd_qa")
    args = ["--task", "msvd_qa", "--shots", "2", "--model", str(model), "--data-dir", str(data), "--device", "cpu"]
    lines = run(tmp_path / "run", *args, "--model-arg", "frame_embeddings=true")
    assert len(lines) == 5 and all(line["error"] is None for line in lines)
    assert all(key.endswith(".avi#frames=8") for key in distinct_clips(lines))


def test_idefics_refuses_clips_clearly(tmp_path: Path) -> None:
    model = tmp_path / "idefics"
    assert runner.invoke(app, ["make-tiny", str(model), "--family", "idefics"]).exit_code == 0
    data = write_msrvtt_qa(tmp_path / "msrvtt_qa")
    CLIP_CACHE.clear()
    args = ["run", "--task", "msrvtt_qa", "--shots", "0", "--model", str(model), "--data-dir", str(data)]
    result = runner.invoke(app, [*args, "--device", "cpu", "--limit", "1", "-o", str(tmp_path / "run")])
    assert result.exit_code == 1
    assert "cannot run video tasks: IDEFICS takes single images" in flat(result.output)
    assert not (tmp_path / "run").exists()  # refused before anything was created or loaded


@pytest.mark.skipif(shutil.which("java") is None, reason="PTB tokenizer and METEOR need Java")
def test_msrvtt_caption_with_mock(tmp_path: Path) -> None:
    data = write_msrvtt_captions(tmp_path / "msrvtt")
    args = ["--model", "mock", "--task", "msrvtt_caption", "--shots", "2", "--data-dir", str(data)]
    lines = run(tmp_path / "run", *args, "--model-arg", "mode=field", "--model-arg", "field=references")
    assert [line["id"] for line in lines] == ["video7010", "video7011", "video7012"]
    assert lines[0]["prompt"].endswith("<|endofchunk|>\n<image>Output:") and lines[0]["prompt"].count("<image>") == 3
    assert lines[0]["prediction"] == "a red square moves to the right 7010"
    row = json.loads((tmp_path / "run" / "results.json").read_text())["results"]["msrvtt_caption"][0]
    assert row["metric"] == "caption" and row["mean"] > 0


@pytest.mark.parametrize(
    ("task", "expected"),
    [
        ("msrvtt_qa", ["test_qa.json", "videos/video{video_id}.mp4", "frames=8", "xudejing/video-question-answering"]),
        ("msvd_qa", ["youtube_mapping.txt", "YouTubeClips/{video_name}.avi", "MSVD"]),
        ("msrvtt_caption", ["test_videodatainfo.json", "split 'test'", "videos/{video_id}.mp4"]),
    ],
)
def test_tasks_show_documents_the_layout(task: str, expected: list[str]) -> None:
    result = runner.invoke(app, ["tasks", "show", task])
    assert result.exit_code == 0, result.output
    output = flat(result.output)
    for text in expected:
        assert text in output
