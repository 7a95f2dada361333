"""Rank-mode tasks (Hateful Memes, ImageNet) end to end with the mock model, and their metrics."""

from __future__ import annotations

import json
import math
from pathlib import Path

import pytest
from data_writers import MEMES, flat, write_hateful_memes, write_imagenet
from typer.testing import CliRunner

from fseval.cli import app
from fseval.errors import FsevalError
from fseval.metrics.classification import roc_auc
from fseval.models.base import ModelAdapter
from fseval.types import Ranked

runner = CliRunner()


def run(tmp_path: Path, task: str, data: Path, *extra: str) -> tuple[dict, list[dict]]:
    out = tmp_path / "run"
    result = runner.invoke(
        app, ["run", "--model", "mock", "--task", task, "--data-dir", str(data), "--output", str(out), *extra]
    )
    assert result.exit_code == 0, result.output
    lines = [json.loads(line) for line in (out / "samples.jsonl").read_text().splitlines()]
    return json.loads((out / "results.json").read_text()), lines


def test_hateful_memes_prompt_and_auc(tmp_path: Path) -> None:
    data = write_hateful_memes(tmp_path / "hm")
    results, lines = run(
        tmp_path, "hateful_memes", data, "--shots", "0,2", "--model-arg", "mode=field", "--model-arg", "field=label"
    )
    zero, two = results["results"]["hateful_memes"]
    assert zero["mean"] == 100.0 and two["mean"] == 100.0  # an oracle ranks every meme right
    first = next(line for line in lines if line["shots"] == 2)
    assert first["prompt"].endswith(
        "<|endofchunk|><image>is an image with: 'love this' written on it. Is it hateful? Answer:"
    )
    assert "<|endofchunk|>\n" not in first["prompt"]  # classification items are joined with nothing
    assert first["prediction"] == "no" and first["targets"] == {"label": "no"}
    zero_shot = next(line for line in lines if line["shots"] == 0)
    assert len(zero_shot["media"]) == 1 and zero_shot["prompt"].count("<image>") == 1  # only the query image


class OrderSensitiveModel(ModelAdapter):
    """Scores "yes" by where the demo text 't0' sits in the prompt, so the demo order matters."""

    name = "order"

    def generate(self, prompts, settings):
        raise AssertionError("a rank task never generates")

    def rank(self, prompts, candidates):
        return [
            [[self.yes(p.text)] if c == "yes" else [-40.0] for c in options]
            for p, options in zip(prompts, candidates, strict=True)
        ]

    @staticmethod
    def yes(text: str) -> float:
        return -float(text.find("'t0'") % 97)

    def describe(self):
        return {"family": "order"}


def test_prompt_ensembling_averages_over_demo_orders(tmp_path: Path) -> None:
    from fseval.config import RunConfig
    from fseval.run.evaluation import demo_orders, evaluate, trial_settings
    from fseval.tasks.prompts import render
    from fseval.tasks.spec import load_tasks
    from fseval.tasks.task_data import load_task_data

    (task,) = load_tasks(["hateful_memes"])
    data = load_task_data(task, str(write_hateful_memes(tmp_path / "hm")), None)
    config = RunConfig(tasks=("hateful_memes",), model="order", prompt_ensembles=4)
    records, _ = evaluate(task, data, OrderSensitiveModel(), 3, 42, 0, trial_settings(config, task), lambda n: None)
    order_sensitive = 0
    for record, sample in zip(records, data.eval, strict=True):
        demos = [next(d for d in data.demo_pool if d.id == i) for i in record.demo_ids]
        orders = demo_orders(demos, 4, 42, sample.id)
        assert len(orders) == 4 and orders[0] == demos
        per_order = [OrderSensitiveModel.yes(render(task.prompt, order, sample)[0]) for order in orders]
        order_sensitive += len(set(per_order)) > 1
        assert dict(record.ranking)["yes"] == pytest.approx(sum(per_order) / 4)
    assert order_sensitive > 0


