"""COCO and Flickr30k from the Karpathy split files, scored with pycocoevalcap."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
from data_writers import CAPTIONS, write_karpathy
from typer.testing import CliRunner

from fseval.cli import app
from fseval.metrics import get_metric

pytestmark = [
    pytest.mark.skipif(shutil.which("java") is None, reason="PTB tokenizer and METEOR need Java"),
    pytest.mark.slow,
]
runner = CliRunner()


@pytest.mark.parametrize(("task", "flickr"), [("coco", False), ("flickr30k", True)])
def test_caption_run_scores_like_pycocoevalcap(tmp_path: Path, task: str, flickr: bool) -> None:
    data = write_karpathy(tmp_path / task, flickr=flickr)
    out = tmp_path / "run"
    args = ["run", "--model", "mock", "--task", task, "--shots", "0,2", "--data-dir", str(data), "-o", str(out)]
    result = runner.invoke(app, [*args, "--model-arg", "mode=field", "--model-arg", "field=references"])
    assert result.exit_code == 0, result.output
    lines = [json.loads(line) for line in (out / "samples.jsonl").read_text().splitlines()]
    assert len(lines) == 8
    two_shot = next(line for line in lines if line["shots"] == 2)
    assert two_shot["prompt"].endswith("<|endofchunk|>\n<image>Output:") and two_shot["prompt"].count("<image>") == 3
    demo_caption = two_shot["prompt"].split("<image>Output:")[1].split("<|endofchunk|>")[0]
    assert demo_caption == demo_caption.strip()  # demo captions are stripped, as OpenFlamingo does
    assert [line["prediction"] for line in lines[:4]] == [c[0] for c in CAPTIONS]
    expected_ids = ["1000", "1001", "1002", "1003"] if flickr else [0, 1, 2, 3]
    assert [line["id"] for line in lines[:4]] == expected_ids

    row = json.loads((out / "results.json").read_text())["results"][task][0]
    metric = get_metric("caption").score([c[0] for c in CAPTIONS], [{"references": c} for c in CAPTIONS], "ptb")
    assert row["mean"] == metric.value
    assert row["mean"] == pytest.approx(100 * sum(line["score"] for line in lines[:4]) / 4)


def test_score_captions_file(tmp_path: Path) -> None:
    data = write_karpathy(tmp_path / "coco")
    predictions = [
        {"image_id": i, "caption": caption} for i, caption in enumerate(["a red square", "dogs", "a man", "cat"])
    ]
    path = tmp_path / "captions.json"
    path.write_text(json.dumps(predictions))
    result = runner.invoke(
        app, ["score", "--task", "coco", "--predictions", str(path), "--data-dir", str(data), "--json"]
    )
    assert result.exit_code == 0, result.output
    report = json.loads(result.output.strip().splitlines()[-1])
    expected = get_metric("caption").score(
        [p["caption"] for p in predictions], [{"references": c} for c in CAPTIONS], "ptb"
    )
    assert report["n"] == 4
    assert report["metrics"]["caption"] == expected.value
    assert (
        report["metrics"]["BLEU-4"] == expected.extra["BLEU-4"]
        and report["metrics"]["METEOR"] == expected.extra["METEOR"]
    )
