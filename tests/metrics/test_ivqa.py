"""iVQA accuracy: equal to Just Ask's own scoring code on recorded edge cases, and by hand.

The fixture (``scripts/make_ivqa_fixture.py``) holds a CSV of edge cases, the predictions, and the scores Just
Ask's ``eval`` gave them after reading the CSV with its pinned pandas. Here the same CSV goes through fseval's
iVQA reader and metric.
"""

from __future__ import annotations

import json
import math
from pathlib import Path

import pytest

from fseval.data.ivqa import read_ivqa_csv
from fseval.errors import FsevalError
from fseval.metrics import get_metric
from fseval.metrics.ivqa import PANDAS_NA, ivqa_accuracy, score_ivqa
from fseval.types import VideoSampling

OFFICIAL = Path(__file__).parents[1] / "fixtures" / "official_ivqa" / "ivqa_cases.json"


def official() -> dict:
    return json.loads(OFFICIAL.read_text(encoding="utf-8"))


def test_equals_just_asks_code_on_every_recorded_case(tmp_path: Path) -> None:
    record = official()
    assert record["commit"] == "b58f08e7795cdeecf5fee721287126ba681bd4d0" and record["pandas"] == "1.1.1"
    (tmp_path / "test.csv").write_text(record["csv"], encoding="utf-8")
    samples = read_ivqa_csv(tmp_path, "test.csv", "videos/{video_id}.mp4", VideoSampling())
    cases = record["cases"]
    assert [s.fields["answers"] for s in samples] == [c["answers"] for c in cases]  # the cells as written
    predictions = [c["prediction"] for c in cases]
    result = score_ivqa(predictions, [s.fields for s in samples], "official")
    assert result.per_sample == [c["score"] for c in cases]
    assert math.fsum(result.per_sample) / len(cases) == record["accuracy"]
    assert result.value == pytest.approx(100 * record["accuracy"], abs=1e-12)
    assert {0.0, 0.5, 1.0} <= set(result.per_sample) and len(cases) >= 25


def test_missing_values_are_pandas_defaults_of_the_pinned_version() -> None:
    assert sorted(PANDAS_NA) == official()["pandas_na_values"]


@pytest.mark.parametrize(
    ("prediction", "answers", "official_score", "vqa_score"),
    [
        ("dog", ["cat", "cow", "bird", "fish", "ant"], 0.0, 0.0),
        ("dog", ["dog", "cow", "bird", "fish", "ant"], 0.5, 0.5),
        ("dog", ["dog", "dog", "bird", "fish", "ant"], 1.0, 1.0),
        ("dog", ["dog"] * 5, 1.0, 1.0),
        (" dog \n", ["dog", "dog", "x", "y", "z"], 1.0, 1.0),  # the model's answer is stripped
        ("Dog", ["dog", "dog", "x", "y", "z"], 0.0, 1.0),  # case: only the vqa variant folds it
        ("the dog.", ["dog", "a dog", "x", "y", "z"], 0.0, 1.0),  # articles and punctuation
        ("two", ["2", "2", "x", "y", "z"], 0.0, 1.0),  # number words
        ("NA", ["NA", "NA", "x", "y", "z"], 0.0, 0.0),  # read as missing by Just Ask's pandas
        ("", ["", "", "", "y", "z"], 0.0, 0.0),
        ("none", ["none", "None", "x", "y", "z"], 0.5, 1.0),  # not missing for pandas 1.1.1
    ],
)
def test_by_hand(prediction: str, answers: list[str], official_score: float, vqa_score: float) -> None:
    assert ivqa_accuracy(prediction, answers) == official_score
    assert ivqa_accuracy(prediction, answers, "vqa") == vqa_score


def test_registration() -> None:
    metric = get_metric("ivqa_accuracy")
    assert (metric.mode, metric.default_variant, metric.variants) == ("generate", "official", ("official", "vqa"))
    assert metric.result_format.id_key == "question_id" and metric.target_fields == ("answers",)
    assert metric.check_target is not None and metric.check_target({"answers": []}) is not None
    assert score_ivqa(["dog", "cat"], [{"answers": ["dog"] * 5}, {"answers": ["dog"] * 5}], "official").value == 50.0
    with pytest.raises(FsevalError, match="1 predictions for 2"):
        score_ivqa(["dog"], [{"answers": ["dog"]}] * 2, "official")