def test_prompt_ensembles_are_different_orders(tmp_path: Path) -> None:
    from fseval.run.evaluation import demo_orders
    from fseval.types import Sample

    demos = [Sample(id=i, media=(), fields={}) for i in range(3)]
    for seed in range(20):
        orders = [[d.id for d in order] for order in demo_orders(demos, 6, seed, "q")]
        assert orders[0] == [0, 1, 2] and len({tuple(o) for o in orders}) == 6  # all 3! of them
    assert len(demo_orders(demos[:2], 5, 0, "q")) == 2
    result = runner.invoke(app, ["run", "--model", "mock", "--task", "shapes_vqa", "--prompt-ensembles", "3"])
    assert result.exit_code == 1 and "applies to rank tasks only" in flat(result.output)


def test_prompt_ensembles_are_recorded(tmp_path: Path) -> None:
    data = write_hateful_memes(tmp_path / "hm")
    args = ("--shots", "3", "--model-arg", "mode=field", "--model-arg", "field=label", "--prompt-ensembles", "4")
    results, _ = run(tmp_path, "hateful_memes", data, *args)
    assert results["config"]["prompt_ensembles"] == 4
    assert results["results"]["hateful_memes"][0]["mean"] == 100.0


def test_imagenet_ranks_the_class_names(tmp_path: Path) -> None:
    data = write_imagenet(tmp_path / "imagenet")
    results, lines = run(
        tmp_path, "imagenet", data, "--shots", "1", "--model-arg", "mode=field", "--model-arg", "field=label"
    )
    assert [line["targets"]["label"] for line in lines] == ["tench", "goldfish", "great white shark"]
    assert all(line["prediction"] == line["targets"]["label"] for line in lines)
    assert lines[0]["prompt"].startswith("<image>Output:") and lines[0]["prompt"].endswith(
        "<|endofchunk|><image>Output:"
    )
    row = results["results"]["imagenet"][0]
    assert row["mean"] == 100.0 and row["metric"] == "accuracy"


def test_roc_auc_matches_the_mann_whitney_definition() -> None:
    assert roc_auc([True, False], [0.9, 0.1]) == 1.0
    assert roc_auc([True, False], [0.1, 0.9]) == 0.0
    assert roc_auc([True, False, True, False], [0.5, 0.5, 0.5, 0.5]) == 0.5  # ties count one half
    # Positives 0.8, 0.4, 0.2 against negatives 0.4, 0.3: pairs won 1+1+0.5+1+0+0 of 6.
    assert roc_auc([True, False, True, False, True], [0.8, 0.4, 0.4, 0.3, 0.2]) == pytest.approx(3.5 / 6)
    with pytest.raises(FsevalError, match="needs both classes"):
        roc_auc([True, True], [0.1, 0.2])


def test_ranked_probability_is_a_softmax() -> None:
    ranked = Ranked.from_scores({"no": -1.0, "yes": -0.5})
    assert ranked.top == "yes"
    assert ranked.probability("yes") == pytest.approx(1 / (1 + math.exp(-0.5)))


def test_one_class_only_is_a_clear_error(tmp_path: Path) -> None:
    data = write_hateful_memes(tmp_path / "hm")
    result = runner.invoke(
        app,
        [
            "run",
            "--model",
            "mock",
            "--task",
            "hateful_memes",
            "--data-dir",
            str(data),
            "--shots",
            "0",
            "--limit",
            "1",
            "-o",
            str(tmp_path / "o"),
        ],
    )
    assert result.exit_code == 1 and "needs both classes" in result.output
    assert MEMES[0][2] == 0


