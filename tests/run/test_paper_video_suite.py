"""The Flamingo paper's video benchmarks end to end on real tiny models: each task on its release-format files.

For each of VATEX, YouCook2, iVQA, NExT-QA, STAR and RareAct: ``fseval run`` at 0 and 4 shots (RareAct is
zero-shot) with the tiny OpenFlamingo and a ``make-tiny`` Qwen2-VL, at batch size 1 and 4, through the real
CLI. Every sample is scored (no failures), few-shot prompts carry clip demos, and the two batch sizes give
the same predictions: generated text identical, rank tasks the same choice with scores within float noise.
"""

from __future__ import annotations

import json
import shutil
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import video_writers
from typer.testing import CliRunner

from fseval.cli import app

pytestmark = pytest.mark.slow  # tiny real models on decoded clips, 24 runs

TASKS = {  # task -> (its writer in video_writers, shot counts)
    "vatex": ("write_vatex", "0,4"),
    "youcook2": ("write_youcook2", "0,4"),
    "ivqa": ("write_ivqa", "0,4"),
    "nextqa": ("write_nextqa", "0,4"),
    "star": ("write_star", "0,4"),
    "rareact": ("write_rareact", "0"),
}
NEEDS_JAVA = {"vatex", "youcook2"}  # CIDEr through the PTB tokenizer


@pytest.fixture(scope="module")
def data(tmp_path_factory: pytest.TempPathFactory) -> Callable[[str], Path]:
    root, written = tmp_path_factory.mktemp("paper_video"), {}

    def get(task: str) -> Path:
        if task not in written:
            written[task] = getattr(video_writers, TASKS[task][0])(root / task)
        return written[task]

    return get


def run(out: Path, task: str, model: Path, data_dir: Path, batch_size: int) -> list[dict[str, Any]]:
    args = ["run", "--task", task, "--shots", TASKS[task][1], "--model", str(model), "--data-dir", str(data_dir)]
    result = CliRunner().invoke(app, [*args, "--device", "cpu", "--batch-size", str(batch_size), "-o", str(out)])
    assert result.exit_code == 0, result.output
    return [json.loads(line) for line in (out / "samples.jsonl").read_text().splitlines()]


@pytest.mark.parametrize("model", ["openflamingo", "qwen2_vl"])
@pytest.mark.parametrize("task", list(TASKS))
def test_every_paper_video_task_runs_and_batching_changes_nothing(
    task: str, model: str, tmp_path: Path, data: Callable[[str], Path], request: pytest.FixtureRequest
) -> None:
    if task in NEEDS_JAVA and shutil.which("java") is None:
        pytest.skip("CIDEr's PTB tokenizer needs Java")
    path = request.getfixturevalue("tiny_openflamingo" if model == "openflamingo" else "tiny_qwen2_vl")
    one, four = (run(tmp_path / f"b{size}", task, path, data(task), size) for size in (1, 4))
    errors = [line["error"] for line in one if line["error"] is not None]
    if task == "rareact":  # its files hold one line whose range is past the end of its video: it alone fails
        assert len(errors) == 1 and "past the end of the video" in errors[0], errors
    else:
        assert errors == []
    assert [line["error"] for line in one] == [line["error"] for line in four]
    if "4" in TASKS[task][1]:
        few = [line for line in one if line["shots"] == 4]
        assert few and all(len(line["media"]) == 5 for line in few)  # 4 clip demos + the query
    assert all("#fps=1,frames<=30" in key for line in one for key in line["media"])
    assert [line["prediction"] for line in one] == [line["prediction"] for line in four]
    if one[0]["scores"] is not None:  # rank tasks: every candidate's score, the same up to float noise
        for a, b in zip(one, four, strict=True):
            assert a["scores"] == pytest.approx(b["scores"], abs=1e-4)
    results = json.loads((tmp_path / "b1" / "results.json").read_text())["results"][task]
    assert [row["shots"] for row in results] == [int(s) for s in TASKS[task][1].split(",")]
