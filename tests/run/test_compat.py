"""``--compat openflamingo``: rank tasks computed as OpenFlamingo's evaluate.py computes them.

Two of its behaviours differ from fseval's default and both change published numbers: at 0 shots
the query text attends to the first demo's image, and candidate tokens attend to the left padding
of the other prompts in the batch. ``scripts/compare_openflamingo_classification.py`` checks the
compat mode against OpenFlamingo's own code; these tests pin the behaviours on tiny models.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from data_writers import write_hateful_memes, write_imagenet
from typer.testing import CliRunner

from fseval.cli import app

runner = CliRunner()


def run(out: Path, *args: str, exit_code: int = 0) -> list[dict[str, Any]]:
    result = runner.invoke(app, ["run", "--output", str(out), *args])
    assert result.exit_code == exit_code, result.output
    if exit_code:
        return []
    return [json.loads(line) for line in (out / "samples.jsonl").read_text().splitlines()]


def test_zero_shot_rank_prompts_see_the_first_demos_image(tmp_path: Path) -> None:
    data = write_hateful_memes(tmp_path / "hm")
    common = ["--model", "mock", "--task", "hateful_memes", "--data-dir", str(data), "--shots", "0,2"]
    common += ["--demos", "random"]  # OpenFlamingo's own draws need a pool of 2048 memes
    compat = run(tmp_path / "compat", *common, "--compat", "openflamingo")
    plain = run(tmp_path / "plain", *common)
    for ours, theirs in zip(plain, compat, strict=True):
        assert ours["prompt"] == theirs["prompt"] and ours["demo_ids"] == theirs["demo_ids"]
        if ours["shots"] == 0:
            assert ours["media"] == [str(data / "img" / f"{ours['id']:05d}.png")]  # the query's own image
            assert theirs["media"] == [str(data / "img" / f"{theirs['demo_ids'][0]:05d}.png")]
        else:
            assert ours["media"] == theirs["media"]
    results = json.loads((tmp_path / "compat" / "results.json").read_text())
    assert results["config"]["compat"] == "openflamingo" and results["config"]["demos"] == "random"


@pytest.fixture(scope="module")
def imagenet(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return write_imagenet(tmp_path_factory.mktemp("imagenet"), classes_with_images=(0, 1, 2, 3, 4))


def rankings(out: Path, model: Path, data: Path, batch_size: int, *extra: str) -> dict[Any, list[list[Any]]]:
    args = ["--model", str(model), "--task", "imagenet", "--data-dir", str(data), "--shots", "2"]
    lines = run(out, *args, "--demos", "random", "--batch-size", str(batch_size), "--device", "cpu", *extra)
    return {line["id"]: line["ranking"] for line in lines}


def largest_difference(a: dict[Any, list[list[Any]]], b: dict[Any, list[list[Any]]]) -> float:
    """Over the top-5 class names each run ranked alike; the rankings must agree for the comparison to mean much."""
    difference = 0.0
    for key in a:
        scores_a, scores_b = dict(a[key]), dict(b[key])
        shared = scores_a.keys() & scores_b.keys()
        assert shared, key
        difference = max(difference, *(abs(scores_a[name] - scores_b[name]) for name in shared))
    return difference


@pytest.mark.slow
def test_without_compat_batch_size_never_changes_scores(
    tmp_path: Path, tiny_openflamingo: Path, imagenet: Path
) -> None:
    one = rankings(tmp_path / "b1", tiny_openflamingo, imagenet, 1)
    four = rankings(tmp_path / "b4", tiny_openflamingo, imagenet, 4)
    assert largest_difference(one, four) < 1e-5


@pytest.mark.slow
def test_with_compat_batch_size_changes_scores_as_in_openflamingo(
    tmp_path: Path, tiny_openflamingo: Path, imagenet: Path
) -> None:
    """Two-shot prompts whose demo names differ in length: the shorter prompts are padded, and the
    multi-token class names attend to that padding in a batch, not alone."""
    one = rankings(tmp_path / "b1", tiny_openflamingo, imagenet, 1, "--compat", "openflamingo")
    four = rankings(tmp_path / "b4", tiny_openflamingo, imagenet, 4, "--compat", "openflamingo")
    plain = rankings(tmp_path / "plain", tiny_openflamingo, imagenet, 1)
    assert largest_difference(one, plain) < 1e-5  # alone in its batch there is no padding to see
    assert largest_difference(one, four) > 1e-3


def test_compat_is_refused_for_a_model_that_cannot_rank_that_way(tmp_path: Path) -> None:
    from fseval.models.idefics import make_tiny_idefics

    model = make_tiny_idefics(tmp_path / "idefics")
    data = write_hateful_memes(tmp_path / "hm")
    args = ["--model", str(model), "--task", "hateful_memes", "--data-dir", str(data), "--compat", "openflamingo"]
    result = runner.invoke(app, ["run", "--output", str(tmp_path / "out"), *args])
    assert result.exit_code == 1 and "reproduces OpenFlamingo's ranking" in " ".join(result.output.split())
    assert not (tmp_path / "out").exists()


def test_compat_scores_vqa_with_openflamingo_s_metric_variant(tmp_path: Path, mock_run: Any) -> None:
    """--compat openflamingo implies the openflamingo metric variant where a task's metric has one."""
    out = mock_run(tmp_path / "run", "--shots", "0", "--compat", "openflamingo", "--demos", "random")
    (row,) = json.loads((out / "results.json").read_text())["results"]["vqav2"]
    assert row["metric_variant"] == "openflamingo"
    config = json.loads((out / "results.json").read_text())["config"]
    assert config["compat"] == "openflamingo" and config["metric_variant"] == "openflamingo"