def test_score_classification_predictions(tmp_path: Path) -> None:
    data = write_hateful_memes(tmp_path / "hm")
    path = tmp_path / "p.json"
    scores = {1: 0.2, 2: 0.9, 3: 0.4, 4: 0.3, 5: 0.1}  # one negative (3, 0.4) above one positive (4, 0.3)
    path.write_text(json.dumps([{"id": k, "score": v} for k, v in scores.items()]))
    args = ["score", "--task", "hateful_memes", "--predictions", str(path), "--data-dir", str(data), "--json"]
    result = runner.invoke(app, args)
    assert result.exit_code == 0, result.output
    assert json.loads(result.output)["metrics"]["roc_auc"] == pytest.approx(100 * 5 / 6)

    imagenet = write_imagenet(tmp_path / "imagenet")
    labels = {
        "n00000000/val_0_0.JPEG": "tench",
        "n00000001/val_1_0.JPEG": "tench",
        "n00000002/val_2_0.JPEG": "goldfish",
    }
    path.write_text(json.dumps([{"id": k, "label": v} for k, v in labels.items()]))
    args = ["score", "--task", "imagenet", "--predictions", str(path), "--data-dir", str(imagenet), "--json"]
    report = json.loads(runner.invoke(app, args).output)
    assert report["metrics"]["accuracy"] == pytest.approx(100 / 3) and report["n"] == 3


@pytest.mark.parametrize(
    ("task", "items", "message"),
    [
        ("imagenet", [{"id": "n00000000/val_0_0.JPEG", "label": "Tench"}], "1 labels are not imagenet candidates"),
        ("imagenet", [{"id": "n00000000/val_0_0.JPEG", "scores": {}}], "should map class names to finite numbers"),
        ("imagenet", [{"id": "n00000000/val_0_0.JPEG", "scores": [1, 2]}], "should map class names"),
        ("hateful_memes", [{"id": 1, "score": "abc"}], "should be P(yes), a number from 0 to 1, not 'abc'"),
        ("hateful_memes", [{"id": 1, "score": 1.5}], "a number from 0 to 1, not 1.5"),
        ("hateful_memes", [{"id": [1], "score": 0.5}], "should be a number or a string, not [1]"),
        ("hateful_memes", [{"id": "1", "score": 0.5}], "are of type int, not str"),
        ("hateful_memes", [], "holds no predictions"),
    ],
)
def test_score_rejects_malformed_predictions(tmp_path: Path, task: str, items: list, message: str) -> None:
    data = write_hateful_memes(tmp_path / "hm") if task == "hateful_memes" else write_imagenet(tmp_path / "in")
    path = tmp_path / "p.json"
    path.write_text(json.dumps(items))
    result = runner.invoke(app, ["score", "--task", task, "--predictions", str(path), "--data-dir", str(data)])
    assert result.exit_code == 1 and message in flat(result.output), result.output
    assert "Traceback" not in result.output


def test_every_candidate_score_is_stored_and_a_run_rescores_to_its_own_numbers(tmp_path: Path) -> None:
    data = write_hateful_memes(tmp_path / "hm")
    results, lines = run(tmp_path, "hateful_memes", data, "--shots", "0,2")
    assert all(len(line["scores"]) == 2 for line in lines)  # "yes", "no": the task's candidate order
    assert all(dict(line["ranking"]) == dict(zip(["yes", "no"], line["scores"], strict=True)) for line in lines)
    imagenet = write_imagenet(tmp_path / "imagenet")
    _, ranked = run(tmp_path / "in", "imagenet", imagenet, "--shots", "1")
    assert all(len(line["scores"]) == 1000 and len(line["ranking"]) == 5 for line in ranked)

    rescored = runner.invoke(
        app, ["score", "--task", "hateful_memes", "--predictions", str(tmp_path / "run"), "--data-dir", str(data)]
    )
    assert rescored.exit_code == 0, rescored.output
    as_json = runner.invoke(
        app,
        ["score", "-t", "hateful_memes", "--predictions", str(tmp_path / "run"), "--data-dir", str(data), "--json"],
    )
    trials = json.loads(as_json.output)
    assert [(t["shots"], t["seed"]) for t in trials] == [(0, 42), (2, 42)]
    for trial, row in zip(trials, results["results"]["hateful_memes"], strict=True):
        assert trial["metrics"]["roc_auc"] == row["mean"] and trial["n"] == row["n"]
    assert "hateful_memes 2-shot seed 42 roc_auc" in " ".join(rescored.output.split())
