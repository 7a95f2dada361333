"""STAR accuracy: top-1 among the question's own choices, the mean over the 4 question types as headline.

The STAR challenge scores on eval.ai with code that is not public, so these cases follow the definition
(the release's ``split_by_qtype`` and its answer-by-text check; the leaderboard's Mean of the type accuracies).
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from fseval.errors import DataError
from fseval.metrics import get_metric
from fseval.metrics.star import check_target, load_submission, mean_over_types, score_star
from fseval.types import Ranked, Sample

CHOICES = ["a", "b", "c", "d"]


def picked(label: str) -> Ranked:
    return Ranked.from_scores({c: 0.0 if c == label else -1.0 for c in CHOICES})


def target(question_type: str, label: str) -> dict[str, object]:
    return {"question_type": question_type, "label": label, "choices": CHOICES}


def test_headline_is_the_mean_of_the_types_accuracies() -> None:
    # Interaction 2/4, Sequence 1/1, Prediction 0/1, Feasibility 1/2: mean 50, overall 4/8.
    rows = [("Interaction", "a", "a"), ("Interaction", "a", "b"), ("Interaction", "c", "c"), ("Interaction", "d", "a")]
    rows += [("Sequence", "b", "b"), ("Prediction", "c", "d"), ("Feasibility", "d", "d"), ("Feasibility", "a", "b")]
    result = score_star([picked(p) for _, _, p in rows], [target(t, label) for t, label, _ in rows], "default")
    assert result.per_sample == [1.0, 0.0, 1.0, 0.0, 1.0, 0.0, 1.0, 0.0]
    assert result.value == pytest.approx((50 + 100 + 0 + 50) / 4) and result.extra == {"overall": 50.0}
    # A bootstrap resample is scored the same way: here the identity draw, and one of the Sequence question only.
    assert result.resampler()(np.array([range(8), [4] * 8])).tolist() == pytest.approx([50.0, 100.0])


def test_one_type_is_its_accuracy_and_ties_go_to_the_first_choice() -> None:
    tie = Ranked.from_scores(dict.fromkeys(CHOICES, -1.0))
    result = score_star(
        [tie, tie, tie], [target("Sequence", "a"), target("Sequence", "b"), target("Sequence", "a")], ""
    )
    assert result.value == pytest.approx(200 / 3) and result.extra["overall"] == pytest.approx(200 / 3)
    assert mean_over_types(np.array([1.0, 0.0]), np.array(["x", "y"])) == pytest.approx(50.0)


def test_target_checks() -> None:
    assert check_target(target("Interaction", "a")) is None
    assert "not one of its choices" in (check_target(target("Interaction", "e")) or "")
    assert "repeat" in (check_target({"label": "a", "choices": ["a", "a", "b", "c"]}) or "")
    assert check_target({"choices": CHOICES}) is not None  # the test file has no answers to score


def test_registration() -> None:
    metric = get_metric("star_accuracy")
    assert (metric.mode, metric.per_sample_mean, metric.result_format.id_key) == ("rank", False, "question_id")
    assert metric.result_format.native is not None


def test_challenge_submission_file(tmp_path: Path) -> None:
    samples = [Sample(q, (), {"choices": CHOICES}) for q in ("Interaction_T1_1", "Sequence_T2_5")]
    path = tmp_path / "submission.json"
    path.write_text(json.dumps({"Interaction": [{"question_id": "Interaction_T1_1", "answer": 2}], "Sequence": []}))
    predictions = load_submission(path, samples)
    assert predictions is not None and predictions["Interaction_T1_1"].top == "c" and len(predictions) == 1
    path.write_text(json.dumps([{"question_id": "Interaction_T1_1", "answer": "c"}]))
    assert load_submission(path, samples) is None  # a JSON list is the other format
    path.write_text(json.dumps({"Interaction": [{"question_id": "Interaction_T1_1", "answer": 4}]}))
    with pytest.raises(DataError, match=r"Interaction\[0\] field 'answer' should be a choice index from 0 to 3"):
        load_submission(path, samples)
