"""VL-ICL Bench's six image-to-text tasks end to end, through the real CLI on real tiny models.

Each task runs at 0, 1, 2, 4 and 8 shots on the synthetic release files (``tests/vl_icl_writers.py``) with
the bundled tiny-shapes model and a ``make-tiny`` Qwen2-VL, at batch size 1 and 4: every sample is scored,
each prompt shows the demos the official draw gives (``official.json``), and the two batch sizes give the
same generations.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from run_helpers import results_of, samples_of
from typer.testing import CliRunner
from vl_icl_writers import ALL, FIXTURES, write_vl_icl

from fseval.cli import app

pytestmark = pytest.mark.slow  # 24 runs of 5 shot counts on tiny real models

OFFICIAL = json.loads((FIXTURES / "official.json").read_text())
TWO_PER_SHOT = {"open_mi", "matching_mi"}  # a class pair, a same/different pair
TWO_IMAGES = {"operator_induction_interleaved", "matching_mi"}


@pytest.fixture(scope="module")
def release(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return write_vl_icl(tmp_path_factory.mktemp("vl_icl_run") / "VL-ICL")


def run(out: Path, task: str, model: str, release: Path, batch_size: int, *extra: str) -> list[dict[str, Any]]:
    args = ["run", "--task", task, "--model", model, "--data-dir", str(release), "--seed", "0", "--device", "cpu"]
    result = CliRunner().invoke(app, [*args, "--batch-size", str(batch_size), "-o", str(out), *extra])
    assert result.exit_code == 0, result.output
    return samples_of(out)


@pytest.mark.parametrize("model", ["tiny-shapes", "qwen2_vl"])
@pytest.mark.parametrize("dataset", ALL)
def test_every_vl_icl_task_runs_at_every_shot_count(
    dataset: str, model: str, release: Path, tmp_path: Path, request: pytest.FixtureRequest
) -> None:
    path = model if model == "tiny-shapes" else str(request.getfixturevalue("tiny_qwen2_vl"))
    task = f"vl_icl_{dataset}"
    one, four = (run(tmp_path / f"b{size}", task, path, release, size) for size in (1, 4))
    assert [line["error"] for line in one] == [None] * len(one)
    assert [line["generation"] for line in one] == [line["generation"] for line in four]
    assert [row["shots"] for row in results_of(tmp_path / "b1", task)] == [0, 1, 2, 4, 8]
    images = 2 if dataset in TWO_IMAGES else 1
    for line in one:
        official = OFFICIAL["seeds"]["0"][dataset][str(line["shots"])][line["id"]]
        assert len(official) == line["shots"] * (2 if dataset in TWO_PER_SHOT else 1)
        shown = [Path(key).relative_to(release).as_posix() for key in line["media"]]
        assert shown[: len(shown) - images] == [image for demo in official for image in demo["image"]]
        assert line["prompt"].count("<|endofchunk|>") == len(official)
        assert line["prompt"].startswith("\n")  # the default instruction level, "nothing"
        assert line["score"] in (0.0, 1.0)


def test_ablated_vl_icl_run_pairs_with_the_plain_one(release: Path, tmp_path: Path) -> None:
    """An ablation changes the official demos it is given, and keeps their ids, so compare pairs the runs."""
    task = "vl_icl_operator_induction"
    extra = ("--shots", "0,2", "--instruction", "concise")
    plain = run(tmp_path / "plain", task, "tiny-shapes", release, 4, *extra)
    ablated = run(tmp_path / "ablated", task, "tiny-shapes", release, 4, *extra, "--demo-ablation", "random_answers")
    assert [line["demo_ids"] for line in plain] == [line["demo_ids"] for line in ablated]
    few = [(a, b) for a, b in zip(plain, ablated, strict=True) if a["shots"] == 2]
    assert any(a["prompt"] != b["prompt"] for a, b in few)
    assert all(a["prompt"].startswith("Induce the mathematical operator and calculate the result.\n") for a, _ in few)
    result = CliRunner().invoke(app, ["icl", str(tmp_path / "plain"), str(tmp_path / "ablated"), "--json"])
    assert result.exit_code == 0, result.output
    (view,) = json.loads(result.output)["tasks"]
    two = next(row for row in view["curves"][0]["rows"] if row["shots"] == 2)
    assert two["over_ablated"]["ablated"]["n_shared"] == 5
